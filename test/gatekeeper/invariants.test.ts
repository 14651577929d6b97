import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/hash.ts';
import {
  ALL_INVARIANTS,
  ALWAYS_APPLY,
  applicableInvariants,
  checkInvariant,
  enforceAll,
  requiredInvariants,
} from '../../src/gatekeeper/invariants.ts';
import type { InvariantContext } from '../../src/gatekeeper/invariants.ts';
import type { GatekeeperRequest, InvariantId } from '../../src/gatekeeper/types.ts';
import {
  ACTOR,
  AI,
  BAILOR,
  HUMAN,
  ROOT,
  bailment,
  grant,
  passingWorld,
  request,
} from './judicial-fixtures.ts';

const ALL_REQUIRED: InvariantId[] = [...ALL_INVARIANTS];

function check(id: InvariantId, req: GatekeeperRequest, ctx: InvariantContext) {
  return checkInvariant(id, req, ctx);
}

describe('enforceAll', () => {
  it('passes a well-formed request in a complete context', () => {
    const { context } = passingWorld();
    expect(enforceAll(request(), context)).toEqual([]);
  });

  it('returns every violation, each with evidence', () => {
    const req = request({
      action: 'kernel.update',
      target: 'kernel/config',
      effect: { grants: [{ subject: ACTOR, loa: 'mentor' }] },
    });
    const { context } = passingWorld(req);
    const ctx: InvariantContext = {
      ...context,
      roles: [
        { name: 'senator', branch: 'legislative' },
        { name: 'judge', branch: 'judicial' },
      ],
      provenance: null,
      authorityChain: [],
      consent: null,
      requires: ALL_REQUIRED,
    };
    const found = enforceAll(req, ctx).map((v) => v.invariant);
    expect(found).toEqual([
      'separation-of-powers',
      'consent-required',
      'no-self-grant',
      'kernel-immutability',
      'authority-chain-valid',
      'quorum-legitimate',
      'provenance-verifiable',
    ]);
    for (const v of enforceAll(req, ctx)) {
      expect(v.description.length).toBeGreaterThan(0);
      expect(v.evidence.length).toBeGreaterThan(0);
    }
  });

  it('checks only the invariants of the given set', () => {
    const req = request({ action: 'kernel.update', target: 'kernel/config' });
    const { context } = passingWorld(req);
    expect(enforceAll(req, context, ['separation-of-powers'])).toEqual([]);
    expect(enforceAll(req, context, ['kernel-immutability'])).toHaveLength(1);
  });
});

describe('applicability', () => {
  it('always applies the request-derived invariants', () => {
    expect(applicableInvariants(ALL_INVARIANTS, [])).toEqual(ALWAYS_APPLY);
  });

  it('applies a situational invariant only when required', () => {
    const { context } = passingWorld();
    const ctx = { ...context, provenance: null, authorityChain: null, consent: null, requires: [] };
    expect(enforceAll(request(), ctx)).toEqual([]);
    expect(enforceAll(request(), { ...ctx, requires: ['provenance-verifiable'] })).toHaveLength(1);
  });

  it('maps the situation to the standard requirements', () => {
    const none = { systemChange: false, delegated: false, dataSubject: null };
    expect(requiredInvariants({ actor: ACTOR, actorSigner: HUMAN }, none)).toEqual([]);
    expect(requiredInvariants({ actor: ACTOR, actorSigner: AI }, none)).toEqual([
      'provenance-verifiable',
    ]);
    expect(
      requiredInvariants(
        { actor: ACTOR, actorSigner: HUMAN },
        { systemChange: true, delegated: true, dataSubject: BAILOR },
      ),
    ).toEqual(['consent-required', 'authority-chain-valid', 'quorum-legitimate']);
    expect(
      requiredInvariants({ actor: ACTOR, actorSigner: HUMAN }, { ...none, dataSubject: ACTOR }),
    ).toEqual([]);
  });
});

