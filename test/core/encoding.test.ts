import { describe, expect, it } from 'vitest';
import {
  concatBytes,
  constantTimeEqual,
  fromBase64,
  fromBase64Url,
  fromHex,
  toBase64,
  toBase64Url,
  toHex,
  utf8Decode,
  utf8Encode,
} from '../../src/core/index.ts';
import { expectCode } from './helpers.ts';

const ascii = (s: string) => new TextEncoder().encode(s);

describe('hex', () => {
  it('round-trips lowercase hex', () => {
    const bytes = Uint8Array.of(0, 1, 0xab, 0xff);
    expect(toHex(bytes)).toBe('0001abff');
    expect(fromHex('0001abff')).toEqual(bytes);
    expect(fromHex('')).toEqual(new Uint8Array(0));
  });

  it('returns plain Uint8Arrays and respects subarray views', () => {
    expect(Object.getPrototypeOf(fromHex('00'))).toBe(Uint8Array.prototype);
    expect(toHex(Uint8Array.of(1, 2, 3, 4).subarray(1, 3))).toBe('0203');
  });

  it.each(['ABCD', 'aB', 'abc', '0g', ' 00', '00 ', '0x00', '\u0660\u0660'])(
    'rejects non-canonical %j',
    (s) => expectCode(() => fromHex(s), 'invalid_encoding'),
  );
});

describe('base64url', () => {
  // RFC 4648 §10 vectors, padding removed.
  const rfc: [string, string][] = [
    ['', ''],
    ['f', 'Zg'],
    ['fo', 'Zm8'],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg'],
    ['fooba', 'Zm9vYmE'],
    ['foobar', 'Zm9vYmFy'],
  ];
  it.each(rfc)('encodes %j as %j and back', (text, encoded) => {
    expect(toBase64Url(ascii(text))).toBe(encoded);
    expect(fromBase64Url(encoded)).toEqual(ascii(text));
  });

  it('uses the URL alphabet', () => {
    expect(toBase64Url(Uint8Array.of(0xfb, 0xff))).toBe('-_8');
    expect(fromBase64Url('-_8')).toEqual(Uint8Array.of(0xfb, 0xff));
  });

  it.each([
    ['padding', 'Zg=='],
    ['single pad', 'Zm8='],
    ['standard alphabet +', '+_8'],
    ['standard alphabet /', '-/8'],
    ['length ≡ 1 mod 4', 'Zm9vY'],
    ['non-zero trailing bits (2 chars)', 'Zh'],
    ['non-zero trailing bits (3 chars)', 'Zm9'],
    ['whitespace', 'Zm9v Yg'],
    ['invalid char', 'Zm9v*g'],
  ])('rejects %s', (_name, s) => expectCode(() => fromBase64Url(s), 'invalid_encoding'));
});

describe('base64', () => {
  const rfc: [string, string][] = [
    ['', ''],
    ['f', 'Zg=='],
    ['fo', 'Zm8='],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg=='],
    ['fooba', 'Zm9vYmE='],
    ['foobar', 'Zm9vYmFy'],
  ];
  it.each(rfc)('encodes %j as %j and back', (text, encoded) => {
    expect(toBase64(ascii(text))).toBe(encoded);
    expect(fromBase64(encoded)).toEqual(ascii(text));
  });

  it('uses the standard alphabet', () => {
    expect(toBase64(Uint8Array.of(0xfb, 0xff))).toBe('+/8=');
    expect(fromBase64('+/8=')).toEqual(Uint8Array.of(0xfb, 0xff));
  });

  it.each([
    ['missing padding', 'Zg'],
    ['too much padding', 'Zm8=='],
    ['padding in the middle', 'Zg==Zg=='],
    ['url alphabet', '-_8='],
    ['non-zero trailing bits', 'Zh=='],
    ['non-zero trailing bits (1 pad)', 'Zm9='],
    ['whitespace', 'Zm9v\nYmFy'],
    ['only padding', '===='],
  ])('rejects %s', (_name, s) => expectCode(() => fromBase64(s), 'invalid_encoding'));
});

describe('utf8', () => {
  it('encodes and decodes', () => {
    expect(utf8Encode('é€😂')).toEqual(
      Uint8Array.of(0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x82),
    );
    expect(utf8Decode(Uint8Array.of(0xc3, 0xa9))).toBe('é');
  });

  it('keeps a BOM', () => {
    expect(utf8Decode(Uint8Array.of(0xef, 0xbb, 0xbf, 0x41))).toBe('\ufeffA');
  });

  it('rejects lone surrogates on encode', () => {
    expectCode(() => utf8Encode('a\ud800'), 'invalid_encoding');
    expectCode(() => utf8Encode('\udc00b'), 'invalid_encoding');
  });

  it.each([
    ['truncated', [0xc3]],
    ['overlong', [0xc0, 0xaf]],
    ['surrogate', [0xed, 0xa0, 0x80]],
    ['invalid byte', [0xff]],
  ])('rejects %s UTF-8', (_name, bytes) => {
    expectCode(() => utf8Decode(Uint8Array.from(bytes)), 'invalid_encoding');
  });
});

describe('concatBytes', () => {
  it('concatenates in order', () => {
    expect(concatBytes(Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3))).toEqual(
      Uint8Array.of(1, 2, 3),
    );
    expect(concatBytes()).toEqual(new Uint8Array(0));
  });
});

describe('constantTimeEqual', () => {
  it('compares contents', () => {
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });

  it('is false on length mismatch', () => {
    expect(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3))).toBe(false);
  });
});
