import { z } from 'zod';
import { SigilError } from '../core/errors.ts';
import { parseLoa } from './loa.ts';
import {
  DEFAULT_TRUST_MODEL,
  extractFeatures,
  FEATURES,
  sigmoid,
  type FeatureValues,
  type TrustModel,
} from './trust.ts';

/**
 * Fits the trust model's weights and bias to labelled decisions (`sigil trust fit`): logistic
 * regression by full-batch gradient descent with L2 on the weights (not the bias). Pure and
 * deterministic: the same examples and options always give the same model.
 *
 * The fit is projected onto Sigil's sign convention after every step (risk weights ≤ 0, LOA
 * weight ≥ 0), so its output always loads with parseTrustModel; data that pulls a weight the
 * wrong way leaves it at 0 rather than producing a model where riskier requests score higher.
 */

export interface LabelledExample {
  values: FeatureValues;
  label: 'allow' | 'deny';
}

const label = z.enum(['allow', 'deny']);
const unit = z.number().min(0).max(1);
const featureLine = z.strictObject({
  features: z.strictObject({
    action_risk: unit,
    target_risk: unit,
    loa: unit,
    rate_pressure: unit,
    input_entropy: unit,
  }),
  label,
});
const requestLine = z.strictObject({
  action: z.string().min(1),
  target: z.string().optional(),
  loa: z.string(),
  payload: z.unknown().optional(),
  ratePressure: unit.optional(),
  declaredRisk: unit.optional(),
  label,
});

/**
 * Parses labelled NDJSON: each non-blank line is either `{features: {action_risk, …}, label}`
 * or a request `{action, target?, loa, payload?, ratePressure?, declaredRisk?, label}` whose
 * features are extracted under `model` (rate pressure defaults to 0). A bad line throws
 * SigilError 'bad_request' naming its line number.
 */
export function parseLabelledNdjson(
  text: string,
  model: TrustModel = DEFAULT_TRUST_MODEL,
): LabelledExample[] {
  const examples: LabelledExample[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const bad = (why: string): SigilError =>
      new SigilError('bad_request', `line ${i + 1}: ${why}`, { line: i + 1 });
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      throw bad('not JSON');
    }
    const asFeatures = featureLine.safeParse(json);
    if (asFeatures.success) {
      examples.push({ values: asFeatures.data.features, label: asFeatures.data.label });
      continue;
    }
    const asRequest = requestLine.safeParse(json);
    if (!asRequest.success)
      throw bad('expected {features, label} or {action, target?, loa, payload?, label}');
    const r = asRequest.data;
    try {
      const { values } = extractFeatures(
        {
          action: r.action,
          target: r.target,
          payload: r.payload,
          loa: parseLoa(r.loa),
          ratePressure: r.ratePressure ?? 0,
          declaredRisk: r.declaredRisk,
        },
        model,
      );
      examples.push({ values, label: r.label });
    } catch (err) {
      throw bad(err instanceof Error ? err.message : 'unusable request');
    }
  }
  return examples;
}

export interface FitOptions {
  /** Gradient-descent steps (default 4000). */
  iterations?: number;
  /** Step size (default 1). */
  learningRate?: number;
  /** L2 penalty on the weights (default 0.001). */
  l2?: number;
  /** Every k-th example (k-1, 2k-1, …) is held out for evaluation (default 5). */
  holdOutEvery?: number;
  /** Score at or above which a prediction is "allow" (default: the default model's, 0.4). */
  threshold?: number;
}

export interface FitResult {
  weights: FeatureValues;
  bias: number;
  /** The threshold the accuracies were measured at. */
  threshold: number;
  trainAccuracy: number;
  heldOutAccuracy: number;
  n: number;
  nTrain: number;
  nHeldOut: number;
}

/**
 * Fits a model to `examples`. The split is deterministic: every `holdOutEvery`-th example is
 * held out and the rest train. Needs at least `holdOutEvery` examples ('bad_request').
 */
export function fitTrustModel(
  examples: readonly LabelledExample[],
  options: FitOptions = {},
): FitResult {
  const iterations = options.iterations ?? 4000;
  const rate = options.learningRate ?? 1;
  const l2 = options.l2 ?? 0.001;
  const every = options.holdOutEvery ?? 5;
  const threshold = options.threshold ?? DEFAULT_TRUST_MODEL.threshold;
  if (!(Number.isSafeInteger(every) && every >= 2))
    throw new SigilError('bad_request', 'holdOutEvery must be an integer ≥ 2');
  if (examples.length < every)
    throw new SigilError('bad_request', `need at least ${every} labelled examples`);

  const k = FEATURES.length;
  const toRow = (e: LabelledExample): number[] => FEATURES.map((f) => e.values[f]);
  const train: { x: number[]; y: number }[] = [];
  const heldOut: { x: number[]; y: number }[] = [];
  examples.forEach((e, i) =>
    (i % every === every - 1 ? heldOut : train).push({
      x: toRow(e),
      y: e.label === 'allow' ? 1 : 0,
    }),
  );

  const w = new Array<number>(k).fill(0);
  let b = 0;
  const grad = new Array<number>(k);
  for (let it = 0; it < iterations; it++) {
    grad.fill(0);
    let gb = 0;
    for (const { x, y } of train) {
      let z = b;
      for (let j = 0; j < k; j++) z += w[j]! * x[j]!;
      const err = sigmoid(z) - y;
      gb += err;
      for (let j = 0; j < k; j++) grad[j]! += err * x[j]!;
    }
    b -= (rate * gb) / train.length;
    for (let j = 0; j < k; j++) {
      const next = w[j]! - rate * (grad[j]! / train.length + l2 * w[j]!);
      w[j] = FEATURES[j] === 'loa' ? Math.max(0, next) : Math.min(0, next);
    }
  }

  const accuracy = (set: readonly { x: number[]; y: number }[]): number => {
    let correct = 0;
    for (const { x, y } of set) {
      let z = b;
      for (let j = 0; j < k; j++) z += w[j]! * x[j]!;
      if ((sigmoid(z) >= threshold ? 1 : 0) === y) correct++;
    }
    return correct / set.length;
  };

  return {
    weights: Object.fromEntries(FEATURES.map((f, j) => [f, w[j]!])) as FeatureValues,
    bias: b,
    threshold,
    trainAccuracy: accuracy(train),
    heldOutAccuracy: accuracy(heldOut),
    n: examples.length,
    nTrain: train.length,
    nHeldOut: heldOut.length,
  };
}
