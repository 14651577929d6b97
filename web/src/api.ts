/**
 * The dashboard's only way to the server: the public HTTP API, same origin, with the session
 * cookie (HttpOnly: this code never sees it). The CSRF token lives in this module's memory
 * only — never in localStorage, sessionStorage or a cookie — and a reload mints a fresh one.
 */

/** A problem JSON answer (RFC 9457) as an error: its stable code, its detail, its decision. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly decisionId: string | undefined;

  constructor(status: number, code: string, detail: string, decisionId?: string) {
    super(`${code}: ${detail}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.decisionId = decisionId;
  }
}

let csrfToken: string | null = null;

async function send(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken !== null) headers['x-csrf-token'] = csrfToken;
  return fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    cache: 'no-store',
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

async function problem(res: Response): Promise<ApiError> {
  let p: Record<string, unknown> = {};
  try {
    p = (await res.json()) as Record<string, unknown>;
  } catch {
    // not problem JSON: described by the status alone
  }
  const code = typeof p.code === 'string' ? p.code : `http_${res.status}`;
  const detail = typeof p.detail === 'string' ? p.detail : res.statusText;
  const decision = typeof p.decision_id === 'string' ? p.decision_id : undefined;
  return new ApiError(res.status, code, detail, decision);
}

/** Calls the API; a non-2xx answer throws ApiError. A stale CSRF token is renewed once. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res = await send(method, path, body);
  if (res.status === 403 && method !== 'GET') {
    const err = await problem(res.clone());
    if (err.code === 'csrf_invalid' && (await renewCsrf())) res = await send(method, path, body);
  }
  if (!res.ok) throw await problem(res);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export interface Me {
  subject: string;
  loa: string;
}

/** Opens a cookie session with a pasted token; the token itself is not kept anywhere. */
export async function signIn(token: string): Promise<Me> {
  const session = await api<Me & { csrf_token: string }>('POST', '/api/session', { token });
  csrfToken = session.csrf_token;
  return { subject: session.subject, loa: session.loa };
}

async function renewCsrf(): Promise<boolean> {
  const res = await send('POST', '/api/csrf/token', {});
  if (!res.ok) return false;
  csrfToken = ((await res.json()) as { csrf_token: string }).csrf_token;
  return true;
}

/** After a reload: the session the cookie still holds, if any (and a fresh CSRF token). */
export async function resume(): Promise<Me | null> {
  const who = await api<{ caller: { subject: string; loa: string; source: string } }>(
    'GET',
    '/api/whoami',
  );
  // Without a session cookie the server answers the anonymous Guest: show the sign-in page.
  if (who.caller.source === 'anonymous' || !(await renewCsrf())) return null;
  return { subject: who.caller.subject, loa: who.caller.loa };
}

/** Ends the server session; the in-memory CSRF token goes with it. */
export async function signOut(): Promise<void> {
  try {
    await api<void>('DELETE', '/api/session');
  } finally {
    csrfToken = null;
  }
}
