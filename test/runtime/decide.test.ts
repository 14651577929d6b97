import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GRANTING_ACTIONS, createKernel } from '../../src/gatekeeper/index.ts';
import {
  ACTIONS,
  DEFAULT_POLICY_FLAGS,
  DEFAULT_TRUST_MODEL,
  ENFORCEMENT_MODES,
  LOAS,
  extractFeatures,
  isAction,
  loaAtLeast,
  requiredLoa,
  scoreTrust,
  type EnforcementMode,
  type Loa,
} from '../../src/policy/index.ts';
import { CONSTITUTION_BYTES } from '../../src/runtime/constitution.ts';
import {
  decide,
  type Caller,
  type DecisionRequest,
  type DecisionState,
} from '../../src/runtime/decide.ts';

const kernel = createKernel(CONSTITUTION_BYTES);

function state(mode: EnforcementMode, overrides: Partial<DecisionState> = {}): DecisionState {
  return {
    now: 1_700_000_000_000,
    mode,
    threshold: 0.4,
    flags: { ...DEFAULT_POLICY_FLAGS },
    model: DEFAULT_TRUST_MODEL,
    rate: { allowed: true, pressure: 0 },
    kernel,
    trustedKeys: new Map(),
    humanRootCount: 1,
    subjects: new Map(),
    consent: { bailments: [], grants: [] },
    systemCritical: new Set(['system.propose', 'model.upload']),
    ...overrides,
  };
}

function human(loa: Loa, verified = true): Caller {
  return {
    subject: `did:sigil:${loa}`,
    loa,
    signer: { type: 'human' },
    verified,
    source: verified ? 'token' : 'anonymous',
  };
}

describe('decide: every action × every LOA × every enforcement mode', () => {
  const cases = ACTIONS.flatMap((action) =>
    LOAS.flatMap((loa) => ENFORCEMENT_MODES.map((mode) => ({ action, loa, mode }))),
  );

  it.each(cases)('$action as $loa in $mode mode', ({ action, loa, mode }) => {
    // Granting actions must name their beneficiary (someone other than the caller).
    const field = GRANTING_ACTIONS[action]?.[0];
    const request: DecisionRequest = {
      action,
      target: `t/${action}`,
      ...(field ? { payload: { [field]: 'did:sigil:someone-else' } } : {}),
    };
    const d = decide(human(loa), request, state(mode));
    const required = requiredLoa(action, DEFAULT_POLICY_FLAGS);
    if (required === undefined) {
      expect(d).toMatchObject({ verdict: 'deny', code: 'action_disabled' });
      return;
    }
    if (!loaAtLeast(loa, required)) {
      expect(d).toMatchObject({ verdict: 'deny', code: 'loa_insufficient' });
      return;
    }
    if (action === 'system.commit') {
      // A commit is a system change: without the proposal's votes the kernel refuses it.
      expect(d).toMatchObject({ verdict: 'deny', code: 'quorum_required' });
      expect(d.violations.map((v) => v.invariant)).toEqual(['quorum-legitimate']);
      return;
    }
    const features = extractFeatures(
      {
        action,
        target: request.target,
        ...(request.payload !== undefined ? { payload: request.payload } : {}),
        loa,
        ratePressure: 0,
      },
      DEFAULT_TRUST_MODEL,
    );
    const score = scoreTrust(DEFAULT_TRUST_MODEL, features.values).score;
    expect(d.trust?.score).toBe(score);
    const below = score < 0.4;
    if (mode === 'strict' && features.missing.length > 0) {
      expect(d).toMatchObject({ verdict: 'deny', code: 'feature_missing' });
    } else if (below && mode !== 'passive') {
      expect(d).toMatchObject({ verdict: 'deny', code: 'trust_below_threshold' });
    } else {
      expect(d.verdict).toBe('allow');
      expect(d.would_deny).toBe(below && mode === 'passive');
      expect(d.requires_quorum).toBe(action === 'system.propose' || action === 'model.upload');
    }
  });
});

