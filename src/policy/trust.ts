import { z } from 'zod';
import { canonicalJson } from '../core/canonical.ts';
import { utf8Encode } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { isLoa, type Loa } from './loa.ts';

/**
 * The trust model: score = σ(bias + Σ wᵢ·xᵢ) over five features in [0, 1]; a request passes the
 * trust step when score ≥ threshold.
 *
 * **Sign convention (fixes the original).** The original gave every feature a positive weight,
 * so a riskier action, a more sensitive target, more rate pressure or a more random payload
 * *raised* trust. Sigil's weights for action_risk, target_risk, rate_pressure and input_entropy
 * are ≤ 0 and the LOA weight is ≥ 0, and {@link parseTrustModel} rejects any model that breaks
 * this. So a riskier request never scores higher and a higher LOA never scores lower, for every
 * loadable model, not only the default (property-tested).
 */

/** The five features, in the order of the original's weight vector. */
export const FEATURES = [
  'action_risk',
  'target_risk',
  'loa',
  'rate_pressure',
  'input_entropy',
] as const;
export type Feature = (typeof FEATURES)[number];
export type FeatureValues = Record<Feature, number>;

/** Features whose weight must be ≤ 0 (risk) — all but `loa`, whose weight must be ≥ 0. */
const RISK_FEATURES: readonly Feature[] = FEATURES.filter((f) => f !== 'loa');

/** LOA feature values (the original's). */
export const LOA_FEATURE: Readonly<Record<Loa, number>> = Object.freeze({
  guest: 0,
  observer: 0.4,
  operator: 0.6,
  mentor: 0.8,
  root: 1,
});

/** Risk of an action or target nothing in the tables matches (and of a missing target). */
export const UNKNOWN_RISK = 0.5;

export interface TargetRiskPattern {
  /**
   * Lower-case path glob over `/`-separated segments (`.`, `:` and `\` also separate);
   * `*` matches within one segment; a pattern matches every target that *starts with* its
   * segments (`canon/system` matches `canon/system/proposal/7`).
   */
  readonly pattern: string;
  readonly risk: number;
}

export interface TrustModel {
  readonly version: string;
  readonly bias: number;
  readonly weights: Readonly<FeatureValues>;
  readonly threshold: number;
  /**
   * Action risk by exact action name (`canon.user.write`, `trust_check`) or by verb token
   * (`delete`, `write`); see {@link actionRisk}.
   */
  readonly actionRisk: Readonly<Record<string, number>>;
  /** Target sensitivity patterns, first match wins (most specific first). */
  readonly targetRisk: readonly TargetRiskPattern[];
}

const DEFAULT_ACTION_RISK: Readonly<Record<string, number>> = {
  // The original's verbs.
  read: 0.1,
  get: 0.1,
  query: 0.1,
  list: 0.1,
  trust_check: 0.1,
  execute: 0.4,
  run: 0.4,
  call: 0.5,
  write: 0.6,
  update: 0.6,
  modify: 0.6,
  elevation_request: 0.8,
  delete: 0.9,
  remove: 0.9,
  admin: 0.95,
  system: 0.95,
  export: 0.95,
  // Sigil's matrix actions.
  'canon.read': 0.1,
  'license.validate': 0.1,
  'trust.check': 0.1,
  'trust.status': 0.1,
  'diagnostics.read': 0.1,
  'memory.read': 0.1,
  'token.list': 0.1,
  'delegation.list': 0.1,
  'consent.list': 0.1,
  'module.run': 0.4,
  'mcp.tools.call': 0.5,
  'canon.user.write': 0.6,
  'memory.write': 0.6,
  'consent.grant': 0.6,
  'consent.revoke': 0.6,
  // A witness signature changes nothing by itself; the commit is the system change.
  'system.attest': 0.6,
  // The emergency brake: kept moderate so Root can always halt a holon.
  'holon.halt': 0.6,
  'system.propose': 0.95,
  'system.commit': 0.95,
  'token.create': 0.95,
  'token.revoke': 0.95,
  'license.generate': 0.95,
  'keys.rotate': 0.95,
  'state.rebuild': 0.95,
  'model.upload': 0.95,
  'witness.register': 0.95,
  'admin.export': 0.95,
};

