import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/core/canonical.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { LOAS, loaRank } from '../../src/policy/loa.ts';
import {
  actionRisk,
  DEFAULT_TRUST_MODEL,
  extractFeatures,
  FEATURES,
  normalisedEntropy,
  parseTrustModel,
  scoreTrust,
  targetRisk,
  type FeatureValues,
} from '../../src/policy/trust.ts';

const M = DEFAULT_TRUST_MODEL;
const RISKS = ['action_risk', 'target_risk', 'rate_pressure', 'input_entropy'] as const;

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isSigilError(err) ? err.code : 'not a SigilError';
  }
  return undefined;
}

const unit = fc.double({ min: 0, max: 1, noNaN: true });
const featureValues = fc.record({
  action_risk: unit,
  target_risk: unit,
  loa: unit,
  rate_pressure: unit,
  input_entropy: unit,
});
/** Any model parseTrustModel accepts: risk weights ≤ 0, LOA weight ≥ 0. */
const models = fc
  .record({
    bias: fc.double({ min: -10, max: 10, noNaN: true }),
    neg: fc.array(fc.double({ min: -10, max: 0, noNaN: true }), { minLength: 4, maxLength: 4 }),
    loa: fc.double({ min: 0, max: 10, noNaN: true }),
  })
  .map(({ bias, neg, loa }) =>
    parseTrustModel({
      version: 'prop',
      bias,
      weights: [neg[0], neg[1], loa, neg[2], neg[3]],
      threshold: 0.4,
    }),
  );

