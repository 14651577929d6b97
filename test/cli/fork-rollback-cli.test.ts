/**
 * Forks and rollbacks, as an attacker holding the data directory would make them: a copy of the
 * whole data dir (keys included) growing its own history, a tail cut out of the database, a log
 * cut down to nothing, an edited tile of the stored tree. Each is caught by the auditor's own
 * older checkpoint, through the real CLI: `sigil log verify-proof --old-checkpoint` and
 * `sigil validate --checkpoint`.
 */
import Database from 'better-sqlite3';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cutTail, initDataDir, json, sigil, tempRoot, type Run } from './sigil-process.ts';

const tmp = tempRoot();
afterAll(() => tmp.remove());

let verifierKey: string;
let n = 0;

/** Appends `count` user-data records with distinct payloads, tagged `who`. */
async function append(dataDir: string, who: string, count: number): Promise<void> {
  const lines = Array.from({ length: count }, () =>
    JSON.stringify({ kind: 'user_data', tenant: who, space: 'user', payload: { who, n: n++ } }),
  );
  const r = await sigil(
    ['canon', 'append', '--data-dir', dataDir, '--file', '-'],
    {},
    `${lines.join('\n')}\n`,
  );
  expect(r.code, r.stderr).toBe(0);
}

/** Signs a checkpoint of `dataDir` now and keeps it in a file, as an auditor would. */
async function keepCheckpoint(
  dataDir: string,
  name: string,
): Promise<{ file: string; size: number; root_hash: string }> {
  const r = await sigil(['log', 'checkpoint', '--data-dir', dataDir, '--json']);
  expect(r.code, r.stderr).toBe(0);
  const cp = json<{ size: number; root_hash: string; note: string }>(r);
  return { file: tmp.file(name, cp.note), size: cp.size, root_hash: cp.root_hash };
}

/** The log's consistency proof from `from` to its newest checkpoint (the bundle with the note). */
async function proofFrom(dataDir: string, from: number, name: string): Promise<string> {
  const r = await sigil([
    'log',
    'consistency',
    '--data-dir',
    dataDir,
    '--from',
    String(from),
    '--json',
  ]);
  expect(r.code, r.stderr).toBe(0);
  return tmp.file(name, r.stdout);
}

function verifyProof(proof: string, oldCheckpoint: string): Promise<Run> {
  return sigil([
    'log',
    'verify-proof',
    '--proof',
    proof,
    '--old-checkpoint',
    oldCheckpoint,
    '--pub-key',
    verifierKey,
    '--json',
  ]);
}

function validate(dataDir: string, checkpoint?: string): Promise<Run> {
  const extra = checkpoint === undefined ? [] : ['--checkpoint', checkpoint];
  return sigil(['validate', '--data-dir', dataDir, '--json', ...extra]);
}