const DEFAULT_TARGET_RISK: readonly TargetRiskPattern[] = [
  { pattern: 'canon/system', risk: 0.9 },
  { pattern: 'canon/user', risk: 0.3 },
  { pattern: 'canon/public', risk: 0.1 },
  { pattern: 'canon', risk: 0.5 },
  // Proposals are public by design: they are what witnesses read and sign.
  { pattern: 'system/proposals', risk: 0.3 },
  { pattern: 'system*', risk: 0.9 },
  { pattern: 'keys*', risk: 0.9 },
  { pattern: 'key', risk: 0.9 },
  { pattern: 'secret*', risk: 0.9 },
  { pattern: 'token*', risk: 0.9 },
  { pattern: 'witness*', risk: 0.9 },
  { pattern: 'audit*', risk: 0.8 },
  { pattern: 'log', risk: 0.8 },
  { pattern: 'logs', risk: 0.8 },
  { pattern: 'config*', risk: 0.7 },
  { pattern: 'settings*', risk: 0.7 },
  { pattern: 'model*', risk: 0.7 },
  { pattern: 'holon*', risk: 0.6 },
  { pattern: 'license*', risk: 0.2 },
  { pattern: 'mcp', risk: 0.5 },
  { pattern: 'user*', risk: 0.3 },
  { pattern: 'profile*', risk: 0.3 },
  { pattern: 'memory*', risk: 0.3 },
  { pattern: 'consent*', risk: 0.3 },
  { pattern: 'module*', risk: 0.2 },
  { pattern: 'trust*', risk: 0.2 },
  { pattern: 'diagnostics*', risk: 0.2 },
  { pattern: 'metrics*', risk: 0.2 },
  { pattern: 'public*', risk: 0.1 },
];

/**
 * Sigil's default model, threshold 0.4 (logit −0.405), version 2.
 *
 * **Principle.** Volume is the rate limiter's job (429 once a caller's bucket is empty); the trust
 * step weighs what a request touches and who asks. So rate pressure only tips requests that are
 * risky already: every request of the lowest risk class (a read, action risk 0.1, of a target of
 * risk ≤ 0.5) that the matrix grants passes at every pressure the limiter lets through, with a
 * margin (a Guest's read of canon/records scores 0.46 at full pressure, 0.70 at rest), and a
 * Guest reading a sensitive target (keys, tokens: 0.9) is denied once it presses its limit.
 * Version 1 (bias 0.5, rate weight −2) left a Guest's plain read a hair above the threshold at
 * rest and denied its tenth read in a second as untrustworthy; it stays known for replay.
 *
 * | term          | weight | note                                                   |
 * |---------------|--------|--------------------------------------------------------|
 * | bias          | +1.5   |                                                        |
 * | action_risk   | −1.5   | the strongest risk signal                              |
 * | target_risk   | −1.0   |                                                        |
 * | loa           | +2.5   | Root (1.0) balances the riskiest action and target     |
 * | rate_pressure | −1.0   | tips risky requests near the limit; volume is the      |
 * |               |        | limiter's                                              |
 * | input_entropy | −0.5   | JSON ≈ 0.55, base64 ≈ 0.75, random bytes ≈ 1.0: a weak |
 * |               |        | signal, kept small so a signed license still validates |
 *
 * What they decide (rate pressure 0 unless stated; "JSON" = a typical JSON payload):
 *
 * | request                                                   | score | verdict |
 * |-----------------------------------------------------------|-------|---------|
 * | Guest canon.read of canon/public/…, no payload            | 0.78  | allow   |
 * | Guest canon.read of canon/records/… (space unknown)       | 0.70  | allow   |
 * | … the same at rate pressure 1 (its whole burst used)      | 0.46  | allow   |
 * | Guest license.validate, sealed license, rate pressure 1   | 0.44  | allow   |
 * | Guest canon.read of system/proposals at rate pressure 1   | 0.51  | allow   |
 * | Guest canon.read of keys/…                                | 0.61  | allow   |
 * | Guest canon.read of keys/… at rate pressure 1             | 0.37  | deny    |
 * | Observer trust.check of user_profile                      | 0.89  | allow   |
 * | Operator module.run, JSON, rate pressure 1                | 0.72  | allow   |
 * | Operator mcp.tools.call, random bytes, rate pressure 1    | 0.56  | allow   |
 * | Mentor system.attest on system/proposals/…, JSON          | 0.88  | allow   |
 * | Root system.commit on canon/system, JSON                  | 0.80  | allow   |
 * | Root system.commit on canon/system, JSON, pressure 1      | 0.60  | allow   |
 *
 * The matrix already keeps Guests and Observers from every risky action, so the trust step is
 * the second line: it bites where low LOA, a sensitive target, pressure and an opaque payload
 * come together, and a stricter threshold (a system change, `irl.threshold`) makes it bite more.
 * System changes are gated by the quorum (Root + k Mentors), the stronger control.
 */
