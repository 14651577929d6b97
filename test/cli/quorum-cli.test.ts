/**
 * The quorum end to end: witnesses registered, a system change proposed, refused before its
 * quorum, attested by Root + 3 Mentors (keys from the key store and one from outside) and committed.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import { signAttestation, type Proposal } from '../../src/quorum/index.ts';
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

describe('sigil quorum', () => {
  it('refuses a commit before Root + 3 Mentors attest, then commits', async () => {
    const ids = ['w-root', 'w-m1', 'w-m2'];
    const gens = await Promise.all(ids.map((id) => run('generate-key', '--key-id', id)));
    for (const g of gens) expect(g.code, g.stderr).toBe(0);
    const outside = generateKeyPair();
    const outsidePub = toBase64Url(publicKeyToRaw(outside.publicKey));

    const register = (id: string, did: string, role: string, ...key: string[]) =>
      run(
        'quorum',
        'register-witness',
        '--witness-id',
        id,
        '--did',
        did,
        '--role',
        role,
        ...key,
        '--json',
      );
    const [badRole, ...regs] = await Promise.all([
      register('w-x', 'did:example:x', 'boss', '--key-id', 'w-m1'),
      register('w-root', 'did:example:root', 'root', '--key-id', 'w-root'),
      register('w-m1', 'did:example:m1', 'mentor', '--key-id', 'w-m1'),
      register('w-m2', 'did:example:m2', 'mentor', '--key-id', 'w-m2'),
      register('w-m3', 'did:example:m3', 'mentor', '--public-key', outsidePub),
    ]);
    expect(badRole!.code).toBe(2);
    for (const r of regs) expect(r.code, r.stderr).toBe(0);
    expect(json(regs[3]!)).toMatchObject({
      witness_id: 'w-m3',
      role: 'mentor',
      public_key: outsidePub,
    });

    const change = tmp.file(
      'change.json',
      JSON.stringify({ setting: 'irl.threshold', value: 0.5 }),
    );
    const [reused, proposed] = await Promise.all([
      register('w-y', 'did:example:y', 'mentor', '--key-id', 'w-m1'),
      run('quorum', 'propose', '--change', change, '--json'),
    ]);
    expect(reused!.code).toBe(1);
    expect(reused!.stderr).toMatch(/witness_key_reused/);
    expect(proposed.code, proposed.stderr).toBe(0);
    const proposal = json<Proposal>(proposed);
    expect(proposal).toMatchObject({ status: 'pending', required: { root: 1, mentors: 3 } });

    const early = await run('quorum', 'commit', proposal.id);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(
      /^sigil: quorum_required: quorum not satisfied: 0\/1 Root, 0\/3 Mentors/,
    );

    const attest = (witness: string, ...how: string[]) =>
      run('quorum', 'attest', '--proposal', proposal.id, '--witness-id', witness, ...how, '--json');
    for (const id of ids) {
      const a = await attest(id, '--key-id', id);
      expect(a.code, a.stderr).toBe(0);
    }
    const status = await run('quorum', 'status', proposal.id);
    expect(status.stdout).toMatch(/quorum not yet met \(1\/1 Root, 2\/3 Mentors\)/);
    const [dup, wrongSigner] = await Promise.all([
      attest('w-m1', '--key-id', 'w-m1'),
      attest('w-m3', '--key-id', 'w-m2'),
    ]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/duplicate_attestation/);
    expect(wrongSigner.code).toBe(1);
    expect(wrongSigner.stderr).toMatch(/signature_invalid/);

    const last = await attest('w-m3', '--signature', signAttestation(proposal, outside.privateKey));
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
    expect(json<{ proposals: Proposal[] }>(list).proposals).toEqual([
      expect.objectContaining({ id: proposal.id, status: 'committed' }),
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/proposal_not_pending/);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/proposal_not_found/);
  });
});
