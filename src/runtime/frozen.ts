/**
 * Freezing a decision: the `decision` record payload holds every input decide() read that is
 * particular to the decision, and names by hash the sealed `decision_policy` holding those
 * decisions share, so anyone holding the log can re-run decide() on it and get the same
 * decision, steps and score breakdown included (replay). Version 3 also names by hash the
 * consent between caller and data subject and an allowed decision's MCP rule results, each
 * sealed once as a `decision_input` record. Version 1 payloads (no `v`) held everything inline,
 * version 2 all but the policy; both still replay.
 */
import type { JsonValue } from '../core/canonical.ts';
import { canonicalJson } from '../core/canonical.ts';
import { fromBase64Url, toBase64Url } from '../core/encoding.ts';
import { sha256Hex } from '../core/hash.ts';
import { SigilError } from '../core/errors.ts';
import {
  createKernel,
  parseBailment,
  parseConsentGrant,
  type Kernel,
  type SubjectStanding,
  type TrustedKeys,
} from '../gatekeeper/index.ts';
import { DEFAULT_TRUST_MODEL, DEFAULT_TRUST_MODEL_V1, type TrustModel } from '../policy/index.ts';
import { CONSTITUTION_BYTES } from './constitution.ts';
import {
  decide,
  type Caller,
  type Decision,
  type DecisionRequest,
  type DecisionState,
} from './decide.ts';

export const CONSTITUTION_HASH = sha256Hex(CONSTITUTION_BYTES);

/**
 * What every decision made under one configuration shares: the constitution and trust model
 * (each by hash), the permission-matrix flags, the system-critical actions, the mode and the
 * threshold. Sealed once as a `decision_policy` record; a decision names it by `policyHash`.
 */
export interface DecisionPolicy {
  constitution: string;
  model: string;
  flags: DecisionState['flags'];
  system_critical: string[];
  mode: DecisionState['mode'];
  threshold: number;
}

/** Version 1 (no `v`): every input and the whole decision, steps and trust breakdown included. */
export interface DecisionPayloadV1 {
  caller: Caller;
  request: DecisionRequest;
  state: {
    now: number;
    mode: DecisionState['mode'];
    threshold: number;
    flags: DecisionState['flags'];
    /** Hex SHA-256 of the canonical trust model (the model itself is sealed once, not per decision). */
    model: string;
    rate: DecisionState['rate'];
    constitution: string;
    trusted_keys: Record<string, string[]>;
    human_root_count: number;
    consent: DecisionState['consent'];
    system_critical: string[];
    breaker_open: boolean;
    authority?: DecisionState['authority'];
    roles?: DecisionState['roles'];
  };
  decision: Decision;
}

/**
 * What a version 2 record keeps of the decision: its outcome and what an auditor reads without
 * replaying (the score, the MCP rule results, the kernel's violations, a `when` condition's hash
 * and result). The reasoning steps and the score's breakdown are derived: replay recomputes them.
 */
export interface RecordedDecision {
  verdict: Decision['verdict'];
  code: string | null;
  reason: string;
  mode: Decision['mode'];
  effective_loa: Decision['effective_loa'];
  would_deny: boolean;
  requires_quorum: boolean;
  score: number | null;
  rules: Decision['rules'];
  violations: Decision['violations'];
  retry_after_ms?: number;
  condition?: { [key: string]: JsonValue };
}

/** Version 2: the inputs particular to this decision, the shared ones by `policy` hash. */
export interface DecisionPayloadV2 {
  v: 2;
  caller: Caller;
  request: DecisionRequest;
  state: {
    now: number;
    /** `policyHash` of the sealed `decision_policy` this decision was made under. */
    policy: string;
    rate: DecisionState['rate'];
    trusted_keys: Record<string, string[]>;
    human_root_count: number;
    consent: DecisionState['consent'];
    breaker_open: boolean;
    /** An AI caller's delegation chain as resolved, and why it was withdrawn (or null). */
    authority?: DecisionState['authority'];
    /** The caller's governed roles. */
    roles?: DecisionState['roles'];
    /** The standing of each subject the request's effect names (human-override). */
    subjects?: Record<string, SubjectStanding>;
  };
  decision: RecordedDecision;
}

