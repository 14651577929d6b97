/**
 * The HTTP side of cookie sessions: the sessions themselves live in the store
 * (`runtime.sessions`); here are their CSRF tokens and the sign-in throttles.
 *
 * A CSRF token is `<expiry ms>.<mac>` where mac = HKDF-SHA256(cookie, expiry): bound to one
 * session, expiring, and unforgeable without the HttpOnly cookie. It needs no server-side key,
 * so a token minted on one instance is good on every other one and after a restart.
 *
 * Sign-in (POST /api/session) is throttled per presented token and per client address before
 * the token is even looked up, so a flood costs neither a store read nor a sealed record. The
 * throttles are the runtime's (`runtime.throttle`): on PostgreSQL one system across the instances,
 * so guesses spread over N instances get one budget, not N; the cap on a subject's sessions is in
 * the store.
 */
import { constantTimeEqual, fromBase64Url, toBase64Url, utf8Encode } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { sha256Hex } from '../core/hash.ts';
import { hkdfSha256 } from '../core/kdf.ts';
import type { BucketLimit } from '../policy/index.ts';
import type { Throttle } from '../runtime/rate-limiter.ts';
import { DEFAULT_SESSION_LIMITS, type SessionLimits } from '../runtime/services/sessions.ts';

export interface SessionOptions extends Partial<SessionLimits> {
  /** CSRF token lifetime (default 1 h, never past the session's end). */
  csrfTtlMs?: number;
  /** Sign-ins per presented token (default 10 at once, then one per 10 s). */
  perToken?: BucketLimit;
  /** Sign-ins per client address (default 30 at once, then one a second). */
  perAddress?: BucketLimit;
  clock?: () => number;
}

const CSRF_RE = /^(0|[1-9][0-9]{0,15})\.([A-Za-z0-9_-]{43})$/;
const CSRF_SALT = utf8Encode('sigil.csrf.v1');

/** Where the throttles come from: the runtime's service (`SigilRuntime.throttle`). */
export interface Throttles {
  throttle(name: string, limit: BucketLimit): Throttle;
}

export class SessionStore {
  readonly limits: SessionLimits;
  readonly csrfTtlMs: number;
  readonly #clock: () => number;
  readonly #perToken: Throttle;
  readonly #perAddress: Throttle;

  constructor(throttles: Throttles, opts: SessionOptions = {}) {
    this.limits = {
      ttlMs: opts.ttlMs ?? DEFAULT_SESSION_LIMITS.ttlMs,
      perSubject: opts.perSubject ?? DEFAULT_SESSION_LIMITS.perSubject,
    };
    this.csrfTtlMs = opts.csrfTtlMs ?? 3_600_000;
    this.#clock = opts.clock ?? Date.now;
    this.#perToken = throttles.throttle('signin-token', opts.perToken ?? { rate: 0.1, burst: 10 });
    this.#perAddress = throttles.throttle(
      'signin-address',
      opts.perAddress ?? { rate: 1, burst: 30 },
    );
  }

  /**
   * Takes one sign-in from both buckets; 'rate_limited' when either is empty, or when the
   * throttle's store fails (the shared throttle then reports an empty bucket).
   */
  async throttle(token: string, address: string): Promise<void> {
    const byAddress = await this.#perAddress.take(address);
    // Keyed by the token's hash: no bearer secret is kept as a key, in memory or in the database.
    const byToken = byAddress.allowed ? await this.#perToken.take(sha256Hex(token)) : byAddress;
    if (!byToken.allowed) {
      throw new SigilError(
        'rate_limited',
        `too many sign-ins; retry after ${byToken.retryAfterMs} ms`,
        { retry_after_ms: byToken.retryAfterMs },
      );
    }
  }

  /** A CSRF token for the session, valid until the earlier of its own and the session's end. */
  csrfToken(cookie: string, sessionExpiresAt: number): { token: string; expiresAt: number } {
    const expiresAt = Math.min(this.#clock() + this.csrfTtlMs, sessionExpiresAt);
    return { token: `${expiresAt}.${toBase64Url(mac(cookie, expiresAt))}`, expiresAt };
  }

  /** True when `token` was minted for this session's cookie and has not expired. */
  checkCsrf(cookie: string, token: unknown): boolean {
    if (typeof token !== 'string') return false;
    const m = CSRF_RE.exec(token);
    if (!m) return false;
    const expiresAt = Number(m[1]);
    if (!(this.#clock() < expiresAt)) return false;
    let presented: Uint8Array;
    try {
      presented = fromBase64Url(m[2]!);
    } catch {
      return false;
    }
    return constantTimeEqual(presented, mac(cookie, expiresAt));
  }
}

function mac(cookie: string, expiresAt: number): Uint8Array {
  return hkdfSha256(utf8Encode(cookie), CSRF_SALT, utf8Encode(String(expiresAt)), 32);
}
