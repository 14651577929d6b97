/**
 * Ed25519 (RFC 8032) on node:crypto KeyObjects. The wrappers stay thin: one type check and
 * the native call. `verify` never throws; any malformed argument is simply "not valid".
 */
import {
  createPublicKey,
  generateKeyPairSync,
  KeyObject,
  sign as cryptoSign,
  verify as cryptoVerify,
} from 'node:crypto';
import { Buffer } from 'node:buffer';
import { SigilError } from './errors.ts';
import { plainBytes, requireBytes } from './guard.ts';

export interface Ed25519KeyPair {
  publicKey: KeyObject;
  privateKey: KeyObject;
}

export const ED25519_PUBLIC_KEY_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;

/** DER SubjectPublicKeyInfo header for an Ed25519 key; the raw 32 bytes follow it. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Recently imported raw public keys: re-verifying many records by one signer skips the import. */
const rawKeyCache = new Map<string, KeyObject>();
const RAW_KEY_CACHE_SIZE = 256;

function isEd25519Key(key: unknown, type: 'public' | 'private'): key is KeyObject {
  return key instanceof KeyObject && key.type === type && key.asymmetricKeyType === 'ed25519';
}

/** A fresh Ed25519 key pair. */
export function generateKeyPair(): Ed25519KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { publicKey, privateKey };
}

/** The 64-byte Ed25519 signature of `message`; 'invalid_key' unless an Ed25519 private key. */
export function sign(privateKey: KeyObject, message: Uint8Array): Uint8Array {
  if (!isEd25519Key(privateKey, 'private')) {
    throw new SigilError('invalid_key', 'expected an Ed25519 private KeyObject');
  }
  requireBytes(message, 'message');
  return plainBytes(cryptoSign(null, message, privateKey));
}

/** True only for a valid signature by `publicKey`; never throws. */
export function verify(publicKey: KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  if (
    !isEd25519Key(publicKey, 'public') ||
    !(message instanceof Uint8Array) ||
    !(signature instanceof Uint8Array) ||
    signature.length !== ED25519_SIGNATURE_LENGTH
  ) {
    return false;
  }
  try {
    return cryptoVerify(null, message, publicKey, signature);
  } catch {
    return false;
  }
}

/** Imports a raw 32-byte Ed25519 public key; 'invalid_key' otherwise. */
export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  requireBytes(raw, 'public key', 'invalid_key');
  if (raw.length !== ED25519_PUBLIC_KEY_LENGTH) {
    throw new SigilError('invalid_key', 'an Ed25519 public key is 32 bytes', {
      length: raw.length,
    });
  }
  const der = new Uint8Array(SPKI_PREFIX.length + ED25519_PUBLIC_KEY_LENGTH);
  der.set(SPKI_PREFIX);
  der.set(raw, SPKI_PREFIX.length);
  try {
    return createPublicKey({ key: Buffer.from(der.buffer), format: 'der', type: 'spki' });
  } catch {
    throw new SigilError('invalid_key', 'not an Ed25519 public key');
  }
}

/** The raw 32 bytes of an Ed25519 public key; 'invalid_key' for anything else. */
export function publicKeyToRaw(key: KeyObject): Uint8Array {
  if (!isEd25519Key(key, 'public')) {
    throw new SigilError('invalid_key', 'expected an Ed25519 public KeyObject');
  }
  // Exporting costs twice a signature; a KeyObject never changes, so export it once.
  let raw = rawOfKey.get(key);
  if (raw === undefined) {
    const der = key.export({ format: 'der', type: 'spki' });
    raw = new Uint8Array(der.subarray(der.length - ED25519_PUBLIC_KEY_LENGTH));
    rawOfKey.set(key, raw);
  }
  return raw.slice();
}

const rawOfKey = new WeakMap<KeyObject, Uint8Array>();

function cachedPublicKey(raw: Uint8Array): KeyObject {
  const id = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('hex');
  let key = rawKeyCache.get(id);
  if (key === undefined) {
    key = publicKeyFromRaw(raw);
    if (rawKeyCache.size >= RAW_KEY_CACHE_SIZE) {
      const oldest = rawKeyCache.keys().next().value;
      if (oldest !== undefined) rawKeyCache.delete(oldest);
    }
    rawKeyCache.set(id, key);
  }
  return key;
}

/** verify() with a raw 32-byte public key; never throws (a bad key is just "not valid"). */
export function verifyWithRawKey(
  publicKeyRaw: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (!(publicKeyRaw instanceof Uint8Array) || publicKeyRaw.length !== ED25519_PUBLIC_KEY_LENGTH) {
    return false;
  }
  let key: KeyObject;
  try {
    key = cachedPublicKey(publicKeyRaw);
  } catch {
    return false;
  }
  return verify(key, message, signature);
}