export const DEFAULT_TRUST_MODEL: TrustModel = deepFreeze({
  version: 'sigil-default-2',
  bias: 1.5,
  weights: {
    action_risk: -1.5,
    target_risk: -1,
    loa: 2.5,
    rate_pressure: -1,
    input_entropy: -0.5,
  },
  threshold: 0.4,
  actionRisk: DEFAULT_ACTION_RISK,
  targetRisk: DEFAULT_TARGET_RISK,
});

/** The version 1 default (bias 0.5, rate weight −2): kept so decisions made under it replay. */
export const DEFAULT_TRUST_MODEL_V1: TrustModel = deepFreeze({
  ...DEFAULT_TRUST_MODEL,
  version: 'sigil-default-1',
  bias: 0.5,
  weights: { ...DEFAULT_TRUST_MODEL.weights, rate_pressure: -2 },
  targetRisk: DEFAULT_TARGET_RISK.filter((t) => t.pattern !== 'system/proposals'),
});

// ---------------------------------------------------------------------------------------------
// Parsing

const unit = z.number().min(0).max(1);
const weightsSchema = z.union([
  z.array(z.number()).length(FEATURES.length),
  z.strictObject({
    action_risk: z.number(),
    target_risk: z.number(),
    loa: z.number(),
    rate_pressure: z.number(),
    input_entropy: z.number(),
  }),
]);
const modelSchema = z.strictObject({
  version: z.union([z.string().min(1), z.number()]),
  bias: z.number(),
  weights: weightsSchema,
  threshold: unit,
  actionRisk: z.record(z.string().min(1), unit).optional(),
  targetRisk: z.array(z.strictObject({ pattern: z.string().min(1), risk: unit })).optional(),
});

/**
 * Validates a model (a `model_config` payload, a parsed object or its JSON text). `weights` is
 * either the original's five-element vector in {@link FEATURES} order or an object keyed by
 * feature; missing risk tables take the defaults; a numeric `version` becomes its decimal string.
 * Missing fields, a feature/weight mismatch, non-finite numbers, weights against the sign
 * convention or an unusable pattern throw SigilError 'model_invalid' (a model is never
 * half-loaded).
 */