/**
 * What some decisions share besides their policy, sealed once as a `decision_input` record and
 * named by `inputHash`: the consent between an AI caller and its data subject (the same for
 * each of the agent's requests until it changes), and the MCP rule results of an allowed
 * decision (every rule passed: the same six results for each).
 */
export type DecisionInput =
  | { input: 'consent'; value: DecisionState['consent'] }
  | { input: 'mcp_rules'; value: Decision['rules'] };
type InputValues = { consent: DecisionState['consent']; mcp_rules: Decision['rules'] };

/**
 * Version 3: version 2 with `state.consent` and `decision.rules` each either inline or the
 * `inputHash` of a sealed `decision_input` (empty consent, and the rules of a denial, inline).
 */
export interface DecisionPayloadV3 {
  v: 3;
  caller: Caller;
  request: DecisionRequest;
  state: Omit<DecisionPayloadV2['state'], 'consent'> & {
    consent: DecisionState['consent'] | string;
  };
  decision: Omit<RecordedDecision, 'rules'> & { rules: RecordedDecision['rules'] | string };
}

/** The payload of a `decision` record, any version (old stores keep versions 1 and 2). */
export type DecisionPayload = DecisionPayloadV1 | DecisionPayloadV2 | DecisionPayloadV3;

/**
 * What a decision record says was decided, any version, inputs named by hash resolved (the
 * fields every reader uses).
 */
export type SealedDecision = Decision | RecordedDecision;

/** The sealed decision's trust score, either version. */
export function sealedScore(d: Decision | { score: number | null }): number | null {
  return 'score' in d ? d.score : (d.trust?.score ?? null);
}

function trustedKeysToJson(keys: TrustedKeys): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [did, list] of keys) out[did] = list.map((k) => toBase64Url(k));
  return out;
}

/**
 * The value without `undefined` members (optional fields left unset), which JCS would refuse:
 * the value itself where it has none (most of a decision), a copy of each object that has one
 * or holds one that does. Only plain data reaches here: decide()'s output and the inputs it
 * read, canonicalised (and copied) by the append before anything can change them.
 */
function plain<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const member = plain(value[i] as unknown);
      if (member !== value[i]) (out ??= value.slice())[i] = member;
    }
    return (out ?? value) as T;
  }
  const obj = value as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(obj)) {
    const member = obj[key];
    if (member === undefined) {
      out ??= { ...obj };
      delete out[key];
      continue;
    }
    const kept = plain(member);
    if (kept !== member) (out ??= { ...obj })[key] = kept;
  }
  return (out ?? value) as T;
}

/** The policy decide() applied under `state` (everything a decision shares with others). */
export function decisionPolicy(state: DecisionState): DecisionPolicy {
  return {
    constitution: CONSTITUTION_HASH,
    model: modelHash(state.model),
    flags: { ...state.flags },
    system_critical: [...state.systemCritical].sort(),
    mode: state.mode,
    threshold: state.threshold,
  };
}

/** Hex SHA-256 of a policy's canonical JSON: how decision records name it. */
export function policyHash(policy: DecisionPolicy): string {
  return sha256Hex(canonicalJson(policy as unknown as JsonValue));
}

/** Hex SHA-256 of an input's canonical JSON: how decision records name it. */
export function inputHash(input: DecisionInput): string {
  return sha256Hex(canonicalJson(plain(input) as unknown as JsonValue));
}

/** The `decision_input` hashes a version 3 record names instead of carrying the input inline. */
export interface InputRefs {
  consent?: string;
  rules?: string;
}

