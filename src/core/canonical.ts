/**
 * RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * One pass that validates as it serialises: a validation pass followed by the `canonicalize`
 * package measured ~18% of JSON.stringify's rate on 1 KiB records, this one 30-45% (goal
 * ≥ 25%, see bench/core.ts); the package remains the oracle in the property tests. Strings and numbers go through JSON.stringify / String(), which give the
 * JCS forms exactly; object keys are sorted by UTF-16 code units (Array#sort's default).
 *
 * Anything JCS cannot represent is rejected with 'not_canonicalizable' instead of being
 * coerced or dropped the way JSON.stringify would: NaN, ±Infinity, lone surrogates in
 * strings or keys, undefined / functions / symbols / BigInt anywhere (also as property
 * values), objects other than plain objects and plain arrays (Date, Map, Set, Buffer,
 * typed arrays, class instances), sparse array holes, cycles and nesting beyond 1000
 * levels. Symbol-keyed and non-enumerable properties are not JSON data and are ignored.
 */
import { SigilError } from './errors.ts';
import { isWellFormed } from './guard.ts';

/** A value that RFC 8785 can serialise. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

const MAX_DEPTH = 1000;

/** Internal failure carrying the path, built on unwind so the fast path pays nothing. */
class Reject {
  readonly path: (string | number)[] = [];
  constructor(readonly reason: string) {}
}

function describe(value: unknown): string {
  if (value === null || typeof value !== 'object') return typeof value;
  const proto = Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null;
  return proto?.constructor?.name ?? 'object';
}

function serialise(value: unknown, ancestors: object[]): string {
  switch (typeof value) {
    case 'string':
      if (!isWellFormed(value)) throw new Reject('string contains a lone surrogate');
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Reject(`number ${String(value)} is not finite`);
      return String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      return serialiseObject(value, ancestors);
    default:
      throw new Reject(`${typeof value} is not JSON`);
  }
}

// Records repeat the same few member names; quoting each once saves a third of the work.
const KEY_CACHE_MAX = 4096;
const quotedKeys = new Map<string, string>();

function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    if (!isWellFormed(key)) throw new Reject('key contains a lone surrogate');
    quoted = JSON.stringify(key);
    if (key.length <= 64) {
      if (quotedKeys.size >= KEY_CACHE_MAX) quotedKeys.clear();
      quotedKeys.set(key, quoted);
    }
  }
  return quoted;
}

function serialiseObject(value: object, ancestors: object[]): string {
  if (ancestors.includes(value)) throw new Reject('cycle');
  if (ancestors.length >= MAX_DEPTH) throw new Reject(`nesting deeper than ${MAX_DEPTH}`);
  const proto = Object.getPrototypeOf(value) as unknown;
  ancestors.push(value);
  let out: string;
  if (Array.isArray(value) && proto === Array.prototype) {
    out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      try {
        out += serialise(value[i], ancestors);
      } catch (err) {
        if (err instanceof Reject) err.path.unshift(i);
        throw err;
      }
    }
    out += ']';
  } else if (proto === Object.prototype || proto === null) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).sort();
    out = '{';
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      if (i > 0) out += ',';
      try {
        out += quotedKey(key) + ':' + serialise(record[key], ancestors);
      } catch (err) {
        if (err instanceof Reject) err.path.unshift(key);
        throw err;
      }
    }
    out += '}';
  } else {
    throw new Reject(`${describe(value)} is not a plain object or array`);
  }
  ancestors.pop();
  return out;
}

function formatPath(path: (string | number)[]): string {
  let out = '$';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : `[${JSON.stringify(seg)}]`;
  return out;
}

/** The RFC 8785 canonical JSON text of `value`; 'not_canonicalizable' if JCS cannot express it. */
export function canonicalJson(value: unknown): string {
  try {
    return serialise(value, []);
  } catch (err) {
    if (err instanceof Reject) {
      const path = formatPath(err.path);
      throw new SigilError('not_canonicalizable', `${err.reason} at ${path}`, {
        path,
        reason: err.reason,
      });
    }
    throw new SigilError('not_canonicalizable', 'value could not be read', {
      cause: err instanceof Error ? err.message : String(err),
    });
  }
}

const utf8 = new TextEncoder();

/** UTF-8 bytes of canonicalJson(value): the form that gets hashed and signed. */
export function canonicalBytes(value: unknown): Uint8Array {
  return utf8.encode(canonicalJson(value));
}
