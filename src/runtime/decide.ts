import type { JsonValue } from '../core/canonical.ts';
import { fromBase64Url } from '../core/encoding.ts';
import type { SignerType } from '../core/typed-signature.ts';
import {
  auditParsed as auditMcpRules,
  parseGatekeeperRequest,
  requiredInvariants,
  type AuthorityLink,
  type Bailment,
  type ChainWithdrawal,
  type ConsentGrant,
  type GatekeeperRequest,
  type RoleClaim,
  type AdjudicationContext,
  type Kernel,
  type McpRuleResult,
  type Provenance,
  type QuorumEvidence,
  type RequestEffect,
  type SubjectStanding,
  type TrustedKeys,
  type Violation,
} from '../gatekeeper/index.ts';
import {
  ACTIONS,
  applyEnforcement,
  authorize,
  compileCondition,
  effectiveLoa,
  extractFeatures,
  humanOnlyCode,
  loaAtLeast,
  scoreTrust,
  scopeAllows,
  type EnforcementMode,
  type Feature,
  type FeatureContribution,
  type Loa,
  type PolicyFlags,
  type TakeResult,
  type TrustModel,
} from '../policy/index.ts';
import { ReasoningChain, type ReasoningStep } from './reasoning.ts';

/** Who is asking, as established by authentication (never by the request body). */
export interface Caller {
  subject: string;
  loa: Loa;
  signer: SignerType;
  /** True when a token or license proved the identity. */
  verified: boolean;
  /** `oauth`: a JWT access token the MCP gateway verified against its issuer's JWKS. */
  source: 'token' | 'license' | 'anonymous' | 'oauth';
  scopes?: readonly string[];
  tokenId?: string;
  /** Who issued the caller's token: for an AI caller, the human whose data it acts on. */
  delegatedBy?: string;
  /** When the caller's token expires (epoch ms), or null for never. */
  expiresAt?: number | null;
}

/**
 * The stable code of a kernel refusal; an AI making credentials has its own, and a system
 * change whose only fault is its vote is 'quorum_required'.
 */
function invariantDenialCode(kind: 'denied' | 'escalated', violations: readonly Violation[]) {
  if (violations.some((v) => v.invariant === 'human-credentials')) {
    return 'credential_requires_human';
  }
  if (violations.length > 0 && violations.every((v) => v.invariant === 'quorum-legitimate')) {
    return 'quorum_required';
  }
  return kind === 'escalated' ? 'escalation_required' : 'invariant_violated';
}

/** What is asked. Facts about the request are derived from these fields, never asserted by flags. */
export interface DecisionRequest {
  action: string;
  target: string;
  payload?: JsonValue;
  /** What the request claims about its author; compared with the authenticated caller. */
  claimed?: { subject?: string; signerType?: string; delegationId?: string };
  effect?: RequestEffect;
  provenance?: Provenance | null;
  /** A risk from trusted policy (the gateway's tool table), never from a request body. */
  declaredRisk?: number;
  /**
   * The trusted policy row that governs this request (the gateway's tool table): `rule` null
   * means no row matched (default deny); otherwise the row's least LOA and required scope.
   */
  policy?: {
    rule: string | null;
    minLoa?: Loa;
    scope?: string;
    /** The gateway refused the request's target before any row applied (an unsafe URI). */
    refusal?: { code: string; reason: string };
    /** The row's CEL condition, over the payload (`args`), the caller and `tool`. */
    when?: { expression: string; tool: { name: string; upstream: string; kind: string } };
  };
  /** The subject whose data the request touches, when it is not the caller's own. */
  dataSubject?: string | null;
  /** Whether the results this request produces are marked as AI-mediated by Sigil. */
  outputMarking?: 'gateway' | 'none';
  /**
   * A system change's quorum evidence, built by the runtime from the proposal's sealed votes
   * (never from a request body): the votes, the hash each must name, and the witness keys the
   * electorate trusts. Its presence (or the action `system.commit`) makes the request a system
   * change, so the kernel adjudicates quorum-legitimate.
   */
  quorum?: {
    evidence: QuorumEvidence;
    subject_hash: string;
    trusted_keys: Record<string, string[]>;
  };
}

