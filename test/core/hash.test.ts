import { describe, expect, it } from 'vitest';
import { sha256, sha256Hex, toHex } from '../../src/core/index.ts';
import { expectCode } from './helpers.ts';

describe('sha256', () => {
  // FIPS 180-4 examples.
  it.each([
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    [
      'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq',
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    ],
  ])('hashes %j', (input, digest) => {
    expect(sha256Hex(input)).toBe(digest);
    expect(toHex(sha256(input))).toBe(digest);
    expect(toHex(sha256(new TextEncoder().encode(input)))).toBe(digest);
  });

  it('returns 32 plain bytes', () => {
    const d = sha256('x');
    expect(d.length).toBe(32);
    expect(Object.getPrototypeOf(d)).toBe(Uint8Array.prototype);
  });

  it('hashes strings as UTF-8', () => {
    expect(sha256Hex('é')).toBe(sha256Hex(Uint8Array.of(0xc3, 0xa9)));
  });

  it('rejects strings with lone surrogates (no UTF-8 form)', () => {
    expectCode(() => sha256('\ud800'), 'invalid_encoding');
    expectCode(() => sha256Hex('\udfff'), 'invalid_encoding');
  });
});
