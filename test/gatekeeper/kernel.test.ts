import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSigilError } from '../../src/core/errors.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { createKernel, verdictFor } from '../../src/gatekeeper/kernel.ts';
import type { AdjudicationContext } from '../../src/gatekeeper/kernel.ts';
import type { GatekeeperRequest, InvariantId, Violation } from '../../src/gatekeeper/types.ts';
import { INVARIANT_IDS } from '../../src/gatekeeper/types.ts';
import { ACTOR, ROOT, passingWorld, request } from './judicial-fixtures.ts';

const CONSTITUTION = new TextEncoder().encode('We the people of Sigil…');
const v = (invariant: InvariantId, description = `${invariant} failed`): Violation => ({
  invariant,
  description,
  evidence: ['x'],
});
const challenge = { reason: 'challenge #7 is open' };

describe('kernel integrity', () => {
  it('stores the SHA-256 of the constitution and verifies it', () => {
    const kernel = createKernel(CONSTITUTION);
    expect(kernel.constitutionHash).toBe(sha256Hex(CONSTITUTION));
    expect(kernel.verifyIntegrity(CONSTITUTION)).toBe(true);
    expect(kernel.verifyIntegrity(new TextEncoder().encode('TAMPERED'))).toBe(false);
    expect(kernel.verifyIntegrity(CONSTITUTION.subarray(1))).toBe(false);
    expect(kernel.invariants).toEqual(INVARIANT_IDS);
    expect(Object.isFrozen(kernel)).toBe(true);
  });

  it('is not affected by later changes to the bytes it was given', () => {
    const bytes = new Uint8Array(CONSTITUTION);
    const kernel = createKernel(bytes);
    bytes[0] = 0;
    expect(kernel.verifyIntegrity(CONSTITUTION)).toBe(true);
  });

  it('rejects unknown or repeated invariants and non-byte constitutions', () => {
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return isSigilError(err) ? err.code : 'other';
      }
      return undefined;
    };
    expect(code(() => createKernel(CONSTITUTION, ['nope' as InvariantId]))).toBe(
      'invalid_invariant_set',
    );
    expect(code(() => createKernel(CONSTITUTION, ['no-self-grant', 'no-self-grant']))).toBe(
      'invalid_invariant_set',
    );
    expect(code(() => createKernel('text' as unknown as Uint8Array))).toBe('invalid_constitution');
  });
});

describe('verdict table', () => {
  const rows: [string, Violation[], boolean, string][] = [
    ['no violations, no challenge', [], false, 'permitted'],
    ['no violations, challenge', [], true, 'escalated'],
    ['one quorum violation', [v('quorum-legitimate')], false, 'escalated'],
    ['one authority violation', [v('authority-chain-valid')], false, 'escalated'],
    [
      'quorum + authority, no challenge',
      [v('quorum-legitimate'), v('authority-chain-valid')],
      false,
      'denied',
    ],
    [
      'quorum + authority, challenge',
      [v('quorum-legitimate'), v('authority-chain-valid')],
      true,
      'escalated',
    ],
    ['one consent violation', [v('consent-required')], false, 'denied'],
    ['one consent violation, challenge', [v('consent-required')], true, 'denied'],
    [
      'quorum + consent, challenge',
      [v('quorum-legitimate'), v('consent-required')],
      true,
      'denied',
    ],
    ['kernel modification', [v('kernel-immutability')], false, 'denied'],
    ['kernel modification, challenge', [v('kernel-immutability')], true, 'denied'],
    ['human override, challenge', [v('human-override')], true, 'denied'],
    [
      'quorum + human override, challenge',
      [v('quorum-legitimate'), v('human-override')],
      true,
      'denied',
    ],
    ['separation of powers', [v('separation-of-powers')], false, 'denied'],
    ['provenance', [v('provenance-verifiable')], false, 'denied'],
    ['no self grant, challenge', [v('no-self-grant')], true, 'denied'],
  ];
  for (const [name, violations, challenged, kind] of rows) {
    it(`${name} → ${kind}`, () => {
      const verdict = verdictFor(violations, challenged ? challenge : null);
      expect(verdict.kind).toBe(kind);
      if (verdict.kind === 'denied') expect(verdict.violations).toEqual(violations);
    });
  }

  it('escalation reasons: the challenge, or the single violation', () => {
    expect(verdictFor([], challenge)).toEqual({
      kind: 'escalated',
      reason: challenge.reason,
      violations: [],
    });
    expect(verdictFor([v('quorum-legitimate', 'Quorum threshold not met')])).toMatchObject({
      kind: 'escalated',
      reason: 'Quorum threshold not met',
    });
  });
});