/** The `when` condition's step inputs (its hash and result), when a condition was evaluated. */
function conditionOf(decision: Decision): RecordedDecision['condition'] {
  return decision.steps.find((s) => s.step === 'condition')?.inputs;
}

/** What a version 2 record keeps of `decision` (replay compares a re-run with exactly this). */
export function recordedDecision(decision: Decision): RecordedDecision {
  const condition = conditionOf(decision);
  // Members in canonical (sorted) order: the append's canonicalisation then sorts nothing.
  return plain({
    code: decision.code,
    ...(condition !== undefined ? { condition } : {}),
    effective_loa: decision.effective_loa,
    mode: decision.mode,
    reason: decision.reason,
    requires_quorum: decision.requires_quorum,
    ...(decision.retry_after_ms !== undefined ? { retry_after_ms: decision.retry_after_ms } : {}),
    rules: decision.rules,
    score: decision.trust?.score ?? null,
    verdict: decision.verdict,
    violations: decision.violations,
    would_deny: decision.would_deny,
  });
}

/**
 * Builds the record payload for a decision made under the sealed policy `policy` (its
 * `policyHash`) from the inputs particular to it, those in `refs` named by their sealed hash.
 */
export function decisionPayload(
  caller: Caller,
  request: DecisionRequest,
  state: DecisionState,
  decision: Decision,
  policy: string,
  refs: InputRefs = {},
): DecisionPayloadV3 & JsonValue {
  const recorded = recordedDecision(decision);
  // Members in canonical (sorted) order, as in recordedDecision.
  return plain({
    caller,
    decision: refs.rules === undefined ? recorded : { ...recorded, rules: refs.rules },
    request,
    state: {
      ...(state.authority ? { authority: state.authority } : {}),
      breaker_open: state.breakerOpen === true,
      consent: refs.consent ?? state.consent,
      human_root_count: state.humanRootCount,
      now: state.now,
      policy,
      rate: state.rate,
      ...(state.roles && state.roles.length > 0 ? { roles: state.roles } : {}),
      ...(state.subjects.size > 0 ? { subjects: Object.fromEntries(state.subjects) } : {}),
      trusted_keys: trustedKeysToJson(state.trustedKeys),
    },
    v: 3,
  }) as DecisionPayloadV3 & JsonValue;
}

const modelHashes = new WeakMap<TrustModel, string>();

/** Hex SHA-256 of a trust model's canonical JSON: how decision records name their model. */
export function modelHash(model: TrustModel): string {
  let hash = modelHashes.get(model);
  if (hash === undefined) {
    hash = sha256Hex(canonicalJson(model));
    modelHashes.set(model, hash);
  }
  return hash;
}

/** The defaults, current and earlier, by hash: a decision made under any of them replays. */
const DEFAULT_MODELS = new Map(
  [DEFAULT_TRUST_MODEL, DEFAULT_TRUST_MODEL_V1].map((m) => [modelHash(m), m] as const),
);

let replayKernel: Kernel | undefined;

/**
 * The sealed things a decision names by hash: uploaded trust models, decision policies and
 * decision inputs (each keyed by the hash of its content, computed by the reader, never read).
 */
export interface SealedInputs {
  models?: ReadonlyMap<string, TrustModel>;
  policies?: ReadonlyMap<string, DecisionPolicy>;
  inputs?: ReadonlyMap<string, DecisionInput>;
}

/**
 * The input of kind `input` a version 3 record names by `hash` ('replay_unsupported' when this
 * log holds none of that kind under that hash), or the inline value it carries.
 */
function resolved<K extends keyof InputValues>(
  value: string | InputValues[K],
  input: K,
  sealed: SealedInputs,
): InputValues[K] {
  if (typeof value !== 'string') return value as InputValues[K];
  const found = sealed.inputs?.get(value);
  if (found?.input !== input) {
    throw new SigilError(
      'replay_unsupported',
      `decision input ${value} (${input}) is not sealed in this log`,
    );
  }
  return found.value as InputValues[K];
}

