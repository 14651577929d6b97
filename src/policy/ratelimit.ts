import { SigilError } from '../core/errors.ts';
import { LOAS, type Loa } from './loa.ts';

/** One token bucket's shape: refill `rate` tokens per second up to `burst`. */
export interface BucketLimit {
  rate: number;
  burst: number;
}

export type RateLimits = Record<Loa, BucketLimit>;

/** Default per-LOA limits: higher levels run more automation, so they get more headroom. */
export const DEFAULT_RATE_LIMITS: Readonly<RateLimits> = Object.freeze({
  guest: { rate: 2, burst: 10 },
  observer: { rate: 10, burst: 50 },
  operator: { rate: 20, burst: 100 },
  mentor: { rate: 50, burst: 200 },
  root: { rate: 100, burst: 500 },
});

export const DEFAULT_MAX_KEYS = 100_000;

export type TakeResult =
  { allowed: true; pressure: number } | { allowed: false; retryAfterMs: number; pressure: number };

/** `limits` when every rate is > 0 and every burst ≥ 1; else config_invalid. */
export function checkedLimits(limits: RateLimits): RateLimits {
  for (const loa of LOAS) {
    const { rate, burst } = limits[loa];
    if (!(Number.isFinite(rate) && rate > 0 && Number.isFinite(burst) && burst >= 1))
      throw new SigilError('config_invalid', `rate limit for ${loa} needs rate > 0, burst ≥ 1`, {
        loa,
        rate,
        burst,
      });
  }
  return limits;
}

/**
 * The outcome of a take that left `tokens` in a bucket of `limit`, having taken one or not (the
 * in-memory limiter below and the shared one in the database both report this way).
 */
export function takeResult(tokens: number, taken: boolean, limit: BucketLimit): TakeResult {
  if (taken) return { allowed: true, pressure: Math.min(1, Math.max(0, 1 - tokens / limit.burst)) };
  return {
    allowed: false,
    retryAfterMs: Math.ceil(((1 - tokens) * 1000) / limit.rate),
    pressure: 1,
  };
}

/**
 * Per-caller token buckets with bounded memory. Deterministic: the caller passes the clock.
 *
 * Memory: at most `maxKeys` buckets are tracked, in typed-array slots linked in
 * least-recently-used order (each take moves its caller to the front); a new caller beyond the
 * cap takes over the least recently used slot. That victim has usually been idle long enough to
 * refill, and a full bucket is the same as an absent one, so eviction is lossless then; otherwise
 * the evicted caller merely starts again from a full bucket, a leniency bounded by the cap and
 * only reachable by a flood of more than `maxKeys` distinct callers in one refill period.
 * Every take is O(1) (a Map lookup and a few array writes).
 */
export class RateLimiter {
  #limits: RateLimits;
  readonly #maxKeys: number;
  readonly #slotOf = new Map<string, number>();
  readonly #keys: string[] = [];
  #tokens = new Float64Array(0);
  #lastMs = new Float64Array(0);
  /** Neighbour towards the most recently used end, -1 at the head. */
  #prev = new Int32Array(0);
  /** Neighbour towards the least recently used end, -1 at the tail. */
  #next = new Int32Array(0);
  #head = -1;
  #tail = -1;
  #used = 0;

  constructor(options: { limits?: Partial<RateLimits>; maxKeys?: number } = {}) {
    const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    if (!(Number.isSafeInteger(maxKeys) && maxKeys >= 1 && maxKeys <= 2 ** 30))
      throw new SigilError('config_invalid', 'rate limiter maxKeys must be an integer in 1 … 2^30');
    this.#limits = checkedLimits({ ...DEFAULT_RATE_LIMITS, ...options.limits });
    this.#maxKeys = maxKeys;
  }

  /**
   * Puts new per-LOA limits in force for every tracked caller: a bucket keeps its tokens, capped
   * at the new burst on its next take, and refills at the new rate.
   */
  setLimits(limits: RateLimits): void {
    this.#limits = checkedLimits({ ...limits });
  }

  /** Number of tracked callers (never more than maxKeys). */
  get size(): number {
    return this.#slotOf.size;
  }

  /**
   * Takes one token from `key`'s bucket at `nowMs`. `pressure` = 1 − tokens/burst after the
   * take, in [0, 1]: the trust model's rate feature. A clock that goes backwards refills nothing.
   */
  take(key: string, loa: Loa, nowMs: number): TakeResult {
    const { rate, burst } = this.#limits[loa];
    if (!Number.isFinite(nowMs))
      throw new SigilError('bad_request', 'rate limiter needs a finite clock');
    let slot = this.#slotOf.get(key);
    let tokens: number;
    if (slot === undefined) {
      slot = this.#claimSlot(key);
      tokens = burst;
      this.#lastMs[slot] = nowMs;
    } else {
      this.#unlink(slot);
      tokens = this.#tokens[slot]!;
      const elapsed = nowMs - this.#lastMs[slot]!;
      if (elapsed > 0) {
        tokens += (elapsed * rate) / 1000;
        this.#lastMs[slot] = nowMs;
      }
      tokens = Math.min(burst, tokens); // also caps a caller whose LOA went down
    }
    this.#pushFront(slot);

    const taken = tokens >= 1;
    if (taken) tokens -= 1;
    this.#tokens[slot] = tokens;
    return takeResult(tokens, taken, { rate, burst });
  }

  /** A slot for a new caller: a fresh one below the cap, else the least recently used one. */
  #claimSlot(key: string): number {
    let slot: number;
    if (this.#used < this.#maxKeys) {
      slot = this.#used++;
      if (slot >= this.#tokens.length) this.#grow();
    } else {
      slot = this.#tail;
      this.#unlink(slot);
      this.#slotOf.delete(this.#keys[slot]!);
    }
    this.#keys[slot] = key;
    this.#slotOf.set(key, slot);
    return slot;
  }

  #grow(): void {
    const size = Math.min(this.#maxKeys, Math.max(1024, this.#tokens.length * 2));
    const widen = <T extends Float64Array | Int32Array>(old: T, make: (n: number) => T): T => {
      const next = make(size);
      next.set(old);
      return next;
    };
    this.#tokens = widen(this.#tokens, (n) => new Float64Array(n));
    this.#lastMs = widen(this.#lastMs, (n) => new Float64Array(n));
    this.#prev = widen(this.#prev, (n) => new Int32Array(n));
    this.#next = widen(this.#next, (n) => new Int32Array(n));
  }

  #unlink(slot: number): void {
    const p = this.#prev[slot]!;
    const n = this.#next[slot]!;
    if (p === -1) this.#head = n;
    else this.#next[p] = n;
    if (n === -1) this.#tail = p;
    else this.#prev[n] = p;
  }

  #pushFront(slot: number): void {
    this.#prev[slot] = -1;
    this.#next[slot] = this.#head;
    if (this.#head !== -1) this.#prev[this.#head] = slot;
    this.#head = slot;
    if (this.#tail === -1) this.#tail = slot;
  }
}
