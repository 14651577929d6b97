import { describe, expect, it } from 'vitest';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import {
  activeWitnesses,
  applyWitnessEvent,
  emptyRegistry,
  lookupWitness,
  registerWitness,
  registryFromEvents,
  revokeWitness,
  type WitnessEvent,
} from '../../src/quorum/index.ts';
import { AI, HUMAN, m1, m2, MENTOR_ACTOR, publicKeyB64, root, ROOT, T0 } from './fixtures.ts';

const spec = (s: typeof m1, overrides: Record<string, unknown> = {}) => ({
  witness_id: s.witness_id,
  did: s.did,
  role: s.role,
  public_key: publicKeyB64(s),
  ...overrides,
});

describe('witness registry', () => {
  it('Root registers witnesses; the event records the entry and rebuilds the same registry', () => {
    const first = registerWitness(emptyRegistry(), spec(root), ROOT, T0);
    const second = registerWitness(first.registry, spec(m1), ROOT, T0 + 1);
    expect(second.event).toEqual({
      type: 'witness_registered',
      entry: {
        witness_id: 'mentor-1',
        did: 'did:key:m1',
        role: 'mentor',
        public_key: publicKeyB64(m1),
        registered_at: new Date(T0 + 1).toISOString(),
        revoked_at: null,
      },
    });
    expect(lookupWitness(second.registry, 'mentor-1')?.role).toBe('mentor');
    expect(lookupWitness(first.registry, 'mentor-1')).toBeUndefined(); // immutable
    const replayed = registryFromEvents(
      JSON.parse(JSON.stringify([first.event, second.event])) as WitnessEvent[],
    );
    expect(replayed).toEqual(second.registry);
  });

  it('only a human Root may register or revoke', () => {
    expect(() => registerWitness(emptyRegistry(), spec(m1), MENTOR_ACTOR, T0)).toThrow(
      expect.objectContaining({ code: 'loa_insufficient' }),
    );
    expect(() => registerWitness(emptyRegistry(), spec(m1), { ...ROOT, signer: AI }, T0)).toThrow(
      expect.objectContaining({ code: 'actor_not_human' }),
    );
    const { registry } = registerWitness(emptyRegistry(), spec(m1), ROOT, T0);
    expect(() => revokeWitness(registry, 'mentor-1', MENTOR_ACTOR, T0)).toThrow(
      expect.objectContaining({ code: 'loa_insufficient' }),
    );
  });

  it('one key, one DID, one id: no signer can be registered twice', () => {
    const { registry } = registerWitness(emptyRegistry(), spec(m1), ROOT, T0);
    expect(() => registerWitness(registry, spec(m1), ROOT, T0)).toThrow(
      expect.objectContaining({ code: 'witness_exists' }),
    );
    expect(() =>
      registerWitness(
        registry,
        spec(m1, { witness_id: 'mentor-1b', did: 'did:key:other' }),
        ROOT,
        T0,
      ),
    ).toThrow(expect.objectContaining({ code: 'witness_key_reused' }));
    expect(() => registerWitness(registry, spec(m2, { did: m1.did }), ROOT, T0)).toThrow(
      expect.objectContaining({ code: 'witness_exists' }),
    );
    // after revocation the person may return with a new key, never with the old one
    const revoked = revokeWitness(registry, 'mentor-1', ROOT, T0 + 5).registry;
    const fresh = toBase64Url(publicKeyToRaw(generateKeyPair().publicKey));
    const back = registerWitness(
      revoked,
      spec(m1, { witness_id: 'mentor-1-v2', public_key: fresh }),
      ROOT,
      T0 + 6,
    );
    expect(activeWitnesses(back.registry).map((e) => e.witness_id)).toEqual(['mentor-1-v2']);
    expect(() =>
      registerWitness(revoked, spec(m1, { witness_id: 'mentor-1-v3' }), ROOT, T0 + 6),
    ).toThrow(expect.objectContaining({ code: 'witness_key_reused' }));
  });

  it('revocation marks the entry and is recorded', () => {
    const { registry } = registerWitness(emptyRegistry(), spec(m1), ROOT, T0);
    const { registry: after, event } = revokeWitness(registry, 'mentor-1', ROOT, T0 + 10);
    expect(event).toEqual({
      type: 'witness_revoked',
      witness_id: 'mentor-1',
      revoked_at: new Date(T0 + 10).toISOString(),
    });
    expect(lookupWitness(after, 'mentor-1')?.revoked_at).toBe(new Date(T0 + 10).toISOString());
    expect(lookupWitness(registry, 'mentor-1')?.revoked_at).toBeNull();
    expect(() => revokeWitness(after, 'mentor-1', ROOT, T0)).toThrow(
      expect.objectContaining({ code: 'witness_revoked' }),
    );
    expect(() => revokeWitness(after, 'nobody', ROOT, T0)).toThrow(
      expect.objectContaining({ code: 'witness_unknown' }),
    );
  });

  it('rejects malformed entries and events', () => {
    const good = { ...spec(m1), registered_at: new Date(T0).toISOString(), revoked_at: null };
    const bad = [
      { ...good, witness_id: '' },
      { ...good, witness_id: 'has space' },
      { ...good, did: 'not-a-did' },
      { ...good, role: 'root ' },
      { ...good, public_key: toBase64Url(new Uint8Array(31)) },
      { ...good, public_key: `${publicKeyB64(m1)}=` },
      { ...good, registered_at: 'yesterday' },
      { ...good, revoked_at: new Date(T0).toISOString() },
    ];
    for (const entry of bad) {
      expect(() =>
        applyWitnessEvent(emptyRegistry(), { type: 'witness_registered', entry } as WitnessEvent),
      ).toThrow(expect.objectContaining({ code: 'witness_invalid' }));
    }
    expect(() => applyWitnessEvent(emptyRegistry(), { type: 'witness_promoted' } as never)).toThrow(
      expect.objectContaining({ code: 'witness_invalid' }),
    );
    expect(() =>
      registerWitness(emptyRegistry(), spec(m1), { ...ROOT, signer: HUMAN }, Number.NaN),
    ).toThrow(expect.objectContaining({ code: 'invalid_time' }));
  });
});