/** Actions that apply a system change: the kernel judges their quorum evidence. */
const SYSTEM_CHANGE_ACTIONS: ReadonlySet<string> = new Set(['system.commit']);

/** Everything decide() needs besides the request; gathered by the runtime. */
export interface DecisionState {
  now: number;
  mode: EnforcementMode;
  threshold: number;
  flags: PolicyFlags;
  model: TrustModel;
  /** The caller's rate-limit bucket, taken by the runtime before deciding. */
  rate: TakeResult;
  kernel: Kernel;
  trustedKeys: TrustedKeys;
  humanRootCount: number;
  subjects: ReadonlyMap<string, SubjectStanding>;
  consent: { bailments: readonly Bailment[]; grants: readonly ConsentGrant[] };
  /** Actions whose effect is a system change: allowed only as a quorum proposal. */
  systemCritical: ReadonlySet<string>;
  /** The governance monitor's circuit breaker has tripped: AI actors are stopped. */
  breakerOpen?: boolean;
  /**
   * An AI caller's delegation as the runtime resolved it from the log: the signed chain and,
   * when it is no longer in force, why. Absent for an AI caller = no chain at all.
   */
  authority?: { chain: readonly AuthorityLink[]; withdrawn: ChainWithdrawal | null } | null;
  /** The governed roles the caller holds, from the `roles` view (separation-of-powers). */
  roles?: readonly RoleClaim[];
  /**
   * The request's MCP action hash, when the runtime computed it to sign Sigil's own provenance
   * in the same synchronous step as this decision (not sealed: replay computes it again).
   */
  actionHash?: string;
}

export interface Decision {
  verdict: 'allow' | 'deny';
  /** The stable denial code (null when allowed). */
  code: string | null;
  reason: string;
  mode: EnforcementMode;
  threshold: number;
  /** Passive mode: the trust threshold would have denied. */
  would_deny: boolean;
  effective_loa: Loa;
  trust: {
    score: number;
    logit: number;
    contributions: Record<Feature, FeatureContribution>;
  } | null;
  rules: McpRuleResult[];
  violations: Violation[];
  /** Allowed only as a proposal that needs the witness quorum before it takes effect. */
  requires_quorum: boolean;
  retry_after_ms?: number;
  steps: readonly ReasoningStep[];
}

type DecisionBase = Omit<Decision, 'verdict' | 'code' | 'reason' | 'steps'>;

/**
 * The decision as a literal of one shape: spreading `base` into each result cost more than the
 * rest of a human decision (V8's object-spread path, profiled).
 */
function finish(
  base: DecisionBase,
  verdict: Decision['verdict'],
  code: string | null,
  reason: string,
  steps: readonly ReasoningStep[],
): Decision {
  return {
    verdict,
    code,
    reason,
    mode: base.mode,
    threshold: base.threshold,
    would_deny: base.would_deny,
    effective_loa: base.effective_loa,
    trust: base.trust,
    rules: base.rules,
    violations: base.violations,
    requires_quorum: base.requires_quorum,
    steps,
  };
}

function deny(chain: ReasoningChain, base: DecisionBase, code: string, reason: string): Decision {
  return finish(base, 'deny', code, reason, chain.freeze());
}

// The reason an allowed score gives, per score: formatting it (toFixed) was a fifth of a human
// decision's own time, and the scores of a caller's requests repeat. Bounded, cleared when full.
const MEETS_MAX = 1024;
let meetsThreshold = Number.NaN;
const meetsByScore = new Map<number, string>();

function meetsReason(score: number, threshold: number): string {
  if (threshold !== meetsThreshold || meetsByScore.size >= MEETS_MAX) {
    meetsByScore.clear();
    meetsThreshold = threshold;
  }
  let reason = meetsByScore.get(score);
  if (reason === undefined) {
    reason = `trust ${score.toFixed(4)} meets threshold ${threshold}`;
    meetsByScore.set(score, reason);
  }
  return reason;
}

/** A human signer is exempt from the MCP rules: the same step every time. */
const HUMAN_EXEMPT_STEP: ReasoningStep = Object.freeze({
  step: 'mcp_rules',
  verdict: 'skip',
  reason: 'human signer: exempt',
  inputs: Object.freeze({}),
});

