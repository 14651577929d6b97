import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateDataKey } from '../../src/canon/envelope.ts';
import { KeyStore } from '../../src/canon/keystore.ts';
import { generateKeyPair, sign, verify } from '../../src/core/ed25519.ts';
import { isSigilError } from '../../src/core/errors.ts';

let root: string;
let dir: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sigil-ks-'));
  dir = join(root, 'keys');
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return isSigilError(err) ? err.code : 'not-a-sigil-error';
  }
  return undefined;
}

function samePair(a: ReturnType<typeof generateKeyPair>, b: ReturnType<typeof generateKeyPair>) {
  const msg = Buffer.from('probe');
  return a.publicKey.equals(b.publicKey) && verify(a.publicKey, msg, sign(b.privateKey, msg));
}

describe('KeyStore', () => {
  const kek = generateDataKey();
  const pair = generateKeyPair();

  it('saves keys 0600 in a 0700 directory and loads them back', () => {
    const store = new KeyStore(dir, kek);
    store.save('log', pair);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'log.key')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['log.key']);
    expect(store.has('log')).toBe(true);
    expect(store.list()).toEqual(['log']);
    expect(samePair(new KeyStore(dir, kek).load('log'), pair)).toBe(true);
  });

  it('keeps the private key encrypted on disk', () => {
    const store = new KeyStore(dir, kek);
    store.save('log', pair);
    const text = readFileSync(join(dir, 'log.key'), 'utf8');
    const file = JSON.parse(text);
    expect(Object.keys(file).sort()).toEqual(
      ['alg', 'kek_id', 'key_id', 'pkcs8', 'public_key', 'v'].sort(),
    );
    const der = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
    const seed = der.subarray(der.length - 32);
    expect(Buffer.from(file.pkcs8, 'base64url').includes(seed)).toBe(false);
    expect(text.includes(seed.toString('base64url'))).toBe(false);
  });

  it('refuses files readable by group or others', () => {
    const store = new KeyStore(dir, kek);
    store.save('log', pair);
    chmodSync(join(dir, 'log.key'), 0o644);
    expect(codeOf(() => store.load('log'))).toBe('key_file_insecure');
    chmodSync(join(dir, 'log.key'), 0o604);
    expect(codeOf(() => store.load('log'))).toBe('key_file_insecure');
    chmodSync(join(dir, 'log.key'), 0o600);
    expect(samePair(store.load('log'), pair)).toBe(true);
  });

  it('detects a wrong master key before decrypting', () => {
    new KeyStore(dir, kek).save('log', pair);
    expect(codeOf(() => new KeyStore(dir, generateDataKey()).load('log'))).toBe(
      'master_key_invalid',
    );
  });

  it('binds the key id: a file renamed to another id does not load', () => {
    const store = new KeyStore(dir, kek);
    store.save('log', pair);
    renameSync(join(dir, 'log.key'), join(dir, 'other.key'));
    expect(codeOf(() => store.load('other'))).toBe('key_file_invalid');
    const file = JSON.parse(readFileSync(join(dir, 'other.key'), 'utf8'));
    writeFileSync(join(dir, 'other.key'), JSON.stringify({ ...file, key_id: 'other' }), {
      mode: 0o600,
    });
    expect(codeOf(() => store.load('other'))).toBe('decrypt_failed');
  });

  it('detects a swapped public key or damaged ciphertext', () => {
    const store = new KeyStore(dir, kek);
    store.save('log', pair);
    const path = join(dir, 'log.key');
    const file = JSON.parse(readFileSync(path, 'utf8'));
    const otherPub = generateKeyPair()
      .publicKey.export({ format: 'der', type: 'spki' })
      .subarray(-32)
      .toString('base64url');
    writeFileSync(path, JSON.stringify({ ...file, public_key: otherPub }), { mode: 0o600 });
    expect(codeOf(() => store.load('log'))).toBe('decrypt_failed');
    const ct = Buffer.from(file.pkcs8, 'base64url');
    ct[30]! ^= 1;
    writeFileSync(path, JSON.stringify({ ...file, pkcs8: ct.toString('base64url') }), {
      mode: 0o600,
    });
    expect(codeOf(() => store.load('log'))).toBe('decrypt_failed');
    writeFileSync(path, 'not json', { mode: 0o600 });
    expect(codeOf(() => store.load('log'))).toBe('key_file_invalid');
  });

  it('rewraps every key under a new master key', () => {
    const store = new KeyStore(dir, kek);
    const second = generateKeyPair();
    store.save('log', pair);
    store.save('witness.1', second);
    const newKek = generateDataKey();
    store.rewrap(newKek);
    expect(statSync(join(dir, 'log.key')).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(['log.key', 'witness.1.key']);
    expect(samePair(store.load('log'), pair)).toBe(true);
    const fresh = new KeyStore(dir, newKek);
    expect(samePair(fresh.load('log'), pair)).toBe(true);
    expect(samePair(fresh.load('witness.1'), second)).toBe(true);
    expect(codeOf(() => new KeyStore(dir, kek).load('log'))).toBe('master_key_invalid');
  });

  it('does not rewrap anything when one key cannot be read', () => {
    const store = new KeyStore(dir, kek);
    store.save('a', pair);
    store.save('b', generateKeyPair());
    const before = readFileSync(join(dir, 'a.key'), 'utf8');
    chmodSync(join(dir, 'b.key'), 0o644);
    expect(codeOf(() => store.rewrap(generateDataKey()))).toBe('key_file_insecure');
    expect(readFileSync(join(dir, 'a.key'), 'utf8')).toBe(before);
    expect(samePair(store.load('a'), pair)).toBe(true);
  });

  it('reports missing keys, refuses overwrites and bad ids', () => {
    const store = new KeyStore(dir, kek);
    expect(store.list()).toEqual([]);
    expect(codeOf(() => store.load('nope'))).toBe('key_not_found');
    store.save('log', pair);
    expect(codeOf(() => store.save('log', generateKeyPair()))).toBe('key_exists');
    const replacement = generateKeyPair();
    store.save('log', replacement, { overwrite: true });
    expect(samePair(store.load('log'), replacement)).toBe(true);
    for (const bad of ['', '../x', 'a/b', 'a b', '.', '..', 'x'.repeat(65)]) {
      expect(codeOf(() => store.has(bad))).toBe('bad_request');
    }
    expect(codeOf(() => new KeyStore(dir, new Uint8Array(16)))).toBe('master_key_invalid');
  });

  it('refuses a key pair whose halves do not match', () => {
    const store = new KeyStore(dir, kek);
    const mixed = { publicKey: generateKeyPair().publicKey, privateKey: pair.privateKey };
    expect(codeOf(() => store.save('mixed', mixed))).toBe('invalid_key');
  });
});
