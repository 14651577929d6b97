import { expect } from 'vitest';
import { SigilError } from '../../src/core/index.ts';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The public test vectors kept in the repository (test/vectors, see SOURCES.md there). */
export const VECTORS_DIR = fileURLToPath(new URL('../vectors/', import.meta.url));

export function vectorPath(...parts: string[]): string {
  return path.join(VECTORS_DIR, ...parts);
}

export function readVectorBytes(...parts: string[]): Buffer {
  return readFileSync(vectorPath(...parts));
}

export function readVectorJson<T>(...parts: string[]): T {
  return JSON.parse(readFileSync(vectorPath(...parts), 'utf8')) as T;
}

/** Shape shared by the Wycheproof files we use. */
export interface WycheproofFile<G> {
  numberOfTests: number;
  testGroups: G[];
}

/** Asserts that `fn` throws a SigilError with `code` (and nothing else). */
export function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `expected SigilError '${code}'`).toBeInstanceOf(SigilError);
  expect((thrown as SigilError).code).toBe(code);
}
