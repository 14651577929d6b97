import { describe, expect, it } from 'vitest';
import { randomBytes, toHex } from '../../src/core/index.ts';
import { isSigilError } from '../../src/core/errors.ts';

describe('randomBytes', () => {
  it('never hands out the same small draw twice, across pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const draw = randomBytes(12);
      expect(draw.length).toBe(12);
      seen.add(toHex(draw));
    }
    expect(seen.size).toBe(20_000);
  });

  it('returns independent copies, large and small', () => {
    const a = randomBytes(16);
    const copy = Uint8Array.from(a);
    randomBytes(16);
    expect(a).toEqual(copy);
    expect(randomBytes(4096).length).toBe(4096);
    expect(randomBytes(0).length).toBe(0);
  });

  it('has no byte value bias a test of 1 MiB would notice', () => {
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 16_384; i++) for (const b of randomBytes(64)) counts[b]! += 1;
    const expected = (16_384 * 64) / 256;
    for (const c of counts) expect(Math.abs(c - expected)).toBeLessThan(expected * 0.1);
  });

  it('rejects a bad length', () => {
    for (const n of [-1, 1.5, Number.NaN, 2 ** 31]) {
      let err: unknown;
      try {
        randomBytes(n);
      } catch (e) {
        err = e;
      }
      expect(isSigilError(err, 'invalid_input')).toBe(true);
    }
  });
});
