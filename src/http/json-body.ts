/**
 * The only body parser: strict JSON. The bytes must be valid UTF-8, the nesting no deeper than
 * the configured depth (checked on the text before parsing, so a deep body costs one linear
 * scan and never the parser's stack), no object may name a member twice (JSON.parse would keep
 * the last, so what is sealed would not be what was sent), and no object may carry a
 * `__proto__` key or a `constructor.prototype` (prototype pollution). Anything else is 400
 * `bad_request`.
 */
import { SigilError } from '../core/errors.ts';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Deepest nesting of objects and arrays in JSON text (ignoring brackets inside strings). */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return max;
}

/**
 * The first member name that occurs twice in one object of valid JSON `text`, compared after
 * unescaping (`"a"` and `"\u0061"` are the same name); undefined when there is none.
 */
export function duplicateKey(text: string): string | undefined {
  // One entry per open container: the names seen so far in an object, null for an array.
  const open: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      let escaped = false;
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) {
          escaped = true;
          i++;
        } else if (d === 0x22) break;
      }
      if (expectKey) {
        const raw = text.slice(start + 1, i);
        const name = escaped ? (JSON.parse(text.slice(start, i + 1)) as string) : raw;
        const names = open[open.length - 1]!;
        if (names.has(name)) return name;
        names.add(name);
        expectKey = false;
      }
    } else if (c === 0x7b) {
      open.push(new Set());
      expectKey = true;
    } else if (c === 0x5b) {
      open.push(null);
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
    } else if (c === 0x2c) {
      expectKey = open[open.length - 1] instanceof Set;
    }
  }
  return undefined;
}

function hasPollutingKey(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
      continue;
    }
    if (Object.hasOwn(v, '__proto__')) return true;
    const ctor = (v as Record<string, unknown>).constructor;
    if (Object.hasOwn(v, 'constructor') && typeof ctor === 'object' && ctor !== null) {
      if (Object.hasOwn(ctor, 'prototype')) return true;
    }
    for (const item of Object.values(v)) stack.push(item);
  }
  return false;
}

/** Parses a request body; an empty body is `undefined` (the route's schema then decides). */
export function parseJsonBody(raw: Buffer, maxDepth: number): unknown {
  let text: string;
  try {
    text = decoder.decode(raw);
  } catch {
    throw new SigilError('bad_request', 'body is not valid UTF-8');
  }
  if (text.trim() === '') return undefined;
  if (jsonDepth(text, maxDepth) > maxDepth) {
    throw new SigilError('bad_request', `body nests deeper than ${maxDepth} levels`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SigilError('bad_request', 'body is not valid JSON');
  }
  const duplicate = duplicateKey(text);
  if (duplicate !== undefined) {
    throw new SigilError(
      'bad_request',
      `body names the member ${JSON.stringify(duplicate.slice(0, 64))} twice`,
    );
  }
  if (
    (text.includes('proto') || text.includes('\\u') || text.includes('constructor')) &&
    hasPollutingKey(value)
  ) {
    throw new SigilError('bad_request', 'body has a __proto__ or constructor.prototype key');
  }
  return value;
}
