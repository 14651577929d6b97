/**
 * Deterministic CBOR (RFC 8949 §4.2.1) through cborg.
 *
 * Encoding: shortest-form integers and lengths, definite lengths only, floats in the
 * shortest of half/single/double that keeps the value, map keys sorted by their encoded
 * bytes. Only string-keyed plain objects are maps; for text keys cborg's length-first
 * sorter and §4.2.1's bytewise order of the encoded keys coincide (the length is in the
 * key's head), so the default sorter is used. Integers within ±2^53 are numbers; BigInts
 * beyond ±2^64 become bignums (tags 2/3); -0 stays a float (f9 8000) so it survives a
 * round trip. A JS number cannot tell 1.0 from 1: integral numbers encode as integers.
 *
 * The value domain is null, booleans, finite numbers, BigInts, well-formed strings,
 * Uint8Arrays (byte strings), plain arrays and plain string-keyed objects. Everything else
 * (undefined, NaN, ±Infinity, lone surrogates, Map, Set, Date, other typed arrays, class
 * instances, functions, symbols, cycles) is rejected with 'cbor_invalid'.
 *
 * Decoding accepts exactly what encodeCbor produces: cborg's strict options reject
 * non-shortest integers and lengths, indefinite lengths, undefined, NaN, ±Infinity,
 * duplicate and non-text map keys, and tags other than 2/3; cborg cannot check float width
 * or map order, so the decoded value is re-encoded and must reproduce the input bytes.
 */
import { decode, encode, Token, Type } from 'cborg';
import type { DecodeOptions, EncodeOptions, TagDecoder } from 'cborg';
import { bigIntDecoder, bigIntEncoder, bigNegIntDecoder } from 'cborg/taglib';
import { SigilError } from './errors.ts';
import { isWellFormed } from './guard.ts';

function reject(what: string): never {
  throw new SigilError('cbor_invalid', `cannot encode ${what} as deterministic CBOR`);
}

const UNSUPPORTED_TYPES = [
  'undefined',
  'symbol',
  'Function',
  'Map',
  'Set',
  'WeakMap',
  'WeakSet',
  'Date',
  'RegExp',
  'Error',
  'Promise',
  'URL',
  'HTMLElement',
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'Tagged',
];

const typeEncoders: NonNullable<EncodeOptions['typeEncoders']> = {
  number(n: number) {
    if (!Number.isFinite(n)) return reject(String(n));
    return Object.is(n, -0) ? new Token(Type.float, -0) : null;
  },
  bigint: bigIntEncoder,
  string(s: string) {
    return isWellFormed(s) ? null : reject('a string with a lone surrogate');
  },
  Object(obj: object) {
    const proto = Object.getPrototypeOf(obj) as unknown;
    return proto === Object.prototype || proto === null ? null : reject('a non-plain object');
  },
};
for (const type of UNSUPPORTED_TYPES) typeEncoders[type] = () => reject(type);

const encodeOptions: EncodeOptions = { typeEncoders };

const tags: TagDecoder[] = [];
tags[2] = bigIntDecoder;
tags[3] = bigNegIntDecoder;

const decodeOptions: DecodeOptions = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowNaN: false,
  allowInfinity: false,
  rejectDuplicateMapKeys: true,
  tags,
};

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Deterministic CBOR bytes of `value`; 'cbor_invalid' for values outside the domain. */
export function encodeCbor(value: unknown): Uint8Array {
  try {
    return encode(value, encodeOptions);
  } catch (err) {
    if (err instanceof SigilError) throw err;
    throw new SigilError('cbor_invalid', err instanceof Error ? err.message : 'cannot encode');
  }
}

/** Decodes deterministic CBOR; malformed or non-deterministic input is 'cbor_invalid'. */
export function decodeCbor(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) throw new SigilError('cbor_invalid', 'expected bytes');
  let value: unknown;
  try {
    value = decode(bytes, decodeOptions);
  } catch (err) {
    throw new SigilError('cbor_invalid', err instanceof Error ? err.message : 'cannot decode');
  }
  let again: Uint8Array;
  try {
    again = encodeCbor(value);
  } catch {
    throw new SigilError('cbor_invalid', 'decoded value is outside the deterministic domain');
  }
  if (!sameBytes(again, bytes)) {
    throw new SigilError('cbor_invalid', 'not the deterministic encoding of its value');
  }
  return value;
}
