/**
 * Decentralized identifiers, W3C DID Core §3.1 syntax:
 *   did = "did:" method-name ":" method-specific-id
 *   method-name = 1*( %x61-7A / DIGIT )
 *   method-specific-id = *( *idchar ":" ) 1*idchar
 *   idchar = ALPHA / DIGIT / "." / "-" / "_" / pct-encoded
 * (no paths, queries or fragments: this is the DID itself, not a DID URL).
 */
import { SigilError } from './errors.ts';

export interface Did {
  did: string;
  method: string;
  id: string;
}

export const MAX_DID_LENGTH = 2048;

const DID_RE =
  /^did:([a-z0-9]+):((?:[A-Za-z0-9._:-]|%[0-9A-Fa-f]{2})*(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2}))$/;

/** Splits a DID into method and method-specific id; 'invalid_did' unless it is one. */
export function parseDid(s: string): Did {
  if (typeof s !== 'string' || s.length > MAX_DID_LENGTH) {
    throw new SigilError('invalid_did', 'not a DID');
  }
  const m = DID_RE.exec(s);
  if (m === null) throw new SigilError('invalid_did', 'not a DID', { did: s.slice(0, 100) });
  return { did: s, method: m[1] as string, id: m[2] as string };
}

// DIDs already seen to be valid: every decision checks its actor's, and actors recur. Short
// ones only, bounded (cleared when full); a failure is never kept.
const KNOWN_MAX = 1024;
const known = new Set<string>();

/** True when `s` is a syntactically valid DID. */
export function isDid(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  if (known.has(s)) return true;
  const ok = s.length <= MAX_DID_LENGTH && DID_RE.test(s);
  if (ok && s.length <= 256) {
    if (known.size >= KNOWN_MAX) known.clear();
    known.add(s);
  }
  return ok;
}
