import { isDid } from '../core/did.ts';
import { constantTimeEqual, fromHex, toBase64Url, toHex } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { sha256, sha256Hex } from '../core/hash.ts';
import { randomBytes } from '../core/random.ts';
import type { SignerType } from '../core/typed-signature.ts';
import { parseLoa, type Loa } from './loa.ts';

/**
 * API tokens: 256 random bits shown once as `sgl_<base64url>`; only the SHA-256 of the token is
 * stored, so a leaked store yields no usable token. A token carries a subject DID, an LOA, a
 * signer type (AI tokens name their delegation), an optional expiry and optional scopes.
 * Tokens themselves are never logged; records and hashes may be.
 */

export const TOKEN_PREFIX = 'sgl_';
const TOKEN_RE = /^sgl_[A-Za-z0-9_-]{43}$/;
const HASH_RE = /^[0-9a-f]{64}$/;
const DELEGATION_ID_RE = /^[0-9a-f]{64}$/;

/** What the store keeps for a token (timestamps are epoch milliseconds). */
export interface TokenRecord {
  id: string;
  /** Lowercase hex SHA-256 of the token string. */
  hash: string;
  /** The DID the token acts for. */
  subject: string;
  loa: Loa;
  signer: SignerType;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  /** When present, the only actions the token may perform (see {@link scopeAllows}). */
  scopes?: string[];
}

/** A fresh token and the hash to store; the token is shown to its owner once and never kept. */
export function generateToken(): { token: string; hash: string } {
  const token = TOKEN_PREFIX + toBase64Url(randomBytes(32));
  return { token, hash: hashToken(token) };
}

/** Lowercase hex SHA-256 of the token string: the store's lookup key. */
export function hashToken(token: string): string {
  return sha256Hex(token);
}

export interface IssueTokenInput {
  subject: string;
  loa: Loa | string;
  signer: SignerType;
  /** Lifetime in ms (see {@link parseDuration}); omitted or null = no expiry. */
  ttlMs?: number | null;
  scopes?: string[];
}

/**
 * Creates a token and its record at `nowMs`, validating the subject DID, the LOA, the signer
 * type (an AI signer needs a 64-hex delegation id), the lifetime and the scopes
 * ('bad_request' on any of them). The caller stores `record` and shows `token` once.
 */
export function issueToken(
  input: IssueTokenInput,
  nowMs: number,
): { token: string; record: TokenRecord } {
  if (!isDid(input.subject)) throw new SigilError('bad_request', 'token subject must be a DID');
  let loa: Loa;
  try {
    loa = parseLoa(input.loa);
  } catch {
    throw new SigilError('bad_request', `not a level of access: ${String(input.loa)}`);
  }
  const signer = checkSigner(input.signer);
  const ttl = input.ttlMs ?? null;
  if (ttl !== null && !(Number.isSafeInteger(ttl) && ttl > 0))
    throw new SigilError('bad_request', 'token lifetime must be a positive number of ms');
  if (!Number.isSafeInteger(nowMs)) throw new SigilError('bad_request', 'now must be epoch ms');
  const scopes = input.scopes;
  if (scopes !== undefined && !scopes.every((s) => typeof s === 'string' && SCOPE_RE.test(s)))
    throw new SigilError('bad_request', "scopes are action names or prefixes ending in '.*'");
  const { token, hash } = generateToken();
  const record: TokenRecord = {
    id: toHex(randomBytes(8)),
    hash,
    subject: input.subject,
    loa,
    signer,
    createdAt: nowMs,
    expiresAt: ttl === null ? null : nowMs + ttl,
    revokedAt: null,
    ...(scopes === undefined ? {} : { scopes: [...scopes] }),
  };
  return { token, record };
}

function checkSigner(signer: unknown): SignerType {
  if (typeof signer === 'object' && signer !== null) {
    const { type, delegationId } = signer as { type?: unknown; delegationId?: unknown };
    if (type === 'human' && delegationId === undefined) return { type: 'human' };
    if (type === 'ai' && typeof delegationId === 'string' && DELEGATION_ID_RE.test(delegationId))
      return { type: 'ai', delegationId };
  }
  throw new SigilError(
    'bad_request',
    "signer must be {type:'human'} or {type:'ai', delegationId: 64 lowercase hex chars}",
  );
}

const DURATION_RE = /^([1-9][0-9]*)([dhms])$/;
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;

/** Parses `30d`, `12h`, `15m`, `3600s` into milliseconds; anything else is 'bad_request'. */
export function parseDuration(text: string): number {
  const m = typeof text === 'string' ? DURATION_RE.exec(text.trim()) : null;
  const ms = m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : NaN;
  if (!Number.isSafeInteger(ms))
    throw new SigilError('bad_request', `not a duration (e.g. 30d, 12h, 15m, 3600s): ${text}`);
  return ms;
}

export type TokenCheck =
  | { ok: true; token: TokenRecord }
  | { ok: false; code: 'token_invalid'; reason: 'unknown' | 'expired' | 'revoked' | 'malformed' };

/** A presented token's SHA-256, and its lowercase hex: the key its record is stored under. */
export interface PresentedToken {
  digest: Uint8Array;
  hash: string;
}

/** The hash of a presented token, or undefined when it is not a token's shape (hashed once). */
export function presentedToken(presented: unknown): PresentedToken | undefined {
  if (typeof presented !== 'string' || !TOKEN_RE.test(presented)) return undefined;
  const digest = sha256(presented);
  return { digest, hash: toHex(digest) };
}

/**
 * Checks the record found under a presented token's hash: a constant-time comparison of the
 * stored hash with the presented token's (so a store that matches loosely, e.g. by prefix or
 * case, cannot admit a wrong token), then revocation and expiry at `nowMs`. Undefined
 * `presented` (not a token's shape) is 'malformed'.
 */
export function checkTokenRecord(
  presented: PresentedToken | undefined,
  record: TokenRecord | undefined,
  nowMs: number,
): TokenCheck {
  if (presented === undefined) return { ok: false, code: 'token_invalid', reason: 'malformed' };
  if (
    record === undefined ||
    !HASH_RE.test(record.hash) ||
    !constantTimeEqual(fromHex(record.hash), presented.digest)
  )
    return { ok: false, code: 'token_invalid', reason: 'unknown' };
  if (record.revokedAt !== null) return { ok: false, code: 'token_invalid', reason: 'revoked' };
  if (record.expiresAt !== null && !(nowMs < record.expiresAt))
    return { ok: false, code: 'token_invalid', reason: 'expired' };
  return { ok: true, token: record };
}

/**
 * Authenticates a presented token: shape check, lookup by hash, then checkTokenRecord.
 * Every failure is 'token_invalid' with a reason for the log; the HTTP layer should not tell
 * callers which reason applied.
 */
export function checkToken(
  presented: string,
  lookup: (hash: string) => TokenRecord | undefined,
  nowMs: number,
): TokenCheck {
  const token = presentedToken(presented);
  return checkTokenRecord(token, token && lookup(token.hash), nowMs);
}

const SCOPE_RE = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*(?:\.\*)?$/;

/**
 * True when a token's scopes permit `action`: no scopes = everything its LOA allows; otherwise
 * an exact action name (`canon.read`) or a prefix (`canon.*` covers `canon.user.write`).
 * Scopes only narrow: the LOA matrix still applies.
 */
export function scopeAllows(scopes: readonly string[] | undefined, action: string): boolean {
  if (scopes === undefined) return true;
  return scopes.some((s) => (s.endsWith('.*') ? action.startsWith(s.slice(0, -1)) : s === action));
}
