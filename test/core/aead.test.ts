import { describe, expect, it } from 'vitest';
import { aesGcmOpen, aesGcmSeal, fromHex, randomBytes, toHex } from '../../src/core/index.ts';
import { expectCode, readVectorJson, type WycheproofFile } from './helpers.ts';

interface AeadGroup {
  keySize: number;
  ivSize: number;
  tagSize: number;
  tests: {
    tcId: number;
    comment: string;
    key: string;
    iv: string;
    aad: string;
    msg: string;
    ct: string;
    tag: string;
    result: string;
  }[];
}

describe('Wycheproof aes_gcm_test.json (256-bit key, 96-bit IV, 128-bit tag)', () => {
  const file = readVectorJson<WycheproofFile<AeadGroup>>('wycheproof', 'aes_gcm_test.json');
  const cases = file.testGroups
    .filter((g) => g.keySize === 256 && g.ivSize === 96 && g.tagSize === 128)
    .flatMap((g) => g.tests.map((t) => ({ ...t, name: `tc ${t.tcId} ${t.comment}` })));
  const valid = cases.filter((c) => c.result === 'valid');
  const invalid = cases.filter((c) => c.result !== 'valid');

  it('selects the cases our API supports', () => {
    expect(valid.length).toBe(39);
    expect(invalid.length).toBe(27);
  });

  it.each(valid)('$name: seal reproduces ct||tag and open recovers msg', (c) => {
    const key = fromHex(c.key);
    const aad = fromHex(c.aad);
    const sealed = aesGcmSeal(key, fromHex(c.msg), aad, fromHex(c.iv));
    expect(toHex(sealed)).toBe(c.iv + c.ct + c.tag);
    expect(toHex(aesGcmOpen(key, sealed, aad))).toBe(c.msg);
  });

  it.each(invalid)('$name: open rejects', (c) => {
    const sealed = fromHex(c.iv + c.ct + c.tag);
    expectCode(() => aesGcmOpen(fromHex(c.key), sealed, fromHex(c.aad)), 'decrypt_failed');
  });
});

describe('aesGcmSeal / aesGcmOpen', () => {
  const key = randomBytes(32);
  const aad = new TextEncoder().encode('seq=7;id=rec_1');
  const plaintext = new TextEncoder().encode('record body');

  it('round-trips with a random nonce, laid out as nonce||ct||tag', () => {
    const sealed = aesGcmSeal(key, plaintext, aad);
    expect(sealed.length).toBe(12 + plaintext.length + 16);
    expect(aesGcmOpen(key, sealed, aad)).toEqual(plaintext);
    expect(aesGcmOpen(key, aesGcmSeal(key, new Uint8Array(0), aad), aad)).toEqual(
      new Uint8Array(0),
    );
  });

  it('draws a fresh nonce each time', () => {
    const a = aesGcmSeal(key, plaintext, aad);
    const b = aesGcmSeal(key, plaintext, aad);
    expect(toHex(a.subarray(0, 12))).not.toBe(toHex(b.subarray(0, 12)));
  });

  it('fails closed on any tampering', () => {
    const sealed = aesGcmSeal(key, plaintext, aad);
    for (const i of [0, 11, 12, sealed.length - 17, sealed.length - 1]) {
      const t = sealed.slice();
      t[i]! ^= 0x01;
      expectCode(() => aesGcmOpen(key, t, aad), 'decrypt_failed');
    }
    expectCode(() => aesGcmOpen(randomBytes(32), sealed, aad), 'decrypt_failed');
    expectCode(
      () => aesGcmOpen(key, sealed, new TextEncoder().encode('seq=8;id=rec_1')),
      'decrypt_failed',
    );
    expectCode(() => aesGcmOpen(key, sealed.subarray(0, sealed.length - 1), aad), 'decrypt_failed');
    expectCode(() => aesGcmOpen(key, sealed.subarray(0, 27), aad), 'decrypt_failed');
    expectCode(() => aesGcmOpen(key, new Uint8Array(0), aad), 'decrypt_failed');
  });

  it('rejects keys that are not 32 bytes', () => {
    for (const n of [0, 16, 24, 31, 33]) {
      expectCode(() => aesGcmSeal(new Uint8Array(n), plaintext, aad), 'invalid_key');
      expectCode(() => aesGcmOpen(new Uint8Array(n), new Uint8Array(40), aad), 'invalid_key');
    }
  });

  it('rejects nonces that are not 12 bytes', () => {
    expectCode(() => aesGcmSeal(key, plaintext, aad, new Uint8Array(16)), 'invalid_input');
  });
});
