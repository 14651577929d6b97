/**
 * Who is calling: a Bearer token, or a session cookie from POST /api/session. Runs before the
 * body is read. One rule for every route: no credentials at all is the anonymous Guest, whom the
 * runtime adjudicates like anyone else (denied with 403 `loa_insufficient` wherever a Guest may
 * not go, and the denial sealed); credentials that are sent must be good — a bad, expired or
 * revoked token is 401 `token_invalid`, an ended session 401 `unauthenticated`. A cookie session must also send a valid
 * `X-CSRF-Token` on every state-changing request (else 403 `csrf_invalid`). Public routes
 * ignore credentials altogether.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SigilError } from '../core/errors.ts';
import { anonymousCaller, type SigilRuntime } from '../runtime/index.ts';
import type { SessionStore } from './sessions.ts';

export const SESSION_COOKIE = 'sigil_session';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const BEARER_RE = /^Bearer +(\S{1,256})\s*$/i;

/** The session cookie a request carries, if any. */
export function sessionCookie(req: FastifyRequest): string | undefined {
  return req.cookies?.[SESSION_COOKIE];
}

/** Adds the authentication hook: sets `req.caller` and `req.viaSession` on every matched route. */
export function registerAuth(
  app: FastifyInstance,
  runtime: SigilRuntime,
  sessions: SessionStore,
): void {
  app.decorateRequest('caller', null);
  app.decorateRequest('viaSession', false);
  app.addHook('onRequest', async (req) => {
    const auth = req.routeOptions.config.auth;
    if (auth === undefined) return; // unmatched: the not-found handler answers
    if (auth === 'public') {
      req.caller = anonymousCaller();
      return;
    }
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = BEARER_RE.exec(header);
      if (!m) throw new SigilError('token_invalid', 'Authorization must be "Bearer <token>"');
      req.caller = await runtime.tokens.authenticate(m[1]);
      return;
    }
    const cookie = sessionCookie(req);
    if (cookie !== undefined) {
      // Read from the store on every request: a sign-out on any instance ends it here too.
      const session = await runtime.sessions.find(cookie);
      if (session === undefined) throw new SigilError('unauthenticated', 'the session has ended');
      req.caller = session.caller;
      req.viaSession = true;
      const exempt = req.routeOptions.config.csrfExempt === true;
      if (!SAFE_METHODS.has(req.method) && !exempt) {
        if (!sessions.checkCsrf(cookie, req.headers[CSRF_HEADER])) {
          throw new SigilError(
            'csrf_invalid',
            'a cookie session needs a valid X-CSRF-Token header (POST /api/csrf/token)',
          );
        }
      }
      return;
    }
    req.caller = anonymousCaller();
  });
}
