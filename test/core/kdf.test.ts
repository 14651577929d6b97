import { describe, expect, it } from 'vitest';
import { fromHex, hkdfSha256, randomBytes, scryptKey, toHex } from '../../src/core/index.ts';
import { expectCode, readVectorJson, type WycheproofFile } from './helpers.ts';

interface HkdfGroup {
  tests: {
    tcId: number;
    comment: string;
    ikm: string;
    salt: string;
    info: string;
    size: number;
    okm: string;
    result: string;
  }[];
}

describe('Wycheproof hkdf_sha256_test.json', () => {
  const file = readVectorJson<WycheproofFile<HkdfGroup>>('wycheproof', 'hkdf_sha256_test.json');
  const cases = file.testGroups.flatMap((g) =>
    g.tests.map((t) => ({ ...t, name: `tc ${t.tcId} ${t.comment}` })),
  );

  it('covers every case', () => {
    expect(cases.length).toBe(file.numberOfTests);
  });

  it.each(cases)('$name → $result', (c) => {
    const run = () => hkdfSha256(fromHex(c.ikm), fromHex(c.salt), fromHex(c.info), c.size);
    if (c.result === 'valid') expect(toHex(run())).toBe(c.okm);
    else expectCode(run, 'invalid_input');
  });
});

describe('hkdfSha256', () => {
  it('rejects lengths outside 1 … 8160', () => {
    const ikm = randomBytes(32);
    for (const n of [0, -1, 1.5, 8161, NaN]) {
      expectCode(() => hkdfSha256(ikm, new Uint8Array(0), new Uint8Array(0), n), 'invalid_input');
    }
    expect(hkdfSha256(ikm, new Uint8Array(0), new Uint8Array(0), 8160).length).toBe(8160);
  });
});

describe('scryptKey', () => {
  const salt = new TextEncoder().encode('NaCl');

  // RFC 7914 §12 vector (N=1024, r=8, p=16, dkLen=64): our key is its first 32 bytes.
  it('matches RFC 7914 with explicit parameters', () => {
    expect(toHex(scryptKey('password', salt, { N: 1024, r: 8, p: 16 }))).toBe(
      'fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162',
    );
  });

  it('defaults to N=2^15, r=8, p=1 and is deterministic', () => {
    const a = scryptKey('correct horse', salt);
    expect(a.length).toBe(32);
    expect(a).toEqual(scryptKey('correct horse', salt, { N: 2 ** 15, r: 8, p: 1 }));
    expect(a).not.toEqual(scryptKey('correct horsf', salt));
  });

  it.each([
    ['N not a power of two', { N: 1000 }],
    ['N = 1', { N: 1 }],
    ['r = 0', { r: 0 }],
    ['p fractional', { p: 1.5 }],
    ['over 1 GiB of memory', { N: 2 ** 21, r: 8 }],
  ])('rejects %s', (_name, opts) => {
    expectCode(() => scryptKey('pw', salt, opts), 'invalid_input');
  });

  it('rejects passphrases with lone surrogates', () => {
    expectCode(() => scryptKey('pw\ud800', salt, { N: 16 }), 'invalid_input');
  });
});