/** Every MCP rule passed: the same step every time. */
const MCP_PASS_STEP: ReasoningStep = Object.freeze({
  step: 'mcp_rules',
  verdict: 'pass',
  reason: 'all six rules pass',
  inputs: Object.freeze({}),
});

// Frozen: shared by every decision that misses no feature.
const NONE_MISSING = Object.freeze([]) as unknown as Feature[];
const NO_ROLES: readonly RoleClaim[] = Object.freeze([]);

/** The actions a caller at `loa` whose token carries `scopes` may perform under `flags`. */
export function heldActions(
  loa: Loa,
  scopes: readonly string[] | undefined,
  flags: PolicyFlags,
): string[] {
  return [...held(loa, scopes, flags)];
}

// Both lists below are pure functions of a few strings that repeat across an agent's requests
// (its LOA, token scopes, delegated permissions, the flags): computed once per distinct input.
// Bounded (cleared when full), so hostile input cannot grow them.
const LIST_CACHE_MAX = 1024;
const heldByInput = new Map<string, readonly string[]>();
const scopeByInput = new Map<string, string | null>();

function remember<T>(cache: Map<string, T>, key: string, make: () => T): T {
  const hit = cache.get(key);
  if (hit !== undefined || cache.has(key)) return hit as T;
  const value = make();
  if (cache.size >= LIST_CACHE_MAX) cache.clear();
  cache.set(key, value);
  return value;
}

// A list's JSON text, kept per array while its content is unchanged: the same token's scopes
// and delegation's permissions come back with every request, and JSON keeps keys unambiguous.
const listText = new WeakMap<readonly string[], { copy: readonly string[]; text: string }>();

function listKey(list: readonly string[] | undefined): string {
  if (list === undefined) return 'null';
  const hit = listText.get(list);
  if (
    hit !== undefined &&
    hit.copy.length === list.length &&
    hit.copy.every((v, i) => v === list[i])
  ) {
    return hit.text;
  }
  const text = JSON.stringify(list);
  listText.set(list, { copy: [...list], text });
  return text;
}

function held(
  loa: Loa,
  scopes: readonly string[] | undefined,
  flags: PolicyFlags,
): readonly string[] {
  // The LOA is one of five names and each flag one character: the list's JSON ends the key.
  const key = `${loa}:${flags.allow_operator_canon_write ? 1 : 0}${flags.allow_admin_export ? 1 : 0}:${listKey(scopes)}`;
  return remember(heldByInput, key, () =>
    Object.freeze(
      ACTIONS.filter((a) => authorize(loa, a, flags).allowed && scopeAllows(scopes, a)),
    ),
  );
}

/**
 * The scope an AI caller declares, as the MCP scope rule reads it: the matrix actions its
 * delegation hands it (the last link of its chain) that its token's scopes allow, by name
 * (token scopes may be prefixes such as `memory.*`, which the rule's tokeniser does not expand).
 * Without a chain, the token's scopes alone; without either, none.
 */
function declaredScope(
  scopes: readonly string[] | undefined,
  delegated: readonly string[] | undefined,
): string | null {
  if ((scopes === undefined || scopes.length === 0) && delegated === undefined) return null;
  return remember(scopeByInput, `${listKey(scopes)}|${listKey(delegated)}`, () => {
    const actions = ACTIONS.filter(
      (a) => scopeAllows(scopes, a) && (delegated === undefined || delegated.includes(a)),
    );
    return actions.length > 0 ? actions.join(',') : null;
  });
}

/** Why a trusted policy row refuses a caller at `loa` with `scopes`, or null when it permits. */
export function policyRefusal(
  policy: NonNullable<DecisionRequest['policy']>,
  loa: Loa,
  scopes: readonly string[] | undefined,
): { code: string; reason: string } | null {
  if (policy.refusal !== undefined) return policy.refusal;
  if (policy.rule === null)
    return { code: 'tool_not_allowed', reason: 'no policy row allows this' };
  if (policy.minLoa !== undefined && !loaAtLeast(loa, policy.minLoa)) {
    return {
      code: 'loa_insufficient',
      reason: `policy ${policy.rule} needs ${policy.minLoa}; caller has ${loa}`,
    };
  }
  if (policy.scope !== undefined && !scopeAllows(scopes, policy.scope)) {
    return {
      code: 'scope_denied',
      reason: `policy ${policy.rule} needs token scope ${policy.scope}`,
    };
  }
  return null;
}