/** The hashes of the `decision_input` records a version 3 payload names. */
export function namedInputs(payload: DecisionPayload): string[] {
  if (!('v' in payload) || payload.v !== 3) return [];
  return [payload.state.consent, payload.decision.rules].filter(
    (v): v is string => typeof v === 'string',
  );
}

/** The decision a record sealed, the inputs it names by hash resolved from `sealed`. */
export function recordedOf(payload: DecisionPayload, sealed: SealedInputs): SealedDecision {
  if (!('v' in payload) || payload.v !== 3) return payload.decision;
  return { ...payload.decision, rules: resolved(payload.decision.rules, 'mcp_rules', sealed) };
}

/** The shared inputs of a recorded decision, from the record (v1) or its sealed policy (v2, v3). */
function sharedInputs(payload: DecisionPayload, sealed: SealedInputs): DecisionPolicy {
  if ('v' in payload) {
    if (payload.v !== 2 && payload.v !== 3) {
      const v = (payload as { v: unknown }).v;
      throw new SigilError('replay_unsupported', `decision payload version ${String(v)}`);
    }
    const policy = sealed.policies?.get(payload.state.policy);
    if (!policy) {
      throw new SigilError(
        'replay_unsupported',
        `decision policy ${payload.state.policy} is not sealed in this log`,
      );
    }
    return policy;
  }
  const s = payload.state;
  return {
    constitution: s.constitution,
    model: s.model,
    flags: s.flags,
    system_critical: s.system_critical,
    mode: s.mode,
    threshold: s.threshold,
  };
}

/**
 * Re-runs decide() on a frozen decision's recorded inputs, those it names by hash resolved from
 * `sealed` (the default models are always known). Refuses ('replay_unsupported') a record made
 * under another constitution, naming a model, policy or input `sealed` does not hold, or of an
 * unknown payload version.
 */
export function replayDecision(payload: DecisionPayload, sealed: SealedInputs = {}): Decision {
  const policy = sharedInputs(payload, sealed);
  const model = DEFAULT_MODELS.get(policy.model) ?? sealed.models?.get(policy.model);
  if (!model)
    throw new SigilError('replay_unsupported', `trust model ${policy.model} is not known`);
  if (policy.constitution !== CONSTITUTION_HASH) {
    throw new SigilError('replay_unsupported', 'decision was made under another constitution');
  }
  const s = payload.state;
  const consent = resolved(s.consent, 'consent', sealed);
  replayKernel ??= createKernel(CONSTITUTION_BYTES);
  const trustedKeys = new Map(
    Object.entries(s.trusted_keys).map(([did, keys]) => [did, keys.map((k) => fromBase64Url(k))]),
  );
  const state: DecisionState = {
    now: s.now,
    mode: policy.mode,
    threshold: policy.threshold,
    flags: policy.flags,
    model,
    rate: s.rate,
    kernel: replayKernel,
    trustedKeys,
    humanRootCount: s.human_root_count,
    subjects: new Map('subjects' in s && s.subjects ? Object.entries(s.subjects) : []),
    consent: {
      bailments: consent.bailments.map(parseBailment),
      grants: consent.grants.map(parseConsentGrant),
    },
    systemCritical: new Set(policy.system_critical),
    breakerOpen: s.breaker_open,
    ...(s.authority ? { authority: s.authority } : {}),
    ...(s.roles ? { roles: s.roles } : {}),
  };
  return decide(payload.caller, payload.request, state);
}

/**
 * The re-run decision in the shape the record sealed it (the whole decision for version 1, what
 * `recordedDecision` keeps for versions 2 and 3), so it compares field by field with what
 * `recordedOf` resolves: rules named by hash compare by content, as their hash does.
 */
export function asSealed(payload: DecisionPayload, replayed: Decision): SealedDecision {
  return 'v' in payload ? recordedDecision(replayed) : replayed;
}
