import { aesGcmOpen, aesGcmSeal } from '../core/aead.ts';
import { canonicalJson } from '../core/canonical.ts';
import {
  concatBytes,
  constantTimeEqual,
  fromBase64Url,
  fromHex,
  toBase64Url,
  toHex,
  utf8Encode,
  utf8EncodeInto,
} from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { sha256 } from '../core/hash.ts';
import { randomBytes } from '../core/random.ts';

/**
 * Encryption at rest. Record bodies are sealed with AES-256-GCM under a random
 * 256-bit data key; the data key is wrapped by the key-encryption key (KEK)
 * derived from the master key, so rotating the master key re-wraps one small
 * blob instead of re-encrypting history.
 *
 * Nonces are 96 random bits per message. By the birthday bound, after 2^32
 * messages under one key the chance of a repeated nonce reaches about 2^-33,
 * the limit NIST SP 800-38D §8.3 sets for random nonces; the log must switch to
 * a fresh data key before MAX_RECORDS_PER_DATA_KEY bodies.
 */

/** Most bodies one data key may seal (random 96-bit nonces, NIST SP 800-38D §8.3). */
export const MAX_RECORDS_PER_DATA_KEY = 2 ** 32;

const KEY_BYTES = 32;
const DATA_KEY_AAD = utf8Encode('sigil.datakey.v1');
const KEK_ID_DOMAIN = utf8Encode('sigil.kek-id.v1');

/** A data key wrapped by a KEK: `nonce_ct` = base64url(nonce || ciphertext || tag). */
export interface WrappedKey {
  alg: 'A256GCM-KW';
  kek_id: string;
  nonce_ct: string;
}

function checkKey(key: Uint8Array, name: string): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw new SigilError('bad_request', `${name} must be 32 bytes`);
  }
}

/**
 * The AAD that binds a body to its place in the log: the RFC 8785 canonical
 * bytes of `{"domain":"sigil.body.v1","id":<id>,"seq":<seq>}`. A ciphertext moved
 * to another seq or id no longer authenticates.
 */
export function bodyAad(seq: number, id: string): Uint8Array {
  return utf8Encode(bodyAadText(seq, id));
}

/** bodyAad as text. */
function bodyAadText(seq: number, id: string): string {
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new SigilError('bad_request', 'seq must be a non-negative integer');
  }
  if (typeof id !== 'string' || id.length === 0) {
    throw new SigilError('bad_request', 'id must be a non-empty string');
  }
  // canonicalBytes({ domain: 'sigil.body.v1', seq, id }) written out (keys in JCS order; a safe
  // integer's String() is its JCS form): built per row, on every append and every validate.
  return `{"domain":"sigil.body.v1","id":${canonicalJson(id)},"seq":${String(seq)}}`;
}

/** Holds the AAD of the body being opened: setAAD reads it at once (validate opens every row). */
const aadScratch = new Uint8Array(384);

/** A fresh random data key. */
export function generateDataKey(): Uint8Array {
  return randomBytes(KEY_BYTES);
}

/** Seals a record body for (seq, id): nonce(12) || ciphertext || tag(16). */
export function encryptBody(
  dataKey: Uint8Array,
  seq: number,
  id: string,
  plaintext: Uint8Array,
): Uint8Array {
  checkKey(dataKey, 'data key');
  return aesGcmSeal(dataKey, plaintext, bodyAad(seq, id));
}

/** Opens a sealed body; 'decrypt_failed' if the key, seq, id or any byte is wrong. */
export function decryptBody(
  dataKey: Uint8Array,
  seq: number,
  id: string,
  sealed: Uint8Array,
): Uint8Array {
  checkKey(dataKey, 'data key');
  const text = bodyAadText(seq, id);
  const written = utf8EncodeInto(text, aadScratch);
  const aad = written < 0 ? utf8Encode(text) : aadScratch.subarray(0, written);
  return aesGcmOpen(dataKey, sealed, aad);
}

/** Identifies a KEK without revealing it: hex of SHA-256("sigil.kek-id.v1" || kek)[:8]. */
export function kekId(kek: Uint8Array): string {
  checkKey(kek, 'master key');
  return toHex(sha256(concatBytes(KEK_ID_DOMAIN, kek)).subarray(0, 8));
}

/** Wraps a data key under the KEK (AES-256-GCM, AAD "sigil.datakey.v1"). */
export function wrapDataKey(dataKey: Uint8Array, kek: Uint8Array): WrappedKey {
  checkKey(dataKey, 'data key');
  return {
    alg: 'A256GCM-KW',
    kek_id: kekId(kek),
    nonce_ct: toBase64Url(aesGcmSeal(kek, dataKey, DATA_KEY_AAD)),
  };
}

/**
 * Unwraps a data key. A KEK other than the one that wrapped it is detected by
 * its id before any decryption ('master_key_invalid'); a damaged blob under the
 * right KEK fails authentication ('decrypt_failed').
 */
export function unwrapDataKey(w: WrappedKey, kek: Uint8Array): Uint8Array {
  const wrapped = w as unknown as Record<string, unknown> | null;
  if (
    typeof wrapped !== 'object' ||
    wrapped === null ||
    wrapped.alg !== 'A256GCM-KW' ||
    typeof wrapped.kek_id !== 'string' ||
    !/^[0-9a-f]{16}$/.test(wrapped.kek_id) ||
    typeof wrapped.nonce_ct !== 'string'
  ) {
    throw new SigilError('decrypt_failed', 'wrapped data key is malformed');
  }
  if (!constantTimeEqual(fromHex(wrapped.kek_id), fromHex(kekId(kek)))) {
    throw new SigilError(
      'master_key_invalid',
      'the master key is not the one that wrapped the data key',
    );
  }
  let sealed: Uint8Array;
  try {
    sealed = fromBase64Url(wrapped.nonce_ct);
  } catch {
    throw new SigilError('decrypt_failed', 'wrapped data key is not base64url');
  }
  const dataKey = aesGcmOpen(kek, sealed, DATA_KEY_AAD);
  if (dataKey.length !== KEY_BYTES) {
    throw new SigilError('decrypt_failed', 'wrapped data key has the wrong length');
  }
  return dataKey;
}
