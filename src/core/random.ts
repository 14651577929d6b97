import { randomFillSync } from 'node:crypto';
import { SigilError } from './errors.ts';

const MAX_RANDOM_BYTES = 2 ** 31 - 1;

/** `n` bytes from the system CSPRNG. */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_RANDOM_BYTES) {
    throw new SigilError('invalid_input', 'randomBytes length must be a non-negative integer');
  }
  return randomFillSync(new Uint8Array(n));
}
