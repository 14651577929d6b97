import { randomFillSync } from 'node:crypto';
import { SigilError } from './errors.ts';

const MAX_RANDOM_BYTES = 2 ** 31 - 1;

// Small requests (nonces, ids) are served from a pool filled by one CSPRNG call, since each
// call costs far more than the bytes; every byte is handed out once and then consumed.
const POOL_SIZE = 4096;
const SMALL = 64;
const pool = new Uint8Array(POOL_SIZE);
let poolOffset = POOL_SIZE;

/** `n` bytes from the system CSPRNG. */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_RANDOM_BYTES) {
    throw new SigilError('invalid_input', 'randomBytes length must be a non-negative integer');
  }
  if (n > SMALL) return randomFillSync(new Uint8Array(n));
  if (poolOffset + n > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const out = pool.slice(poolOffset, poolOffset + n);
  pool.fill(0, poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}
