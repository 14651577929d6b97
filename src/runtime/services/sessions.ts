/**
 * Browser sessions, kept in the store like tokens: a session is authority, so opening and
 * closing one are sealed `session_event` records whose MACed view rows commit in the same
 * transaction. A session survives a restart and works on every instance over one database.
 *
 * - The cookie is `sgs_<32 random bytes>`; the store keeps only its SHA-256 (the row key) and
 *   the SHA-256 of the token that opened it, so neither the log nor a dump of the views yields
 *   a usable cookie or token.
 * - Each subject holds at most `perSubject` live sessions, listed oldest first in its own
 *   `session_slots` row: opening one more closes that subject's oldest, never another's. Each
 *   event is a compare-and-set on that row, retried when another instance moved it meanwhile.
 * - Every request re-reads the session row and the token row (MAC-checked), so a sign-out, a
 *   token revocation or an edited row is seen by every instance at once.
 */
import { constantTimeEqual, fromHex, toBase64Url } from '../../core/encoding.ts';
import type { JsonValue } from '../../core/canonical.ts';
import { isSigilError, SigilError } from '../../core/errors.ts';
import { sha256, sha256Hex } from '../../core/hash.ts';
import { randomBytes } from '../../core/random.ts';
import { asJson, iso, type RuntimeCore } from '../core.ts';
import type { Caller } from '../decide.ts';
import { VIEWS, type SessionRow, type SessionSlots } from '../view-ns.ts';
import { authenticate, callerOfToken } from './tokens.ts';

export interface SessionLimits {
  /** Session lifetime (default 8 h). */
  ttlMs: number;
  /** Live sessions one subject may hold (default 10). */
  perSubject: number;
}

export const DEFAULT_SESSION_LIMITS: Readonly<SessionLimits> = Object.freeze({
  ttlMs: 8 * 3_600_000,
  perSubject: 10,
});

const COOKIE_RE = /^sgs_[A-Za-z0-9_-]{43}$/;

/** A live session a cookie names: its caller (re-authenticated from the token row) and end. */
export interface LiveSession {
  caller: Caller;
  /** SHA-256 of the cookie: the session's row key. */
  id: string;
  expiresAt: number;
}

/** Attempts at a slots compare-and-set before giving up ('conflict'). */
const SLOT_ATTEMPTS = 16;

/** Per subject, the slots update running in this process: they queue, so only instances race. */
const slotQueues = new WeakMap<RuntimeCore, Map<string, Promise<unknown>>>();

/**
 * Seals the `session_event` that `build` makes from `subject`'s slots row, as a compare-and-set
 * on that row (-1: none yet): when another instance moved it meanwhile, the row is read again
 * and the event rebuilt, so no two sign-ins or sign-outs of one subject drop each other's.
 */
async function updateSlots(
  core: RuntimeCore,
  subject: string,
  build: (slots: SessionSlots) => Promise<JsonValue>,
): Promise<void> {
  const queues = slotQueues.get(core) ?? new Map<string, Promise<unknown>>();
  slotQueues.set(core, queues);
  const run = (queues.get(subject) ?? Promise.resolve()).then(async () => {
    const ns = VIEWS.sessionSlots;
    for (let attempt = 1; ; attempt += 1) {
      const row = await ns.entry(core.log.views, subject);
      const payload = await build(row?.value ?? { subject, sessions: [] });
      try {
        await core.append(
          'session_event',
          payload,
          {},
          {
            expect: [{ ns: ns.name, key: subject, seq: row?.seq ?? -1 }],
          },
        );
        return;
      } catch (err) {
        if (!isSigilError(err, 'conflict') || attempt === SLOT_ATTEMPTS) throw err;
      }
    }
  });
  const settled = run.catch(() => undefined);
  queues.set(subject, settled);
  void settled.then(() => {
    if (queues.get(subject) === settled) queues.delete(subject);
  });
  return run;
}

/** Opens a session for `token` ('token_invalid' for a bad one); returns the cookie value. */
export async function openSession(
  core: RuntimeCore,
  token: string,
  limits: SessionLimits = DEFAULT_SESSION_LIMITS,
): Promise<{ cookie: string; caller: Caller; expiresAt: number }> {
  const caller = await authenticate(core, token);
  if (!caller.verified) throw new SigilError('token_invalid', 'the token is not valid');
  const now = core.now();
  const cookie = `sgs_${toBase64Url(randomBytes(32))}`;
  const expiresAt = now + limits.ttlMs;
  const session: SessionRow = {
    id: sha256Hex(cookie),
    subject: caller.subject,
    token_hash: sha256Hex(token),
    opened_at: iso(now),
    expires_at: expiresAt,
    closed_at: null,
  };
  await updateSlots(core, caller.subject, async (slots) => {
    const live = slots.sessions.filter((s) => now < s.expires_at);
    // Oldest first: the subject's own oldest sessions make room, nobody else's.
    const evicted = live.splice(0, Math.max(0, live.length - limits.perSubject + 1));
    const closed: SessionRow[] = [];
    for (const e of evicted) {
      const row = await VIEWS.sessions.get(core.log.views, e.id);
      if (row !== undefined && row.closed_at === null) closed.push({ ...row, closed_at: iso(now) });
    }
    return asJson({
      event: 'opened',
      session,
      closed,
      slots: {
        subject: caller.subject,
        sessions: [...live, { id: session.id, expires_at: expiresAt }],
      },
    });
  });
  return { cookie, caller, expiresAt };
}

/** The live session a cookie names, or undefined (unknown, closed, expired); 'token_invalid' when its token is no longer in force. */
export async function findSession(
  core: RuntimeCore,
  cookie: string | undefined,
): Promise<LiveSession | undefined> {
  if (typeof cookie !== 'string' || !COOKIE_RE.test(cookie)) return undefined;
  const digest = sha256(cookie);
  const id = sha256Hex(cookie);
  // One indexed read; the row's MAC and shape are checked before it is used ('state_invalid').
  const row = await VIEWS.sessions.get(core.log.views, id);
  if (row === undefined || !constantTimeEqual(fromHex(row.id), digest)) return undefined;
  if (row.closed_at !== null || !(core.now() < row.expires_at)) return undefined;
  const caller = await callerOfToken(core, row.token_hash);
  // Its token revoked or expired: the session goes with it, as a Bearer request would.
  if (caller === undefined || caller.subject !== row.subject) {
    throw new SigilError('token_invalid', 'the token is not valid');
  }
  return { caller, id, expiresAt: row.expires_at };
}

/** Ends the session a cookie names, on every instance (nothing when it is not live). */
export async function closeSession(core: RuntimeCore, cookie: string | undefined): Promise<void> {
  if (typeof cookie !== 'string' || !COOKIE_RE.test(cookie)) return;
  const row = await VIEWS.sessions.get(core.log.views, sha256Hex(cookie));
  if (row === undefined || row.closed_at !== null) return;
  const now = core.now();
  await updateSlots(core, row.subject, async (slots) =>
    asJson({
      event: 'closed',
      closed: [{ ...row, closed_at: iso(now) }],
      slots: {
        subject: row.subject,
        sessions: slots.sessions.filter((s) => s.id !== row.id && now < s.expires_at),
      },
    }),
  );
}

/** The sessions room (`runtime.sessions`): cookie sessions opened with an API token. */
export function sessionsService(core: RuntimeCore) {
  return {
    open: (token: string, limits?: SessionLimits) => openSession(core, token, limits),
    find: (cookie: string | undefined) => findSession(core, cookie),
    close: (cookie: string | undefined) => closeSession(core, cookie),
  };
}
export type SessionsService = ReturnType<typeof sessionsService>;
