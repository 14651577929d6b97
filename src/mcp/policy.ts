/**
 * The gateway's policy table: rows of (kind, glob) → minimum LOA, risk, scope, approval.
 * The first row matching a name wins; a name no row matches is denied (default deny).
 */
import type { Loa } from '../policy/index.ts';
import { policyRefusal, type DecisionRequest } from '../runtime/decide.ts';
import type { PolicyKind, PolicyRule } from './config.ts';

/**
 * Compiles a glob: `**` any run of characters, `*` any run within one path segment (never a
 * `/`), `?` one character other than `/`, all else literal. Matching is on whole names.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*' && glob[i + 1] === '*') {
      re += '.*';
      while (glob[i + 1] === '*') i++;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

/** Why the table refuses a call, as a stable code and a sentence. */
export interface PolicyDenial {
  code: 'tool_not_allowed' | 'loa_insufficient' | 'scope_denied';
  reason: string;
}

export class PolicyTable {
  readonly #rows: ReadonlyArray<PolicyRule & { re: RegExp }>;

  constructor(rules: readonly PolicyRule[]) {
    this.#rows = rules.map((r) => ({ ...r, re: globToRegExp(r.pattern) }));
  }

  /** The first row of `kind` whose glob matches `name`, or null (default deny). */
  match(kind: PolicyKind, name: string): PolicyRule | null {
    for (const row of this.#rows) {
      if (row.kind === kind && row.re.test(name)) {
        const { re: _re, ...rule } = row;
        return rule;
      }
    }
    return null;
  }

  /** The row governing `name`, as decide() takes it (`rule: null` when none matches). */
  decisionPolicy(kind: PolicyKind, name: string): NonNullable<DecisionRequest['policy']> {
    const rule = this.match(kind, name);
    if (rule === null) return { rule: null };
    const split = name.indexOf('__');
    return {
      rule: `${rule.kind}:${rule.pattern}`,
      minLoa: rule.minLoa,
      ...(rule.scope === undefined ? {} : { scope: rule.scope }),
      ...(rule.when === undefined
        ? {}
        : {
            when: {
              expression: rule.when,
              tool: { name, upstream: split < 0 ? '' : name.slice(0, split), kind },
            },
          }),
    };
  }

  /**
   * Whether a caller with effective level `loa` and token `scopes` may use `name`: a row must
   * match, its minimum LOA must be met and its scope (if any) held. Null when permitted.
   */
  check(
    kind: PolicyKind,
    name: string,
    loa: Loa,
    scopes: readonly string[] | undefined,
  ): PolicyDenial | null {
    return policyRefusal(this.decisionPolicy(kind, name), loa, scopes) as PolicyDenial | null;
  }
}