export function parseTrustModel(json: unknown): TrustModel {
  let input = json;
  if (typeof json === 'string') {
    try {
      input = JSON.parse(json);
    } catch {
      throw new SigilError('model_invalid', 'trust model is not valid JSON');
    }
  }
  const parsed = modelSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new SigilError('model_invalid', `invalid trust model: ${issues.join('; ')}`, { issues });
  }
  const m = parsed.data;
  const w = m.weights;
  const weights: FeatureValues = Array.isArray(w)
    ? (Object.fromEntries(FEATURES.map((f, i) => [f, w[i]])) as FeatureValues)
    : w;
  for (const f of RISK_FEATURES) {
    if (weights[f] > 0)
      throw new SigilError(
        'model_invalid',
        `weight of ${f} must be ≤ 0 (riskier never trusted more)`,
      );
  }
  if (weights.loa < 0) throw new SigilError('model_invalid', 'weight of loa must be ≥ 0');
  const model: TrustModel = deepFreeze({
    version: String(m.version),
    bias: m.bias,
    weights,
    threshold: m.threshold,
    actionRisk: m.actionRisk ?? DEFAULT_ACTION_RISK,
    targetRisk: m.targetRisk ?? DEFAULT_TARGET_RISK,
  });
  compiled(model); // surfaces unusable patterns now, not at the first request
  return model;
}

// ---------------------------------------------------------------------------------------------
// Compiled lookups (built once per model object)

interface CompiledModel {
  readonly actions: ReadonlyMap<string, number>;
  readonly targets: readonly { readonly re: RegExp; readonly risk: number }[];
  /** Risk by target string, as matched; requests repeat their targets (bounded, cleared when full). */
  readonly targetRisks: Map<string, number | undefined>;
  /** Risk by action string, as looked up (bounded the same way). */
  readonly actionRisks: Map<string, number | undefined>;
  /**
   * The last five values scored under this model, and once they came again, their frozen score,
   * returned for them from then on (frozen only on a repeat: freezing costs more than scoring).
   */
  lastValues: Float64Array;
  last: TrustScore | undefined;
}

const TARGET_CACHE_MAX = 4096;

const cache = new WeakMap<TrustModel, CompiledModel>();

function compiled(model: TrustModel): CompiledModel {
  let c = cache.get(model);
  if (c === undefined) {
    c = {
      actions: new Map(Object.entries(model.actionRisk).map(([k, v]) => [k.toLowerCase(), v])),
      targets: model.targetRisk.map(({ pattern, risk }) => ({ re: compilePattern(pattern), risk })),
      targetRisks: new Map(),
      actionRisks: new Map(),
      lastValues: new Float64Array(FEATURES.length).fill(Number.NaN),
      last: undefined,
    };
    cache.set(model, c);
  }
  return c;
}

function normaliseTarget(target: string): string {
  return target
    .trim()
    .toLowerCase()
    .replace(/[\\.:/]+/g, '/')
    .replace(/^\/|\/$/g, '');
}

function compilePattern(pattern: string): RegExp {
  const norm = normaliseTarget(pattern);
  if (norm === '') throw new SigilError('model_invalid', `empty target pattern: ${pattern}`);
  const body = norm
    .split('/')
    .map((seg) => seg.replace(/[.*+?^${}()|[\]\\]/g, (ch) => (ch === '*' ? '[^/]*' : `\\${ch}`)))
    .join('/');
  return new RegExp(`^${body}(?:/|$)`);
}

// ---------------------------------------------------------------------------------------------
// Features

const ACTION_TOKEN_SPLIT = /[.\-_/:\s]+/;

function knownActionRisk(model: TrustModel, action: string): number | undefined {
  const c = compiled(model);
  if (c.actionRisks.has(action)) return c.actionRisks.get(action);
  const risk = lookUpActionRisk(c.actions, action);
  if (c.actionRisks.size >= TARGET_CACHE_MAX) c.actionRisks.clear();
  c.actionRisks.set(action, risk);
  return risk;
}

function lookUpActionRisk(
  actions: ReadonlyMap<string, number>,
  action: string,
): number | undefined {
  const name = action.trim().toLowerCase();
  const exact = actions.get(name);
  if (exact !== undefined) return exact;
  let worst: number | undefined;
  for (const token of name.split(ACTION_TOKEN_SPLIT)) {
    const r = actions.get(token);
    if (r !== undefined && (worst === undefined || r > worst)) worst = r;
  }
  return worst;
}

