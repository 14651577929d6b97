/**
 * Browser sessions and their CSRF tokens, kept in server memory.
 *
 * A session cookie is `<lookup id>.<secret>`: the map is keyed by the lookup id and holds only
 * the SHA-256 of the secret, compared in constant time, so neither a timing side channel on the
 * map nor a memory dump of the hashes yields a usable cookie. The map is bounded (expired
 * sessions go first, then the oldest) and every session expires after a fixed lifetime.
 *
 * A CSRF token is `<expiry ms>.<mac>` where mac = HKDF-SHA256(server key, lookup id ‖ expiry):
 * bound to one session, expiring, and unforgeable without the per-process key.
 */
import {
  constantTimeEqual,
  fromBase64Url,
  toBase64Url,
  toHex,
  utf8Encode,
} from '../core/encoding.ts';
import { sha256 } from '../core/hash.ts';
import { hkdfSha256 } from '../core/kdf.ts';
import { randomBytes } from '../core/random.ts';

export interface SessionOptions {
  /** Session lifetime (default 8 h). */
  ttlMs?: number;
  /** Most live sessions kept (default 10 000). */
  maxSessions?: number;
  /** CSRF token lifetime (default 1 h, never past the session's end). */
  csrfTtlMs?: number;
  clock?: () => number;
}

interface Entry {
  secretHash: Uint8Array;
  /** The API token the session was opened with; re-checked on every request. */
  token: string;
  expiresAt: number;
}

const LOOKUP_RE = /^[0-9a-f]{32}$/;
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;
const CSRF_RE = /^(0|[1-9][0-9]{0,15})\.([A-Za-z0-9_-]{43})$/;
const CSRF_SALT = utf8Encode('sigil.csrf.v1');

export class SessionStore {
  readonly ttlMs: number;
  readonly maxSessions: number;
  readonly csrfTtlMs: number;
  readonly #clock: () => number;
  readonly #sessions = new Map<string, Entry>();
  readonly #csrfKey = randomBytes(32);

  constructor(opts: SessionOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 8 * 3_600_000;
    this.maxSessions = opts.maxSessions ?? 10_000;
    this.csrfTtlMs = opts.csrfTtlMs ?? 3_600_000;
    this.#clock = opts.clock ?? Date.now;
  }

  /** Live sessions held. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Opens a session for an already authenticated token; returns the cookie value. */
  create(token: string): { cookie: string; lookupId: string; expiresAt: number } {
    const now = this.#clock();
    if (this.#sessions.size >= this.maxSessions) this.#evict(now);
    const lookupId = toHex(randomBytes(16));
    const secret = toBase64Url(randomBytes(32));
    const expiresAt = now + this.ttlMs;
    this.#sessions.set(lookupId, { secretHash: sha256(secret), token, expiresAt });
    return { cookie: `${lookupId}.${secret}`, lookupId, expiresAt };
  }

  /** The session a cookie names, if it is live and its secret matches. */
  find(
    cookie: string | undefined,
  ): { lookupId: string; token: string; expiresAt: number } | undefined {
    if (typeof cookie !== 'string') return undefined;
    const dot = cookie.indexOf('.');
    const lookupId = cookie.slice(0, dot);
    const secret = cookie.slice(dot + 1);
    if (dot < 0 || !LOOKUP_RE.test(lookupId) || !SECRET_RE.test(secret)) return undefined;
    const entry = this.#sessions.get(lookupId);
    if (entry === undefined) return undefined;
    if (!constantTimeEqual(sha256(secret), entry.secretHash)) return undefined;
    if (this.#clock() >= entry.expiresAt) {
      this.#sessions.delete(lookupId);
      return undefined;
    }
    return { lookupId, token: entry.token, expiresAt: entry.expiresAt };
  }

  /** Ends a session. */
  delete(lookupId: string): void {
    this.#sessions.delete(lookupId);
  }

  /** A CSRF token for the session, valid until the earlier of its own and the session's end. */
  csrfToken(lookupId: string): { token: string; expiresAt: number } {
    const session = this.#sessions.get(lookupId);
    const expiresAt = Math.min(this.#clock() + this.csrfTtlMs, session?.expiresAt ?? 0);
    return { token: `${expiresAt}.${toBase64Url(this.#mac(lookupId, expiresAt))}`, expiresAt };
  }

  /** True when `token` was minted for this session and has not expired. */
  checkCsrf(lookupId: string, token: unknown): boolean {
    if (typeof token !== 'string') return false;
    const m = CSRF_RE.exec(token);
    if (!m) return false;
    const expiresAt = Number(m[1]);
    if (!(this.#clock() < expiresAt)) return false;
    let mac: Uint8Array;
    try {
      mac = fromBase64Url(m[2]!);
    } catch {
      return false;
    }
    return constantTimeEqual(mac, this.#mac(lookupId, expiresAt));
  }

  #mac(lookupId: string, expiresAt: number): Uint8Array {
    return hkdfSha256(this.#csrfKey, CSRF_SALT, utf8Encode(`${lookupId}.${expiresAt}`), 32);
  }

  /** Makes room: drops expired sessions, then the oldest until below the bound. */
  #evict(now: number): void {
    for (const [id, e] of this.#sessions) if (now >= e.expiresAt) this.#sessions.delete(id);
    for (const id of this.#sessions.keys()) {
      if (this.#sessions.size < this.maxSessions) break;
      this.#sessions.delete(id);
    }
  }
}
