import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeCbor, encodeCbor, fromHex, toHex } from '../../src/core/index.ts';
import { expectCode, vectorPath } from './helpers.ts';

interface AppendixVector {
  hex: string;
  roundtrip: boolean;
  decoded?: unknown;
  diagnostic?: string;
  /** The number's literal in the file, when `decoded` is a bare number. */
  literal?: string;
}

/**
 * Reads appendix_a.json keeping what JSON.parse would lose: integers beyond 2^53 become
 * BigInts, and the literal of every bare-number `decoded` is kept (1.0 vs 1).
 */
function loadAppendixA(): AppendixVector[] {
  const text = readFileSync(vectorPath('cbor', 'appendix_a.json'), 'utf8').replace(
    /"decoded": (-?[0-9][0-9.eE+-]*)/g,
    '"decoded": {"$literal": "$1"}',
  );
  const vectors = JSON.parse(text) as AppendixVector[];
  for (const v of vectors) {
    const literal = (v.decoded as { $literal?: string } | undefined)?.$literal;
    if (literal === undefined) continue;
    v.literal = literal;
    const isInteger = /^-?[0-9]+$/.test(literal);
    v.decoded =
      isInteger && !Number.isSafeInteger(Number(literal)) ? BigInt(literal) : Number(literal);
  }
  return vectors;
}

/** `1.0` and friends: a float in CBOR, but one JS number type that encodes as an integer. */
function isIntegralFloatLiteral(v: AppendixVector): boolean {
  return (
    v.literal !== undefined &&
    /[.eE]/.test(v.literal) &&
    Number.isSafeInteger(v.decoded) &&
    !Object.is(v.decoded, -0)
  );
}

describe('RFC 8949 Appendix A (cbor/test-vectors)', () => {
  const all = loadAppendixA();
  const withValue = all.filter((v) => 'decoded' in v);
  const diagnosticOnly = all.filter((v) => !('decoded' in v));
  const integralFloats = withValue.filter((v) => v.roundtrip && isIntegralFloatLiteral(v));
  const exact = withValue.filter((v) => v.roundtrip && !isIntegralFloatLiteral(v));
  const indefinite = withValue.filter((v) => !v.roundtrip);

  it('accounts for every vector', () => {
    expect(all.length).toBe(82);
    expect(exact.length + integralFloats.length + indefinite.length + diagnosticOnly.length).toBe(
      all.length,
    );
    // Skipped from the value checks (no `decoded`, only diagnostic notation): 23.
    expect(diagnosticOnly.length).toBe(23);
    // 0.0, 1.0, 65504.0, 100000.0, -4.0
    expect(integralFloats.map((v) => v.hex)).toEqual([
      'f90000',
      'f93c00',
      'f97bff',
      'fa47c35000',
      'f9c400',
    ]);
    expect(exact.length).toBe(44);
    expect(indefinite.length).toBe(10);
  });

  it.each(exact.map((v) => [v.hex, v] as const))('%s encodes exactly and decodes', (hex, v) => {
    expect(toHex(encodeCbor(v.decoded))).toBe(hex);
    const decoded = decodeCbor(fromHex(hex));
    expect(decoded).toEqual(v.decoded);
    if (typeof v.decoded === 'number') expect(Object.is(decoded, v.decoded)).toBe(true);
  });

  it.each(integralFloats.map((v) => [v.hex, v] as const))(
    '%s (integral float) encodes as an integer; the float form is rejected as non-deterministic',
    (hex, v) => {
      const asInteger = encodeCbor(v.decoded);
      expect(asInteger[0]! >> 5).toBeLessThanOrEqual(1); // major type 0 or 1
      expect(decodeCbor(asInteger)).toBe(v.decoded);
      expectCode(() => decodeCbor(fromHex(hex)), 'cbor_invalid');
    },
  );

  it.each(indefinite.map((v) => [v.hex, v] as const))(
    '%s (indefinite length) is rejected; its value encodes definite-length',
    (hex, v) => {
      expectCode(() => decodeCbor(fromHex(hex)), 'cbor_invalid');
      expect(decodeCbor(encodeCbor(v.decoded))).toEqual(v.decoded);
    },
  );

  it('diagnostic-only vectors: byte strings decode, everything else is outside the profile', () => {
    let bytes = 0;
    let rejected = 0;
    for (const v of diagnosticOnly) {
      const m = /^h'([0-9a-f]*)'$/.exec(v.diagnostic ?? '');
      if (m) {
        expect(decodeCbor(fromHex(v.hex))).toEqual(fromHex(m[1]!));
        expect(toHex(encodeCbor(fromHex(m[1]!)))).toBe(v.hex);
        bytes++;
      } else {
        // NaN/±Infinity, undefined, simple values, tags 0/1/23/24/32, integer keys, indefinite.
        expectCode(() => decodeCbor(fromHex(v.hex)), 'cbor_invalid');
        rejected++;
      }
    }
    expect([bytes, rejected]).toEqual([2, 21]);
  });
});