/**
 * Risk of an action in [0, 1]. A `declaredRisk` (from trusted policy such as the gateway's
 * per-tool risk, never from a request body) replaces the table. Otherwise the exact action name
 * is looked up, then each of its verb tokens (split on `. - _ / :` and space), taking the riskiest
 * token, so `delete_user_profile` is a delete. Nothing known → {@link UNKNOWN_RISK}.
 * A declared risk outside [0, 1] throws SigilError 'invalid_risk'.
 */
export function actionRisk(
  action: string,
  declaredRisk?: number,
  model: TrustModel = DEFAULT_TRUST_MODEL,
): number {
  if (declaredRisk !== undefined) return checkedRisk(declaredRisk);
  return knownActionRisk(model, action) ?? UNKNOWN_RISK;
}

function checkedRisk(risk: number): number {
  if (!(risk >= 0 && risk <= 1))
    throw new SigilError('invalid_risk', `declared risk must be in [0, 1], got ${risk}`);
  return risk;
}

function knownTargetRisk(model: TrustModel, target: string | undefined): number | undefined {
  if (target === undefined) return undefined;
  const c = compiled(model);
  if (c.targetRisks.has(target)) return c.targetRisks.get(target);
  const risk = matchTargetRisk(c, target);
  if (c.targetRisks.size >= TARGET_CACHE_MAX) c.targetRisks.clear();
  c.targetRisks.set(target, risk);
  return risk;
}

function matchTargetRisk(c: CompiledModel, target: string): number | undefined {
  const norm = normaliseTarget(target);
  if (norm === '') return undefined;
  for (const { re, risk } of c.targets) if (re.test(norm)) return risk;
  return undefined;
}

/** Sensitivity of a target in [0, 1]: the first matching pattern; none or no target → 0.5. */
export function targetRisk(
  target: string | undefined,
  model: TrustModel = DEFAULT_TRUST_MODEL,
): number {
  return knownTargetRisk(model, target) ?? UNKNOWN_RISK;
}

/**
 * Shannon entropy of `bytes` in bits per byte, divided by 8: 0 for empty or constant input,
 * 1 for uniformly distributed bytes. Encrypted, compressed or encoded blobs score high.
 */
export function normalisedEntropy(bytes: Uint8Array): number {
  const n = bytes.length;
  if (n === 0) return 0;
  counts.fill(0);
  for (let i = 0; i < n; i++) counts[bytes[i]!]!++;
  return entropyOfCounts(n);
}

// One byte histogram reused by every call (decide() is synchronous): no allocation per request.
// Zero between calls: entropyOfCounts clears what it read.
const counts = new Uint32Array(256);
/** One bit per byte value seen, eight words: the sum visits only those (a payload uses few). */
const seen = new Uint32Array(8);

/** Marks every non-zero entry of `counts` in `seen` (after a pass that did not mark them). */
function markAll(): void {
  for (let i = 0; i < 256; i++) if (counts[i] !== 0) seen[i >>> 5]! |= 1 << (i & 31);
}

/**
 * Entropy of the histogram in `counts` over `n` bytes, summed in byte order (deterministic: the
 * same terms in the same order as a scan of all 256), then clears both tables.
 */
function entropyOfCounts(n: number): number {
  markAll();
  return entropyOfSeen(n);
}

function entropyOfSeen(n: number): number {
  let bits = 0;
  for (let w = 0; w < 8; w++) {
    let word = seen[w]!;
    seen[w] = 0;
    while (word !== 0) {
      const low = word & -word;
      const i = (w << 5) | (31 - Math.clz32(low));
      word ^= low;
      const c = counts[i]!;
      counts[i] = 0;
      const p = c / n;
      bits -= p * Math.log2(p);
    }
  }
  return bits / 8;
}

/** Counts one byte value, marking it seen. */
function count(c: number, by = 1): void {
  counts[c]! += by;
  seen[c >>> 5]! |= 1 << (c & 31);
}

/**
 * normalisedEntropy of a string's UTF-8 bytes, counted from its code units when it is ASCII
 * (JSON payloads nearly always are) instead of encoding it first; the same value either way.
 */
