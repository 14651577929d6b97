/**
 * The nine constitutional invariants. `enforceAll` evaluates every applicable invariant and
 * returns every violation with its evidence.
 *
 * Which invariants apply: five are facts of the request itself and always apply
 * (separation-of-powers, no-self-grant, human-override, kernel-immutability,
 * human-credentials); four depend
 * on the situation, and the runtime names them per request in `context.requires`
 * (`requiredInvariants` gives the standard mapping): consent-required when acting on
 * another subject's data, authority-chain-valid for delegated actions, quorum-legitimate
 * for system changes, provenance-verifiable for AI actors. A situational invariant that is
 * required but whose evidence is missing fails: it is never skipped for lack of evidence.
 */
import { authorityChainProblem, type ChainWithdrawal } from './authority-chain.ts';
import type { Bailment, ConsentGrant, ConsentPurpose } from './consent.ts';
import { evaluateConsent } from './consent.ts';
import { verifyProvenance } from './provenance.ts';
import { quorumProblem } from './quorum-evidence.ts';
import type { SubjectStanding } from './request-facts.ts';
import {
  aiCredentialFindings,
  humanOverrideFindings,
  kernelModificationFindings,
  selfGrantFindings,
} from './request-facts.ts';
import type { Branch, RoleClaim } from './roles.ts';
import { BRANCHES, ROLE_BRANCHES, roleProblem } from './roles.ts';
import type {
  AuthorityLink,
  Did,
  GatekeeperRequest,
  InvariantId,
  Provenance,
  QuorumEvidence,
  TrustedKeys,
  Violation,
} from './types.ts';
import { INVARIANT_IDS } from './types.ts';

/** All nine invariants, in evaluation order. */
export const ALL_INVARIANTS: readonly InvariantId[] = INVARIANT_IDS;

/** Invariants derived from the request itself; they apply to every request. */
export const ALWAYS_APPLY: readonly InvariantId[] = [
  'separation-of-powers',
  'no-self-grant',
  'human-override',
  'kernel-immutability',
  'human-credentials',
];

/** The bailor whose data the request touches, and the registry records to check against. */
export interface ConsentState {
  bailor: Did;
  bailments: readonly Bailment[];
  grants: readonly ConsentGrant[];
  purpose?: ConsentPurpose;
}

/**
 * Everything the invariants are checked against; gathered by the runtime from verified
 * identity and its registries (never from the request body).
 * - `roles`: governed roles held by the actor; `actorPermissions`: what the actor holds;
 * - `trustedKeys`: raw keys per DID from Sigil's registries (authority links, provenance, votes);
 * - `authorityChain`, `provenance`, `quorum`: evidence presented (verified here);
 * - `authorityWithdrawn`: the runtime found the chain revoked, expired, unknown or altered;
 * - `expectedActionHash`: when set, provenance must be for exactly this action (see `actionHash`);
 * - `quorumSubjectHash`: when set, every counted vote's provenance must be for this decision;
 * - `consent`: the data subject (bailor) and the bailment/consent records;
 * - `humanRootCount`, `subjects`: who is a human Root, for human-override;
 * - `now`: ms since epoch; `requires`: the situational invariants that apply.
 */
export interface InvariantContext {
  roles: readonly RoleClaim[];
  actorPermissions: readonly string[];
  trustedKeys: TrustedKeys;
  authorityChain?: readonly AuthorityLink[] | null;
  authorityWithdrawn?: ChainWithdrawal | null;
  provenance?: Provenance | null;
  expectedActionHash?: string;
  quorum?: QuorumEvidence | null;
  quorumSubjectHash?: string;
  consent?: ConsentState | null;
  humanRootCount: number;
  subjects: ReadonlyMap<Did, SubjectStanding>;
  now: number;
  requires: readonly InvariantId[];
}

/** The situation of a request, as the runtime classifies it. */
export interface RequestSituation {
  /** A system-space change (needs a quorum). */
  systemChange: boolean;
  /** The actor acts under a delegation it must prove (e.g. an AI agent, a holon). */
  delegated: boolean;
  /** Whose data the request touches, or null for none. */
  dataSubject: Did | null;
}

/**
 * The standard situational invariants: provenance-verifiable for AI actors, consent-required
 * when the data belongs to someone else, authority-chain-valid when delegated,
 * quorum-legitimate for system changes.
 */
