import { Buffer } from 'node:buffer';
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { aesGcmOpen, aesGcmSeal } from '../core/aead.ts';
import { canonicalBytes } from '../core/canonical.ts';
import { publicKeyFromRaw, publicKeyToRaw, type Ed25519KeyPair } from '../core/ed25519.ts';
import {
  constantTimeEqual,
  fromBase64Url,
  toBase64Url,
  toHex,
  utf8Encode,
} from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { hkdfSha256 } from '../core/kdf.ts';
import { randomBytes } from '../core/random.ts';
import { kekId } from './envelope.ts';
import { assertPrivateFile } from './masterkey.ts';

/**
 * Ed25519 private keys at rest: one file `<keyId>.key` per key, mode 0600, in a
 * directory created 0700. The file is JSON
 * `{v:1, alg:'ed25519', key_id, kek_id, public_key, pkcs8}` where `pkcs8` is the
 * PKCS#8 DER sealed with AES-256-GCM under HKDF-SHA256(KEK, info
 * "sigil.keystore.v1"); the AAD binds the key id and public key, so a file
 * renamed to another id or paired with another public key does not open.
 * Files others can read are refused ('key_file_insecure').
 */

interface KeyFile {
  v: 1;
  alg: 'ed25519';
  key_id: string;
  kek_id: string;
  public_key: string;
  pkcs8: string;
}

const KEY_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;
const KEY_SUFFIX = '.key';
const WRAP_INFO = utf8Encode('sigil.keystore.v1');

function wrapKeyFor(kek: Uint8Array): Uint8Array {
  return hkdfSha256(kek, new Uint8Array(0), WRAP_INFO, 32);
}

function aadFor(keyId: string, publicKey: string): Uint8Array {
  return canonicalBytes({ domain: 'sigil.keystore.v1', key_id: keyId, public_key: publicKey });
}

function checkKeyId(keyId: string): void {
  if (typeof keyId !== 'string' || !KEY_ID_RE.test(keyId) || keyId === '.' || keyId === '..') {
    throw new SigilError('bad_request', 'key id must be 1..64 of [A-Za-z0-9._-]');
  }
}

function checkKek(kek: Uint8Array): void {
  if (!(kek instanceof Uint8Array) || kek.length !== 32) {
    throw new SigilError('master_key_invalid', 'the master key must be 32 bytes');
  }
}

function fileInvalid(path: string, why: string): SigilError {
  return new SigilError('key_file_invalid', `${path}: ${why}`, { path });
}

