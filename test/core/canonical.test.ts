import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalBytes, canonicalJson, fromHex, SigilError } from '../../src/core/index.ts';
import { expectCode, readVectorBytes, vectorPath } from './helpers.ts';

describe('RFC 8785 vectors (cyberphone/json-canonicalization)', () => {
  const files = readdirSync(vectorPath('jcs', 'input')).filter((f) => f.endsWith('.json'));

  it('finds the vector files', () => {
    expect(files.length).toBeGreaterThanOrEqual(6);
  });

  it.each(files)('%s canonicalizes byte for byte', (file) => {
    const input = JSON.parse(readFileSync(vectorPath('jcs', 'input', file), 'utf8')) as unknown;
    const expected = readVectorBytes('jcs', 'output', file);
    const hex = readVectorBytes('jcs', 'outhex', file.replace(/\.json$/, '.txt'))
      .toString('ascii')
      .replace(/\s+/g, '');
    const bytes = canonicalBytes(input);
    expect(Buffer.from(bytes).equals(expected)).toBe(true);
    expect(bytes).toEqual(fromHex(hex));
    expect(canonicalJson(input)).toBe(expected.toString('utf8'));
  });
});

describe('canonicalJson', () => {
  it('sorts keys by UTF-16 code units, recursively', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
    // U+FB33 (one unit) sorts after U+1F602 (surrogates 0xD83D…): code units, not code points.
    expect(canonicalJson({ '\ufb33': 1, '\u{1f602}': 2 })).toBe('{"\u{1f602}":2,"\ufb33":1}');
  });

  it('serialises numbers as ECMAScript does', () => {
    expect(canonicalJson([-0, 1e21, 1e-7, 0.1 + 0.2, 2 ** 53 + 2, 5e-324])).toBe(
      '[0,1e+21,1e-7,0.30000000000000004,9007199254740994,5e-324]',
    );
  });

  it('accepts null-prototype objects', () => {
    const o = Object.create(null) as Record<string, unknown>;
    o.k = 'v';
    expect(canonicalJson(o)).toBe('{"k":"v"}');
  });

  it('keeps a "__proto__" own key as data', () => {
    expect(canonicalJson(JSON.parse('{"__proto__":1,"a":2}'))).toBe('{"__proto__":1,"a":2}');
  });

  it('allows shared (non-cyclic) references', () => {
    const shared = { x: 1 };
    expect(canonicalJson([shared, { s: shared }])).toBe('[{"x":1},{"s":{"x":1}}]');
  });

  it('returns UTF-8 bytes', () => {
    expect(canonicalBytes({ é: '€' })).toEqual(new TextEncoder().encode('{"é":"€"}'));
  });

  class Point {
    x = 1;
  }
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const cyclicArray: unknown[] = [1];
  cyclicArray.push([cyclicArray]);
  let deep: unknown = 1;
  for (let i = 0; i < 2000; i++) deep = [deep];

  const rejected: [string, unknown][] = [
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', { a: [-Infinity] }],
    ['lone high surrogate', 'a\ud800'],
    ['lone low surrogate', '\udc00'],
    ['lone surrogate in a key', { '\ud83d': 1 }],
    ['reversed surrogate pair', '\ude02\ud83d'],
    ['undefined', undefined],
    ['undefined property', { a: undefined }],
    ['undefined element', [undefined]],
    ['array hole', [1, , 3]], // eslint-disable-line no-sparse-arrays
    ['function', () => 1],
    ['function property', { f: () => 1 }],
    ['symbol property value', { s: Symbol('s') }],
    ['bigint', 1n],
    ['bigint property', { n: 10n }],
    ['Date', new Date(0)],
    ['Map', new Map([['a', 1]])],
    ['Set', new Set([1])],
    ['Buffer', Buffer.from('hi')],
    ['Uint8Array', new Uint8Array(2)],
    ['class instance', new Point()],
    ['boxed string', new String('s')],
    ['Array subclass', new (class extends Array {})()],
    ['object with toJSON', { toJSON: () => 'x' }],
    ['cycle through an object', cyclic],
    ['cycle through an array', cyclicArray],
    ['nesting beyond 1000 levels', deep],
  ];

  it.each(rejected)('rejects %s with not_canonicalizable', (_name, value) => {
    expectCode(() => canonicalJson(value), 'not_canonicalizable');
    expectCode(() => canonicalBytes(value), 'not_canonicalizable');
  });

  it('names where the problem is', () => {
    try {
      canonicalJson({ payload: { list: [1, NaN] } });
      expect.fail('should throw');
    } catch (err) {
      expect(err).toBeInstanceOf(SigilError);
      expect((err as SigilError).details?.path).toBe('$["payload"]["list"][1]');
    }
  });

  it('turns a throwing getter into not_canonicalizable', () => {
    const o = Object.defineProperty({}, 'x', {
      enumerable: true,
      get() {
        throw new TypeError('boom');
      },
    });
    expectCode(() => canonicalJson(o), 'not_canonicalizable');
  });
});