describe('separation-of-powers', () => {
  const { context } = passingWorld();
  const run = (roles: { name: string; branch: string }[]) =>
    check('separation-of-powers', request(), { ...context, roles });

  it('passes one branch, several roles in one branch, and no roles', () => {
    expect(run([{ name: 'judge', branch: 'judicial' }])).toBeNull();
    expect(
      run([
        { name: 'operator', branch: 'executive' },
        { name: 'worker', branch: 'executive' },
      ]),
    ).toBeNull();
    expect(run([])).toBeNull();
  });

  it('fails two branches', () => {
    const v = run([
      { name: 'senator', branch: 'legislative' },
      { name: 'judge', branch: 'judicial' },
    ]);
    expect(v?.description).toBe('Actor holds roles in multiple branches of government');
    expect(v?.evidence).toEqual([`actor: ${ACTOR}`, 'branches: legislative,judicial']);
  });

  it('fails all three with a distinct message', () => {
    const v = run([
      { name: 'senator', branch: 'legislative' },
      { name: 'worker', branch: 'executive' },
      { name: 'judge', branch: 'judicial' },
    ]);
    expect(v?.description).toBe('Actor holds roles in all three branches of government');
  });

  it('fails an unknown role and a role in the wrong branch', () => {
    expect(run([{ name: 'root', branch: 'judicial' }])?.description).toContain(
      'unknown governed role name',
    );
    expect(run([{ name: 'judge', branch: 'executive' }])?.description).toContain(
      'does not match governed branch',
    );
  });
});

describe('consent-required', () => {
  const { context } = passingWorld();
  const run = (over: Partial<InvariantContext>, req = request()) =>
    check('consent-required', req, { ...context, ...over });
  const withState = (bailments = [bailment()], grants = [grant()]) => ({
    consent: { bailor: BAILOR, bailments, grants },
  });

  it('passes with an active bailment and covering consent', () => {
    expect(run({})).toBeNull();
    expect(run({}, request({ permissions: ['data:medical:read', 'read'] }))).toBeNull();
  });

  it('an empty request always passes', () => {
    expect(run({ consent: null }, request({ permissions: [] }))).toBeNull();
  });

  it('the actor needs no consent for its own data', () => {
    expect(run({ consent: { bailor: ACTOR, bailments: [], grants: [] } })).toBeNull();
  });

  it('fails without consent state, bailment or matching grant', () => {
    expect(run({ consent: null })?.description).toBe('No active bailment for this action');
    expect(run(withState([]))?.description).toBe('No active bailment for this action');
    expect(run(withState([bailment({ bailee: 'did:sigil:other' })]))?.description).toBe(
      'Active bailment is not granted to actor',
    );
    expect(run(withState([bailment()], []))?.description).toBe(
      'No active consent record matching actor, bailor, and scope',
    );
    expect(run(withState([bailment()], [grant({ scope: 'data:profile' })]))?.invariant).toBe(
      'consent-required',
    );
  });

  it('fails when revoked or expired', () => {
    expect(
      run(withState([bailment()], [grant({ revokedAt: '2025-05-01T00:00:00Z' })])),
    ).not.toBeNull();
    expect(run(withState([bailment({ expiresAt: '2025-05-01T00:00:00Z' })]))).not.toBeNull();
  });

  it('fails when the scope does not cover a permission', () => {
    const state = withState(
      [bailment({ scope: 'data:profile' })],
      [grant({ scope: 'data:profile' })],
    );
    const v = run(state, request({ permissions: ['profile:delete'] }));
    expect(v?.description).toBe('Active consent scope does not cover requested permission');
    expect(v?.evidence).toContain('requested_permissions: profile:delete');
    expect(
      run(
        withState([bailment({ scope: 'pace:advance' })], [grant({ scope: 'pace:advance' })]),
        request({ permissions: ['advance_pace'] }),
      ),
    ).toBeNull();
  });
});

