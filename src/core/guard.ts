import { SigilError } from './errors.ts';

/** True for any Uint8Array (including Node Buffers). */
export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/**
 * Asserts that `value` is a Uint8Array, so every byte-taking export fails with a
 * SigilError rather than a TypeError from deeper down.
 */
export function requireBytes(
  value: unknown,
  name: string,
  code = 'invalid_input',
): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new SigilError(code, `${name} must be a Uint8Array`, { name });
  }
}

const isWellFormedImpl = (
  String.prototype as unknown as { isWellFormed: (this: string) => boolean }
).isWellFormed;

/** True when `s` contains no lone UTF-16 surrogate, i.e. it has exactly one UTF-8 encoding. */
export function isWellFormed(s: string): boolean {
  return isWellFormedImpl.call(s);
}

/** A plain Uint8Array view of a Node Buffer's bytes (no copy), so callers never see Buffer. */
export function plainBytes(buf: Uint8Array): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
