import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateLabelledDecisions, LABELLED_DECISIONS_PATH } from '../../scripts/gen-labelled.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { fitTrustModel, parseLabelledNdjson, type LabelledExample } from '../../src/policy/fit.ts';
import { extractFeatures, FEATURES, parseTrustModel } from '../../src/policy/trust.ts';

const text = readFileSync(LABELLED_DECISIONS_PATH, 'utf8');

function codeOf(fn: () => unknown): { code?: string; details?: Record<string, unknown> } {
  try {
    fn();
  } catch (err) {
    return isSigilError(err) ? { code: err.code, details: err.details } : { code: 'other' };
  }
  return {};
}

describe('trust fit', () => {
  it('the example file is exactly what the generator produces', () => {
    expect(text).toBe(generateLabelledDecisions());
    expect(text.trimEnd().split('\n')).toHaveLength(200);
  });

  it('fits the examples with held-out accuracy > 0.8 and the fixed sign convention', () => {
    const examples = parseLabelledNdjson(text);
    expect(examples).toHaveLength(200);
    const fit = fitTrustModel(examples);
    expect(fit).toMatchObject({ n: 200, nTrain: 160, nHeldOut: 40, threshold: 0.4 });
    expect(fit.heldOutAccuracy).toBeGreaterThan(0.8);
    expect(fit.trainAccuracy).toBeGreaterThan(0.8);
    for (const f of ['action_risk', 'target_risk', 'rate_pressure', 'input_entropy'] as const)
      expect(fit.weights[f]).toBeLessThan(-0.1); // learnt from the data, not just clamped at 0
    expect(fit.weights.loa).toBeGreaterThan(0.1);
    // The result loads as a model.
    const model = parseTrustModel({
      version: 'fit',
      bias: fit.bias,
      weights: fit.weights,
      threshold: 0.4,
    });
    expect(model.weights).toEqual(fit.weights);
    // Deterministic.
    expect(fitTrustModel(parseLabelledNdjson(text))).toEqual(fit);
  });

  it('reads both line forms and extracts request features', () => {
    const lines = [
      '{"features":{"action_risk":0.1,"target_risk":0.3,"loa":0.4,"rate_pressure":0,"input_entropy":0},"label":"allow"}',
      '',
      '{"action":"system.commit","target":"canon/system","loa":"Observer","label":"deny"}',
    ].join('\n');
    const [a, b] = parseLabelledNdjson(lines);
    expect(a).toEqual({
      values: { action_risk: 0.1, target_risk: 0.3, loa: 0.4, rate_pressure: 0, input_entropy: 0 },
      label: 'allow',
    });
    expect(b).toEqual({
      values: extractFeatures({
        action: 'system.commit',
        target: 'canon/system',
        loa: 'observer',
        ratePressure: 0,
      }).values,
      label: 'deny',
    });
  });

  it.each([
    ['not JSON', '{'],
    ['no label', '{"action":"read","loa":"guest"}'],
    ['bad label', '{"action":"read","loa":"guest","label":"maybe"}'],
    ['bad LOA', '{"action":"read","loa":"wizard","label":"allow"}'],
    [
      'feature out of range',
      '{"features":{"action_risk":2,"target_risk":0,"loa":0,"rate_pressure":0,"input_entropy":0},"label":"allow"}',
    ],
    [
      'missing feature',
      '{"features":{"action_risk":0,"target_risk":0,"loa":0,"rate_pressure":0},"label":"allow"}',
    ],
  ])('rejects a line that is %s, naming the line', (_name, line) => {
    const good = '{"action":"read","loa":"guest","label":"allow"}';
    expect(codeOf(() => parseLabelledNdjson(`${good}\n${line}\n`))).toEqual({
      code: 'bad_request',
      details: { line: 2 },
    });
  });

  it('never learns a weight against the sign convention', () => {
    // Perverse labels: the riskier the action, the more often "allow".
    const examples: LabelledExample[] = Array.from({ length: 100 }, (_, i) => {
      const risk = (i % 10) / 10;
      return {
        values: {
          action_risk: risk,
          target_risk: 0.5,
          loa: 0.5,
          rate_pressure: 0,
          input_entropy: 0.5,
        },
        label: risk >= 0.5 ? 'allow' : 'deny',
      };
    });
    const fit = fitTrustModel(examples, { iterations: 500 });
    expect(fit.weights.action_risk).toBe(0);
    for (const f of FEATURES) expect(Number.isFinite(fit.weights[f])).toBe(true);
  });

  it('needs enough examples and a sensible hold-out', () => {
    const one: LabelledExample = {
      values: { action_risk: 0, target_risk: 0, loa: 0, rate_pressure: 0, input_entropy: 0 },
      label: 'allow',
    };
    expect(codeOf(() => fitTrustModel([one, one])).code).toBe('bad_request');
    expect(codeOf(() => fitTrustModel([one, one, one], { holdOutEvery: 1 })).code).toBe(
      'bad_request',
    );
  });
});