describe('trust model scoring', () => {
  it('a riskier request never scores higher (any loadable model, any feature)', () => {
    fc.assert(
      fc.property(
        models,
        featureValues,
        fc.constantFrom(...RISKS),
        unit,
        (model, base, feature, other) => {
          const lo = Math.min(base[feature], other);
          const hi = Math.max(base[feature], other);
          const safer = scoreTrust(model, { ...base, [feature]: lo });
          const riskier = scoreTrust(model, { ...base, [feature]: hi });
          expect(riskier.score).toBeLessThanOrEqual(safer.score);
          expect(riskier.logit).toBeLessThanOrEqual(safer.logit);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('a higher LOA never scores lower (features extracted from real requests)', () => {
    const requests = fc.record({
      action: fc.constantFrom('canon.read', 'system.commit', 'delete', 'frobnicate', 'module.run'),
      target: fc.option(fc.constantFrom('canon/system', 'user/1', 'keys/root', 'x'), {
        nil: undefined,
      }),
      payload: fc.option(fc.jsonValue(), { nil: undefined }),
      ratePressure: unit,
    });
    fc.assert(
      fc.property(requests, fc.constantFrom(...LOAS), fc.constantFrom(...LOAS), (req, a, b) => {
        const [low, high] = loaRank(a) <= loaRank(b) ? [a, b] : [b, a];
        const sLow = scoreTrust(M, extractFeatures({ ...req, loa: low }).values).score;
        const sHigh = scoreTrust(M, extractFeatures({ ...req, loa: high }).values).score;
        expect(sHigh).toBeGreaterThanOrEqual(sLow);
      }),
      { numRuns: 500 },
    );
  });

  it('a riskier declared action risk or a noisier payload never scores higher (end to end)', () => {
    fc.assert(
      fc.property(unit, unit, fc.constantFrom(...LOAS), (r1, r2, loa) => {
        const req = { action: 'mcp.tools.call', target: 'mcp/files/read', loa, ratePressure: 0 };
        const s = (r: number) =>
          scoreTrust(M, extractFeatures({ ...req, declaredRisk: r }).values).score;
        expect(s(Math.max(r1, r2))).toBeLessThanOrEqual(s(Math.min(r1, r2)));
      }),
    );
    const quiet = extractFeatures({
      action: 'write',
      loa: 'operator',
      ratePressure: 0,
      payload: 'aaaa',
    });
    const noisy = extractFeatures({
      action: 'write',
      loa: 'operator',
      ratePressure: 0,
      payload: 'a8Zq',
    });
    expect(noisy.values.input_entropy).toBeGreaterThan(quiet.values.input_entropy);
    expect(scoreTrust(M, noisy.values).score).toBeLessThan(scoreTrust(M, quiet.values).score);
  });

  it('explains the score through per-feature contributions', () => {
    const values: FeatureValues = {
      action_risk: 0.6,
      target_risk: 0.3,
      loa: 0.6,
      rate_pressure: 0.1,
      input_entropy: 0.5,
    };
    const r = scoreTrust(M, values);
    const sum = FEATURES.reduce((acc, f) => acc + r.contributions[f].contribution, M.bias);
    expect(r.logit).toBeCloseTo(sum, 12);
    expect(r.score).toBeCloseTo(1 / (1 + Math.exp(-sum)), 12);
    expect(r.contributions.loa).toEqual({ value: 0.6, weight: 2.5, contribution: 1.5 });
  });

  it('uses negative risk weights and a positive LOA weight by default', () => {
    for (const f of RISKS) expect(M.weights[f]).toBeLessThan(0);
    expect(M.weights.loa).toBeGreaterThan(0);
    expect(M.threshold).toBe(0.4);
  });

  const decide = (req: Parameters<typeof extractFeatures>[0]) =>
    scoreTrust(M, extractFeatures(req).values).score >= M.threshold;
  it.each([
    [
      'Guest reads public canon',
      { action: 'canon.read', target: 'canon/public/faq', loa: 'guest' },
      true,
    ],
    ['Observer reads user data', { action: 'read', target: 'user_profile', loa: 'observer' }, true],
    ['Observer trust-checks', { action: 'trust.check', target: 'user/7', loa: 'observer' }, true],
    [
      'Observer writes system at its rate limit',
      { action: 'system.propose', target: 'canon/system', loa: 'observer', ratePressure: 1 },
      false,
    ],
    [
      'Observer writes config at its rate limit',
      {
        action: 'write',
        target: 'system/config',
        loa: 'observer',
        payload: { a: 1 },
        ratePressure: 1,
      },
      false,
    ],
    [
      'Operator runs a module',
      {
        action: 'module.run',
        target: 'module/summarise',
        loa: 'operator',
        payload: { text: 'summarise the quarterly report' },
      },
      true,
    ],
    [
      'Mentor attests',
      {
        action: 'system.attest',
        target: 'canon/system/proposal/3',
        loa: 'mentor',
        payload: {
          proposal: 'p3',
          signature:
            'kq0Ew3C9Yc3qkmY8pC8x3o4Gk7l0WmN2Hc8qY1X4P2uZ6vK2N0bVw9sT5rQ1aLj8mF3dE7gH6iJ4kP0oR2sU9A',
        },
      },
      true,
    ],
    [
      'Root commits a system change',
      { action: 'system.commit', target: 'canon/system', loa: 'root', payload: { proposal: 'p3' } },
      true,
    ],
    ['Root deletes system data', { action: 'delete', target: 'system/old', loa: 'root' }, true],
    [
      'Guest reads keys at its rate limit',
      { action: 'canon.read', target: 'keys/root', loa: 'guest', ratePressure: 1 },
      false,
    ],
  ] as const)('default model: %s → %s', (_name, req, allowed) => {
    expect(decide({ ratePressure: 0, ...req })).toBe(allowed);
  });

  it('rate pressure tips a sensitive request, never a plain read the matrix grants', () => {
    const sensitive = { action: 'canon.read', target: 'keys/root', loa: 'guest' as const };
    expect(decide({ ...sensitive, ratePressure: 0 })).toBe(true);
    expect(decide({ ...sensitive, ratePressure: 1 })).toBe(false);
    // The lowest risk class (a read of a target of risk ≤ 0.5) at every LOA and every pressure
    // the limiter lets through, with a margin over the threshold.
    for (const loa of ['guest', 'observer', 'operator', 'mentor', 'root'] as const) {
      for (const target of ['canon/records', 'canon/records/abc', 'system/proposals', 'user/42']) {
        for (const ratePressure of [0, 0.5, 0.9, 1]) {
          const { values } = extractFeatures(
            { action: 'canon.read', target, loa, ratePressure },
            M,
          );
          expect(scoreTrust(M, values).score, `${loa} ${target} ${ratePressure}`).toBeGreaterThan(
            M.threshold + 0.05,
          );
        }
      }
    }
  });
});

describe('features', () => {
  it.each([
    ['read', 0.1],
    ['GET', 0.1],
    ['query', 0.1],
    ['trust_check', 0.1],
    ['execute', 0.4],
    ['run', 0.4],
    ['write', 0.6],
    ['update', 0.6],
    ['modify', 0.6],
    ['elevation_request', 0.8],
    ['delete', 0.9],
    ['remove', 0.9],
    ['admin', 0.95],
    ['system', 0.95],
    ['canon.read', 0.1],
    ['canon.user.write', 0.6],
    ['system.propose', 0.95],
    ['system.commit', 0.95],
    ['system.reindex', 0.95],
    ['token.create', 0.95],
    ['mcp.tools.call', 0.5],
    ['module.run', 0.4],
    ['delete_user_profile', 0.9],
    ['read_then_delete', 0.9],
    ['frobnicate', 0.5],
    ['', 0.5],
  ])('action risk of %j is %d', (action, risk) => {
    expect(actionRisk(action)).toBe(risk);
  });

  it('a declared risk replaces the table and must be in [0, 1]', () => {
    expect(actionRisk('mcp.tools.call', 0.2)).toBe(0.2);
    expect(actionRisk('system.commit', 0)).toBe(0);
    for (const bad of [-0.1, 1.1, NaN, Infinity])
      expect(code(() => actionRisk('x', bad))).toBe('invalid_risk');
  });

  it.each([
    ['user_profile', 0.3],
    ['user/42', 0.3],
    ['profile', 0.3],
    ['module/summarise', 0.2],
    ['config', 0.7],
    ['settings/theme', 0.7],
    ['audit', 0.8],
    ['log', 0.8],
    ['login', 0.5],
    ['canon/system', 0.9],
    ['canon/system/proposal/7', 0.9],
    ['canon.system', 0.9],
    ['/canon/user/42', 0.3],
    ['CANON/USER/42', 0.3],
    ['canon/records/abc', 0.5],
    ['system/config', 0.9],
    ['keys/root', 0.9],
    ['elsewhere', 0.5],
    ['', 0.5],
    [undefined, 0.5],
  ])('target risk of %j is %d', (target, risk) => {
    expect(targetRisk(target)).toBe(risk);
  });

  it('computes Shannon entropy in bits per byte over 8', () => {
    expect(normalisedEntropy(new Uint8Array(0))).toBe(0);
    expect(normalisedEntropy(new Uint8Array(100).fill(7))).toBe(0);
    expect(normalisedEntropy(Uint8Array.from([0, 1, 0, 1]))).toBeCloseTo(1 / 8, 12);
    expect(normalisedEntropy(Uint8Array.from({ length: 256 }, (_, i) => i))).toBe(1);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const e = normalisedEntropy(b);
        expect(e).toBeGreaterThanOrEqual(0);
        expect(e).toBeLessThanOrEqual(1);
      }),
    );
  });

  it('measures the canonical bytes of a payload, raw bytes as given, and 0 without one', () => {
    const f = (payload: unknown) =>
      extractFeatures({ action: 'read', loa: 'guest', ratePressure: 0, payload }).values
        .input_entropy;
    expect(f(undefined)).toBe(0);
    expect(f(null)).toBe(0);
    expect(f({ b: 1, a: [1, 2] })).toBe(f({ a: [1, 2], b: 1 }));
    expect(f('aaaa')).toBe(0);
    expect(f(Uint8Array.from([0, 255]))).toBeCloseTo(1 / 8, 12);
  });

  it('measures exactly the UTF-8 bytes of the canonical payload, ASCII or not (replay re-scores it)', () => {
    const f = (payload: unknown) =>
      extractFeatures({ action: 'read', loa: 'guest', ratePressure: 0, payload }).values
        .input_entropy;
    const utf8 = (s: string) => new TextEncoder().encode(s);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        expect(f(text)).toBe(normalisedEntropy(utf8(text)));
        expect(f({ text })).toBe(normalisedEntropy(utf8(canonicalJson({ text }))));
      }),
    );
    expect(f('ünïcödé ✓')).toBe(normalisedEntropy(utf8('ünïcödé ✓')));
  });

  it('counts a JSON payload to exactly the entropy of its canonical text, or refuses it alike', () => {
    // The feature counts a value's canonical bytes without writing them when it can; replay
    // needs the very same number, and the same refusal for what JCS cannot express.
    const f = (payload: unknown) =>
      extractFeatures({ action: 'read', loa: 'guest', ratePressure: 0, payload });
    const utf8 = (s: string) => new TextEncoder().encode(s);
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 40 }), (value) => {
        fc.pre(value !== null && typeof value !== 'string');
        expect(f(value).values.input_entropy).toBe(normalisedEntropy(utf8(canonicalJson(value))));
      }),
      { numRuns: 500 },
    );
    const deep: unknown[] = [];
    let at = deep;
    for (let i = 0; i < 40; i++) at.push((at = [i]));
    for (const v of [{ a: 'x\u0001"\\é\u007f' }, [1e21, -0, 0.1], deep, Object.create(null)]) {
      expect(f(v).values.input_entropy).toBe(normalisedEntropy(utf8(canonicalJson(v))));
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    // A sparse array: a hole is not JSON.
    const holey: unknown[] = [1];
    holey[2] = 2;
    for (const v of [{ a: undefined }, holey, [Number.NaN], { b: 1n }, cyclic, new Date(0)]) {
      expect(f(v).missing).toContain('input_entropy');
    }
  });

  it('measures the next payload exactly after one that throws while it is counted', () => {
    const f = (payload: unknown) =>
      extractFeatures({ action: 'read', loa: 'guest', ratePressure: 0, payload });
    const utf8 = (s: string) => new TextEncoder().encode(s);
    const hostile = {
      a: 'aaaa',
      get b(): string {
        throw new Error('getter');
      },
    };
    expect(f(hostile).missing).toContain('input_entropy');
    expect(f('xyz').values.input_entropy).toBe(normalisedEntropy(utf8('xyz')));
    for (const v of [{ n: 1 }, [true, null]]) {
      expect(f(v).values.input_entropy).toBe(normalisedEntropy(utf8(canonicalJson(v))));
    }
  });

  it('scores repeated values to the same score as fresh ones, frozen when reused', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 30 }), (picks) => {
        const sets = [0, 0.25, 0.5, 1].map(
          (x) => Object.fromEntries(FEATURES.map((f) => [f, x])) as FeatureValues,
        );
        for (const i of picks) {
          const got = scoreTrust(M, sets[i]!);
          const fresh = scoreTrust({ ...M }, sets[i]!);
          expect(got).toEqual(fresh);
        }
      }),
    );
    const v = Object.fromEntries(FEATURES.map((f) => [f, 0.3])) as FeatureValues;
    scoreTrust(M, v);
    const again = scoreTrust(M, v);
    expect(Object.isFrozen(again) && Object.isFrozen(again.contributions.loa)).toBe(true);
  });

  it('reports missing features and falls back (0.5 for unknowns, 1 for unmeasurable)', () => {
    const ok = extractFeatures({
      action: 'canon.read',
      target: 'canon/user/1',
      loa: 'observer',
      ratePressure: 0.25,
      payload: { q: 1 },
    });
    expect(ok.missing).toEqual([]);
    expect(ok.values.loa).toBe(0.4);
    expect(ok.values.rate_pressure).toBe(0.25);

    const bad = extractFeatures({
      action: 'frobnicate',
      loa: 'wizard' as never,
      ratePressure: NaN,
      payload: { n: NaN },
    });
    expect(bad.missing).toEqual([
      'action_risk',
      'target_risk',
      'loa',
      'rate_pressure',
      'input_entropy',
    ]);
    expect(bad.values).toEqual({
      action_risk: 0.5,
      target_risk: 0.5,
      loa: 0,
      rate_pressure: 1,
      input_entropy: 1,
    });
  });

  it('clamps rate pressure into [0, 1]', () => {
    const r = (ratePressure: number) =>
      extractFeatures({ action: 'read', loa: 'guest', ratePressure }).values.rate_pressure;
    expect(r(3)).toBe(1);
    expect(r(-1)).toBe(0);
  });

  it('uses the model’s own tables', () => {
    const model = parseTrustModel({
      version: 2,
      bias: 0,
      weights: DEFAULT_TRUST_MODEL.weights,
      threshold: 0.5,
      actionRisk: { Frobnicate: 0.7 },
      targetRisk: [
        { pattern: 'vault/*/secret', risk: 1 },
        { pattern: 'vault', risk: 0.4 },
      ],
    });
    expect(model.version).toBe('2');
    expect(actionRisk('frobnicate', undefined, model)).toBe(0.7);
    expect(actionRisk('read', undefined, model)).toBe(0.5);
    expect(targetRisk('vault/a/secret/x', model)).toBe(1);
    expect(targetRisk('vault/a/public', model)).toBe(0.4);
    expect(targetRisk('vaults', model)).toBe(0.5);
  });

  it('extracts features fast', () => {
    const payload = { text: 'summarise the quarterly report', n: 42 };
    const start = performance.now();
    let acc = 0;
    for (let i = 0; i < 100_000; i++) {
      const { values } = extractFeatures({
        action: 'canon.user.write',
        target: `canon/user/${i}`,
        loa: 'operator',
        ratePressure: 0.1,
        payload,
      });
      acc += scoreTrust(M, values).score;
    }
    const perOpUs = ((performance.now() - start) * 1000) / 100_000;
    expect(acc).toBeGreaterThan(0);
    expect(perOpUs).toBeLessThan(50); // ≈ 3–8 µs on a shared 2-core machine
  });
});

