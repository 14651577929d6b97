/** Key derivation: HKDF-SHA256 (RFC 5869) for keys from keys, scrypt for keys from passphrases. */
import { hkdfSync, scryptSync } from 'node:crypto';
import { SigilError } from './errors.ts';
import { isWellFormed, requireBytes } from './guard.ts';

/** RFC 5869: at most 255 hash blocks of output. */
export const HKDF_SHA256_MAX_LENGTH = 255 * 32;
/** Node's hkdf refuses longer `info`. */
const HKDF_MAX_INFO_LENGTH = 1024;

export const SCRYPT_DEFAULTS = Object.freeze({ N: 2 ** 15, r: 8, p: 1 });
export const SCRYPT_KEY_LENGTH = 32;
/** Upper bound on scrypt's working memory, so a hostile parameter set cannot exhaust RAM. */
const SCRYPT_MAX_MEMORY = 1024 * 1024 * 1024;

function invalid(message: string): SigilError {
  return new SigilError('invalid_input', message);
}

/** HKDF-SHA256 extract-and-expand of `length` bytes (1 … 8160). */
export function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  requireBytes(ikm, 'ikm');
  requireBytes(salt, 'salt');
  requireBytes(info, 'info');
  if (!Number.isSafeInteger(length) || length < 1 || length > HKDF_SHA256_MAX_LENGTH) {
    throw invalid(`HKDF-SHA256 output length must be 1 … ${HKDF_SHA256_MAX_LENGTH}`);
  }
  if (info.length > HKDF_MAX_INFO_LENGTH) throw invalid('HKDF info longer than 1024 bytes');
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length));
}

function isPositiveInt(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 1;
}

/** A 32-byte key from a passphrase with scrypt (defaults N=2^15, r=8, p=1). */
export function scryptKey(
  passphrase: string,
  salt: Uint8Array,
  opts?: { N?: number; r?: number; p?: number },
): Uint8Array {
  if (typeof passphrase !== 'string' || !isWellFormed(passphrase)) {
    throw invalid('passphrase must be a well-formed string');
  }
  requireBytes(salt, 'salt');
  if (opts !== undefined && (typeof opts !== 'object' || opts === null)) {
    throw invalid('scrypt options must be an object');
  }
  const { N = SCRYPT_DEFAULTS.N, r = SCRYPT_DEFAULTS.r, p = SCRYPT_DEFAULTS.p } = opts ?? {};
  if (
    !isPositiveInt(N) ||
    N < 2 ||
    !Number.isInteger(Math.log2(N)) ||
    !isPositiveInt(r) ||
    !isPositiveInt(p)
  ) {
    throw invalid('scrypt N must be a power of two ≥ 2; r and p positive integers');
  }
  // OpenSSL's accounting: V = 128·r·(N+2) bytes, B = 128·r·p bytes.
  const memory = 128 * r * (N + 2) + 128 * r * p;
  if (memory > SCRYPT_MAX_MEMORY) throw invalid('scrypt parameters need more than 1 GiB');
  try {
    return new Uint8Array(
      scryptSync(passphrase, salt, SCRYPT_KEY_LENGTH, { N, r, p, maxmem: memory }),
    );
  } catch (err) {
    throw invalid(`scrypt rejected its parameters: ${err instanceof Error ? err.message : ''}`);
  }
}
