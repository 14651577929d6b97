/**
 * The quorum end to end through the CLI: each witness enrols its own key (from the key store, or
 * with a challenge answered where the key lives), nothing commits before genesis, genesis is
 * sealed with every witness's vote, a change is refused before its quorum and committed after it,
 * and Root alone never commits, never mints a Mentor and never votes for a Mentor.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import {
  signAttestation,
  signEnrolment,
  type EnrolmentChallenge,
  type Proposal,
} from '../../src/quorum/index.ts';
import { initDataDir, json, sigil, tempRoot } from './sigil-process.ts';

let tmp: ReturnType<typeof tempRoot>;
let dataDir: string;

beforeAll(async () => {
  tmp = tempRoot();
  dataDir = join(tmp.root, 'data');
  await initDataDir(dataDir);
});
afterAll(() => tmp.remove());

const run = (...args: string[]) => sigil([...args, '--data-dir', dataDir]);
const mentorToken = async (did: string) => {
  const t = await run(
    'token',
    'create',
    '--subject',
    did,
    '--loa',
    'mentor',
    '--signer',
    'human',
    '--json',
  );
  expect(t.code, t.stderr).toBe(0);
  return json<{ token: string }>(t).token;
};

describe('sigil quorum', () => {
  it('enrols, seals genesis, refuses a commit before Root + 3 Mentors vote, then commits', async () => {
    const ids = ['w-root', 'w-m1', 'w-m2'];
    const gens = await Promise.all(ids.map((id) => run('generate-key', '--key-id', id)));
    for (const g of gens) expect(g.code, g.stderr).toBe(0);
    const [t1, t2, t3] = [
      await mentorToken('did:sigil:m1'),
      await mentorToken('did:sigil:m2'),
      await mentorToken('did:sigil:m3'),
    ];

    // Root (through the data dir's license) and two Mentors enrol keys from the key store.
    const enrolled = [
      await run('quorum', 'enrol', '--key-id', 'w-root', '--json'),
      await run('quorum', 'enrol', '--key-id', 'w-m1', '--token', t1!, '--json'),
      await run('quorum', 'enrol', '--key-id', 'w-m2', '--token', t2!, '--json'),
    ];
    for (const e of enrolled) expect(e.code, e.stderr).toBe(0);
    expect(json(enrolled[0]!)).toMatchObject({
      did: 'did:sigil:root',
      role: 'root',
      admitted: null,
    });
    // The same key under another DID is refused.
    const reused = await run('quorum', 'enrol', '--key-id', 'w-m1', '--token', t3!);
    expect(reused.code).toBe(1);
    expect(reused.stderr).toMatch(/^sigil: witness_key_reused/);
    // The third Mentor keeps its key elsewhere: a challenge, answered with a proof made there.
    const outside = generateKeyPair();
    const outsidePub = toBase64Url(publicKeyToRaw(outside.publicKey));
    const c = await run('quorum', 'challenge', '--token', t3!, '--json');
    expect(c.code, c.stderr).toBe(0);
    const challenge = json<EnrolmentChallenge>(c);
    expect(challenge).toMatchObject({ subject: 'did:sigil:m3', role: 'mentor' });
    const proof = signEnrolment(challenge, outsidePub, outside.privateKey);
    const answer = (token: string) =>
      run(
        'quorum',
        'enrol',
        '--challenge',
        challenge.id,
        '--public-key',
        outsidePub,
        '--proof',
        proof,
        '--token',
        token,
        '--json',
      );
    const stolen = await answer(t2!);
    expect(stolen.code).toBe(1);
    expect(stolen.stderr).toMatch(/^sigil: witness_challenge_invalid/);
    const m3 = await answer(t3!);
    expect(m3.code, m3.stderr).toBe(0);
    expect((await answer(t3!)).stderr).toMatch(/witness_challenge_invalid/);

    // Before genesis nothing commits.
    const change = tmp.file(
      'change.json',
      JSON.stringify({ setting: 'irl.threshold', value: 0.5 }),
    );
    const proposed = await run('quorum', 'propose', '--change', change, '--json');
    expect(proposed.code, proposed.stderr).toBe(0);
    const proposal = json<Proposal>(proposed);
    expect(proposal).toMatchObject({ status: 'pending', required: { root: 1, mentors: 3 } });
    const tooSoon = await run('quorum', 'commit', proposal.id);
    expect(tooSoon.code).toBe(1);
    expect(tooSoon.stderr).toMatch(/^sigil: genesis_required/);

    const attest = (p: Proposal, ...how: string[]) =>
      run('quorum', 'attest', '--proposal', p.id, ...how, '--json');
    const g = await run('quorum', 'genesis', '--json');
    expect(g.code, g.stderr).toBe(0);
    const genesis = json<Proposal>(g);
    const m3Vote = (p: Proposal) => signAttestation(p, 'did:sigil:m3', outside.privateKey);
    for (const how of [
      ['--key-id', 'w-root'],
      ['--key-id', 'w-m1', '--token', t1!],
      ['--key-id', 'w-m2', '--token', t2!],
      [
        '--signature',
        m3Vote(genesis).signature,
        '--provenance-signature',
        m3Vote(genesis).provenance_signature,
        '--token',
        t3!,
      ],
    ]) {
      const a = await attest(genesis, ...how);
      expect(a.code, a.stderr).toBe(0);
    }
    const sealed = await run('quorum', 'commit', genesis.id);
    expect(sealed.code, sealed.stderr).toBe(0);
    const listed = await run('quorum', 'witnesses');
    expect(listed.stdout).toMatch(/mentor witness did:sigil:m3: in force \(genesis\)/);
    expect(listed.stdout).toMatch(/genesis: sealed/);

    const early = await run('quorum', 'commit', proposal.id);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/^sigil: quorum_required: quorum not satisfied/);
    for (const how of [
      ['--key-id', 'w-root'],
      ['--key-id', 'w-m1', '--token', t1!],
      ['--key-id', 'w-m2', '--token', t2!],
    ]) {
      const a = await attest(proposal, ...how);
      expect(a.code, a.stderr).toBe(0);
    }
    const status = await run('quorum', 'status', proposal.id);
    expect(status.stdout).toMatch(/quorum not yet met \(1\/1 Root, 2\/3 Mentors\)/);
    const [dup, wrongKey] = await Promise.all([
      attest(proposal, '--key-id', 'w-m1', '--token', t1!),
      attest(proposal, '--key-id', 'w-m2', '--token', t3!),
    ]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/duplicate_attestation/);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/signature_invalid/);

    const last = await attest(
      proposal,
      '--signature',
      m3Vote(proposal).signature,
      '--provenance-signature',
      m3Vote(proposal).provenance_signature,
      '--token',
      t3!,
    );
    expect(last.code, last.stderr).toBe(0);
    expect(json(last)).toMatchObject({ status: { satisfied: true, root: 1, mentors: 3 } });

    const committed = await run('quorum', 'commit', proposal.id, '--json');
    expect(committed.code, committed.stderr).toBe(0);
    const result = json<{ proposal: Proposal; record: { kind: string; space: string } }>(committed);
    expect(result.proposal.status).toBe('committed');
    expect(result.record).toMatchObject({ kind: 'system_config', space: 'system' });
    // The committed threshold decides the next decision, in a new process, without a restart.
    const inForce = await run('trust', 'status', '--json');
    expect(json(inForce)).toMatchObject({ threshold: 0.5 });

    const [list, again, missing] = await Promise.all([
      run('quorum', 'status', '--json'),
      run('quorum', 'commit', proposal.id),
      run('quorum', 'status', 'no-such-proposal'),
    ]);
    expect(json<{ proposals: Proposal[] }>(list).proposals).toContainEqual(
      expect.objectContaining({ id: proposal.id, status: 'committed' }),
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/proposal_not_pending/);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/proposal_not_found/);

    // After genesis, Root alone: no new Mentor, no vote in a Mentor's name, no commit.
    const puppet = await run(
      'token',
      'create',
      '--subject',
      'did:sigil:puppet',
      '--loa',
      'mentor',
      '--signer',
      'human',
    );
    expect(puppet.code).toBe(1);
    expect(puppet.stderr).toMatch(/^sigil: quorum_required/);
    const alone = await run(
      'quorum',
      'propose',
      '--change-json',
      '{"setting":"irl.threshold","value":0.45}',
      '--json',
    );
    const p2 = json<Proposal>(alone);
    expect((await attest(p2, '--key-id', 'w-root')).code).toBe(0);
    const asM1 = await mentorToken('did:sigil:m1'); // m1 holds Mentor standing already
    const forged = await attest(p2, '--key-id', 'w-root', '--token', asM1);
    expect(forged.stderr).toMatch(/^sigil: signature_invalid/);
    const refused = await run('quorum', 'commit', p2.id);
    expect(refused.stderr).toMatch(/^sigil: quorum_required/);
  }, 120_000);
});
