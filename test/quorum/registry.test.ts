/**
 * Witness enrolment: a Mentor or Root enrols its own key with a proof of possession over a
 * single-use challenge; genesis names the enrolled set with its standing.
 */
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/core/ed25519.ts';
import type { Loa } from '../../src/policy/loa.ts';
import {
  emptyRegistry,
  enrolWitness,
  genesisChange,
  registryFromEntries,
  signEnrolment,
  type EnrolmentChallenge,
} from '../../src/quorum/index.ts';
import {
  AI,
  entryOf,
  HUMAN,
  m1,
  m2,
  m3,
  MENTOR_ACTOR,
  publicKeyB64,
  root,
  T0,
} from './fixtures.ts';

const challenge = (over: Partial<EnrolmentChallenge> = {}): EnrolmentChallenge => ({
  id: 'c1',
  subject: m1.did,
  role: 'mentor',
  nonce: 'bm9uY2U',
  issued_at: new Date(T0).toISOString(),
  expires_at: new Date(T0 + 600_000).toISOString(),
  used_at: null,
  ...over,
});

const proofFor = (c: EnrolmentChallenge, key = m1) =>
  signEnrolment(c, publicKeyB64(key), key.keys.privateKey);

describe('witness enrolment', () => {
  it('the caller enrols its own key: the witness is its DID, not yet in force', () => {
    const c = challenge();
    const entry = enrolWitness(
      emptyRegistry(),
      c,
      { public_key: publicKeyB64(m1), proof: proofFor(c) },
      MENTOR_ACTOR,
      T0 + 1,
    );
    expect(entry).toEqual({
      witness_id: m1.did,
      did: m1.did,
      role: 'mentor',
      public_key: publicKeyB64(m1),
      registered_at: new Date(T0 + 1).toISOString(),
      revoked_at: null,
      admitted: null,
    });
  });

  it('refuses a missing, foreign, used, expired or wrong-slot challenge', () => {
    const enrol = (c: EnrolmentChallenge | undefined, by = MENTOR_ACTOR, now = T0 + 1) =>
      enrolWitness(
        emptyRegistry(),
        c,
        { public_key: publicKeyB64(m1), proof: c ? proofFor(c) : '' },
        by,
        now,
      );
    const code = { code: 'witness_challenge_invalid' };
    expect(() => enrol(undefined)).toThrow(expect.objectContaining(code));
    expect(() => enrol(challenge({ subject: m2.did }))).toThrow(expect.objectContaining(code));
    expect(() => enrol(challenge({ used_at: new Date(T0).toISOString() }))).toThrow(
      expect.objectContaining(code),
    );
    expect(() => enrol(challenge(), MENTOR_ACTOR, T0 + 600_000)).toThrow(
      expect.objectContaining(code),
    );
    expect(() => enrol(challenge({ role: 'root' }))).toThrow(expect.objectContaining(code));
    expect(() => enrol(challenge(), { subject: m1.did, loa: 'operator', signer: HUMAN })).toThrow(
      expect.objectContaining(code),
    );
  });

  it('refuses a proof by another key, for another challenge, AI-typed, or for another key', () => {
    const c = challenge();
    const stranger = generateKeyPair();
    const bad = [
      signEnrolment(c, publicKeyB64(m1), stranger.privateKey),
      signEnrolment({ ...c, nonce: 'b3RoZXI' }, publicKeyB64(m1), m1.keys.privateKey),
      signEnrolment({ ...c, subject: m2.did }, publicKeyB64(m1), m1.keys.privateKey),
      signEnrolment(c, publicKeyB64(m1), m1.keys.privateKey, AI),
      signEnrolment(c, publicKeyB64(m2), m1.keys.privateKey),
      'not base64url!',
    ];
    for (const proof of bad) {
      expect(() =>
        enrolWitness(emptyRegistry(), c, { public_key: publicKeyB64(m1), proof }, MENTOR_ACTOR, T0),
      ).toThrow(expect.objectContaining({ code: 'signature_invalid' }));
    }
    expect(() =>
      enrolWitness(emptyRegistry(), c, { public_key: 'AAAA', proof: bad[0]! }, MENTOR_ACTOR, T0),
    ).toThrow(expect.objectContaining({ code: 'witness_invalid' }));
  });

  it("refuses another DID's key, and a witness in force re-enrolling", () => {
    const c = challenge();
    const taken = registryFromEntries([entryOf(m2, null)]);
    // m1 presenting m2's key (with m2's proof, as a thief of m2's key would)
    const proof = signEnrolment(c, publicKeyB64(m2), m2.keys.privateKey);
    expect(() =>
      enrolWitness(taken, c, { public_key: publicKeyB64(m2), proof }, MENTOR_ACTOR, T0),
    ).toThrow(expect.objectContaining({ code: 'witness_key_reused' }));
    const inForce = registryFromEntries([entryOf(m1)]);
    const fresh = generateKeyPair();
    const k = { ...m1, keys: fresh };
    expect(() =>
      enrolWitness(
        inForce,
        c,
        { public_key: publicKeyB64(k), proof: proofFor(c, k) },
        MENTOR_ACTOR,
        T0,
      ),
    ).toThrow(expect.objectContaining({ code: 'witness_exists' }));
    // an enrolment not yet admitted is replaced by the same DID's new one
    const pending = registryFromEntries([entryOf(m1, null)]);
    expect(
      enrolWitness(
        pending,
        c,
        { public_key: publicKeyB64(k), proof: proofFor(c, k) },
        MENTOR_ACTOR,
        T0,
      ).public_key,
    ).toBe(publicKeyB64(k));
  });

  it('rejects malformed stored rows', () => {
    const good = entryOf(m1);
    for (const bad of [
      null,
      { ...good, witness_id: 'mentor-1' },
      { ...good, role: 'boss' },
      { ...good, public_key: 'AAAA' },
      { ...good, registered_at: 'yesterday' },
      { ...good, admitted: '' },
    ]) {
      expect(() => registryFromEntries([bad])).toThrow(
        expect.objectContaining({ code: 'witness_invalid' }),
      );
    }
  });
});

describe('genesis change', () => {
  const standing = new Map<string, Loa>([
    [root.did, 'root'],
    [m1.did, 'mentor'],
    [m2.did, 'mentor'],
    [m3.did, 'mentor'],
  ]);

  it('names every enrolled witness with its standing and needs every one of them', () => {
    const registry = registryFromEntries([root, m1, m2, m3].map((s) => entryOf(s, null)));
    const { change, requirements } = genesisChange(registry, standing, 3);
    expect(requirements).toEqual({ root: 1, mentors: 3 });
    expect(change.genesis.witnesses.map((w) => w.did)).toEqual(
      [m1.did, m2.did, m3.did, root.did].sort(),
    );
    expect(change.genesis.mentors_required).toBe(3);
  });

  it('is refused without Root or k Mentors holding their standing', () => {
    const registry = registryFromEntries([root, m1, m2, m3].map((s) => entryOf(s, null)));
    const code = { code: 'genesis_incomplete' };
    expect(() => genesisChange(registry, standing, 4)).toThrow(expect.objectContaining(code));
    const lost = new Map(standing);
    lost.set(m3.did, 'operator');
    expect(() => genesisChange(registry, lost, 3)).toThrow(expect.objectContaining(code));
    const noRoot = new Map(standing);
    noRoot.set(root.did, 'mentor');
    expect(() => genesisChange(registry, noRoot, 3)).toThrow(expect.objectContaining(code));
  });
});
