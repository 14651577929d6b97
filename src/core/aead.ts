/**
 * AES-256-GCM with a 96-bit nonce and a 128-bit tag. Sealed form: nonce || ciphertext || tag.
 * Opening fails closed: any wrong key, nonce, tag, AAD or truncation is 'decrypt_failed'.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { SigilError } from './errors.ts';
import { plainBytes, requireBytes } from './guard.ts';
import { randomBytes } from './random.ts';

export const AES_GCM_KEY_LENGTH = 32;
export const AES_GCM_NONCE_LENGTH = 12;
export const AES_GCM_TAG_LENGTH = 16;

function requireKey(key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== AES_GCM_KEY_LENGTH) {
    throw new SigilError('invalid_key', 'AES-256-GCM needs a 32-byte key');
  }
}

/**
 * Encrypts and authenticates `plaintext`, binding `aad`. The nonce is random unless given;
 * a caller that supplies one must never reuse it with the same key.
 */
export function aesGcmSeal(
  key: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  nonce?: Uint8Array,
): Uint8Array {
  requireKey(key);
  requireBytes(plaintext, 'plaintext');
  requireBytes(aad, 'aad');
  const iv = nonce === undefined ? randomBytes(AES_GCM_NONCE_LENGTH) : nonce;
  if (!(iv instanceof Uint8Array) || iv.length !== AES_GCM_NONCE_LENGTH) {
    throw new SigilError('invalid_input', 'AES-GCM nonce must be 12 bytes');
  }
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: AES_GCM_TAG_LENGTH });
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const tail = cipher.final();
  const tag = cipher.getAuthTag();
  const out = new Uint8Array(iv.length + body.length + tail.length + tag.length);
  out.set(iv);
  out.set(body, iv.length);
  out.set(tail, iv.length + body.length);
  out.set(tag, iv.length + body.length + tail.length);
  return out;
}

/** Decrypts what aesGcmSeal produced under the same key and AAD; 'decrypt_failed' otherwise. */
export function aesGcmOpen(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array {
  requireKey(key);
  if (
    !(sealed instanceof Uint8Array) ||
    !(aad instanceof Uint8Array) ||
    sealed.length < AES_GCM_NONCE_LENGTH + AES_GCM_TAG_LENGTH
  ) {
    throw new SigilError('decrypt_failed', 'cannot decrypt');
  }
  const iv = sealed.subarray(0, AES_GCM_NONCE_LENGTH);
  const ciphertext = sealed.subarray(AES_GCM_NONCE_LENGTH, sealed.length - AES_GCM_TAG_LENGTH);
  const tag = sealed.subarray(sealed.length - AES_GCM_TAG_LENGTH);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, {
      authTagLength: AES_GCM_TAG_LENGTH,
    });
    decipher.setAuthTag(tag);
    decipher.setAAD(aad);
    const body = decipher.update(ciphertext);
    // GCM is a stream mode: final() checks the tag and writes no bytes, so `body` is the whole
    // plaintext and is returned without a copy (validate opens every row).
    decipher.final();
    return plainBytes(body);
  } catch {
    throw new SigilError('decrypt_failed', 'cannot decrypt');
  }
}
