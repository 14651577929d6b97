import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { isSigilError } from '../../src/core/errors.ts';
import { DEFAULT_RATE_LIMITS, RateLimiter } from '../../src/policy/ratelimit.ts';

describe('rate limiter', () => {
  it('allows a burst, then denies with retryAfterMs, then refills over time', () => {
    const rl = new RateLimiter();
    const { burst, rate } = DEFAULT_RATE_LIMITS.guest; // 10, 2/s
    const t0 = 1_000_000;
    const pressures: number[] = [];
    for (let i = 0; i < burst; i++) {
      const r = rl.take('alice', 'guest', t0);
      expect(r.allowed).toBe(true);
      pressures.push(r.pressure);
    }
    expect(pressures[0]).toBeCloseTo(1 / burst, 12);
    expect(pressures.at(-1)).toBe(1);
    for (let i = 1; i < pressures.length; i++)
      expect(pressures[i]!).toBeGreaterThan(pressures[i - 1]!);

    const denied = rl.take('alice', 'guest', t0);
    expect(denied).toEqual({ allowed: false, retryAfterMs: 1000 / rate, pressure: 1 });
    expect(rl.take('alice', 'guest', t0 + 499).allowed).toBe(false);
    expect(rl.take('alice', 'guest', t0 + 500).allowed).toBe(true); // one token back
    expect(rl.take('alice', 'guest', t0 + 500).allowed).toBe(false);

    // Long idle: back to a full bucket, never more.
    const later = t0 + 3_600_000;
    for (let i = 0; i < burst; i++) expect(rl.take('alice', 'guest', later).allowed).toBe(true);
    expect(rl.take('alice', 'guest', later).allowed).toBe(false);
  });

  it('keeps callers apart and gives higher levels more headroom', () => {
    const rl = new RateLimiter();
    for (let i = 0; i < 10; i++) rl.take('a', 'guest', 0);
    expect(rl.take('a', 'guest', 0).allowed).toBe(false);
    expect(rl.take('b', 'guest', 0).allowed).toBe(true);
    let rootAllowed = 0;
    while (rl.take('root', 'root', 0).allowed) rootAllowed++;
    expect(rootAllowed).toBe(DEFAULT_RATE_LIMITS.root.burst);
  });

  it('refills nothing when the clock goes backwards', () => {
    const rl = new RateLimiter({ limits: { guest: { rate: 1, burst: 1 } } });
    expect(rl.take('k', 'guest', 10_000).allowed).toBe(true);
    expect(rl.take('k', 'guest', 0).allowed).toBe(false);
    expect(rl.take('k', 'guest', 10_999).allowed).toBe(false);
    expect(rl.take('k', 'guest', 11_000).allowed).toBe(true);
  });

  it('caps a caller whose level dropped at the new burst', () => {
    const rl = new RateLimiter();
    rl.take('k', 'root', 0); // 499 tokens
    let allowed = 0;
    while (rl.take('k', 'guest', 0).allowed) allowed++;
    expect(allowed).toBe(DEFAULT_RATE_LIMITS.guest.burst);
  });

  it('rejects unusable limits and clocks', () => {
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return isSigilError(err) ? err.code : 'other';
      }
      return undefined;
    };
    expect(codeOf(() => new RateLimiter({ limits: { guest: { rate: 0, burst: 1 } } }))).toBe(
      'config_invalid',
    );
    expect(codeOf(() => new RateLimiter({ limits: { root: { rate: 1, burst: 0.5 } } }))).toBe(
      'config_invalid',
    );
    expect(codeOf(() => new RateLimiter({ maxKeys: 0 }))).toBe('config_invalid');
    expect(codeOf(() => new RateLimiter().take('k', 'guest', NaN))).toBe('bad_request');
  });

  it('evicts the least recently used caller beyond the cap', () => {
    const rl = new RateLimiter({ maxKeys: 2, limits: { guest: { rate: 1, burst: 2 } } });
    rl.take('a', 'guest', 0);
    rl.take('a', 'guest', 0); // a is empty
    rl.take('b', 'guest', 0);
    rl.take('a', 'guest', 0); // denied, but touches a: b is now least recent
    rl.take('c', 'guest', 0); // evicts b
    expect(rl.size).toBe(2);
    expect(rl.take('a', 'guest', 0).allowed).toBe(false); // a kept its empty bucket
  });

  it('stays within its key cap and a fixed heap bound for 10^6 distinct callers', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const cap = 100_000;
    const rl = new RateLimiter({ maxKeys: cap });
    gc();
    const before = process.memoryUsage().heapUsed;
    const start = performance.now();
    let now = 0;
    for (let i = 0; i < 1_000_000; i++) {
      if (i % 1000 === 0) now += 1;
      const r = rl.take(`caller-${i}`, 'observer', now);
      if (!r.allowed) throw new Error('a fresh caller was denied');
      if (rl.size > cap) throw new Error(`size ${rl.size} above cap`);
    }
    const seconds = (performance.now() - start) / 1000;
    gc();
    const growthMb = (process.memoryUsage().heapUsed - before) / 2 ** 20;
    expect(rl.size).toBe(cap);
    expect(growthMb).toBeLessThan(40);
    expect(seconds).toBeLessThan(10);
    console.log(`10^6 callers: ${seconds.toFixed(2)} s, heap growth ${growthMb.toFixed(1)} MiB`);
  });
});
