import { loaAtLeast, type Loa } from './loa.ts';

/** Deployment switches that change the matrix (mmf.toml `[trust]`). Both default to false. */
export interface PolicyFlags {
  /** Lets Operators write user-space canon records; otherwise Mentor+ only. */
  allow_operator_canon_write: boolean;
  /** Enables `admin.export` for Root; otherwise it is disabled for everyone. */
  allow_admin_export: boolean;
}

export const DEFAULT_POLICY_FLAGS: Readonly<PolicyFlags> = Object.freeze({
  allow_operator_canon_write: false,
  allow_admin_export: false,
});

/**
 * One row of the matrix: the minimum level, optionally lowered by a flag
 * (`lowerTo` when `lowerFlag` is on) or switched off unless a flag is on (`enabledBy`).
 */
interface PermissionRule {
  readonly min: Loa;
  readonly lowerFlag?: keyof PolicyFlags;
  readonly lowerTo?: Loa;
  readonly enabledBy?: keyof PolicyFlags;
  /** Only a human signer may do this; an AI signer is refused with this code. */
  readonly humanOnly?: string;
}

/**
 * The permission matrix: every action Sigil adjudicates and the least level allowed to do it.
 * Guest reads public information; Observer adds diagnostics and trust status; Operator runs
 * modules and tools and keeps memory and consent; Mentor attests system changes and writes
 * user canon; Root administers. Anything not listed here is denied.
 */
const MATRIX = {
  'canon.read': { min: 'guest' },
  'license.validate': { min: 'guest' },

  'trust.check': { min: 'observer' },
  'trust.status': { min: 'observer' },
  'diagnostics.read': { min: 'observer' },

  'module.run': { min: 'operator' },
  'holon.step': { min: 'operator' },
  'mcp.tools.call': { min: 'operator' },
  'memory.read': { min: 'operator' },
  'memory.write': { min: 'operator' },
  'consent.grant': { min: 'operator' },
  'consent.revoke': { min: 'operator' },
  'consent.list': { min: 'operator' },
  'governance.report': { min: 'operator' },
  'governance.status': { min: 'observer' },
  'delegation.create': { min: 'operator' },
  'delegation.read': { min: 'operator' },
  'delegation.revoke': { min: 'operator' },
  'delegation.list': { min: 'operator' },
  'canon.user.write': {
    min: 'mentor',
    lowerFlag: 'allow_operator_canon_write',
    lowerTo: 'operator',
  },

  'system.attest': { min: 'mentor' },
  // Approvers see the gated call's arguments, and only a human signs a verdict on it.
  'approval.read': { min: 'mentor' },
  'approval.decide': { min: 'mentor', humanOnly: 'approver_not_human' },

  'system.propose': { min: 'root' },
  'system.commit': { min: 'root' },
  'token.create': { min: 'root' },
  'token.revoke': { min: 'root' },
  'token.list': { min: 'root' },
  'license.generate': { min: 'root' },
  'license.list': { min: 'root' },
  'license.revoke': { min: 'root' },
  'keys.rotate': { min: 'root' },
  'state.rebuild': { min: 'root' },
  'holon.halt': { min: 'root' },
  'model.upload': { min: 'root' },
  // A Mentor or Root enrols its own witness key (Root's slot needs Root).
  'witness.enrol': { min: 'mentor' },
  // A scanner's findings can stop every AI actor: a human Root registers it.
  'governance.scanner.register': { min: 'root', humanOnly: 'actor_not_human' },
  'governance.scanner.revoke': { min: 'root' },
  'role.assign': { min: 'root' },
  'role.revoke': { min: 'root' },
  'admin.export': { min: 'root', enabledBy: 'allow_admin_export' },
} as const satisfies Record<string, PermissionRule>;

/** An action name of the matrix (dotted, e.g. `canon.user.write`). */
export type Action = keyof typeof MATRIX;

/** Every action of the matrix, in matrix order. */
export const ACTIONS: readonly Action[] = Object.freeze(Object.keys(MATRIX) as Action[]);

const RULES: ReadonlyMap<string, PermissionRule> = new Map(Object.entries(MATRIX));

/** True when `name` is an action of the matrix. */
export function isAction(name: unknown): name is Action {
  return typeof name === 'string' && RULES.has(name);
}

export type AuthorizeResult =
  | { allowed: true }
  | {
      allowed: false;
      code: 'loa_insufficient' | 'unknown_action' | 'action_disabled';
      /** The least level that would be allowed (only with 'loa_insufficient'). */
      required?: Loa;
    };

/**
 * The least level allowed to perform `action` under `flags`, or undefined when the action
 * is unknown or disabled. Lets callers show "requires Mentor" without a trial authorize().
 */
export function requiredLoa(action: string, flags: Partial<PolicyFlags> = {}): Loa | undefined {
  const rule = RULES.get(action);
  if (rule === undefined) return undefined;
  if (rule.enabledBy !== undefined && flags[rule.enabledBy] !== true) return undefined;
  if (rule.lowerFlag !== undefined && rule.lowerTo !== undefined && flags[rule.lowerFlag] === true)
    return rule.lowerTo;
  return rule.min;
}

/** The code an AI signer is refused with for `action`, or undefined when anyone may do it. */
export function humanOnlyCode(action: string): string | undefined {
  return (RULES.get(action) as PermissionRule | undefined)?.humanOnly;
}

/**
 * The LOA step of a decision: may a caller at `loa` perform `action`? Unknown actions and
 * actions switched off by configuration are denied (default deny); a flag counts only when it
 * is exactly `true`, so a missing or malformed flag keeps the stricter setting.
 */
export function authorize(
  loa: Loa,
  action: string,
  flags: Partial<PolicyFlags> = {},
): AuthorizeResult {
  const rule = RULES.get(action);
  if (rule === undefined) return { allowed: false, code: 'unknown_action' };
  const required = requiredLoa(action, flags);
  if (required === undefined) return { allowed: false, code: 'action_disabled' };
  if (!loaAtLeast(loa, required)) return { allowed: false, code: 'loa_insufficient', required };
  return { allowed: true };
}
