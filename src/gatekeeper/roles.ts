/**
 * Governed roles and the branch of government each belongs to. The mapping is fixed:
 * a role is only ever claimed in its own branch, and unknown names are refused.
 */
import { SigilError } from '../core/errors.ts';

/** The three branches of government, in a stable order. */
export const BRANCHES = ['legislative', 'executive', 'judicial'] as const;

/** A branch of government. */
export type Branch = (typeof BRANCHES)[number];

/** The nine governed roles and their branches. */
export const ROLE_BRANCHES = Object.freeze({
  senator: 'legislative',
  legislator: 'legislative',
  voter: 'legislative',
  executive: 'executive',
  'executive-admin': 'executive',
  operator: 'executive',
  worker: 'executive',
  judge: 'judicial',
  'transition-judge': 'judicial',
} as const satisfies Record<string, Branch>);

/** The name of a governed role. */
export type RoleName = keyof typeof ROLE_BRANCHES;

/** A role as claimed for an actor: a name and the branch it is claimed in. */
export interface RoleClaim {
  name: string;
  branch: string;
}

/** A validated role: a known name in its own branch. */
export interface Role {
  name: RoleName;
  branch: Branch;
}

/** True when `name` is one of the nine governed role names (exact spelling). */
export function isRoleName(name: unknown): name is RoleName {
  return typeof name === 'string' && Object.hasOwn(ROLE_BRANCHES, name);
}

/** True when `branch` is one of the three branches (exact spelling). */
export function isBranch(branch: unknown): branch is Branch {
  return typeof branch === 'string' && (BRANCHES as readonly string[]).includes(branch);
}

/** The branch a role belongs to; throws SigilError 'role_unknown' for any other name. */
export function branchOf(name: string): Branch {
  if (!isRoleName(name)) {
    throw new SigilError('role_unknown', `unknown governed role name: ${name}`, { name });
  }
  return ROLE_BRANCHES[name];
}

/**
 * What is wrong with a claimed role, or null when it is valid. Used by the
 * separation-of-powers invariant, which reports rather than throws.
 */
export function roleProblem(claim: RoleClaim): SigilError | null {
  if (!isRoleName(claim.name)) {
    return new SigilError('role_unknown', `unknown governed role name: ${String(claim.name)}`, {
      name: claim.name,
    });
  }
  if (!isBranch(claim.branch)) {
    return new SigilError('role_branch_unknown', `unknown branch: ${String(claim.branch)}`, {
      name: claim.name,
      branch: claim.branch,
    });
  }
  const expected = ROLE_BRANCHES[claim.name];
  if (claim.branch !== expected) {
    return new SigilError(
      'role_branch_mismatch',
      `role ${claim.name} is ${claim.branch}, which does not match governed branch ${expected}`,
      { name: claim.name, branch: claim.branch, expected },
    );
  }
  return null;
}

/**
 * Parses an untrusted role claim `{name, branch}`. Throws SigilError 'invalid_role' for a
 * malformed value, 'role_unknown', 'role_branch_unknown' or 'role_branch_mismatch'.
 */
export function parseRole(value: unknown): Role {
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    Object.keys(value).some((k) => k !== 'name' && k !== 'branch') ||
    typeof (value as RoleClaim).name !== 'string' ||
    typeof (value as RoleClaim).branch !== 'string'
  ) {
    throw new SigilError('invalid_role', 'a role is {name: string, branch: string}');
  }
  const claim = value as RoleClaim;
  const problem = roleProblem(claim);
  if (problem) throw problem;
  return { name: claim.name as RoleName, branch: claim.branch as Branch };
}
