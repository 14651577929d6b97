import { SigilError } from '../core/errors.ts';
import { loaMin, type Loa } from './loa.ts';

/**
 * How the trust step acts on its score (MMF_IRL_ENFORCEMENT_MODE):
 * - active: denies below the threshold;
 * - strict: also denies when any feature is missing or a rule errored, and treats unverified
 *   callers (no valid token or license) as Guest;
 * - passive: never blocks at this step; records `wouldDeny` as active mode would have decided,
 *   so a rollout can see what enabling enforcement would change.
 * Only the trust step is governed by the mode: the LOA matrix, rate limit, rules and quorum
 * deny in every mode.
 */
export const ENFORCEMENT_MODES = ['active', 'strict', 'passive'] as const;
export type EnforcementMode = (typeof ENFORCEMENT_MODES)[number];

/** Parses a mode case-insensitively; anything else throws SigilError 'config_invalid'. */
export function parseEnforcementMode(value: unknown): EnforcementMode {
  const mode = typeof value === 'string' ? value.trim().toLowerCase() : value;
  if ((ENFORCEMENT_MODES as readonly unknown[]).includes(mode)) return mode as EnforcementMode;
  throw new SigilError('config_invalid', `enforcement mode must be active, strict or passive`, {
    key: 'MMF_IRL_ENFORCEMENT_MODE',
    value: String(value),
  });
}

export interface EnforcementInput {
  score: number;
  threshold: number;
  /** Missing features or rule-evaluation errors of this request (empty when none). */
  featureErrors: readonly string[];
}

export interface EnforcementResult {
  verdict: 'allow' | 'deny';
  /** True when active enforcement would deny (passive) or did deny (active, strict). */
  wouldDeny: boolean;
  code?: 'trust_below_threshold' | 'feature_missing';
}

/**
 * The trust step's verdict. A NaN score or threshold never passes (`score >= threshold` is
 * false), so an evaluation error denies in active and strict mode.
 */
export function applyEnforcement(
  mode: EnforcementMode,
  input: EnforcementInput,
): EnforcementResult {
  const below = !(input.score >= input.threshold);
  if (mode === 'strict' && input.featureErrors.length > 0)
    return { verdict: 'deny', wouldDeny: true, code: 'feature_missing' };
  if (!below) return { verdict: 'allow', wouldDeny: false };
  if (mode === 'passive')
    return { verdict: 'allow', wouldDeny: true, code: 'trust_below_threshold' };
  return { verdict: 'deny', wouldDeny: true, code: 'trust_below_threshold' };
}

/**
 * The level a caller is treated as: in strict mode an unverified caller is capped at Guest
 * (it never gets the configured default LOA); other modes use `loa` as given.
 */
export function effectiveLoa(mode: EnforcementMode, loa: Loa, verified: boolean): Loa {
  return mode === 'strict' && !verified ? loaMin(loa, 'guest') : loa;
}
