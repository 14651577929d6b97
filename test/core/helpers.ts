import { expect } from 'vitest';
import { SigilError } from '../../src/core/index.ts';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Root of the shared public test vectors (tests run with cwd = the repository root). */
export const VECTORS_DIR = path.resolve(process.cwd(), '../shared/vectors');

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