export function requiredInvariants(
  request: Pick<GatekeeperRequest, 'actor' | 'actorSigner'>,
  situation: RequestSituation,
): InvariantId[] {
  const out: InvariantId[] = [];
  if (situation.dataSubject !== null && situation.dataSubject !== request.actor) {
    out.push('consent-required');
  }
  if (situation.delegated) out.push('authority-chain-valid');
  if (situation.systemChange) out.push('quorum-legitimate');
  if (request.actorSigner.type === 'ai') out.push('provenance-verifiable');
  return out;
}

// Which invariants apply is a pure function of the kernel's set and the few situational ids a
// request requires: computed once per combination (a request builds `requires` afresh).
const applicableBySet = new WeakMap<readonly InvariantId[], Map<string, readonly Check[]>>();

type Check = (request: GatekeeperRequest, ctx: InvariantContext) => Violation | null;

/** The invariants of `set` that apply given `requires`, in evaluation order. */
export function applicableInvariants(
  set: readonly InvariantId[],
  requires: readonly InvariantId[],
): InvariantId[] {
  return ALL_INVARIANTS.filter(
    (id) => set.includes(id) && (ALWAYS_APPLY.includes(id) || requires.includes(id)),
  );
}

/** The checks of the invariants of `set` that apply given `requires`, in evaluation order. */
function applicable(
  set: readonly InvariantId[],
  requires: readonly InvariantId[],
): readonly Check[] {
  let bySet = applicableBySet.get(set);
  if (bySet === undefined) {
    bySet = new Map();
    applicableBySet.set(set, bySet);
  }
  // Kept only for a set that cannot change, and for ids that are the fixed names (no commas).
  if (
    !Object.isFrozen(set) ||
    !requires.every((id) => (INVARIANT_IDS as readonly string[]).includes(id))
  ) {
    return applicableInvariants(set, requires).map((id) => CHECKS[id]);
  }
  const key = requires.length === 0 ? '' : requires.join(',');
  let checks = bySet.get(key);
  if (checks === undefined) {
    checks = Object.freeze(applicableInvariants(set, requires).map((id) => CHECKS[id]));
    if (bySet.size < 64) bySet.set(key, checks);
  }
  return checks;
}

function violation(invariant: InvariantId, description: string, evidence: string[]): Violation {
  return { invariant, description, evidence };
}

function separationOfPowers(request: GatekeeperRequest, ctx: InvariantContext): Violation | null {
  const branches = new Set<Branch>();
  for (const [index, role] of ctx.roles.entries()) {
    const problem = roleProblem(role);
    if (problem) {
      return violation('separation-of-powers', problem.message, [
        `actor: ${request.actor}`,
        `role_index: ${index}`,
        `role: ${String(role.name)}`,
        `claimed_branch: ${String(role.branch)}`,
      ]);
    }
    branches.add(ROLE_BRANCHES[role.name as keyof typeof ROLE_BRANCHES]);
  }
  const held = BRANCHES.filter((b) => branches.has(b));
  if (held.length === 3) {
    return violation(
      'separation-of-powers',
      'Actor holds roles in all three branches of government',
      [
        `actor: ${request.actor}`,
        `roles: ${ctx.roles.map((r) => `${r.name}@${r.branch}`).join(',')}`,
      ],
    );
  }
  if (held.length > 1) {
    return violation(
      'separation-of-powers',
      'Actor holds roles in multiple branches of government',
      [`actor: ${request.actor}`, `branches: ${held.join(',')}`],
    );
  }
  return null;
}

function consentRequired(request: GatekeeperRequest, ctx: InvariantContext): Violation | null {
  if (request.permissions.length === 0) return null;
  const state = ctx.consent;
  if (state === null || state === undefined) {
    return violation('consent-required', 'No active bailment for this action', [
      `actor: ${request.actor}`,
      'bailment_state: none',
    ]);
  }
  if (state.bailor === request.actor) return null;
  const result = evaluateConsent({
    bailments: state.bailments,
    grants: state.grants,
    bailor: state.bailor,
    bailee: request.actor,
    permissions: request.permissions,
    ...(state.purpose === undefined ? {} : { purpose: state.purpose }),
    now: ctx.now,
  });
  return result.ok ? null : violation('consent-required', result.description, result.evidence);
}