/** Writes `data` to `path` through a 0600 temporary file, fsync and rename. */
function writePrivateFileAtomic(dir: string, path: string, data: string): void {
  const tmp = join(dir, `.${toHex(randomBytes(8))}.tmp`);
  try {
    writeFileSync(tmp, data, { mode: 0o600, flag: 'wx' });
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  syncDir(dir);
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Encrypted Ed25519 key files in one directory, all under one KEK. */
export class KeyStore {
  readonly dir: string;
  #kek: Uint8Array;

  constructor(dir: string, kek: Uint8Array) {
    checkKek(kek);
    this.dir = dir;
    this.#kek = kek.slice();
  }

  /** Stores a key pair; 'key_exists' unless `overwrite` is set. */
  save(keyId: string, pair: Ed25519KeyPair, opts: { overwrite?: boolean } = {}): void {
    checkKeyId(keyId);
    if (!opts.overwrite && this.has(keyId)) {
      throw new SigilError('key_exists', `key ${keyId} already exists`);
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writePrivateFileAtomic(this.dir, this.#path(keyId), this.#encode(keyId, pair, this.#kek));
  }

  /** Loads and decrypts a key pair ('key_not_found', 'key_file_insecure', 'master_key_invalid'). */
  load(keyId: string): Ed25519KeyPair {
    checkKeyId(keyId);
    const path = this.#path(keyId);
    if (!existsSync(path)) throw new SigilError('key_not_found', `no key ${keyId}`);
    assertPrivateFile(path);
    return this.#decode(keyId, path, readFileSync(path, 'utf8'));
  }

  /** True when a key file exists for `keyId`. */
  has(keyId: string): boolean {
    checkKeyId(keyId);
    return existsSync(this.#path(keyId));
  }

  /** Ids of the stored keys, sorted. */
  list(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((name) => name.endsWith(KEY_SUFFIX))
      .map((name) => name.slice(0, -KEY_SUFFIX.length))
      .filter((id) => KEY_ID_RE.test(id))
      .sort();
  }

  /**
   * Re-encrypts every key under `newKek`. All keys are decrypted first, so a
   * bad file stops the rotation before anything is written; each file is then
   * replaced atomically.
   */
  rewrap(newKek: Uint8Array): void {
    checkKek(newKek);
    const pairs = this.list().map((id) => [id, this.load(id)] as const);
    for (const [id, pair] of pairs) {
      writePrivateFileAtomic(this.dir, this.#path(id), this.#encode(id, pair, newKek));
    }
    this.#kek = newKek.slice();
  }

  #path(keyId: string): string {
    return join(this.dir, `${keyId}${KEY_SUFFIX}`);
  }

  #encode(keyId: string, pair: Ed25519KeyPair, kek: Uint8Array): string {
    const publicKey = toBase64Url(publicKeyToRaw(pair.publicKey));
    const derived = createPublicKey(pair.privateKey);
    if (!derived.equals(pair.publicKey)) {
      throw new SigilError('invalid_key', 'the public key does not belong to the private key');
    }
    const der = new Uint8Array(pair.privateKey.export({ format: 'der', type: 'pkcs8' }));
    const sealed = aesGcmSeal(wrapKeyFor(kek), der, aadFor(keyId, publicKey));
    der.fill(0);
    const file: KeyFile = {
      v: 1,
      alg: 'ed25519',
      key_id: keyId,
      kek_id: kekId(kek),
      public_key: publicKey,
      pkcs8: toBase64Url(sealed),
    };
    return `${JSON.stringify(file, null, 2)}\n`;
  }

  #decode(keyId: string, path: string, text: string): Ed25519KeyPair {
    let file: Partial<KeyFile>;
    try {
      file = JSON.parse(text) as Partial<KeyFile>;
    } catch {
      throw fileInvalid(path, 'not JSON');
    }
    if (
      typeof file !== 'object' ||
      file === null ||
      file.v !== 1 ||
      file.alg !== 'ed25519' ||
      file.key_id !== keyId ||
      typeof file.kek_id !== 'string' ||
      typeof file.public_key !== 'string' ||
      typeof file.pkcs8 !== 'string'
    ) {
      throw fileInvalid(path, 'not a Sigil key file for this id');
    }
    if (!constantTimeEqual(utf8Encode(file.kek_id), utf8Encode(kekId(this.#kek)))) {
      throw new SigilError('master_key_invalid', `${path} was encrypted under another master key`);
    }
    let publicKey: KeyObject;
    let sealed: Uint8Array;
    try {
      publicKey = publicKeyFromRaw(fromBase64Url(file.public_key));
      sealed = fromBase64Url(file.pkcs8);
    } catch {
      throw fileInvalid(path, 'bad encoding');
    }
    const der = aesGcmOpen(wrapKeyFor(this.#kek), sealed, aadFor(keyId, file.public_key));
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({
        key: Buffer.from(der.buffer, der.byteOffset, der.length),
        format: 'der',
        type: 'pkcs8',
      });
    } catch {
      throw fileInvalid(path, 'not a PKCS#8 key');
    } finally {
      der.fill(0);
    }
    if (
      privateKey.asymmetricKeyType !== 'ed25519' ||
      !createPublicKey(privateKey).equals(publicKey)
    ) {
      throw fileInvalid(path, 'private key does not match its public key');
    }
    return { publicKey, privateKey };
  }
}