describe('decide: ordering and failure modes', () => {
  it('denies an action missing from the matrix', () => {
    const d = decide(human('root'), { action: 'canon.delete', target: 'x' }, state('active'));
    expect(d).toMatchObject({ verdict: 'deny', code: 'unknown_action' });
  });

  it('caps an unverified caller at Guest in strict mode only', () => {
    const anon = human('operator', false);
    const req = { action: 'module.run', target: 'modules/echo' };
    expect(decide(anon, req, state('strict')).code).toBe('loa_insufficient');
    expect(decide(anon, req, state('active')).verdict).toBe('allow');
  });

  it('denies a rate-limited caller with the retry delay', () => {
    const d = decide(
      human('root'),
      { action: 'trust.check', target: 'x' },
      state('active', { rate: { allowed: false, retryAfterMs: 1500, pressure: 1 } }),
    );
    expect(d).toMatchObject({ verdict: 'deny', code: 'rate_limited', retry_after_ms: 1500 });
  });

  it('denies outside the token scope', () => {
    const caller = { ...human('root'), scopes: ['canon.*'] };
    expect(decide(caller, { action: 'token.create', target: 'x' }, state('active')).code).toBe(
      'scope_denied',
    );
    expect(decide(caller, { action: 'canon.read', target: 'x' }, state('active')).verdict).toBe(
      'allow',
    );
  });

  it('applies the trusted policy row: default deny, least LOA, required scope', () => {
    const op = { ...human('operator'), scopes: ['mcp.tools.call'] };
    const req = { action: 'mcp.tools.call', target: 'notes/delete_note' };
    const at = (policy: DecisionRequest['policy']) =>
      decide(op, { ...req, ...(policy ? { policy } : {}) }, state('active')).code;
    expect(at({ rule: null })).toBe('tool_not_allowed');
    expect(at({ rule: 'tool:notes__delete_*', minLoa: 'mentor' })).toBe('loa_insufficient');
    expect(at({ rule: 'tool:notes__*', minLoa: 'operator', scope: 'notes.write' })).toBe(
      'scope_denied',
    );
    expect(at({ rule: 'tool:notes__*', minLoa: 'operator' })).toBeNull();
  });

  it('turns an exception inside a step into internal_deny', () => {
    const broken = {
      adjudicate: () => {
        throw new Error('kernel exploded');
      },
    } as never;
    const d = decide(
      human('root'),
      { action: 'trust.check', target: 'x' },
      state('active', { kernel: broken }),
    );
    expect(d).toMatchObject({ verdict: 'deny', code: 'internal_deny' });
    expect(d.steps.at(-1)?.step).toBe('error');
  });

  it('runs the MCP rules for AI callers and exempts humans', () => {
    const ai: Caller = {
      ...human('operator'),
      signer: { type: 'ai', delegationId: 'b'.repeat(64) },
      scopes: ['mcp.tools.call'],
    };
    const req = { action: 'mcp.tools.call', target: 'notes/read_note' };
    const d = decide(ai, req, state('active'));
    expect(d).toMatchObject({ verdict: 'deny', code: 'mcp_rule_violated' });
    expect(decide(human('operator'), req, state('active')).verdict).toBe('allow');
  });

  it('records one step per check, frozen', () => {
    const d = decide(human('root'), { action: 'trust.check', target: 'x' }, state('active'));
    expect(d.steps.map((s) => s.step)).toEqual([
      'authenticate',
      'permission',
      'rate_limit',
      'mcp_rules',
      'invariants',
      'trust',
    ]);
    expect(Object.isFrozen(d.steps)).toBe(true);
  });
});

describe('decide: a Guest never reaches a Mentor action', () => {
  const mentorActions = ACTIONS.filter((a) => {
    const r = requiredLoa(a, { allow_operator_canon_write: true, allow_admin_export: true });
    return r !== undefined && loaAtLeast(r, 'mentor');
  });

  it('by any request, mode, flags, scope, signer or verification', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...mentorActions),
        fc.string(),
        fc.jsonValue(),
        fc.constantFrom(...ENFORCEMENT_MODES),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.option(fc.array(fc.constantFrom('*', 'system.*', 'token.*', 'canon.*')), {
          nil: undefined,
        }),
        (action, target, payload, mode, verified, operatorWrite, adminExport, scopes) => {
          const caller: Caller = { ...human('guest', verified), ...(scopes ? { scopes } : {}) };
          const d = decide(
            caller,
            { action, target, payload: payload as never, declaredRisk: 0 },
            state(mode, {
              flags: { allow_operator_canon_write: operatorWrite, allow_admin_export: adminExport },
            }),
          );
          expect(d.verdict).toBe('deny');
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('the permission matrix covers every action the code names', () => {
  function sources(dir: string): string[] {
    return readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
    });
  }

  it('every `action: "…"` literal in src/ is in the matrix', () => {
    const names = new Set<string>();
    for (const file of sources(join(process.cwd(), 'src'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\baction: '([a-z]+(?:\.[a-z_]+)+)'/g)) {
        names.add(m[1]!);
      }
    }
    expect(names.size).toBeGreaterThan(10);
    const missing = [...names].filter((n) => !isAction(n));
    expect(missing).toEqual([]);
  });
});