function textEntropy(text: string): number {
  const n = text.length;
  if (n === 0) return 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) {
      counts.fill(0);
      seen.fill(0);
      return normalisedEntropy(utf8Encode(text));
    }
    count(c);
  }
  return entropyOfSeen(n);
}

// Counting the bytes of a value's canonical JSON without writing it. The histogram of a text
// does not depend on the order of its bytes, so members need no sorting; what this does not
// handle exactly as canonicalJson would write it (a string needing an escape or beyond ASCII,
// an unusual object, deep nesting) gives up, and the caller canonicalises instead.
const GIVE_UP = -1;
const MAX_COUNTED_DEPTH = 32;
const QUOTE = 0x22;

/** Counts a string as JSON writes it when it needs no escape and is ASCII; its length, or GIVE_UP. */
function countPlainString(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === QUOTE || c === 0x5c) return GIVE_UP;
  }
  for (let i = 0; i < s.length; i++) count(s.charCodeAt(i));
  count(QUOTE, 2);
  return s.length + 2;
}

function countText(s: string): number {
  for (let i = 0; i < s.length; i++) count(s.charCodeAt(i));
  return s.length;
}

/** Bytes counted for `value`'s canonical JSON, or GIVE_UP. */
function countCanonical(value: unknown, depth: number): number {
  switch (typeof value) {
    case 'string':
      return countPlainString(value);
    case 'number':
      return Number.isFinite(value) ? countText(String(value)) : GIVE_UP;
    case 'boolean':
      return countText(value ? 'true' : 'false');
    case 'object': {
      if (value === null) return countText('null');
      if (depth >= MAX_COUNTED_DEPTH) return GIVE_UP;
      const proto = Object.getPrototypeOf(value) as unknown;
      if (Array.isArray(value)) {
        if (proto !== Array.prototype) return GIVE_UP;
        let n = 2 + Math.max(0, value.length - 1);
        count(0x5b);
        count(0x5d);
        if (value.length > 1) count(0x2c, value.length - 1);
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) return GIVE_UP;
          const m = countCanonical(value[i], depth + 1);
          if (m === GIVE_UP) return GIVE_UP;
          n += m;
        }
        return n;
      }
      if (proto !== Object.prototype && proto !== null) return GIVE_UP;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record);
      // `{`, `}`, one `:` per member and a `,` between members.
      let n = 2 + keys.length + Math.max(0, keys.length - 1);
      count(0x7b);
      count(0x7d);
      if (keys.length > 0) count(0x3a, keys.length);
      if (keys.length > 1) count(0x2c, keys.length - 1);
      for (const key of keys) {
        const k = countPlainString(key);
        if (k === GIVE_UP) return GIVE_UP;
        const m = countCanonical(record[key], depth + 1);
        if (m === GIVE_UP) return GIVE_UP;
        n += k + m;
      }
      return n;
    }
    default:
      return GIVE_UP;
  }
}

/**
 * Entropy of the payload's bytes as the entropy feature sees them: raw bytes as given, a
 * string as UTF-8, anything else as its RFC 8785 canonical JSON. undefined/null → no payload.
 * A JSON value is counted without writing its canonical text when it can be (the same counts,
 * so the same value, bit for bit); otherwise it is canonicalised as before.
 */
function payloadEntropy(payload: unknown): number {
  if (payload === undefined || payload === null) return 0;
  if (payload instanceof Uint8Array) return normalisedEntropy(payload);
  try {
    return valueEntropy(payload);
  } catch (err) {
    // A value that throws while counted (a getter, a proxy) leaves the tables as they were.
    counts.fill(0);
    seen.fill(0);
    throw err;
  }
}

function valueEntropy(payload: unknown): number {
  if (typeof payload === 'string') return textEntropy(payload);
  const n = countCanonical(payload, 0);
  if (n !== GIVE_UP) return entropyOfSeen(n);
  counts.fill(0);
  seen.fill(0);
  return textEntropy(canonicalJson(payload));
}

