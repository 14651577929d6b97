/**
 * A witness enrolment challenge is single-use across instances: the enrolment's append expects
 * the challenge's view row (and the caller's witness row) unchanged, inside the store
 * transaction. Two runtimes on one store (SQLite file or PostgreSQL database) racing one
 * challenge seal exactly one enrolment; the other gets witness_challenge_invalid. Two challenges
 * of one subject racing never overwrite the subject's row unseen: when both read it absent, one
 * gets witness_exists; when one read the other's entry (not yet in force), it replaces it, as a
 * re-enrolment in turn does, and the row is the last sealed entry's. One key enrolled
 * by two subjects at once seals once (the key's row must be absent); the other gets
 * witness_key_reused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { signEnrolment, type EnrolmentChallenge } from '../../src/quorum/index.ts';
import type { Caller, SigilRuntime } from '../../src/runtime/index.ts';
import { BACKENDS } from '../canon/helpers/log.ts';
import { humanCaller } from '../quorum/ceremony.ts';
import { recordsOfKind, twoInstances, type Instances } from './instances.ts';

const ROUNDS = 5;

function answer(challenge: EnrolmentChallenge) {
  const keys = generateKeyPair();
  const public_key = toBase64Url(publicKeyToRaw(keys.publicKey));
  return {
    challenge_id: challenge.id,
    public_key,
    proof: signEnrolment(challenge, public_key, keys.privateKey),
  };
}

const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'enrolled',
    (err: unknown) => (isSigilError(err) ? err.code : String(err)),
  );

describe.each(BACKENDS)('racing enrolments on $name', ({ name, skip }) => {
  let inst: Instances;
  let root: Caller;

  beforeAll(async () => {
    if (skip) return;
    inst = await twoInstances(name);
    root = await inst.a.tokens.authenticate(inst.rootToken);
  });
  afterAll(async () => {
    if (!skip) await inst.cleanup();
  });

  async function enrolments(r: SigilRuntime, did: string): Promise<number> {
    return (await recordsOfKind(r.log, 'witness_event'))
      .map((rec) => rec.payload as { type?: string; entry?: { did?: string } })
      .filter((p) => p.type === 'witness_enrolled' && p.entry?.did === did).length;
  }

  /** A human Mentor token for `did`, authenticated on both runtimes. */
  async function mentorOnBoth(did: string): Promise<[Caller, Caller]> {
    const { token } = await humanCaller(inst.a, root, did, 'mentor');
    return [await inst.a.tokens.authenticate(token), await inst.b.tokens.authenticate(token)];
  }

  /** One challenge answered on `x` and on `y` at once: one enrolment, the other refused. */
  async function raceOneChallenge(x: SigilRuntime, y: SigilRuntime, did: string): Promise<void> {
    const [onA, onB] = await mentorOnBoth(did);
    const [onX, onY] = [x === inst.a ? onA : onB, y === inst.a ? onA : onB];
    const challenge = await x.quorum.enrolmentChallenge(onX);
    const results = await Promise.all([
      outcome(x.quorum.enrol(onX, answer(challenge))),
      outcome(y.quorum.enrol(onY, answer(challenge))),
    ]);
    expect(results.sort()).toEqual(['enrolled', 'witness_challenge_invalid']);
    expect(await enrolments(y, did)).toBe(1);
    // Spent for good: a third answer, on either runtime, is refused.
    expect(await outcome(inst.b.quorum.enrol(onB, answer(challenge)))).toBe(
      'witness_challenge_invalid',
    );
  }

  it.skipIf(skip)('one challenge answered on two runtimes: one enrolment sealed', async () => {
    for (let i = 0; i < ROUNDS; i += 1) {
      await raceOneChallenge(inst.a, inst.b, `did:sigil:race-mentor-${i}`);
    }
    expect(await inst.b.log.validate()).toMatchObject({ ok: true });
    expect(await inst.a.log.checkViews()).toEqual([]);
  });

  it.skipIf(skip)('one challenge answered twice on one runtime: one enrolment', async () => {
    await raceOneChallenge(inst.a, inst.a, 'did:sigil:race-mentor-same');
  });

  it.skipIf(skip)('two challenges of one subject on two runtimes: one witness key', async () => {
    const did = 'did:sigil:race-mentor-two';
    const [onA, onB] = await mentorOnBoth(did);
    const [ca, cb] = [
      await inst.a.quorum.enrolmentChallenge(onA),
      await inst.b.quorum.enrolmentChallenge(onB),
    ];
    const [aa, ab] = [answer(ca), answer(cb)];
    const results = await Promise.all([
      outcome(inst.a.quorum.enrol(onA, aa)),
      outcome(inst.b.quorum.enrol(onB, ab)),
    ]);
    // Whether the two reads both came before either commit depends on timing: the sealed
    // enrolments are exactly those answered 'enrolled', and the row is the last one's.
    const enrolled = results.filter((r) => r === 'enrolled').length;
    expect(enrolled).toBeGreaterThan(0);
    expect(results.filter((r) => r !== 'enrolled')).toEqual(
      enrolled === 1 ? ['witness_exists'] : [],
    );
    const sealed = (await recordsOfKind(inst.a.log, 'witness_event'))
      .map((rec) => rec.payload as { type?: string; entry?: { did?: string; public_key?: string } })
      .filter((p) => p.type === 'witness_enrolled' && p.entry?.did === did);
    expect(sealed).toHaveLength(enrolled);
    const row = (await inst.b.quorum.witnesses(root)).witnesses.find((w) => w.did === did);
    expect(row?.public_key).toBe(sealed[sealed.length - 1]!.entry!.public_key);
    expect([aa.public_key, ab.public_key]).toContain(row?.public_key);
    expect(await inst.a.log.checkViews()).toEqual([]);
  });

  it.skipIf(skip)('one key enrolled by two subjects on two runtimes: one enrolment', async () => {
    for (let i = 0; i < ROUNDS; i += 1) {
      const [x] = await mentorOnBoth(`did:sigil:race-key-x-${i}`);
      const [, y] = await mentorOnBoth(`did:sigil:race-key-y-${i}`);
      const [cx, cy] = [
        await inst.a.quorum.enrolmentChallenge(x),
        await inst.b.quorum.enrolmentChallenge(y),
      ];
      const keys = generateKeyPair();
      const public_key = toBase64Url(publicKeyToRaw(keys.publicKey));
      const proof = (c: EnrolmentChallenge) => ({
        challenge_id: c.id,
        public_key,
        proof: signEnrolment(c, public_key, keys.privateKey),
      });
      const results = await Promise.all([
        outcome(inst.a.quorum.enrol(x, proof(cx))),
        outcome(inst.b.quorum.enrol(y, proof(cy))),
      ]);
      expect(results.sort()).toEqual(['enrolled', 'witness_key_reused']);
      const sealed = (await recordsOfKind(inst.a.log, 'witness_event')).filter(
        (rec) =>
          (rec.payload as { entry?: { public_key?: string } }).entry?.public_key === public_key,
      );
      expect(sealed).toHaveLength(1);
    }
    // The registry still reads (two DIDs on one key would make every read witness_key_reused).
    expect((await inst.b.quorum.witnesses(root)).witnesses.length).toBeGreaterThan(0);
    expect(await inst.a.log.checkViews()).toEqual([]);
  });
});
