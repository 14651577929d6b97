import { Buffer } from 'node:buffer';
import { timingSafeEqual } from 'node:crypto';
import { SigilError } from './errors.ts';
import { isWellFormed, requireBytes } from './guard.ts';

const HEX_RE = /^(?:[0-9a-f]{2})*$/;
const BASE64URL_RE = /^[A-Za-z0-9_-]*$/;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function bufferOf(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function invalid(kind: string): SigilError {
  return new SigilError('invalid_encoding', `not canonical ${kind}`, { encoding: kind });
}

/**
 * True when the unused low bits of the last base64 character are zero, so each byte
 * string has exactly one accepted text form. `dataChars` excludes padding.
 */
function trailingBitsZero(s: string, dataChars: number, alphabet: string): boolean {
  const rem = dataChars % 4;
  if (rem === 0) return true;
  const last = alphabet.indexOf(s.charAt(dataChars - 1));
  return (last & (rem === 2 ? 0x0f : 0x03)) === 0;
}

/** Lowercase hex of `b`. */
export function toHex(b: Uint8Array): string {
  requireBytes(b, 'bytes');
  return bufferOf(b).toString('hex');
}

/** Decodes lowercase, even-length hex; anything else is 'invalid_encoding'. */
export function fromHex(s: string): Uint8Array {
  if (typeof s !== 'string' || !HEX_RE.test(s)) throw invalid('hex');
  const out = new Uint8Array(s.length / 2);
  bufferOf(out).write(s, 'hex');
  return out;
}

/** base64url without padding (RFC 4648 §5). */
export function toBase64Url(b: Uint8Array): string {
  requireBytes(b, 'bytes');
  return bufferOf(b).toString('base64url');
}

/** Decodes unpadded base64url; rejects padding, other alphabets and non-zero trailing bits. */
export function fromBase64Url(s: string): Uint8Array {
  if (typeof s !== 'string' || !BASE64URL_RE.test(s) || s.length % 4 === 1) {
    throw invalid('base64url');
  }
  if (!trailingBitsZero(s, s.length, BASE64URL_ALPHABET)) throw invalid('base64url');
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  bufferOf(out).write(s, 'base64url');
  return out;
}

/** Standard base64 with padding (RFC 4648 §4). */
export function toBase64(b: Uint8Array): string {
  requireBytes(b, 'bytes');
  return bufferOf(b).toString('base64');
}

/** Decodes padded standard base64 strictly: exact padding, no whitespace, zero trailing bits. */
export function fromBase64(s: string): Uint8Array {
  if (typeof s !== 'string' || !BASE64_RE.test(s)) throw invalid('base64');
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const dataChars = s.length - pad;
  if (!trailingBitsZero(s, dataChars, BASE64_ALPHABET)) throw invalid('base64');
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  bufferOf(out).write(s, 'base64');
  return out;
}

/** UTF-8 bytes of `s`; a string with lone surrogates has no UTF-8 form and is rejected. */
export function utf8Encode(s: string): Uint8Array {
  if (typeof s !== 'string') throw new SigilError('invalid_input', 'expected a string');
  if (!isWellFormed(s)) throw invalid('utf-8 (lone surrogate)');
  return utf8Encoder.encode(s);
}

/**
 * Writes the UTF-8 bytes of `s` at the start of `into` and returns their count, or -1 when they
 * might not fit (more than a third as many UTF-16 units as bytes). No new buffer: for bytes read
 * at once, as an AAD (a new Uint8Array of more than 64 bytes costs about 1 µs).
 */
export function utf8EncodeInto(s: string, into: Uint8Array): number {
  if (typeof s !== 'string') throw new SigilError('invalid_input', 'expected a string');
  if (!isWellFormed(s)) throw invalid('utf-8 (lone surrogate)');
  requireBytes(into, 'into');
  if (s.length * 3 > into.length) return -1;
  return utf8Encoder.encodeInto(s, into).written;
}

/** Decodes strict UTF-8 (invalid sequences are rejected, a BOM is kept as U+FEFF). */
export function utf8Decode(b: Uint8Array): string {
  requireBytes(b, 'bytes');
  try {
    return utf8Decoder.decode(b);
  } catch {
    throw invalid('utf-8');
  }
}

/** One new Uint8Array holding `parts` in order. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) {
    requireBytes(p, 'part');
    total += p.length;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Compares secrets without leaking where they differ; false on length mismatch or non-bytes. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) {
    return false;
  }
  return timingSafeEqual(a, b);
}