describe('adjudicate', () => {
  const kernel = createKernel(CONSTITUTION);

  it('permits a request that satisfies every invariant', () => {
    const { context } = passingWorld();
    expect(kernel.adjudicate(request(), context)).toEqual({ kind: 'permitted' });
  });

  it('escalates a permitted request under an active challenge', () => {
    const { context } = passingWorld();
    expect(kernel.adjudicate(request(), { ...context, challenge })).toMatchObject({
      kind: 'escalated',
      reason: challenge.reason,
    });
  });

  it('escalates a missing quorum on a system change', () => {
    const { context } = passingWorld();
    const verdict = kernel.adjudicate(request(), {
      ...context,
      requires: [...context.requires, 'quorum-legitimate'],
    });
    expect(verdict).toMatchObject({ kind: 'escalated', reason: 'No quorum evidence provided' });
  });

  it('denies kernel modification even under a challenge', () => {
    const req = request({ action: 'kernel.update', target: 'kernel/config' });
    const { context } = passingWorld(req);
    const verdict = kernel.adjudicate(req, { ...context, challenge });
    expect(verdict.kind).toBe('denied');
  });

  it('denies revoking the last human Root even under a challenge', () => {
    const req = request({ action: 'license.revoke', effect: { revokes: [{ subject: ROOT }] } });
    const { context } = passingWorld(req);
    expect(kernel.adjudicate(req, { ...context, challenge }).kind).toBe('denied');
  });

  it('denies a self-grant', () => {
    const req = request({ action: 'token.create', payload: { subject: ACTOR, loa: 'root' } });
    const { context } = passingWorld(req);
    const verdict = kernel.adjudicate(req, context);
    expect(verdict).toMatchObject({ kind: 'denied', violations: [{ invariant: 'no-self-grant' }] });
  });

  it('refuses a request carrying asserted facts', () => {
    const { context } = passingWorld();
    const forged = {
      ...request(),
      is_self_grant: false,
      modifies_kernel: false,
    } as GatekeeperRequest;
    expect(() => kernel.adjudicate(forged, context)).toThrowError(/invalid request/);
  });

  it('a kernel built without an invariant does not enforce it', () => {
    const lenient = createKernel(CONSTITUTION, ['separation-of-powers', 'consent-required']);
    const req = request({ action: 'kernel.update', target: 'kernel/config' });
    const { context } = passingWorld(req);
    expect(lenient.adjudicate(req, context)).toEqual({ kind: 'permitted' });
  });
});

describe('determinism', () => {
  const base = passingWorld();
  const actions = [
    'canon.read',
    'canon.write',
    'kernel.update',
    'token.create',
    'system.halt',
    'breaker.disable',
    'license.revoke',
  ];
  const targets = ['canon/user/r1', 'kernel/config', 'system/halt', 'constitution', ''];
  const roleClaims = [
    { name: 'judge', branch: 'judicial' },
    { name: 'senator', branch: 'legislative' },
    { name: 'worker', branch: 'executive' },
    { name: 'root', branch: 'judicial' },
  ];
  const arbRequest = fc.record({
    action: fc.constantFrom(...actions),
    target: fc.constantFrom(...targets),
    permissions: fc.subarray(['read', 'write', 'data:medical:read', 'admin']),
    payload: fc.option(fc.record({ subject: fc.constantFrom(ACTOR, ROOT, 'did:sigil:x') }), {
      nil: undefined,
    }),
    effect: fc.option(
      fc.record({
        revokes: fc.subarray([{ subject: ROOT }, { subject: 'did:sigil:x' }]),
        grants: fc.subarray([
          { subject: ACTOR, loa: 'root' },
          { subject: 'did:sigil:x', loa: 'observer' },
        ]),
      }),
      { nil: undefined },
    ),
  });
  const arbContext = fc.record({
    roles: fc.subarray(roleClaims),
    requires: fc.subarray([...INVARIANT_IDS]),
    challenge: fc.option(fc.constant(challenge), { nil: null }),
    humanRootCount: fc.integer({ min: 0, max: 3 }),
    withQuorum: fc.boolean(),
  });

  it('the same request and context always give the same verdict', () => {
    const k1 = createKernel(CONSTITUTION);
    const k2 = createKernel(new Uint8Array(CONSTITUTION));
    fc.assert(
      fc.property(arbRequest, arbContext, (r, c) => {
        const req = request(r);
        const ctx: AdjudicationContext = {
          ...base.context,
          roles: c.roles,
          requires: c.requires,
          challenge: c.challenge,
          humanRootCount: c.humanRootCount,
          quorum: c.withQuorum ? { threshold: 1, votes: [] } : null,
        };
        const first = k1.adjudicate(req, ctx);
        expect(k1.adjudicate(structuredClone(req), ctx)).toEqual(first);
        expect(k2.adjudicate(req, ctx)).toEqual(first);
      }),
      { numRuns: 200 },
    );
  });
});
