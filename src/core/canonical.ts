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

/**
 * Where canonicalJsonCopy's walk leaves the copy of the value just serialised (one per walk):
 * the copy is built from the same single read of each member as the text.
 */
interface CopyOut {
  value: JsonValue;
}

function serialise(value: unknown, ancestors: object[], copy?: CopyOut): string {
  switch (typeof value) {
    case 'string':
      if (!isWellFormed(value)) throw new Reject('string contains a lone surrogate');
      if (copy !== undefined) copy.value = value;
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Reject(`number ${String(value)} is not finite`);
      // -0 is written "0": the copy holds what the text says.
      if (copy !== undefined) copy.value = value === 0 ? 0 : value;
      return String(value);
    case 'boolean':
      if (copy !== undefined) copy.value = value;
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) {
        if (copy !== undefined) copy.value = null;
        return 'null';
      }
      return serialiseObject(value, ancestors, copy);
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

function serialiseObject(value: object, ancestors: object[], copy?: CopyOut): string {
  if (ancestors.includes(value)) throw new Reject('cycle');
  if (ancestors.length >= MAX_DEPTH) throw new Reject(`nesting deeper than ${MAX_DEPTH}`);
  const proto = Object.getPrototypeOf(value) as unknown;
  ancestors.push(value);
  let out: string;
  if (Array.isArray(value) && proto === Array.prototype) {
    const items: JsonValue[] | undefined = copy && new Array<JsonValue>(value.length);
    out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      try {
        out += serialise(value[i], ancestors, copy);
      } catch (err) {
        if (err instanceof Reject) err.path.unshift(i);
        throw err;
      }
      if (items !== undefined) items[i] = copy!.value;
    }
    out += ']';
    if (items !== undefined) copy!.value = items;
  } else if (proto === Object.prototype || proto === null) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).sort();
    const members: { [k: string]: JsonValue } | undefined = copy && {};
    out = '{';
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      if (i > 0) out += ',';
      try {
        out += quotedKey(key) + ':' + serialise(record[key], ancestors, copy);
      } catch (err) {
        if (err instanceof Reject) err.path.unshift(key);
        throw err;
      }
      if (members === undefined) continue;
      // An own "__proto__" member, as JSON.parse makes it; assigning it would set the prototype.
      if (key === '__proto__') {
        Object.defineProperty(members, key, {
          value: copy!.value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else members[key] = copy!.value;
    }
    out += '}';
    if (members !== undefined) copy!.value = members;
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
  return canonicalise(value, undefined);
}

/**
 * canonicalJson(value) and a fresh copy of the value, equal to JSON.parse of that text (plain
 * objects and arrays, own members only), made in the same walk: what the caller changes later
 * cannot reach the copy.
 */
export function canonicalJsonCopy(value: unknown): { text: string; copy: JsonValue } {
  const copy: CopyOut = { value: null };
  const text = canonicalise(value, copy);
  return { text, copy: copy.value };
}

function canonicalise(value: unknown, copy: CopyOut | undefined): string {
  try {
    return serialise(value, [], copy);
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

/** Nesting past this is left to canonicalJson (writtenCanonically answers "not shown"). */
const SCAN_DEPTH = 64;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Whether the escape at `text[at]` (a backslash) is the one JSON.stringify writes, and JCS. */
function shortestEscape(text: string, at: number): boolean {
  switch (text.charCodeAt(at + 1)) {
    case QUOTE:
    case BACKSLASH:
    case 0x62: // b
    case 0x66: // f
    case 0x6e: // n
    case 0x72: // r
    case 0x74: // t
      return true;
    case 0x75: {
      // \u00XX, lowercase, for a control character without a short escape; never a surrogate.
      const hex = text.slice(at + 2, at + 6);
      const code = /^00[01][0-9a-f]$/.test(hex) ? parseInt(hex, 16) : -1;
      return (
        code >= 0 &&
        code !== 0x08 &&
        code !== 0x09 &&
        code !== 0x0a &&
        code !== 0x0c &&
        code !== 0x0d
      );
    }
    default:
      return false;
  }
}

/**
 * Whether `text`, a JSON text that JSON.parse accepted and that has no lone surrogate (a strict
 * UTF-8 decode gives none), is canonicalJson(JSON.parse(text)): no whitespace, every string
 * escaped as JSON.stringify escapes it, every number in its shortest ECMAScript form, every
 * object's keys strictly ascending by UTF-16 code units (so none repeats). It reads the text once
 * instead of serialising the value again. False means only "not shown" (also for a key with an
 * escape, whose order is that of its unescaped form, or nesting past SCAN_DEPTH): the caller then
 * canonicalises in full.
 */
export function writtenCanonically(text: string): boolean {
  if (typeof text !== 'string') return false;
  // One entry per open array (null) or object (its last key so far, undefined before the first).
  const open: Array<string | undefined | null> = [];
  let keyNext = false;
  // The first backslash past the last escape read (2^32 - 1 when there is none).
  let backslash = -1;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i + 1;
      // Most strings have no escape: read by two native searches, not a character at a time.
      i = text.indexOf('"', start);
      if (backslash < start) backslash = text.indexOf('\\', start) >>> 0;
      const escaped = backslash < i;
      while (backslash < i) {
        if (!shortestEscape(text, backslash)) return false;
        const past = backslash + (text.charCodeAt(backslash + 1) === 0x75 ? 6 : 2);
        if (past > i) i = text.indexOf('"', past); // that quote was escaped
        backslash = text.indexOf('\\', past) >>> 0;
      }
      if (i < 0) return false;
      if (keyNext) {
        const key = text.slice(start, i);
        const last = open[open.length - 1];
        if (escaped || (last !== undefined && !(last! < key))) return false;
        open[open.length - 1] = key;
        keyNext = false;
      }
      i += 1;
    } else if (c === 0x7b || c === 0x5b) {
      if (open.length >= SCAN_DEPTH) return false;
      keyNext = c === 0x7b;
      open.push(keyNext ? undefined : null);
      i += 1;
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
      i += 1;
    } else if (c === 0x2c) {
      keyNext = open[open.length - 1] !== null;
      i += 1;
    } else if (c === 0x3a) {
      i += 1;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      for (i += 1; i < n; i++) {
        const d = text.charCodeAt(i);
        if (!(
          (d >= 0x30 && d <= 0x39) ||
          d === 0x2e ||
          d === 0x65 ||
          d === 0x45 ||
          d === 0x2b ||
          d === 0x2d
        ))
          break;
      }
      const token = text.slice(start, i);
      if (String(Number(token)) !== token) return false;
    } else if (text.startsWith('null', i) || text.startsWith('true', i)) {
      i += 4;
    } else if (text.startsWith('false', i)) {
      i += 5;
    } else {
      return false; // whitespace: JSON.parse took every other character
    }
  }
  return true;
}
