/**
 * The decision rate limiter of one runtime. On a store several instances share (PostgreSQL) the
 * buckets live in the database, so N instances allow a caller its burst once, not N times; on a
 * store of one instance (SQLite) they stay in memory (policy/ratelimit.ts). The sign-in throttles
 * use the same buckets (throttleFor), and a pruner deletes the shared buckets that are full again.
 */
import type { RateBuckets } from '../canon/store/types.ts';
import {
  RateLimiter,
  checkedLimits,
  takeResult,
  type BucketLimit,
  type RateLimits,
  type TakeResult,
} from '../policy/index.ts';
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

/** One kind of throttle (sign-ins per token, per address): a bucket of one shape per key. */
export interface Throttle {
  take(key: string): Promise<TakeResult>;
}

/**
 * A throttle named `name` (its keys are `<name>:<key>`, apart from the decision buckets'
 * `subject:` keys). With shared buckets (PostgreSQL) it is one system across the instances, by
 * the same atomic take as the decision limiter; a failed take refuses (fail closed). Otherwise
 * it is in this process, bounded to `maxKeys` buckets.
 */
export function throttleFor(
  buckets: RateBuckets | undefined,
  name: string,
  limit: BucketLimit,
  clock: () => number,
  maxKeys = 100_000,
): Throttle {
  const limits = { guest: limit, observer: limit, operator: limit, mentor: limit, root: limit };
  if (buckets) {
    const shared = new SharedRateLimiter(buckets, limits);
    return { take: (key) => shared.take(`${name}:${key}`, 'guest') };
  }
  const local = new RateLimiter({ limits, maxKeys });
  return { take: async (key) => local.take(`${name}:${key}`, 'guest', clock()) };
}

/** Buckets one prune pass deletes at most, and how often a pass runs (sooner while behind). */
export const PRUNE_BATCH = 1000;
export const PRUNE_EVERY_MS = 10_000;
const PRUNE_BEHIND_MS = 200;

/**
 * Keeps the shared bucket table from growing by one row per caller forever: every
 * PRUNE_EVERY_MS a pass deletes at most PRUNE_BATCH buckets that are full again (a full bucket
 * equals an absent one); a pass that found a full batch is followed by another soon. A failed
 * pass is left to the next one: pruning is housekeeping, the limits hold without it.
 * Returns the stop function.
 */
export function pruneBuckets(buckets: RateBuckets, everyMs = PRUNE_EVERY_MS): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const pass = (): void => {
    void buckets
      .prune(PRUNE_BATCH)
      .catch(() => 0)
      .then((deleted) => {
        if (stopped) return;
        timer = setTimeout(pass, deleted >= PRUNE_BATCH ? PRUNE_BEHIND_MS : everyMs);
        timer.unref();
      });
  };
  timer = setTimeout(pass, everyMs);
  timer.unref();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