/** The caller as a `when` condition sees it. */
function conditionCaller(caller: Caller, loa: Loa): JsonValue {
  return {
    subject: caller.subject,
    loa,
    signer: caller.signer.type,
    delegation: caller.signer.type === 'ai' ? caller.signer.delegationId : null,
    source: caller.source,
    scopes: [...(caller.scopes ?? [])],
  };
}

/** Evaluates a row's condition (sealed as its hash and result); why it refuses, or null. */
function conditionRefusal(
  caller: Caller,
  loa: Loa,
  request: DecisionRequest,
  when: NonNullable<NonNullable<DecisionRequest['policy']>['when']>,
  chain: ReasoningChain,
): { code: string; reason: string } | null {
  let hash: string | null = null;
  let outcome: { ok: true; value: boolean } | { ok: false; error: string };
  try {
    const condition = compileCondition(when.expression);
    hash = condition.hash;
    outcome = condition.evaluate({
      args: request.payload ?? {},
      caller: conditionCaller(caller, loa),
      tool: when.tool,
    });
  } catch (err) {
    outcome = { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  const inputs = {
    rule: request.policy?.rule ?? null,
    when_hash: hash,
    when_result: outcome.ok ? outcome.value : null,
    ...(outcome.ok ? {} : { when_error: outcome.error }),
  };
  if (outcome.ok && outcome.value) {
    chain.add({ step: 'condition', verdict: 'pass', reason: 'when condition holds', inputs });
    return null;
  }
  const refusal = outcome.ok
    ? { code: 'policy_condition_false', reason: `policy ${inputs.rule}: when condition is false` }
    : {
        code: 'policy_condition_error',
        reason: `policy ${inputs.rule}: when condition failed (${outcome.error})`,
      };
  chain.add({ step: 'condition', verdict: 'fail', reason: refusal.reason, inputs });
  return refusal;
}

/**
 * Adjudicates one request: authenticate → LOA permission → rate limit → MCP rules (AI actors)
 * → invariants (kernel) → trust threshold (mode) → quorum for system-critical actions.
 * Pure: everything comes from the arguments. The first failure denies; any exception denies
 * with 'internal_deny'.
 */
export function decide(caller: Caller, request: DecisionRequest, state: DecisionState): Decision {
  const chain = new ReasoningChain();
  const loa = effectiveLoa(state.mode, caller.loa, caller.verified);
  const base: DecisionBase = {
    mode: state.mode,
    threshold: state.threshold,
    would_deny: false,
    effective_loa: loa,
    trust: null,
    rules: [],
    violations: [],
    requires_quorum: false,
  };
  try {
    return decideSteps(caller, request, state, chain, base);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (!chain.frozen) {
      chain.add({ step: 'error', verdict: 'fail', reason: message, inputs: {} });
    }
    return finish(base, 'deny', 'internal_deny', message, chain.freeze());
  }
}

function decideSteps(
  caller: Caller,
  request: DecisionRequest,
  state: DecisionState,
  chain: ReasoningChain,
  base: DecisionBase,
): Decision {
  const loa = base.effective_loa;
  chain.add({
    step: 'authenticate',
    verdict: caller.verified ? 'pass' : 'warn',
    reason: caller.verified ? `authenticated by ${caller.source}` : 'unauthenticated caller',
    inputs: { subject: caller.subject, source: caller.source, loa: caller.loa, effective_loa: loa },
  });

  const permission = authorize(loa, request.action, state.flags);
  if (!permission.allowed) {
    const reason = `${request.action} needs ${permission.required ?? 'a known action'}; caller has ${loa}`;
    chain.add({
      step: 'permission',
      verdict: 'fail',
      reason,
      inputs: { action: request.action, loa },
    });
    return deny(chain, base, permission.code, reason);
  }
  chain.add({
    step: 'permission',
    verdict: 'pass',
    reason: 'permitted',
    inputs: { action: request.action, loa },
  });

  const humanOnly = caller.signer.type === 'human' ? undefined : humanOnlyCode(request.action);
  if (humanOnly !== undefined) {
    const reason = `${request.action} is a human's decision; an AI signer may not make it`;
    chain.add({ step: 'signer', verdict: 'fail', reason, inputs: { signer: caller.signer.type } });
    return deny(chain, base, humanOnly, reason);
  }

  if (!scopeAllows(caller.scopes, request.action)) {
    const reason = `token scope does not include ${request.action}`;
    chain.add({
      step: 'scope',
      verdict: 'fail',
      reason,
      inputs: { scopes: [...(caller.scopes ?? [])] },
    });
    return deny(chain, base, 'scope_denied', reason);
  }

  if (request.policy !== undefined) {
    const refusal = policyRefusal(request.policy, loa, caller.scopes);
    const inputs = {
      rule: request.policy.rule,
      min_loa: request.policy.minLoa ?? null,
      scope: request.policy.scope ?? null,
    };
    if (refusal) {
      chain.add({ step: 'policy', verdict: 'fail', reason: refusal.reason, inputs });
      return deny(chain, base, refusal.code, refusal.reason);
    }
    chain.add({ step: 'policy', verdict: 'pass', reason: 'policy row permits', inputs });
    if (request.policy.when !== undefined) {
      const refused = conditionRefusal(caller, loa, request, request.policy.when, chain);
      if (refused) return deny(chain, base, refused.code, refused.reason);
    }
  }

  if (!state.rate.allowed) {
    const reason = `rate limit exceeded; retry after ${state.rate.retryAfterMs} ms`;
    chain.add({
      step: 'rate_limit',
      verdict: 'fail',
      reason,
      inputs: { pressure: state.rate.pressure },
    });
    const limited = deny(chain, base, 'rate_limited', reason);
    limited.retry_after_ms = state.rate.retryAfterMs;
    return limited;
  }
  chain.add({
    step: 'rate_limit',
    verdict: 'pass',
    reason: 'within limit',
    inputs: { pressure: state.rate.pressure },
  });

  // Literals rather than conditional spreads: V8's spread path cost more than the step itself.
  const gkRequest: GatekeeperRequest =
    request.payload !== undefined
      ? {
          actor: caller.subject,
          actorSigner: caller.signer,
          action: request.action,
          target: request.target,
          permissions: [request.action],
          payload: request.payload,
        }
      : {
          actor: caller.subject,
          actorSigner: caller.signer,
          action: request.action,
          target: request.target,
          permissions: [request.action],
        };
  if (request.effect) gkRequest.effect = request.effect;
  // Parsed once here ('invalid_request' denies as internal_deny), for the rules and the kernel.
  const parsed = parseGatekeeperRequest(gkRequest);

  if (caller.signer.type === 'ai' && state.breakerOpen === true) {
    const reason = 'governance circuit breaker is open: AI actors are stopped';
    chain.add({ step: 'breaker', verdict: 'fail', reason, inputs: {} });
    return deny(chain, base, 'breaker_open', reason);
  }
  if (caller.signer.type === 'ai') {
    const dataSubject = request.dataSubject ?? null;
    const rules = auditMcpRules({
      request: parsed,
      scope: declaredScope(caller.scopes, state.authority?.chain.at(-1)?.permissions),
      ...(request.claimed ? { claimed: request.claimed } : {}),
      provenance: request.provenance ?? null,
      ...(state.actionHash === undefined ? {} : { actionHash: state.actionHash }),
      output: request.outputMarking ?? 'none',
      consent: {
        bailor: dataSubject,
        bailments: state.consent.bailments,
        grants: state.consent.grants,
        now: state.now,
      },
    });
    base.rules = rules;
    const failed = rules.find((r) => !r.passed);
    if (failed) {
      const reason = `${failed.rule}: ${failed.description}`;
      chain.add({
        step: 'mcp_rules',
        verdict: 'fail',
        reason,
        inputs: { rule: failed.rule, evidence: failed.evidence },
      });
      return deny(chain, base, 'mcp_rule_violated', reason);
    }
    chain.add(MCP_PASS_STEP);
  } else {
    chain.add(HUMAN_EXEMPT_STEP);
  }

  // Every AI request acts under a delegation: its chain is adjudicated, never assumed.
  const delegated = caller.signer.type === 'ai';
  const systemChange = SYSTEM_CHANGE_ACTIONS.has(request.action) || request.quorum !== undefined;
  // A vote is judged only under the electorate's witness keys, never the keys Sigil trusts
  // for the caller: Sigil's own provenance key must not vote.
  const voteKeys =
    request.quorum === undefined
      ? null
      : new Map(
          Object.entries(request.quorum.trusted_keys).map(([did, keys]) => [
            did,
            keys.map((k) => fromBase64Url(k)),
          ]),
        );
  const requires = requiredInvariants(parsed, {
    systemChange,
    delegated,
    dataSubject: request.dataSubject ?? null,
  });
  const context: AdjudicationContext = {
    roles: state.roles ?? NO_ROLES,
    actorPermissions: delegated ? held(loa, caller.scopes, state.flags) : parsed.permissions,
    trustedKeys: systemChange ? (voteKeys ?? new Map()) : state.trustedKeys,
    authorityChain: state.authority?.chain ?? null,
    authorityWithdrawn: state.authority?.withdrawn ?? null,
    provenance: request.provenance ?? null,
    consent: request.dataSubject
      ? {
          bailor: request.dataSubject,
          bailments: state.consent.bailments,
          grants: state.consent.grants,
        }
      : null,
    humanRootCount: state.humanRootCount,
    subjects: state.subjects,
    now: state.now,
    requires,
  };
  // Assigned, not spread: V8's spread path cost more than the step itself.
  if (systemChange) {
    context.quorum = request.quorum?.evidence ?? null;
    context.quorumSubjectHash = request.quorum?.subject_hash ?? '';
  }
  const verdict = state.kernel.adjudicateParsed(parsed, context);
  if (verdict.kind !== 'permitted') {
    const violations = 'violations' in verdict ? [...verdict.violations] : [];
    base.violations = violations;
    const code = invariantDenialCode(verdict.kind, violations);
    const reason =
      code === 'quorum_required'
        ? `quorum not satisfied: ${violations.map((v) => [v.description, ...v.evidence.slice(0, 2)].join('; ')).join('; ')}`
        : verdict.kind === 'escalated'
          ? `escalated: ${verdict.reason}`
          : violations.map((v) => `${v.invariant}: ${v.description}`).join('; ');
    chain.add({
      step: 'invariants',
      verdict: 'fail',
      reason,
      inputs: { invariants: violations.map((v) => v.invariant) },
    });
    return deny(chain, base, code, reason);
  }
  chain.add({
    step: 'invariants',
    verdict: 'pass',
    reason: 'kernel permitted',
    inputs: { requires },
  });

  const features = extractFeatures(
    {
      action: request.action,
      target: request.target,
      payload: request.payload,
      loa,
      ratePressure: state.rate.pressure,
      declaredRisk: request.declaredRisk,
    },
    state.model,
  );
  const score = scoreTrust(state.model, features.values);
  base.trust = { score: score.score, logit: score.logit, contributions: score.contributions };
  const enforcement = applyEnforcement(state.mode, {
    score: score.score,
    threshold: state.threshold,
    featureErrors: features.missing,
  });
  base.would_deny = state.mode === 'passive' && enforcement.wouldDeny;
  const trustInputs = {
    score: score.score,
    threshold: state.threshold,
    missing: features.missing.length === 0 ? NONE_MISSING : [...features.missing],
  };
  if (enforcement.verdict === 'deny') {
    const reason =
      enforcement.code === 'feature_missing'
        ? `strict mode: missing features ${features.missing.join(', ')}`
        : `trust ${score.score.toFixed(4)} below threshold ${state.threshold}`;
    chain.add({ step: 'trust', verdict: 'fail', reason, inputs: trustInputs });
    return deny(chain, base, enforcement.code ?? 'trust_below_threshold', reason);
  }
  chain.add({
    step: 'trust',
    verdict: base.would_deny ? 'warn' : 'pass',
    reason: base.would_deny
      ? `passive mode: would deny (trust ${score.score.toFixed(4)} below ${state.threshold})`
      : meetsReason(score.score, state.threshold),
    inputs: trustInputs,
  });

  if (state.systemCritical.has(request.action)) {
    base.requires_quorum = true;
    chain.add({
      step: 'quorum',
      verdict: 'warn',
      reason: 'system change: needs Root + witness quorum',
      inputs: {},
    });
  }
  return finish(base, 'allow', null, 'allowed', chain.freeze());
}
