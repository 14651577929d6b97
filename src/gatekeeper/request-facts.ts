/**
 * Facts derived from a request rather than asserted by it: does it grant the actor more
 * standing (self-grant), alter the kernel or constitution, or weaken the human ability to
 * stop things (the last human Root, the halt path)? Each function returns evidence lines;
 * an empty list means the fact does not hold. Unknown verbs on protected targets count as
 * modifications, and a granting action that names no beneficiary counts as a self-grant:
 * what cannot be shown harmless is treated as harmful.
 */
import type { JsonValue } from '../core/canonical.ts';
import type { AuthorityLink, Did, GatekeeperRequest, GrantEffect } from './types.ts';
import { memoizeString } from './memo.ts';

/** Actions that hand out standing; the payload fields naming who receives it. */
export const GRANTING_ACTIONS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'token.create': ['subject'],
  'token.issue': ['subject'],
  'license.generate': ['owner', 'subject'],
  'license.create': ['owner', 'subject'],
  'witness.register': ['did', 'witnessId', 'witness_id', 'subject'],
  'consent.grant': ['bailee', 'grantedTo', 'granted_to'],
  'bailment.create': ['bailee'],
  'delegation.create': ['grantee'],
  'role.assign': ['subject', 'grantee'],
  'permission.grant': ['subject', 'grantee'],
  'loa.raise': ['subject'],
});

/** Verbs that hand out standing whatever the namespace; their beneficiary is `grantee` or `subject`. */
export const GRANTING_VERBS: ReadonlySet<string> = new Set([
  'grant',
  'delegate',
  'assign',
  'elevate',
  'promote',
  'escalate',
  'raise',
]);

/** Verbs that only observe; any other verb on a kernel or halt-path target modifies it. */
export const READ_ONLY_VERBS: ReadonlySet<string> = new Set([
  'read',
  'get',
  'list',
  'view',
  'inspect',
  'status',
  'query',
  'check',
  'verify',
]);

/** Verbs that use the halt path (stop things, or re-arm and decide on the gates) rather than alter it. */
export const HALT_PATH_USE_VERBS: ReadonlySet<string> = new Set([
  ...READ_ONLY_VERBS,
  'halt',
  'stop',
  'suspend',
  'terminate',
  'trip',
  'engage',
  'invoke',
  'trigger',
  'approve',
  'reject',
  'reset',
]);

/**
 * Action namespaces whose acts make credentials: tokens, licenses, witness keys. A delegation
 * is not one: an agent's onward delegation only passes on part of its own signed chain (never
 * wider: no-self-grant; at most five links: authority-chain-valid), and a token on it is still
 * minted by a human.
 */
export const CREDENTIAL_NAMESPACES: ReadonlySet<string> = new Set([
  'token',
  'tokens',
  'license',
  'licenses',
  'witness',
  'witnesses',
  'credential',
  'credentials',
]);
/** Verbs in a credential namespace that make nothing: they observe, check or withdraw. */
export const NON_MINTING_VERBS: ReadonlySet<string> = new Set([
  ...READ_ONLY_VERBS,
  'validate',
  'revoke',
]);
/** Actions that grant consent: a credential for someone else's data unless the actor is the bailor. */
export const CONSENT_GRANTING_ACTIONS: ReadonlySet<string> = new Set([
  'consent.grant',
  'bailment.create',
]);

/** Target prefixes of the kernel's configuration and the constitution. */
export const KERNEL_TARGETS: readonly string[] = [
  'kernel',
  'constitution',
  'gatekeeper/kernel',
  'gatekeeper/invariants',
  'system/kernel',
  'system/constitution',
];
/** Action namespaces that address the kernel. */
export const KERNEL_NAMESPACES: ReadonlySet<string> = new Set([
  'kernel',
  'constitution',
  'invariant',
  'invariants',
]);

/** Target prefixes of the halt path: the stop switches, the circuit breaker, the approval gate. */
export const HALT_PATH_TARGETS: readonly string[] = [
  'system/halt',
  'holon/halt',
  'holons/halt',
  'gatekeeper/breaker',
  'gatekeeper/approval-gate',
  'monitor/breaker',
  'monitor/approval-gate',
];
/** Action namespaces that address the halt path. */
export const HALT_PATH_NAMESPACES: ReadonlySet<string> = new Set([
  'halt',
  'breaker',
  'circuit-breaker',
  'approval-gate',
]);

/** The standing of a subject an effect touches, as the runtime's registries know it. */
export interface SubjectStanding {
  loa: string;
  human: boolean;
}

