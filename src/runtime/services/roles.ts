/**
 * Governed roles: the nine roles of the three branches, granted to and revoked from subjects as
 * `role_event` records. Granting is a system change: it is proposed as `{"role_grant": …}`,
 * takes effect only when the witness quorum commits it, and is refused when the subject already
 * holds a role in another branch. The roles a caller holds reach every decision, where the
 * separation-of-powers invariant denies a subject that somehow holds two branches.
 */
import type { JsonValue } from '../../core/canonical.ts';
import { isDid } from '../../core/did.ts';
import { SigilError } from '../../core/errors.ts';
import { branchOf, type Branch, type RoleClaim, type RoleName } from '../../gatekeeper/index.ts';
import type { Proposal } from '../../quorum/index.ts';
import { asJson, iso, refusedRows, type RowRefusal, type RuntimeCore } from '../core.ts';
import { VIEWS } from '../view-ns.ts';
import type { Caller } from '../decide.ts';

/** A role held (or once held) by a subject, as its `role_event` record seals it. */
export interface RoleInfo {
  subject: string;
  name: RoleName;
  branch: Branch;
  granted_at: string;
  /** The committed proposal that granted it. */
  proposal_id: string;
  revoked_at: string | null;
}

/** The change a role grant proposes. */
export interface RoleGrant {
  subject: string;
  name: RoleName;
  branch: Branch;
}

/** Parses the `role_grant` of a proposed change ('bad_request', 'role_unknown'). */
export function parseRoleGrant(value: unknown): RoleGrant {
  const v = value as { subject?: unknown; name?: unknown } | null;
  if (
    typeof v !== 'object' ||
    v === null ||
    Object.keys(v).some((k) => k !== 'subject' && k !== 'name' && k !== 'branch') ||
    typeof v.subject !== 'string' ||
    !isDid(v.subject) ||
    typeof v.name !== 'string'
  ) {
    throw new SigilError('bad_request', 'a role grant is {subject: DID, name: role}');
  }
  return { subject: v.subject, name: v.name as RoleName, branch: branchOf(v.name) };
}

/** True when a proposed change is a role grant. */
export function isRoleGrantChange(change: JsonValue): change is { role_grant: JsonValue } {
  return (
    typeof change === 'object' &&
    change !== null &&
    !Array.isArray(change) &&
    Object.keys(change).length === 1 &&
    'role_grant' in change
  );
}

/**
 * Refuses when a role row of `subject` (of anyone: undefined) is refused: deleted or rolled back
 * while its record is sealed. Rows are keyed `<subject> <role>`, and a DID has no space.
 */
function refuseRolesOf(
  refused: ReadonlyMap<string, RowRefusal>,
  subject: string | undefined,
): void {
  for (const [key, { error }] of refused) {
    if (subject === undefined || key.startsWith(`${subject} `)) throw error;
  }
}

/** The role rows of `subject` (of everyone: undefined), as the store holds them. */
async function storedRoles(core: RuntimeCore, subject?: string): Promise<RoleInfo[]> {
  const rows = await VIEWS.roles.list(core.log.views);
  const refused = await refusedRows(
    core,
    'role_event',
    VIEWS.roles.name,
    new Map(rows.map((e) => [e.key, e])),
  );
  refuseRolesOf(refused, subject);
  return rows.map((e) => e.value).filter((r) => subject === undefined || r.subject === subject);
}

/** The roles `subject` holds now (unrevoked), as the kernel reads them. */
export async function heldRoles(core: RuntimeCore, subject: string): Promise<RoleClaim[]> {
  // Every decision reads it: from memory the log keeps current (view-mirror.ts). Another
  // subject's row refused leaves this subject's decision to go on.
  const { rows, refused } = await VIEWS.roles.listed(core.views);
  if (refused.size > 0) refuseRolesOf(refused, subject);
  return rows
    .map((e) => e.value)
    .filter((r) => r.subject === subject && r.revoked_at === null)
    .map((r) => ({ name: r.name, branch: r.branch }));
}

/**
 * Refuses a grant that would put its subject in a second branch ('role_branch_conflict') or
 * that it already holds ('role_held').
 */
export async function checkRoleGrant(core: RuntimeCore, grant: RoleGrant): Promise<void> {
  const held = await heldRoles(core, grant.subject);
  if (held.some((r) => r.name === grant.name)) {
    throw new SigilError('role_held', `${grant.subject} already holds ${grant.name}`);
  }
  const other = held.find((r) => r.branch !== grant.branch);
  if (other) {
    throw new SigilError(
      'role_branch_conflict',
      `${grant.subject} holds ${other.name} (${other.branch}); ${grant.name} is ${grant.branch}: powers stay separate`,
    );
  }
}

/** The adjudication of a role grant as its own act, beside the proposal's: no one grants itself. */
export async function requireRoleGrant(
  core: RuntimeCore,
  caller: Caller,
  grant: RoleGrant,
): Promise<void> {
  await core.require(caller, {
    action: 'role.assign',
    target: `roles/${grant.subject}`,
    payload: { subject: grant.subject, role: grant.name },
  });
  await checkRoleGrant(core, grant);
}

/** The record that makes a committed grant take effect (sealed with its system_config). */
export function roleGrantedRecord(grant: RoleGrant, proposalId: string, now: number) {
  const role: RoleInfo = {
    ...grant,
    granted_at: iso(now),
    proposal_id: proposalId,
    revoked_at: null,
  };
  return {
    kind: 'role_event' as const,
    payload: asJson({ event: 'granted', role }),
    extra: { space: 'system' as const },
  };
}

/** Revokes a role at once (Root): it withdraws standing, so it needs no quorum ('role_not_found'). */
export async function revokeRole(
  core: RuntimeCore,
  caller: Caller,
  input: { subject: string; name: string },
): Promise<RoleInfo> {
  await core.require(caller, {
    action: 'role.revoke',
    target: `roles/${input.subject}`,
    payload: { subject: input.subject, role: input.name },
  });
  const found = (await storedRoles(core, input.subject)).find(
    (r) => r.name === input.name && r.revoked_at === null,
  );
  if (!found) {
    throw new SigilError('role_not_found', `${input.subject} does not hold ${input.name}`);
  }
  const revoked: RoleInfo = { ...found, revoked_at: iso(core.now()) };
  await core.append(
    'role_event',
    { event: 'revoked', by: caller.subject, role: asJson(revoked) },
    { space: 'system' },
  );
  return revoked;
}

/** Every role held now, by subject. */
export async function listRoles(core: RuntimeCore, caller: Caller): Promise<RoleInfo[]> {
  await core.require(caller, { action: 'canon.read', target: 'roles' });
  return (await storedRoles(core)).filter((r) => r.revoked_at === null);
}

/** The roles room (`runtime.roles`): governed roles, granted through the quorum. */
export function rolesService(
  core: RuntimeCore,
  quorum: { propose(caller: Caller, change: JsonValue): Promise<Proposal> },
) {
  return {
    /** Proposes granting `role` to `subject`: a system change that takes effect on commit. */
    grant: (caller: Caller, input: { subject: string; role: string }): Promise<Proposal> =>
      quorum.propose(caller, { role_grant: { subject: input.subject, name: input.role } }),
    /** Revokes a governed role at once (Root). */
    revoke: (caller: Caller, input: { subject: string; role: string }): Promise<RoleInfo> =>
      revokeRole(core, caller, { subject: input.subject, name: input.role }),
    list: (caller: Caller): Promise<RoleInfo[]> => listRoles(core, caller),
  };
}
export type RolesService = ReturnType<typeof rolesService>;