describe('parseTrustModel', () => {
  const valid = {
    version: 'v1',
    bias: -0.2,
    weights: [-1, -1, 2, -1, -1],
    threshold: 0.4,
  };

  it('accepts the original vector form and the keyed form', () => {
    const a = parseTrustModel(valid);
    expect(a.weights).toEqual({
      action_risk: -1,
      target_risk: -1,
      loa: 2,
      rate_pressure: -1,
      input_entropy: -1,
    });
    expect(a.actionRisk).toBe(DEFAULT_TRUST_MODEL.actionRisk);
    const b = parseTrustModel(JSON.stringify({ ...valid, weights: a.weights }));
    expect(b.weights).toEqual(a.weights);
    expect(Object.isFrozen(b.weights)).toBe(true);
    expect(parseTrustModel(JSON.parse(JSON.stringify(DEFAULT_TRUST_MODEL)))).toEqual(
      DEFAULT_TRUST_MODEL,
    );
  });

  it.each([
    ['feature/weight count mismatch (4)', { ...valid, weights: [-1, -1, 2, -1] }],
    ['feature/weight count mismatch (6)', { ...valid, weights: [-1, -1, 2, -1, -1, 0] }],
    [
      'unknown feature',
      {
        ...valid,
        weights: {
          action_risk: -1,
          target_risk: -1,
          loa: 1,
          rate_pressure: -1,
          input_entropy: -1,
          extra: 0,
        },
      },
    ],
    [
      'missing feature',
      { ...valid, weights: { action_risk: -1, target_risk: -1, loa: 1, rate_pressure: -1 } },
    ],
    ['missing bias', { version: 'v', weights: valid.weights, threshold: 0.4 }],
    ['missing threshold', { version: 'v', bias: 0, weights: valid.weights }],
    ['missing weights', { version: 'v', bias: 0, threshold: 0.4 }],
    ['missing version', { bias: 0, weights: valid.weights, threshold: 0.4 }],
    ['NaN bias', { ...valid, bias: NaN }],
    ['infinite weight', { ...valid, weights: [-Infinity, -1, 2, -1, -1] }],
    ['threshold above 1', { ...valid, threshold: 1.5 }],
    ['string weight', { ...valid, weights: ['-1', -1, 2, -1, -1] }],
    [
      'positive risk weight (the original sign error)',
      { ...valid, weights: [0.15, 0.15, 0.4, 0.15, 0.15] },
    ],
    ['negative LOA weight', { ...valid, weights: [-1, -1, -0.1, -1, -1] }],
    ['action risk out of range', { ...valid, actionRisk: { read: 2 } }],
    ['empty target pattern', { ...valid, targetRisk: [{ pattern: '//', risk: 0.1 }] }],
    ['unknown field', { ...valid, extra: true }],
    ['not JSON', '{"version":'],
    ['null', null],
  ])('rejects %s with model_invalid', (_name, input) => {
    expect(code(() => parseTrustModel(input))).toBe('model_invalid');
  });
});
