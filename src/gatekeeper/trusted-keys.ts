/**
 * Looking up and decoding the keys and signatures that evidence carries. Verification paths
 * report failures as violations, so these helpers return null rather than throw.
 */
import type { KeyObject } from 'node:crypto';
import { publicKeyFromRaw } from '../core/ed25519.ts';
import { fromBase64Url, toBase64Url } from '../core/encoding.ts';
import { memoizeString } from './memo.ts';
import type { Did, TrustedKeys } from './types.ts';

/** Decodes base64url, or null when malformed (verification paths report, never throw). */
export function decodeB64(value: unknown): Uint8Array | null {
  if (typeof value !== 'string') return null;
  try {
    return fromBase64Url(value);
  } catch {
    return null;
  }
}

// Importing a key costs as much as a verification; the same few keys recur in every request.
const importByEncoding = memoizeString((encoded: string): KeyObject | null => {
  try {
    return publicKeyFromRaw(fromBase64Url(encoded));
  } catch {
    return null;
  }
}, 1024);

/** Imports a raw Ed25519 public key, or null when it is not a usable key. */
export function importKey(raw: Uint8Array): KeyObject | null {
  return raw.length === 32 ? importByEncoding(toBase64Url(raw)) : null;
}

/** True when `raw` is among the keys trusted for `did`. */
export function isTrustedKey(trusted: TrustedKeys, did: Did, raw: Uint8Array): boolean {
  const keys = trusted.get(did);
  if (keys === undefined) return false;
  for (const k of keys) if (publicBytesEqual(k, raw)) return true;
  return false;
}

/**
 * Byte equality of two public keys. Not constant-time, on purpose: a public key is no secret,
 * and this runs on every AI request (timingSafeEqual's native call cost more than the compare).
 */
function publicBytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) {
    return false;
  }
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