describe('no-self-grant (derived from the request)', () => {
  const { context } = passingWorld();
  const run = (over: Partial<GatekeeperRequest>) => check('no-self-grant', request(over), context);

  it('passes ordinary requests and grants to others', () => {
    expect(run({})).toBeNull();
    expect(
      run({ effect: { grants: [{ subject: 'did:sigil:other', loa: 'operator' }] } }),
    ).toBeNull();
    expect(
      run({ action: 'token.create', payload: { subject: 'did:sigil:other', loa: 'observer' } }),
    ).toBeNull();
    expect(
      run({ action: 'license.generate', payload: { owner: { id: 'did:sigil:bob', name: 'Bob' } } }),
    ).toBeNull();
    expect(run({ effect: { revokes: [{ subject: ACTOR }] } })).toBeNull();
  });

  it('fails an effect granting or raising the actor', () => {
    expect(
      run({ effect: { grants: [{ subject: ACTOR, permissions: ['admin'] }] } })?.invariant,
    ).toBe('no-self-grant');
    expect(run({ effect: { raises: [{ subject: ACTOR, loa: 'root' }] } })).not.toBeNull();
  });

  it('fails granting actions whose beneficiary is the actor', () => {
    expect(
      run({ action: 'token.create', payload: { subject: ACTOR, loa: 'root' } }),
    ).not.toBeNull();
    expect(run({ action: 'license.generate', payload: { owner: { id: ACTOR } } })).not.toBeNull();
    expect(run({ action: 'witness.register', payload: { did: ACTOR } })).not.toBeNull();
    expect(
      run({ action: 'consent.grant', payload: { bailor: BAILOR, bailee: ACTOR } }),
    ).not.toBeNull();
    expect(run({ action: 'Token.Create', payload: { subject: ACTOR } })).not.toBeNull();
    expect(run({ action: 'role.grant', payload: { grantee: ACTOR } })).not.toBeNull();
  });

  it('fails a granting action that names no beneficiary', () => {
    const v = run({ action: 'token.create', payload: { loa: 'root' } });
    expect(v?.evidence.join('\n')).toContain('names no beneficiary');
  });

  it('a consent grant by the bailor to another passes', () => {
    expect(
      run({ action: 'consent.grant', payload: { bailor: ACTOR, bailee: 'did:sigil:ai' } }),
    ).toBeNull();
  });
});

describe('human-override (derived from the request)', () => {
  const { context } = passingWorld();
  const subjects = new Map([
    [ROOT, { loa: 'root', human: true }],
    ['did:sigil:mentor', { loa: 'mentor', human: true }],
    ['did:sigil:ai', { loa: 'operator', human: false }],
  ]);
  const ctx = { ...context, subjects };
  const run = (over: Partial<GatekeeperRequest>, humanRootCount = 1) =>
    check('human-override', request(over), { ...ctx, humanRootCount });

  it('passes ordinary requests and using the halt path', () => {
    expect(run({})).toBeNull();
    expect(run({ action: 'system.halt', target: 'system/halt' })).toBeNull();
    expect(run({ action: 'holon.suspend', target: 'holon/h1/halt' })).toBeNull();
    expect(run({ action: 'breaker.reset', target: 'gatekeeper/breaker' })).toBeNull();
    expect(run({ action: 'approval-gate.approve', target: 'gatekeeper/approval-gate' })).toBeNull();
  });

  it('fails disabling or altering the halt path', () => {
    expect(run({ action: 'system.disable', target: 'system/halt' })?.invariant).toBe(
      'human-override',
    );
    expect(run({ action: 'breaker.disable', target: '' })).not.toBeNull();
    expect(run({ action: 'config.update', target: 'System/./Halt' })).not.toBeNull();
    expect(run({ action: 'config.update', target: 'canon/../system/halt/x' })).not.toBeNull();
    expect(run({ action: 'holon.update', target: 'holon/h1/halt' })).not.toBeNull();
    expect(run({ action: 'gate.bypass', target: 'gatekeeper/approval-gate' })).not.toBeNull();
    expect(run({ action: 'config.update', target: 'system%2Fhalt' })).not.toBeNull();
  });

  it('fails revoking or demoting the last human Root', () => {
    expect(
      run({ action: 'license.revoke', effect: { revokes: [{ subject: ROOT }] } }),
    ).not.toBeNull();
    expect(
      run({ action: 'token.update', effect: { grants: [{ subject: ROOT, loa: 'mentor' }] } }),
    ).not.toBeNull();
  });

  it('reads the level a revocation leaves: below Root demotes, Root kept withdraws nothing', () => {
    const demote = run({ effect: { revokes: [{ subject: ROOT, loa: 'operator' }] } });
    expect(demote?.evidence).toContain(`demotes the last human Root: ${ROOT} to operator`);
    expect(run({ effect: { revokes: [{ subject: ROOT, loa: 'Root' }] } })).toBeNull();
    expect(run({ effect: { revokes: [{ subject: ROOT }] } })?.evidence).toContain(
      `revokes the last human Root: ${ROOT}`,
    );
  });

  it('allows revoking a human Root that is not the last', () => {
    expect(
      run({ action: 'license.revoke', effect: { revokes: [{ subject: ROOT }] } }, 2),
    ).toBeNull();
    expect(
      run({ action: 'token.revoke', effect: { revokes: [{ subject: 'did:sigil:mentor' }] } }),
    ).toBeNull();
  });

  it('fails revoking a subject of unknown standing (it may be the last Root)', () => {
    expect(run({ effect: { revokes: [{ subject: 'did:sigil:nobody' }] } })).not.toBeNull();
  });

  it('fails making a non-human (or unknown) subject a Root', () => {
    expect(run({ effect: { grants: [{ subject: 'did:sigil:ai', loa: 'root' }] } })).not.toBeNull();
    expect(
      run({ effect: { raises: [{ subject: 'did:sigil:nobody', loa: 'Root' }] } }),
    ).not.toBeNull();
    expect(run({ effect: { raises: [{ subject: 'did:sigil:mentor', loa: 'root' }] } })).toBeNull();
  });
});

