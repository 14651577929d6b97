/**
 * The decision rate limiter of one runtime. On a store several instances share (PostgreSQL) the
 * buckets live in the database, so N instances allow a caller its burst once, not N times; on a
 * store of one instance (SQLite) they stay in memory (policy/ratelimit.ts).
 */
import type { RateBuckets } from '../canon/store/types.ts';
import { checkedLimits, takeResult, type RateLimits, type TakeResult } from '../policy/index.ts';
import type { Loa } from '../policy/loa.ts';

/** How long a caller denied because the shared limiter failed is told to wait. */
export const LIMITER_DOWN_RETRY_MS = 1000;

export interface DecisionLimiter {
  take(key: string, loa: Loa, nowMs: number): TakeResult | Promise<TakeResult>;
  setLimits(limits: RateLimits): void;
}

/**
 * Buckets in the database, taken in one atomic statement by the database's clock. Fail closed:
 * when the take fails (database down, table broken) the request is denied as rate limited,
 * never let through unmetered.
 */
export class SharedRateLimiter implements DecisionLimiter {
  readonly #buckets: RateBuckets;
  #limits: RateLimits;

  constructor(buckets: RateBuckets, limits: RateLimits) {
    this.#buckets = buckets;
    this.#limits = checkedLimits({ ...limits });
  }

  setLimits(limits: RateLimits): void {
    this.#limits = checkedLimits({ ...limits });
  }

  async take(key: string, loa: Loa): Promise<TakeResult> {
    const limit = this.#limits[loa];
    try {
      const { tokens, taken } = await this.#buckets.take(key, limit.rate, limit.burst);
      return takeResult(tokens, taken, limit);
    } catch {
      return { allowed: false, retryAfterMs: LIMITER_DOWN_RETRY_MS, pressure: 1 };
    }
  }
}
