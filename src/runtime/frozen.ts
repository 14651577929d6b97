/**
 * Freezing a decision: the `decision` record payload holds every input decide() read, so
 * anyone holding the log can re-run decide() on it and get the same verdict (replay).
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

/** The payload of a `decision` record. */
export interface DecisionPayload {
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
    /** An AI caller's delegation chain as resolved, and why it was withdrawn (or null). */
    authority?: DecisionState['authority'];
    /** The caller's governed roles. */
    roles?: DecisionState['roles'];
  };
  decision: Decision;
}

function trustedKeysToJson(keys: TrustedKeys): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [did, list] of keys) out[did] = list.map((k) => toBase64Url(k));
  return out;
}

/**
 * A copy without `undefined` members (optional fields left unset), which JCS would refuse.
 * Only plain data reaches here: decide()'s output and the inputs it read.
 */
function plain<T>(value: T): T {
  if (Array.isArray(value)) return value.map(plain) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) {
    if (member !== undefined) out[key] = plain(member);
  }
  return out as T;
}

/** Builds the record payload for a decision and the inputs it was made from. */
export function decisionPayload(
  caller: Caller,
  request: DecisionRequest,
  state: DecisionState,
  decision: Decision,
): DecisionPayload & JsonValue {
  return plain({
    caller,
    request,
    state: {
      now: state.now,
      mode: state.mode,
      threshold: state.threshold,
      flags: state.flags,
      model: modelHash(state.model),
      rate: state.rate,
      constitution: CONSTITUTION_HASH,
      trusted_keys: trustedKeysToJson(state.trustedKeys),
      human_root_count: state.humanRootCount,
      consent: state.consent,
      system_critical: [...state.systemCritical].sort(),
      breaker_open: state.breakerOpen === true,
      ...(state.authority ? { authority: state.authority } : {}),
      ...(state.roles && state.roles.length > 0 ? { roles: state.roles } : {}),
    },
    decision,
  }) as DecisionPayload & JsonValue;
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
 * Re-runs decide() on a frozen decision's recorded inputs. `models` resolves the hashes of
 * uploaded trust models (the defaults are always known). Refuses ('replay_unsupported') a
 * record made under another constitution or an unknown model.
 */
export function replayDecision(
  payload: DecisionPayload,
  models: ReadonlyMap<string, TrustModel> = new Map(),
): Decision {
  const resolveModel = (hash: string): TrustModel => {
    const model = DEFAULT_MODELS.get(hash) ?? models.get(hash);
    if (!model) throw new SigilError('replay_unsupported', `trust model ${hash} is not known`);
    return model;
  };
  const s = payload.state;
  if (s.constitution !== CONSTITUTION_HASH) {
    throw new SigilError('replay_unsupported', 'decision was made under another constitution');
  }
  replayKernel ??= createKernel(CONSTITUTION_BYTES);
  const trustedKeys = new Map(
    Object.entries(s.trusted_keys).map(([did, keys]) => [did, keys.map((k) => fromBase64Url(k))]),
  );
  const state: DecisionState = {
    now: s.now,
    mode: s.mode,
    threshold: s.threshold,
    flags: s.flags,
    model: resolveModel(s.model),
    rate: s.rate,
    kernel: replayKernel,
    trustedKeys,
    humanRootCount: s.human_root_count,
    subjects: new Map(),
    consent: {
      bailments: s.consent.bailments.map(parseBailment),
      grants: s.consent.grants.map(parseConsentGrant),
    },
    systemCritical: new Set(s.system_critical),
    breakerOpen: s.breaker_open,
    ...(s.authority ? { authority: s.authority } : {}),
    ...(s.roles ? { roles: s.roles } : {}),
  };
  return decide(payload.caller, payload.request, state);
}
