import { describe, expect, it } from 'vitest';
import { LOAS, loaRank, type Loa } from '../../src/policy/loa.ts';
import {
  ACTIONS,
  authorize,
  humanOnlyCode,
  isAction,
  requiredLoa,
  type PolicyFlags,
} from '../../src/policy/permissions.ts';

/**
 * The expected matrix, written out independently of the implementation:
 * [action, minimum LOA with both flags off, minimum with the relevant flag on].
 * `null` = disabled.
 */
const EXPECTED: readonly [string, Loa | null, Loa | null][] = [
  ['canon.read', 'guest', 'guest'],
  ['license.validate', 'guest', 'guest'],
  ['trust.check', 'observer', 'observer'],
  ['trust.status', 'observer', 'observer'],
  ['diagnostics.read', 'observer', 'observer'],
  ['module.run', 'operator', 'operator'],
  ['holon.step', 'operator', 'operator'],
  ['governance.report', 'operator', 'operator'],
  ['governance.status', 'observer', 'observer'],
  ['governance.scanner.register', 'root', 'root'],
  ['governance.scanner.revoke', 'root', 'root'],
  ['delegation.create', 'operator', 'operator'],
  ['delegation.read', 'operator', 'operator'],
  ['delegation.revoke', 'operator', 'operator'],
  ['delegation.list', 'operator', 'operator'],
  ['mcp.tools.call', 'operator', 'operator'],
  ['memory.write', 'operator', 'operator'],
  ['memory.read', 'operator', 'operator'],
  ['consent.grant', 'operator', 'operator'],
  ['consent.revoke', 'operator', 'operator'],
  ['consent.list', 'operator', 'operator'],
  ['canon.user.write', 'mentor', 'operator'],
  ['system.attest', 'mentor', 'mentor'],
  ['approval.read', 'mentor', 'mentor'],
  ['approval.decide', 'mentor', 'mentor'],
  ['system.propose', 'root', 'root'],
  ['system.commit', 'root', 'root'],
  ['token.create', 'root', 'root'],
  ['token.revoke', 'root', 'root'],
  ['token.list', 'root', 'root'],
  ['license.generate', 'root', 'root'],
  ['license.list', 'root', 'root'],
  ['license.revoke', 'root', 'root'],
  ['keys.rotate', 'root', 'root'],
  ['state.rebuild', 'root', 'root'],
  ['holon.halt', 'root', 'root'],
  ['model.upload', 'root', 'root'],
  ['witness.enrol', 'mentor', 'mentor'],
  ['role.assign', 'root', 'root'],
  ['role.revoke', 'root', 'root'],
  ['admin.export', null, 'root'],
];

const FLAG_FOR: Record<string, keyof PolicyFlags> = {
  'canon.user.write': 'allow_operator_canon_write',
  'admin.export': 'allow_admin_export',
};

const FLAG_COMBOS: PolicyFlags[] = [
  { allow_operator_canon_write: false, allow_admin_export: false },
  { allow_operator_canon_write: true, allow_admin_export: false },
  { allow_operator_canon_write: false, allow_admin_export: true },
  { allow_operator_canon_write: true, allow_admin_export: true },
];

describe('permission matrix', () => {
  it('covers exactly the expected actions', () => {
    expect([...ACTIONS].sort()).toEqual(EXPECTED.map(([a]) => a).sort());
  });

  const rows = EXPECTED.flatMap(([action, off, on]) =>
    FLAG_COMBOS.flatMap((flags) =>
      LOAS.map((loa) => {
        const flag = FLAG_FOR[action];
        const min = flag !== undefined && flags[flag] ? on : off;
        return { action, loa, flags, min };
      }),
    ),
  );

  it.each(rows)('$action as $loa with $flags', ({ action, loa, flags, min }) => {
    const result = authorize(loa, action, flags);
    if (min === null) {
      expect(result).toEqual({ allowed: false, code: 'action_disabled' });
    } else if (loaRank(loa) >= loaRank(min)) {
      expect(result).toEqual({ allowed: true });
    } else {
      expect(result).toEqual({ allowed: false, code: 'loa_insufficient', required: min });
    }
    expect(requiredLoa(action, flags)).toBe(min ?? undefined);
  });

  it.each(['canon.delete', '', 'CANON.READ', 'canon', 'toString', '__proto__', 'constructor'])(
    'denies the unknown action %j even to root',
    (action) => {
      expect(authorize('root', action)).toEqual({ allowed: false, code: 'unknown_action' });
      expect(isAction(action)).toBe(false);
    },
  );

  it('treats flags that are not exactly true as off (fail closed)', () => {
    const sloppy = {
      allow_operator_canon_write: 'yes',
      allow_admin_export: 1,
    } as unknown as PolicyFlags;
    expect(authorize('operator', 'canon.user.write', sloppy).allowed).toBe(false);
    expect(authorize('root', 'admin.export', sloppy)).toEqual({
      allowed: false,
      code: 'action_disabled',
    });
    expect(authorize('operator', 'canon.user.write').allowed).toBe(false);
  });

  it('denies a caller whose level is not a level', () => {
    expect(authorize('superuser' as Loa, 'canon.read').allowed).toBe(false);
  });
});

describe('human-only actions', () => {
  it('approval.decide and scanner registration refuse an AI signer; nothing else is human-only', () => {
    expect(humanOnlyCode('approval.decide')).toBe('approver_not_human');
    expect(humanOnlyCode('governance.scanner.register')).toBe('actor_not_human');
    expect(ACTIONS.filter((a) => humanOnlyCode(a) !== undefined).sort()).toEqual([
      'approval.decide',
      'governance.scanner.register',
    ]);
  });
});