export interface FeatureInput {
  action: string;
  /** What the action touches (`canon/user/42`, `system/config`); absent counts as unknown. */
  target?: string;
  payload?: unknown;
  loa: Loa;
  /** Rate-limiter pressure in [0, 1] (see RateLimiter.take). */
  ratePressure: number;
  /** Risk from trusted policy (e.g. the gateway's tool risk); replaces the action table. */
  declaredRisk?: number;
}

export interface ExtractedFeatures {
  values: FeatureValues;
  /**
   * Features that could not be determined and took a fallback: unknown action or target
   * (→ 0.5), non-canonicalizable payload or non-finite rate pressure (→ 1, the worst case).
   * Strict enforcement denies when this is non-empty.
   */
  missing: Feature[];
}

/** Computes the five features of a request (pure; cheap: table lookups and one byte pass). */
export function extractFeatures(
  input: FeatureInput,
  model: TrustModel = DEFAULT_TRUST_MODEL,
): ExtractedFeatures {
  const missing: Feature[] = [];

  let action = input.declaredRisk === undefined ? undefined : checkedRisk(input.declaredRisk);
  action ??= knownActionRisk(model, input.action);
  if (action === undefined) {
    missing.push('action_risk');
    action = UNKNOWN_RISK;
  }

  let target = knownTargetRisk(model, input.target);
  if (target === undefined) {
    missing.push('target_risk');
    target = UNKNOWN_RISK;
  }

  let loa = 0;
  if (isLoa(input.loa)) loa = LOA_FEATURE[input.loa];
  else missing.push('loa');

  let rate = 1;
  if (Number.isFinite(input.ratePressure)) rate = Math.min(1, Math.max(0, input.ratePressure));
  else missing.push('rate_pressure');

  let entropy = 1;
  try {
    entropy = payloadEntropy(input.payload);
  } catch {
    missing.push('input_entropy');
  }

  return {
    values: {
      action_risk: action,
      target_risk: target,
      loa,
      rate_pressure: rate,
      input_entropy: entropy,
    },
    missing,
  };
}

// ---------------------------------------------------------------------------------------------
// Scoring

export interface FeatureContribution {
  value: number;
  weight: number;
  /** weight × value: this feature's share of the logit. */
  contribution: number;
}

export interface TrustScore {
  /** σ(logit) in [0, 1]; NaN if a value was NaN (NaN never passes a threshold). */
  score: number;
  logit: number;
  contributions: Record<Feature, FeatureContribution>;
}

/** The logistic sigmoid. */
export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Scores features under a model; the contributions explain the score in decision records. */
export function scoreTrust(model: TrustModel, features: FeatureValues): TrustScore {
  // A caller's requests mostly score the same five values again: their frozen score is reused.
  // Only under a model that cannot change (every loaded model is frozen). NaN never matches.
  if (!Object.isFrozen(model) || !Object.isFrozen(model.weights)) {
    return computeScore(model, features);
  }
  const c = compiled(model);
  const v = c.lastValues;
  if (
    v[0] === features.action_risk &&
    v[1] === features.target_risk &&
    v[2] === features.loa &&
    v[3] === features.rate_pressure &&
    v[4] === features.input_entropy
  ) {
    c.last ??= deepFreeze(computeScore(model, features));
    return c.last;
  }
  v[0] = features.action_risk;
  v[1] = features.target_risk;
  v[2] = features.loa;
  v[3] = features.rate_pressure;
  v[4] = features.input_entropy;
  c.last = undefined;
  return computeScore(model, features);
}

function computeScore(model: TrustModel, features: FeatureValues): TrustScore {
  let logit = model.bias;
  const contributions = {} as Record<Feature, FeatureContribution>;
  for (const f of FEATURES) {
    const value = features[f];
    const weight = model.weights[f];
    const contribution = weight * value;
    logit += contribution;
    contributions[f] = { value, weight, contribution };
  }
  return { score: sigmoid(logit), logit, contributions };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