describe('kernel-immutability (derived from the target)', () => {
  const { context } = passingWorld();
  const run = (over: Partial<GatekeeperRequest>) =>
    check('kernel-immutability', request(over), context);

  it('passes ordinary targets and reading the kernel', () => {
    expect(run({})).toBeNull();
    expect(run({ action: 'kernel.read', target: 'kernel/config' })).toBeNull();
    expect(run({ action: 'constitution.get', target: 'constitution' })).toBeNull();
    expect(run({ action: 'canon.write', target: 'canon/user/kernel' })).toBeNull();
  });

  it('fails modifying kernel or constitution targets, however spelt', () => {
    for (const target of [
      'kernel/config',
      'kernel',
      'KERNEL/Invariants',
      'constitution',
      'constitution.md',
      'constitution/v2',
      'gatekeeper/invariants',
      'canon/../kernel/config',
      './kernel//config',
      'kernel%2Fconfig',
      '\\kernel\\config',
    ]) {
      expect(run({ action: 'canon.write', target })?.invariant, target).toBe('kernel-immutability');
    }
  });

  it('fails kernel.* actions that are not reads, including unknown verbs', () => {
    expect(run({ action: 'kernel.update', target: '' })).not.toBeNull();
    expect(run({ action: 'kernel.frobnicate', target: 'x' })).not.toBeNull();
    expect(run({ action: 'invariants.replace', target: 'x' })).not.toBeNull();
  });
});