/** What the runtime knows about human Roots, for the human-override invariant. */
export interface RootStanding {
  humanRootCount: number;
  subjects: ReadonlyMap<Did, SubjectStanding>;
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** What the facts below read of an action, worked out once per distinct action. */
interface ActionParts {
  /** Trimmed and ASCII-lowercased. */
  readonly normal: string;
  readonly verb: string;
  readonly namespace: string;
}

const actionParts = memoizeString((action: string): ActionParts => {
  const normal = asciiLower(action.trim());
  const segments = normal.split(/[.:/]/).filter((s) => s.length > 0);
  return Object.freeze({
    normal,
    verb: segments.at(-1) ?? '',
    namespace: segments[0] ?? '',
  });
});

/** The action's verb: its last `.`/`:`/`/`-separated segment, lowercased (`kernel.update` → `update`). */
export function actionVerb(action: string): string {
  return actionParts(action).verb;
}

/** The action's namespace: its first segment, lowercased (`kernel.update` → `kernel`). */
export function actionNamespace(action: string): string {
  return actionParts(action).namespace;
}

function percentDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * A target path's segments after normalisation: percent-decoded, backslashes as slashes,
 * lowercased, empty and `.` segments dropped, `..` resolved (never above the root).
 */
export const targetSegments = memoizeString(parseTargetSegments);

function parseTargetSegments(target: string): readonly string[] {
  const path = asciiLower(percentDecode(target.trim()).replace(/\\/g, '/'));
  const out: string[] = [];
  for (const seg of path.split('/')) {
    const s = seg.trim();
    if (s === '' || s === '.') continue;
    if (s === '..') out.pop();
    else out.push(s);
  }
  return Object.freeze(out);
}

function underPrefix(segments: readonly string[], prefix: string): boolean {
  const want = prefix.split('/');
  return want.length <= segments.length && want.every((w, i) => segments[i] === w);
}

function grantsTo(effects: readonly GrantEffect[] | undefined, actor: Did): GrantEffect[] {
  return (effects ?? []).filter((g) => g.subject === actor);
}

function field(payload: JsonValue | undefined, name: string): JsonValue | undefined {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return undefined;
  return Object.hasOwn(payload, name) ? payload[name] : undefined;
}

/** The DIDs a granting action's payload names as beneficiaries (`owner` may be `{id}` or `{did}`). */
function payloadBeneficiaries(payload: JsonValue | undefined, fields: readonly string[]): string[] {
  const found: string[] = [];
  for (const name of fields) {
    const value = field(payload, name);
    if (typeof value === 'string') found.push(value);
    for (const inner of ['id', 'did']) {
      const nested = field(value, inner);
      if (typeof nested === 'string') found.push(nested);
    }
  }
  return found;
}

/**
 * Evidence that the request widens the actor's own standing: an effect granting or raising
 * the actor, or a granting action (token, license, witness, consent, delegation…) whose
 * beneficiary is the actor or cannot be identified. With the actor's authority chain, the
 * parties above the actor on it count as the actor too (handing standing back up the chain
 * grants it to the actor's own principals), and a delegation wider than the actor's own
 * link widens the actor's authority.
 */
export function selfGrantFindings(
  request: GatekeeperRequest,
  chain: readonly AuthorityLink[] = [],
): string[] {
  const { actor } = request;
  const findings: string[] = [];
  if (request.effect !== undefined) {
    for (const g of grantsTo(request.effect.grants, actor)) {
      findings.push(`effect.grants names the actor: ${describeGrant(g)}`);
    }
    for (const g of grantsTo(request.effect.raises, actor)) {
      findings.push(`effect.raises names the actor: ${describeGrant(g)}`);
    }
  }
  const parts = actionParts(request.action);
  const action = parts.normal;
  // The verb of the normalised action is the action's own verb (normalising is idempotent).
  const fields =
    GRANTING_ACTIONS[action] ??
    (GRANTING_VERBS.has(parts.verb) ? ['grantee', 'subject'] : undefined);
  if (fields !== undefined) {
    const named = payloadBeneficiaries(request.payload, fields);
    const effectNamed = [...(request.effect?.grants ?? []), ...(request.effect?.raises ?? [])];
    const upstream = new Set(chain.map((l) => l.grantor));
    if (named.includes(actor)) {
      findings.push(`${action} names the actor as beneficiary: ${actor}`);
    } else if (named.length === 0 && effectNamed.length === 0) {
      findings.push(`${action} names no beneficiary (expected one of: ${fields.join(', ')})`);
    }
    for (const did of named.filter((d) => d !== actor && upstream.has(d))) {
      findings.push(`${action} hands standing back up the actor's authority chain: ${did}`);
    }
  }
  const held = chain.at(-1)?.permissions;
  if (action === 'delegation.create' && held !== undefined) {
    const asked = field(request.payload, 'permissions');
    for (const p of Array.isArray(asked) ? asked : []) {
      if (typeof p !== 'string' || !held.includes(p)) {
        findings.push(`delegation.create is wider than the actor's own link: ${String(p)}`);
      }
    }
  }
  return findings;
}

function describeGrant(g: GrantEffect): string {
  const parts = [`subject=${g.subject}`];
  if (g.loa !== undefined) parts.push(`loa=${g.loa}`);
  if (g.permissions !== undefined) parts.push(`permissions=${[...g.permissions].sort().join(',')}`);
  return parts.join(' ');
}

/** True when the target lies under the kernel's configuration or the constitution. */
export const isKernelTarget = memoizeString((target: string): boolean => {
  const segs = targetSegments(target);
  if (segs[0]?.startsWith('constitution')) return true;
  return KERNEL_TARGETS.some((p) => underPrefix(segs, p));
});

/** Evidence that the request would modify the kernel or constitution (anything but reading it). */
export function kernelModificationFindings(request: GatekeeperRequest): string[] {
  const verb = actionVerb(request.action);
  if (READ_ONLY_VERBS.has(verb)) return [];
  const findings: string[] = [];
  if (isKernelTarget(request.target)) findings.push(`target: ${request.target}`);
  if (KERNEL_NAMESPACES.has(actionNamespace(request.action))) {
    findings.push(`action: ${request.action}`);
  }
  return findings;
}

/** True when the target lies on the halt path (including `holon/<id>/halt`). */
export const isHaltPathTarget = memoizeString((target: string): boolean => {
  const segs = targetSegments(target);
  if ((segs[0] === 'holon' || segs[0] === 'holons') && segs.includes('halt')) return true;
  return HALT_PATH_TARGETS.some((p) => underPrefix(segs, p));
});

function isHumanRoot(standing: SubjectStanding | undefined): boolean {
  return standing !== undefined && standing.human && asciiLower(standing.loa.trim()) === 'root';
}

/**
 * Evidence that the request would weaken human override: altering the halt path (any verb
 * that does not merely use it), revoking or demoting the last human Root, or making a
 * subject not known to be human a Root (outranking the human Root). A revocation names the level
 * its subject keeps: one that keeps Root withdraws nothing that matters here. A revoked subject
 * whose standing the runtime did not supply is treated as possibly the last human Root.
 */
export function humanOverrideFindings(request: GatekeeperRequest, roots: RootStanding): string[] {
  const findings: string[] = [];
  const verb = actionVerb(request.action);
  const onHaltPath =
    isHaltPathTarget(request.target) || HALT_PATH_NAMESPACES.has(actionNamespace(request.action));
  if (onHaltPath && !HALT_PATH_USE_VERBS.has(verb)) {
    findings.push(`halt path altered: action ${request.action} on target ${request.target}`);
  }
  // Most requests carry no effect: nothing below applies to them.
  if (request.effect === undefined) return findings;
  const last = roots.humanRootCount <= 1;
  for (const r of request.effect.revokes ?? []) {
    const standing = roots.subjects.get(r.subject);
    if (standing === undefined) {
      findings.push(`revokes subject of unknown standing: ${r.subject}`);
    } else if (isHumanRoot(standing) && last) {
      if (r.loa === undefined) findings.push(`revokes the last human Root: ${r.subject}`);
      else if (asciiLower(r.loa.trim()) !== 'root') {
        findings.push(`demotes the last human Root: ${r.subject} to ${r.loa}`);
      }
    }
  }
  for (const g of [...(request.effect.grants ?? []), ...(request.effect.raises ?? [])]) {
    if (g.loa === undefined) continue;
    const standing = roots.subjects.get(g.subject);
    const toRoot = asciiLower(g.loa.trim()) === 'root';
    if (toRoot && !(standing?.human ?? false)) {
      findings.push(`makes a subject not known to be human a Root: ${g.subject}`);
    } else if (!toRoot && isHumanRoot(standing) && last) {
      findings.push(`demotes the last human Root: ${g.subject} to ${g.loa}`);
    }
  }
  return findings;
}

/**
 * Evidence that an AI actor would make a credential: any act in a credential namespace but
 * those that observe, check or withdraw (an unknown verb counts as minting), or a consent grant
 * whose bailor is not the actor itself or is not named.
 */
export function aiCredentialFindings(request: GatekeeperRequest): string[] {
  if (request.actorSigner.type !== 'ai') return [];
  const { normal: action, namespace, verb } = actionParts(request.action);
  if (CREDENTIAL_NAMESPACES.has(namespace) && !NON_MINTING_VERBS.has(verb)) {
    return [`action: ${request.action} makes a credential`];
  }
  if (CONSENT_GRANTING_ACTIONS.has(action)) {
    const bailor = field(request.payload, 'bailor');
    if (bailor !== request.actor) {
      return [
        `action: ${request.action} grants consent on another's behalf`,
        `bailor: ${typeof bailor === 'string' ? bailor : 'not named'}`,
      ];
    }
  }
  return [];
}
