import { describe, expect, it } from 'vitest';
import { isSigilError } from '../../src/core/errors.ts';
import {
  applyEnforcement,
  effectiveLoa,
  ENFORCEMENT_MODES,
  parseEnforcementMode,
} from '../../src/policy/enforcement.ts';
import { LOAS } from '../../src/policy/loa.ts';

const above = { score: 0.7, threshold: 0.4, featureErrors: [] };
const below = { score: 0.2, threshold: 0.4, featureErrors: [] };
const missing = { score: 0.7, threshold: 0.4, featureErrors: ['target_risk'] };

describe('enforcement modes', () => {
  it.each([
    ['active', above, { verdict: 'allow', wouldDeny: false }],
    ['active', below, { verdict: 'deny', wouldDeny: true, code: 'trust_below_threshold' }],
    ['active', missing, { verdict: 'allow', wouldDeny: false }],
    ['strict', above, { verdict: 'allow', wouldDeny: false }],
    ['strict', below, { verdict: 'deny', wouldDeny: true, code: 'trust_below_threshold' }],
    ['strict', missing, { verdict: 'deny', wouldDeny: true, code: 'feature_missing' }],
    ['passive', above, { verdict: 'allow', wouldDeny: false }],
    ['passive', below, { verdict: 'allow', wouldDeny: true, code: 'trust_below_threshold' }],
    ['passive', missing, { verdict: 'allow', wouldDeny: false }],
  ] as const)('%s with %j', (mode, input, expected) => {
    expect(applyEnforcement(mode, input)).toEqual(expected);
  });

  it('passes a score exactly at the threshold', () => {
    expect(
      applyEnforcement('active', { score: 0.4, threshold: 0.4, featureErrors: [] }).verdict,
    ).toBe('allow');
  });

  it('never lets a NaN score through in active or strict mode', () => {
    for (const mode of ['active', 'strict'] as const)
      expect(
        applyEnforcement(mode, { score: NaN, threshold: 0.4, featureErrors: [] }).verdict,
      ).toBe('deny');
    expect(applyEnforcement('passive', { score: NaN, threshold: 0.4, featureErrors: [] })).toEqual({
      verdict: 'allow',
      wouldDeny: true,
      code: 'trust_below_threshold',
    });
  });

  it('caps unverified callers at Guest only in strict mode', () => {
    for (const loa of LOAS) {
      expect(effectiveLoa('strict', loa, false)).toBe('guest');
      expect(effectiveLoa('strict', loa, true)).toBe(loa);
      expect(effectiveLoa('active', loa, false)).toBe(loa);
      expect(effectiveLoa('passive', loa, false)).toBe(loa);
    }
  });

  it('parses modes case-insensitively and rejects others', () => {
    expect(ENFORCEMENT_MODES.map((m) => parseEnforcementMode(m.toUpperCase()))).toEqual([
      ...ENFORCEMENT_MODES,
    ]);
    for (const bad of ['', 'enforce', undefined, 1]) {
      let caught: unknown;
      try {
        parseEnforcementMode(bad);
      } catch (err) {
        caught = err;
      }
      expect(isSigilError(caught, 'config_invalid')).toBe(true);
    }
  });
});