function noSelfGrant(request: GatekeeperRequest, ctx: InvariantContext): Violation | null {
  const findings = selfGrantFindings(request, ctx.authorityChain ?? []);
  if (findings.length === 0) return null;
  return violation('no-self-grant', 'Actor attempted to expand own permissions', [
    `actor: ${request.actor}`,
    `action: ${request.action}`,
    ...findings,
  ]);
}

function humanOverride(request: GatekeeperRequest, ctx: InvariantContext): Violation | null {
  const findings = humanOverrideFindings(request, {
    humanRootCount: ctx.humanRootCount,
    subjects: ctx.subjects,
  });
  if (findings.length === 0) return null;
  return violation('human-override', 'Human override capability is not preserved', [
    `actor: ${request.actor}`,
    `human_root_count: ${ctx.humanRootCount}`,
    ...findings,
  ]);
}

function kernelImmutability(request: GatekeeperRequest): Violation | null {
  const findings = kernelModificationFindings(request);
  if (findings.length === 0) return null;
  return violation('kernel-immutability', 'Attempted to modify immutable kernel configuration', [
    `actor: ${request.actor}`,
    ...findings,
  ]);
}

function authorityChainValid(request: GatekeeperRequest, ctx: InvariantContext): Violation | null {
  const problem = authorityChainProblem({
    chain: ctx.authorityChain ?? [],
    actor: request.actor,
    actorPermissions: ctx.actorPermissions,
    requested: request.permissions,
    trustedKeys: ctx.trustedKeys,
    withdrawn: ctx.authorityWithdrawn ?? null,
  });
  return problem && violation('authority-chain-valid', problem.description, problem.evidence);
}

function quorumLegitimate(_request: GatekeeperRequest, ctx: InvariantContext): Violation | null {
  const problem = quorumProblem(ctx.quorum, ctx.trustedKeys, ctx.quorumSubjectHash);
  return problem && violation('quorum-legitimate', problem.description, problem.evidence);
}

function provenanceVerifiable(request: GatekeeperRequest, ctx: InvariantContext): Violation | null {
  const prov = ctx.provenance;
  if (prov === null || prov === undefined) {
    return violation('provenance-verifiable', 'No provenance metadata provided', [
      'provenance: none',
    ]);
  }
  const result = verifyProvenance(prov, request.actor, request.actorSigner, ctx.trustedKeys);
  if (!result.ok) return violation('provenance-verifiable', result.description, result.evidence);
  if (ctx.expectedActionHash !== undefined && prov.actionHash !== ctx.expectedActionHash) {
    return violation('provenance-verifiable', 'Provenance is for a different action', [
      `actor: ${request.actor}`,
      `provenance.action_hash: ${prov.actionHash}`,
      `expected_action_hash: ${ctx.expectedActionHash}`,
    ]);
  }
  return null;
}

function humanCredentials(request: GatekeeperRequest): Violation | null {
  const findings = aiCredentialFindings(request);
  if (findings.length === 0) return null;
  return violation('human-credentials', 'An AI actor may not make credentials', [
    `actor: ${request.actor}`,
    `signer: ${request.actorSigner.type}`,
    ...findings,
  ]);
}

const CHECKS: Readonly<Record<InvariantId, Check>> = {
  'separation-of-powers': separationOfPowers,
  'consent-required': consentRequired,
  'no-self-grant': noSelfGrant,
  'human-override': humanOverride,
  'kernel-immutability': kernelImmutability,
  'authority-chain-valid': authorityChainValid,
  'quorum-legitimate': quorumLegitimate,
  'provenance-verifiable': provenanceVerifiable,
  'human-credentials': humanCredentials,
};

/** Checks one invariant regardless of applicability; null when it holds. */
export function checkInvariant(
  id: InvariantId,
  request: GatekeeperRequest,
  context: InvariantContext,
): Violation | null {
  return CHECKS[id](request, context);
}

/**
 * Every violation among the invariants of `set` that apply to this request (the four
 * request-derived ones plus those in `context.requires`), in evaluation order.
 */
export function enforceAll(
  request: GatekeeperRequest,
  context: InvariantContext,
  set: readonly InvariantId[] = ALL_INVARIANTS,
): Violation[] {
  const out: Violation[] = [];
  for (const check of applicable(set, context.requires)) {
    const v = check(request, context);
    if (v) out.push(v);
  }
  return out;
}
