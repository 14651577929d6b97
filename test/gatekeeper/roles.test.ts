import { describe, expect, it } from 'vitest';
import { isSigilError } from '../../src/core/errors.ts';
import {
  BRANCHES,
  ROLE_BRANCHES,
  branchOf,
  isRoleName,
  parseRole,
  roleProblem,
} from '../../src/gatekeeper/roles.ts';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isSigilError(err) ? err.code : 'not-a-sigil-error';
  }
  return undefined;
}

describe('roles', () => {
  it('maps the nine roles to their branches exactly as the reference', () => {
    expect(ROLE_BRANCHES).toEqual({
      senator: 'legislative',
      legislator: 'legislative',
      voter: 'legislative',
      executive: 'executive',
      'executive-admin': 'executive',
      operator: 'executive',
      worker: 'executive',
      judge: 'judicial',
      'transition-judge': 'judicial',
    });
    expect(BRANCHES).toEqual(['legislative', 'executive', 'judicial']);
  });

  it('parses every role in its own branch', () => {
    for (const [name, branch] of Object.entries(ROLE_BRANCHES)) {
      expect(parseRole({ name, branch })).toEqual({ name, branch });
      expect(branchOf(name)).toBe(branch);
      expect(roleProblem({ name, branch })).toBeNull();
    }
  });

  it('rejects unknown names, including other spellings', () => {
    for (const name of [
      'root',
      'Judge',
      ' judge',
      'executive_admin',
      '',
      '__proto__',
      'toString',
    ]) {
      expect(isRoleName(name)).toBe(false);
      expect(codeOf(() => parseRole({ name, branch: 'judicial' }))).toBe('role_unknown');
      expect(codeOf(() => branchOf(name))).toBe('role_unknown');
    }
  });

  it('rejects a role claimed in the wrong branch', () => {
    expect(codeOf(() => parseRole({ name: 'judge', branch: 'executive' }))).toBe(
      'role_branch_mismatch',
    );
    expect(roleProblem({ name: 'voter', branch: 'judicial' })?.message).toContain(
      'does not match governed branch legislative',
    );
  });

  it('rejects an unknown branch', () => {
    expect(codeOf(() => parseRole({ name: 'judge', branch: 'Judicial' }))).toBe(
      'role_branch_unknown',
    );
  });

  it('rejects malformed claims', () => {
    for (const bad of [
      null,
      'judge',
      [],
      { name: 'judge' },
      { name: 'judge', branch: 'judicial', x: 1 },
      { name: 1, branch: 'judicial' },
    ]) {
      expect(codeOf(() => parseRole(bad))).toBe('invalid_role');
    }
  });
});