describe('provenance-verifiable', () => {
  it('passes provenance by the actor, signed as its signer type with a trusted key', () => {
    const { context } = passingWorld();
    expect(check('provenance-verifiable', request(), context)).toBeNull();
  });

  it('fails without provenance', () => {
    const { context } = passingWorld();
    const v = check('provenance-verifiable', request(), { ...context, provenance: null });
    expect(v?.description).toBe('No provenance metadata provided');
  });

  it('fails when the actor differs from the requester', () => {
    const req = request();
    const { context } = passingWorld(req);
    const v = check('provenance-verifiable', { ...req, actor: 'did:sigil:other' }, context);
    expect(v?.description).toBe('Provenance actor does not match request actor');
  });

  it('fails with an unresolved or unbound key', () => {
    const { context, root } = passingWorld();
    expect(
      check('provenance-verifiable', request(), { ...context, trustedKeys: new Map() })
        ?.description,
    ).toBe('Provenance public_key is unresolved for actor DID');
    expect(
      check('provenance-verifiable', request(), {
        ...context,
        trustedKeys: new Map([[ACTOR, [root.raw]]]),
      })?.description,
    ).toBe('Provenance public_key is not bound to actor DID');
  });

  it('fails a tampered or malformed signature', () => {
    const { context } = passingWorld();
    const prov = context.provenance!;
    const tampered = { ...prov, timestamp: '2025-06-01T00:00:01Z' };
    expect(
      check('provenance-verifiable', request(), { ...context, provenance: tampered })?.description,
    ).toBe('Provenance Ed25519 signature is cryptographically invalid');
    expect(
      check('provenance-verifiable', request(), {
        ...context,
        provenance: { ...prov, signature: 'AAAA' },
      })?.description,
    ).toContain('not 64 bytes');
    expect(
      check('provenance-verifiable', request(), {
        ...context,
        provenance: { ...prov, publicKey: '!!' },
      })?.description,
    ).toContain('not 32 bytes');
  });

  it('fails provenance for a different action', () => {
    const { context } = passingWorld();
    const v = check('provenance-verifiable', request(), {
      ...context,
      expectedActionHash: sha256Hex('other'),
    });
    expect(v?.description).toBe('Provenance is for a different action');
  });

  it('an AI actor verifies with its own typed signature', () => {
    const req = request({ actorSigner: AI });
    const { context } = passingWorld(req);
    expect(check('provenance-verifiable', req, context)).toBeNull();
    const other = { type: 'ai' as const, delegationId: sha256Hex('delegation-2') };
    expect(check('provenance-verifiable', { ...req, actorSigner: other }, context)).not.toBeNull();
  });

  it('an AI signature presented as human fails', () => {
    const aiReq = request({ actorSigner: AI });
    const { context } = passingWorld(aiReq);
    const asHuman = request({ actorSigner: HUMAN });
    const v = check('provenance-verifiable', asHuman, {
      ...context,
      expectedActionHash: undefined,
    });
    expect(v?.description).toBe('Provenance Ed25519 signature is cryptographically invalid');
  });
});

describe('human-credentials', () => {
  const minting = [
    ['token.create', { subject: 'did:sigil:someone', loa: 'root' }],
    ['token.issue', { subject: 'did:sigil:someone' }],
    ['license.generate', { subject: 'did:sigil:someone' }],
    ['witness.register', { did: 'did:sigil:someone' }],
    ['witness.enrol', { public_key: 'k' }],
    ['Token.Mint', {}],
  ] as const;

  it('refuses every credential an AI actor would make, whatever the context holds', () => {
    for (const [action, payload] of minting) {
      const req = request({ actorSigner: AI, action, target: 'tokens', payload });
      const { context } = passingWorld(req);
      const ctx = { ...context, actorPermissions: [action], requires: ALL_REQUIRED };
      const v = check('human-credentials', req, ctx);
      expect(v, action).not.toBeNull();
      expect(v!.evidence).toContain(`signer: ai`);
      expect(enforceAll(req, ctx).map((x) => x.invariant)).toContain('human-credentials');
    }
  });

  it('lets an AI pass on part of its own chain: a delegation is not a credential', () => {
    const req = request({
      actorSigner: AI,
      action: 'delegation.create',
      target: 'delegations/did:sigil:someone',
      payload: { grantee: 'did:sigil:someone', permissions: ['memory.read'] },
    });
    expect(check('human-credentials', req, passingWorld(req).context)).toBeNull();
  });

  it('refuses an AI consent grant on another bailor behalf, or naming none', () => {
    const { context } = passingWorld();
    const grantAs = (bailor?: string) =>
      check(
        'human-credentials',
        request({
          actorSigner: AI,
          action: 'consent.grant',
          target: 'consent/x',
          payload: bailor === undefined ? { bailee: ACTOR } : { bailor, bailee: ACTOR },
        }),
        context,
      );
    expect(grantAs(BAILOR)?.evidence).toContain(`bailor: ${BAILOR}`);
    expect(grantAs()?.evidence).toContain('bailor: not named');
    expect(grantAs(ACTOR)).toBeNull();
  });

  it('lets humans make credentials and AI actors observe or withdraw them', () => {
    const { context } = passingWorld();
    for (const [action, payload] of minting) {
      expect(check('human-credentials', request({ action, payload }), context)).toBeNull();
    }
    for (const action of ['token.list', 'token.revoke', 'license.validate', 'witness.status']) {
      expect(check('human-credentials', request({ actorSigner: AI, action }), context)).toBeNull();
    }
  });
});
