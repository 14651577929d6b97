import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  fromHex,
  generateKeyPair,
  publicKeyFromRaw,
  publicKeyToRaw,
  sign,
  toHex,
  verify,
  verifyWithRawKey,
} from '../../src/core/index.ts';
import { expectCode, readVectorJson, type WycheproofFile } from './helpers.ts';

interface EddsaGroup {
  publicKey: { pk: string };
  tests: { tcId: number; comment: string; msg: string; sig: string; result: string }[];
}

describe('Wycheproof ed25519_test.json', () => {
  const file = readVectorJson<WycheproofFile<EddsaGroup>>('wycheproof', 'ed25519_test.json');
  const cases = file.testGroups.flatMap((g) =>
    g.tests.map((t) => ({ ...t, pk: g.publicKey.pk, name: `tc ${t.tcId} ${t.comment}` })),
  );

  it('covers every case in the file', () => {
    expect(cases.length).toBe(file.numberOfTests);
    expect(cases.filter((c) => c.result === 'valid').length).toBeGreaterThan(0);
    expect(cases.filter((c) => c.result === 'invalid').length).toBeGreaterThan(0);
  });

  it.each(cases)('$name → $result', (c) => {
    const raw = fromHex(c.pk);
    const msg = fromHex(c.msg);
    const sig = fromHex(c.sig);
    const expected = c.result === 'valid';
    expect(verifyWithRawKey(raw, msg, sig)).toBe(expected);
    expect(verify(publicKeyFromRaw(raw), msg, sig)).toBe(expected);
  });
});

describe('RFC 8032 §7.1 TEST 1', () => {
  const seed = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
  const pub = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
  const sigHex =
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

  it('signs deterministically and verifies', () => {
    const privateKey = createPrivateKey({
      key: Buffer.concat([
        Buffer.from('302e020100300506032b657004220420', 'hex'),
        Buffer.from(seed, 'hex'),
      ]),
      format: 'der',
      type: 'pkcs8',
    });
    const publicKey = publicKeyFromRaw(fromHex(pub));
    const sig = sign(privateKey, new Uint8Array(0));
    expect(toHex(sig)).toBe(sigHex);
    expect(verify(publicKey, new Uint8Array(0), sig)).toBe(true);
    expect(toHex(publicKeyToRaw(publicKey))).toBe(pub);
  });
});

describe('ed25519 wrappers', () => {
  const { publicKey, privateKey } = generateKeyPair();
  const msg = new TextEncoder().encode('sigil');
  const sig = sign(privateKey, msg);

  it('produces 64-byte plain signatures that verify', () => {
    expect(sig.length).toBe(64);
    expect(Object.getPrototypeOf(sig)).toBe(Uint8Array.prototype);
    expect(verify(publicKey, msg, sig)).toBe(true);
    expect(verifyWithRawKey(publicKeyToRaw(publicKey), msg, sig)).toBe(true);
  });

  it('round-trips raw public keys', () => {
    const raw = publicKeyToRaw(publicKey);
    expect(raw.length).toBe(32);
    expect(publicKeyToRaw(publicKeyFromRaw(raw))).toEqual(raw);
  });

  it('rejects a signature by another key', () => {
    const other = generateKeyPair();
    expect(verify(other.publicKey, msg, sig)).toBe(false);
  });

  it('never throws from verify', () => {
    const x25519 = generateKeyPairSync('x25519');
    expect(verify(privateKey, msg, sig)).toBe(false); // a private key is not a public key
    expect(verify(x25519.publicKey, msg, sig)).toBe(false);
    expect(verify(publicKey, msg, sig.subarray(0, 63))).toBe(false);
    expect(verify(publicKey, msg, new Uint8Array(65))).toBe(false);
    expect(verify(publicKey, 'sigil' as unknown as Uint8Array, sig)).toBe(false);
    expect(verify(null as unknown as never, msg, sig)).toBe(false);
    expect(verifyWithRawKey(new Uint8Array(31), msg, sig)).toBe(false);
    expect(verifyWithRawKey(new Uint8Array(32).fill(0xff), msg, sig)).toBe(false);
  });

  it('rejects wrong keys with invalid_key', () => {
    const x25519 = generateKeyPairSync('x25519');
    expectCode(() => sign(publicKey, msg), 'invalid_key');
    expectCode(() => sign(x25519.privateKey, msg), 'invalid_key');
    expectCode(() => publicKeyFromRaw(new Uint8Array(33)), 'invalid_key');
    expectCode(() => publicKeyToRaw(privateKey), 'invalid_key');
    expectCode(() => publicKeyToRaw(x25519.publicKey), 'invalid_key');
  });
});
