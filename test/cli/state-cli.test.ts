/**
 * `sigil validate` compares every view row with the projection of the log and names each one
 * that is not (namespace, key, record); `sigil state rebuild` (Root) recomputes the views, here
 * after restoring a backup that kept the records but not the derived views.
 */
import Database from 'better-sqlite3';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/hash.ts';
import { initDataDir, json, sigil, tempRoot } from './sigil-process.ts';

let tmp: ReturnType<typeof tempRoot>;
let dataDir: string;
let rootToken: string;

beforeAll(async () => {
  tmp = tempRoot();
  dataDir = join(tmp.root, 'data');
  ({ rootToken } = await initDataDir(dataDir));
});
afterAll(() => tmp.remove());

const run = (...args: string[]) => sigil([...args, '--data-dir', dataDir]);
const db = () => new Database(join(dataDir, 'canon.db'));

async function createToken(subject: string, loa: string): Promise<{ token: string; id: string }> {
  const r = await run(
    'token',
    'create',
    '--subject',
    subject,
    '--loa',
    loa,
    '--signer',
    'human',
    '--json',
  );
  expect(r.code, r.stderr).toBe(0);
  const created = json<{ token: string; info: { id: string } }>(r);
  return { token: created.token, id: created.info.id };
}

describe('sigil validate and sigil state rebuild', () => {
  it('validate names a forged view row; a non-Root cannot rebuild', async () => {
    const op = await createToken('did:example:op', 'operator');
    const ok = await run('validate');
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/every view row is its projection/);

    const forgedKey = sha256Hex('sgl_forged');
    const file = db();
    const model = file
      .prepare<[string], { v: string; seq: number; hash: string }>(
        "SELECT v, seq, hash FROM views WHERE ns = 'tokens' AND k = ?",
      )
      .get(sha256Hex(rootToken))!;
    file
      .prepare("INSERT INTO views (ns, k, v, seq, hash, mac) VALUES ('tokens', ?, ?, ?, ?, ?)")
      .run(forgedKey, model.v, model.seq, model.hash, Buffer.alloc(32));
    file.close();
    const bad = await run('validate');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('FAILED: 1 view rows are not the projection of the log');
    expect(bad.stdout).toContain(
      `view tokens/${forgedKey}: fails authentication (forged or edited); claims record seq ${model.seq}`,
    );
    const asJson = json<{ ok: boolean; views: unknown[] }>(await run('validate', '--json'));
    expect(asJson).toMatchObject({
      ok: false,
      code: 'state_invalid',
      views: [{ ns: 'tokens', key: forgedKey, problem: 'unauthenticated', seq: model.seq }],
    });

    const refused = await run('state', 'rebuild', '--token', op.token);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/^sigil: loa_insufficient: /);
    const rebuilt = await run('state', 'rebuild');
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect((await run('validate')).code).toBe(0);
  });

  it('restore a backup without its views, then state rebuild: views equal the projection', async () => {
    const alice = await createToken('did:example:alice', 'observer');
    const bob = await createToken('did:example:bob', 'mentor');
    const revoke = await run('token', 'revoke', bob.id);
    expect(revoke.code, revoke.stderr).toBe(0);

    // A backup of the records (views are derived, so the backup tool left them out) restored.
    const backup = join(tmp.root, 'backup.db');
    copyFileSync(join(dataDir, 'canon.db'), backup);
    const b = new Database(backup);
    b.exec('DELETE FROM views');
    b.close();
    copyFileSync(backup, join(dataDir, 'canon.db'));

    const stale = await run('validate');
    expect(stale.code).toBe(1);
    expect(stale.stdout).toMatch(
      new RegExp(
        `view tokens/${sha256Hex(alice.token)}: is missing, the projection of record seq \\d+ \\(id `,
      ),
    );
    expect((await run('whoami', '--token', alice.token)).stderr).toMatch(/token_invalid/);

    const rebuilt = await run('state', 'rebuild', '--json');
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(json(rebuilt)).toMatchObject({
      rows: expect.any(Number),
      decision_id: expect.any(String),
    });
    const ok = await run('validate');
    expect(ok.code, ok.stdout).toBe(0);
    const whoami = await run('whoami', '--token', alice.token, '--json');
    expect(whoami.code, whoami.stderr).toBe(0);
    // The revocation is part of the projection: bob stays revoked.
    expect((await run('whoami', '--token', bob.token)).stderr).toMatch(/token_invalid/);
  });
});