describe('an auditor checking against the checkpoint it kept', { timeout: 180_000 }, () => {
  const original = join(tmp.root, 'original');
  const fork = join(tmp.root, 'fork');
  let kept: { file: string; size: number; root_hash: string };

  beforeAll(async () => {
    const { init } = await initDataDir(original);
    verifierKey = init.verifier_key as string;
    await append(original, 'shared', 4);
    // The attacker copies the whole data dir, keys included, and both copies grow apart.
    cpSync(original, fork, { recursive: true });
    await append(original, 'honest', 3);
    await append(fork, 'forger', 3);
    kept = await keepCheckpoint(original, 'kept.txt');
    await append(original, 'honest', 2);
    await append(fork, 'forger', 5);
  });

  it('accepts the honest log that extends the kept checkpoint', async () => {
    const ok = await verifyProof(await proofFrom(original, kept.size, 'honest.json'), kept.file);
    expect(ok.code, ok.stderr).toBe(0);
    expect(json(ok)).toEqual({ ok: true, kind: 'consistency' });
    const valid = await validate(original, kept.file);
    expect(valid.code, valid.stdout).toBe(0);
    expect(json(valid)).toMatchObject({ ok: true });
  });

  it('catches the fork with verify-proof, whatever its own checkpoint says', async () => {
    // The fork signs its own checkpoints with the same key: on its own it looks fine.
    const selfCheck = await validate(fork);
    expect(selfCheck.code, selfCheck.stdout).toBe(0);
    const forged = await proofFrom(fork, kept.size, 'fork.json');
    const bundle = JSON.parse(readFileSync(forged, 'utf8')) as {
      proof: { size1: number; root1: string };
    };
    expect(bundle.proof.size1).toBe(kept.size);
    expect(bundle.proof.root1).not.toBe(kept.root_hash);
    const caught = await verifyProof(forged, kept.file);
    expect(caught.code).toBe(1);
    expect(json(caught)).toMatchObject({ ok: false, kind: 'consistency', code: 'root_mismatch' });
    expect(json<{ reason: string }>(caught).reason).toMatch(/does not extend/);
  });

  it('catches the fork with validate --checkpoint, naming the size and root it expected', async () => {
    const caught = await validate(fork, kept.file);
    expect(caught.code).toBe(1);
    const out = json<{ ok: boolean; code: string; reason: string; checkpoint: number }>(caught);
    expect(out).toMatchObject({ ok: false, code: 'not_extended', checkpoint: kept.size });
    expect(out.reason).toContain(`${kept.size} records`);
    expect(out.reason).toContain(kept.root_hash);
    expect(out.reason).toMatch(/forked/);
    const human = await sigil(['validate', '--data-dir', fork, '--checkpoint', kept.file]);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/^FAILED at seq \d+: not_extended: .*expected at least/);
  });

  it('catches a tail cut with both, though the cut store is consistent with itself', async () => {
    const cut = join(tmp.root, 'cut');
    cpSync(original, cut, { recursive: true });
    cutTail(cut, kept.size - 2);
    const selfCheck = await validate(cut);
    expect(selfCheck.code, selfCheck.stdout).toBe(0);

    const caught = await validate(cut, kept.file);
    expect(caught.code).toBe(1);
    const out = json<{ code: string; reason: string; seq: number }>(caught);
    expect(out).toMatchObject({ code: 'not_extended', seq: kept.size - 2 });
    expect(out.reason).toMatch(/tail cut or rolled back/);
    expect(out.reason).toContain(kept.root_hash);
    expect(out.reason).toContain(`holds ${kept.size - 2}`);

    // The cut log cannot prove anything from the kept size; its best offer is a proof to its
    // own, smaller checkpoint, and that is a rollback.
    const none = await sigil([
      'log',
      'consistency',
      '--data-dir',
      cut,
      '--from',
      String(kept.size),
    ]);
    expect(none.code).not.toBe(0);
    const back = await verifyProof(await proofFrom(cut, 1, 'cut.json'), kept.file);
    expect(back.code).toBe(1);
    expect(json(back)).toMatchObject({ ok: false, code: 'rolled_back' });
  });

  it('names an edited tile, and the proof built from it does not verify', async () => {
    const edited = join(tmp.root, 'edited');
    const key = (await initDataDir(edited)).init.verifier_key as string;
    await append(edited, 'tiles', 300);
    const cp = await keepCheckpoint(edited, 'edited-kept.txt');
    const proveAndVerify = async (name: string) => {
      const args = ['--data-dir', edited, '--seq', '0', '--size', String(cp.size), '--json'];
      const r = await sigil(['log', 'prove', ...args]);
      expect(r.code, r.stderr).toBe(0);
      const file = tmp.file(name, r.stdout);
      const check = ['--proof', file, '--checkpoint', cp.file, '--pub-key', key, '--json'];
      return sigil(['log', 'verify-proof', ...check]);
    };
    expect((await proveAndVerify('honest-proof.json')).code).toBe(0);
    // Leaf 1 inside the stored full tile 0/000: the first hash of seq 0's inclusion path.
    const db = new Database(join(edited, 'canon.db'));
    try {
      const { nodes } = db.prepare('SELECT nodes FROM tiles WHERE level = 0 AND idx = 0').get() as {
        nodes: Buffer;
      };
      nodes[32] = nodes[32]! ^ 0x01;
      db.prepare('UPDATE tiles SET nodes = ? WHERE level = 0 AND idx = 0').run(nodes);
    } finally {
      db.close();
    }
    const caught = await validate(edited);
    expect(caught.code).toBe(1);
    const out = json<{ code: string; reason: string; seq: number }>(caught);
    expect(out).toMatchObject({ ok: false, code: 'tile_mismatch', seq: 0 });
    expect(out.reason).toMatch(/^tile\/0\/000: the stored tile differs/);
    const check = await proveAndVerify('edited-proof.json');
    expect(check.code).toBe(1);
    // The root is the stored level-1 hash (unedited), the path holds the edited leaf.
    expect(json(check)).toMatchObject({ ok: false, code: 'proof_invalid' });
  });

  it('catches a log cut down to nothing', async () => {
    const empty = join(tmp.root, 'empty');
    cpSync(original, empty, { recursive: true });
    cutTail(empty, 0);
    const caught = await validate(empty, kept.file);
    expect(caught.code).toBe(1);
    expect(json(caught)).toMatchObject({ ok: false, code: 'not_extended', seq: 0 });
    const human = await sigil(['validate', '--data-dir', empty, '--checkpoint', kept.file]);
    expect(human.code).toBe(1);
    expect(human.stdout).not.toMatch(/^ok/);
    const back = await verifyProof(await proofFrom(empty, 0, 'empty.json'), kept.file);
    expect(back.code).toBe(1);
    expect(json(back)).toMatchObject({ ok: false, code: 'rolled_back' });
  });

  it('refuses a checkpoint that is not of this log', async () => {
    const other = join(tmp.root, 'other');
    await initDataDir(other);
    const foreign = await keepCheckpoint(other, 'foreign.txt');
    const r = await validate(original, foreign.file);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/checkpoint_invalid/);
  });
});