describe('encodeCbor', () => {
  it('sorts map keys by encoded bytes (shorter first, then bytewise)', () => {
    const hex = toHex(encodeCbor({ bb: 1, a: 2, c: 3, aaa: 4 }));
    expect(hex).toBe('a4' + '616102' + '616303' + '62626201' + '6361616104');
  });

  it('orders keys by UTF-8 bytes, not UTF-16 units', () => {
    // "\uff61" is 3 UTF-8 bytes, "\u{10000}" is 4: length decides first.
    expect(toHex(encodeCbor({ '\u{10000}': 1, '\uff61': 2 }))).toBe('a263efbda10264f090808001');
  });

  it('is independent of insertion order', () => {
    expect(encodeCbor({ x: 1, y: [1, { b: 1, a: 2 }] })).toEqual(
      encodeCbor({ y: [1, { a: 2, b: 1 }], x: 1 }),
    );
  });

  it('encodes byte strings, Buffers alike', () => {
    expect(toHex(encodeCbor(Buffer.from([1, 2])))).toBe('420102');
  });

  it('uses the shortest float that keeps the value', () => {
    expect(toHex(encodeCbor(0.5))).toBe('f93800');
    expect(toHex(encodeCbor(0.1))).toBe('fb3fb999999999999a');
    expect(toHex(encodeCbor(-0))).toBe('f98000');
    expect(toHex(encodeCbor(2 ** 60))).toBe('fa5d800000');
  });

  it('keeps BigInts', () => {
    expect(toHex(encodeCbor(2n ** 64n - 1n))).toBe('1bffffffffffffffff');
    expect(toHex(encodeCbor(2n ** 64n))).toBe('c249010000000000000000');
    expect(decodeCbor(encodeCbor(-(2n ** 70n)))).toBe(-(2n ** 70n));
  });

  class Thing {
    a = 1;
  }
  const cyclic: Record<string, unknown> = {};
  cyclic.me = cyclic;
  it.each([
    ['undefined', undefined],
    ['undefined property', { a: undefined }],
    ['NaN', NaN],
    ['Infinity', [Infinity]],
    ['lone surrogate', 'x\ud800'],
    ['lone surrogate key', { '\udc00': 1 }],
    ['Map', new Map([[1, 2]])],
    ['Set', new Set()],
    ['Date', new Date(0)],
    ['class instance', new Thing()],
    ['Uint16Array', new Uint16Array(2)],
    ['ArrayBuffer', new ArrayBuffer(2)],
    ['function', () => 1],
    ['symbol', Symbol('s')],
    ['array hole', [1, , 2]], // eslint-disable-line no-sparse-arrays
    ['cycle', cyclic],
  ])('rejects %s with cbor_invalid', (_name, value) => {
    expectCode(() => encodeCbor(value), 'cbor_invalid');
  });
});

describe('decodeCbor strictness', () => {
  it.each([
    ['empty input', ''],
    ['truncated', '1903'],
    ['trailing bytes', '0000'],
    ['non-shortest integer', '1817'],
    ['non-shortest length', '780161'],
    ['single that fits half', 'fa3fc00000'],
    ['double that fits half', 'fb3ff8000000000000'],
    ['unsorted map keys', 'a2616201616102'],
    ['length-first order violated', 'a262626201616102'],
    ['duplicate map key', 'a2616101616102'],
    ['integer map key', 'a10102'],
    ['indefinite array', '9f01ff'],
    ['undefined', 'f7'],
    ['NaN', 'f97e00'],
    ['bignum that fits 64 bits', 'c24101'],
    ['bignum with a leading zero', 'c24a00010000000000000000'],
    ['unknown tag', 'd82a00'],
    ['invalid UTF-8 text', '61ff'],
    ['break outside indefinite', 'ff'],
  ])('rejects %s', (_name, hex) => {
    expectCode(() => decodeCbor(fromHex(hex)), 'cbor_invalid');
  });

  it('keeps a "__proto__" key as data', () => {
    const decoded = decodeCbor(encodeCbor(JSON.parse('{"__proto__":1}'))) as object;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.keys(decoded)).toEqual(['__proto__']);
  });
});
