/** The strict JSON body parser: depth before parsing, UTF-8, prototype keys. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSigilError } from '../../src/core/errors.ts';
import { duplicateKey, jsonDepth, parseJsonBody } from '../../src/http/json-body.ts';

function depthOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
  if (typeof v === 'object' && v !== null) return 1 + Math.max(0, ...Object.values(v).map(depthOf));
  return 0;
}

const parse = (text: string | Uint8Array, depth = 64) =>
  parseJsonBody(Buffer.from(typeof text === 'string' ? Buffer.from(text) : text), depth);

function rejects(text: string | Uint8Array, depth = 64): string {
  try {
    parse(text, depth);
  } catch (err) {
    expect(isSigilError(err, 'bad_request')).toBe(true);
    return (err as Error).message;
  }
  throw new Error(`accepted ${String(text)}`);
}

describe('jsonDepth', () => {
  it('equals the nesting of the parsed value, whatever the strings hold', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 12 }), (v) => {
        expect(jsonDepth(JSON.stringify(v), 1000)).toBe(depthOf(v));
      }),
      { numRuns: 300 },
    );
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    expect(jsonDepth('{"a":"[[[{{{\\"]]]"}', 10)).toBe(1);
    expect(jsonDepth('["\\\\", ["x"]]', 10)).toBe(2);
  });

  it('stops counting once past the limit', () => {
    expect(jsonDepth('['.repeat(1_000_000), 64)).toBe(65);
  });
});

describe('parseJsonBody', () => {
  it('parses JSON and treats an empty body as none', () => {
    expect(parse('{"a":[1,{"b":null}]}')).toEqual({ a: [1, { b: null }] });
    expect(parse('')).toBeUndefined();
    expect(parse('  \n')).toBeUndefined();
  });

  it('rejects bodies deeper than the limit before parsing them', () => {
    expect(parse(`${'['.repeat(8)}${']'.repeat(8)}`, 8)).toBeDefined();
    expect(rejects(`${'['.repeat(9)}${']'.repeat(9)}`, 8)).toMatch(/deeper than 8/);
    expect(rejects('['.repeat(200_000), 64)).toMatch(/deeper/);
  });

  it('rejects invalid JSON and invalid UTF-8', () => {
    for (const bad of ['{', '{"a":1,}', "{'a':1}", 'NaN', '{"a":1}{"b":2}', '01']) {
      expect(rejects(bad)).toMatch(/not valid JSON/);
    }
    for (const bytes of [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff], [0x80], [0xe2, 0x82]]) {
      expect(rejects(Uint8Array.from([0x22, ...bytes, 0x22]))).toMatch(/UTF-8/);
    }
  });

  it('rejects prototype keys, however they are spelled', () => {
    for (const bad of [
      '{"__proto__":{"admin":true}}',
      '{"a":[{"__proto__":1}]}',
      '{"\\u005f_proto__":{}}',
      '{"constructor":{"prototype":{"x":1}}}',
    ]) {
      expect(rejects(bad)).toMatch(/__proto__|prototype/);
    }
    expect(parse('{"constructor":"fine","proto":1}')).toEqual({ constructor: 'fine', proto: 1 });
  });
});

describe('duplicate member names', () => {
  it('finds none in what JSON.stringify writes, whatever the values hold', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (v) => {
        expect(duplicateKey(JSON.stringify(v))).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it('finds a name given twice in one object, at any depth and however it is escaped', () => {
    expect(duplicateKey('{"a":1,"a":2}')).toBe('a');
    expect(duplicateKey('{"x":[{"b":1}, {"c":{"d":1, "d" : 2}}]}')).toBe('d');
    expect(duplicateKey('{"a":1,"\\u0061":2}')).toBe('a');
    expect(duplicateKey('{"a\\"b":1,"a\\u0022b":2}')).toBe('a"b');
  });

  it('keeps objects apart and ignores values that look like names', () => {
    expect(duplicateKey('[{"a":1},{"a":2}]')).toBeUndefined();
    expect(duplicateKey('{"a":{"a":{"a":1}}}')).toBeUndefined();
    expect(duplicateKey('{"a":"b","b":"a","c":["a","a"]}')).toBeUndefined();
    expect(duplicateKey('{"k":"\\",\\"k\\":1"}')).toBeUndefined();
  });

  it('refuses the body: what would be sealed is what was sent', () => {
    expect(rejects('{"action":"canon.read","action":"canon.user.write"}')).toMatch(
      /"action" twice/,
    );
    expect(rejects('{"payload":{"to":"alice","to":"mallory"}}')).toMatch(/"to" twice/);
  });
});
