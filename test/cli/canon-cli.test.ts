/**
 * The canon commands end to end: `sigil` runs as a child process in a temp data dir.
 */
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const MAIN = join(process.cwd(), 'src/cli/main.ts');
const KEY = Buffer.alloc(32, 0x42).toString('base64');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `sigil args…` with a clean environment (no backend or key variables but those given). */
function sigil(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ['--import', 'tsx', MAIN, ...args],
      { env: { PATH: process.env.PATH, SIGIL_MASTER_KEY: KEY, ...env }, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(input ?? '');
  });
}

const line = (i: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ kind: 'user_data', tenant: 'cli', space: 'user', payload: { i }, ...extra });

let root: string;
let dataDir: string;
let file: (name: string, text: string) => string;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'sigil-cli-'));
  dataDir = join(root, 'data');
  file = (name, text) => {
    const path = join(root, name);
    writeFileSync(path, text);
    return path;
  };
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('sigil canon commands', () => {
  let verifierKey: string;
  let ids: string[];

  it('init creates the log once', async () => {
    const init = await sigil(['init', '--data-dir', dataDir, '--json']);
    expect(init.code, init.stderr).toBe(0);
    const out = JSON.parse(init.stdout) as {
      log_id: string;
      verifier_key: string;
      backend: string;
    };
    expect(out.backend).toBe('sqlite');
    expect(out.verifier_key.startsWith(`sigil/${out.log_id}+`)).toBe(true);
    verifierKey = out.verifier_key;
    const again = await sigil(['init', '--data-dir', dataDir]);
    expect(again.code).toBe(3);
    expect(again.stderr).toMatch(/store_exists/);
  });

  it('init with the file fallback warns about master.key', async () => {
    const r = await sigil(['init', '--data-dir', join(root, 'filekey')], {
      SIGIL_MASTER_KEY: undefined,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/verifier key: sigil\//);
    expect(r.stderr).toMatch(/warning: created master\.key/);
  });

  it('append rejects a bad line without writing anything', async () => {
    const bad = file('bad.ndjson', [line(0), line(1), line(2, { tenant: '' }), line(3)].join('\n'));
    const r = await sigil(['canon', 'append', '--data-dir', dataDir, '--file', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/line 3: .*tenant/);
    const notJson = file('notjson.ndjson', `${line(0)}\n\n{oops\n`);
    const r2 = await sigil(['canon', 'append', '--data-dir', dataDir, '--file', notJson]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/line 3: not valid JSON/);
    const list = await sigil([
      'canon',
      'list',
      '--data-dir',
      dataDir,
      '--json',
      '--kind',
      'user_data',
    ]);
    expect(JSON.parse(list.stdout)).toEqual({ records: [], next_cursor: null });
  });

  it('append refuses a governing kind, naming the line, and writes nothing of the file', async () => {
    for (const [kind, extra] of [
      ['decision', {}],
      ['system_config', { space: 'system' }],
      ['token_event', {}],
      ['user_data', { space: 'system' }],
    ] as const) {
      const text = [line(0), line(1, { kind, ...extra }), line(2)].join('\n');
      const r = await sigil(['canon', 'append', '--data-dir', dataDir, '--file', '-'], {}, text);
      expect(r.code, kind).toBe(1);
      expect(r.stderr).toMatch(/^sigil: kind_reserved: line 2: /);
    }
    const list = await sigil(['canon', 'list', '--data-dir', dataDir, '--json']);
    const kinds = (JSON.parse(list.stdout) as { records: Array<{ kind: string }> }).records;
    // Nothing of the files: init's records, then only sealed decisions (the list's canon.read)
    // and the policy they name.
    expect(kinds.slice(0, 2).map((k) => k.kind)).toEqual(['license_event', 'token_event']);
    expect(kinds.slice(2).every((k) => ['decision', 'decision_policy'].includes(k.kind))).toBe(
      true,
    );
  });

  it('appends a file and stdin, then gets and lists', async () => {
    const good = file(
      'good.ndjson',
      `${Array.from({ length: 5 }, (_, i) => line(i)).join('\n')}\n`,
    );
    const r = await sigil(['canon', 'append', '--data-dir', dataDir, '--file', good, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const appended = JSON.parse(r.stdout) as { count: number; first_seq: number; last_seq: number };
    const first = appended.first_seq;
    expect(appended).toMatchObject({ count: 5, last_seq: first + 4 });
    const stdin = await sigil(
      ['canon', 'append', '--data-dir', dataDir, '--file', '-'],
      {},
      `${line(5, { kind: 'audit_record' })}\n`,
    );
    expect(stdin.code, stdin.stderr).toBe(0);
    expect(stdin.stdout).toMatch(/appended 1 record .*records\/s/);

    // init sealed the Root license and token events; each append is preceded by its
    // canon.user.write decision.
    const list = await sigil([
      'canon',
      'list',
      '--data-dir',
      dataDir,
      '--json',
      '--limit',
      '4',
      '--kind',
      'user_data',
    ]);
    const page = JSON.parse(list.stdout) as {
      records: Array<{ id: string; seq: number }>;
      next_cursor: string;
    };
    expect(page.records.map((x) => x.seq)).toEqual([first, first + 1, first + 2, first + 3]);
    const next = await sigil([
      'canon',
      'list',
      '--data-dir',
      dataDir,
      '--json',
      '--cursor',
      page.next_cursor,
    ]);
    // Past the user data: the stdin append's decision, its record, then the sealed canon.read
    // decisions of the lists.
    const rest = (JSON.parse(next.stdout) as { records: Array<{ seq: number; kind: string }> })
      .records;
    expect(rest.slice(0, 3).map((x) => [x.seq, x.kind])).toEqual([
      [first + 4, 'user_data'],
      [first + 5, 'decision'],
      [first + 6, 'audit_record'],
    ]);
    expect(rest.slice(3).every((x) => x.kind === 'decision')).toBe(true);
    const audits = await sigil(['canon', 'list', '--data-dir', dataDir, '--kind', 'audit_record']);
    expect(audits.stdout.trim().split('\n')).toHaveLength(1);
    ids = page.records.map((x) => x.id);

    const get = await sigil(['canon', 'get', ids[2]!, '--data-dir', dataDir, '--json']);
    expect(JSON.parse(get.stdout)).toMatchObject({ id: ids[2], seq: first + 2, payload: { i: 2 } });
    const missing = await sigil(['canon', 'get', 'rec_nope', '--data-dir', dataDir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not_found/);
  });

  it('validates, and names the seq after tampering', async () => {
    const ok = await sigil(['validate', '--file', dataDir]);
    expect(ok.code, ok.stderr).toBe(0);
    const count = Number(/^ok: (\d+) records/.exec(ok.stdout)?.[1]);
    expect(count).toBeGreaterThanOrEqual(8);
    const json = await sigil(['validate', '--data-dir', dataDir, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: true, count });

    const db = new Database(join(dataDir, 'canon.db'));
    const { body } = db.prepare('SELECT body FROM records WHERE seq = 2').get() as { body: Buffer };
    const flipped = Buffer.from(body);
    flipped[20] = flipped[20]! ^ 0x01;
    db.prepare('UPDATE records SET body = ? WHERE seq = 2').run(flipped);
    try {
      const bad = await sigil(['validate', '--data-dir', dataDir]);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/FAILED at seq 2: decrypt_failed/);
      const badJson = await sigil(['validate', '--data-dir', dataDir, '--json']);
      expect(badJson.code).toBe(1);
      expect(JSON.parse(badJson.stdout)).toMatchObject({
        ok: false,
        seq: 2,
        code: 'decrypt_failed',
      });
    } finally {
      db.prepare('UPDATE records SET body = ? WHERE seq = 2').run(body);
      db.close();
    }
  });

  it('checkpoint, prove and verify-proof round trip', async () => {
    const cp = await sigil(['log', 'checkpoint', '--data-dir', dataDir]);
    expect(cp.code, cp.stderr).toBe(0);
    const note = file('checkpoint.txt', `${cp.stdout.trimEnd()}\n`);
    const cpJson = JSON.parse(
      (await sigil(['log', 'checkpoint', '--data-dir', dataDir, '--json'])).stdout,
    );
    const size = (cpJson as { size: number }).size;
    expect(size).toBeGreaterThanOrEqual(8);

    const prove = await sigil(['log', 'prove', '--data-dir', dataDir, '--seq', '3']);
    expect(prove.code, prove.stderr).toBe(0);
    expect(JSON.parse(prove.stdout)).toMatchObject({ leaf_index: 3, tree_size: size });
    const proof = file('proof.json', prove.stdout);
    const vkFile = file('vkey.txt', `${verifierKey}\n`);
    for (const key of [verifierKey, vkFile, toRawKey(verifierKey)]) {
      const args = ['log', 'verify-proof', '--proof', proof, '--checkpoint', note, '--pub-key'];
      const ok = await sigil([...args, key, '--json']);
      expect(ok.code, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toEqual({ ok: true, kind: 'inclusion' });
    }

    const forged = JSON.parse(prove.stdout) as { leaf_index: number };
    forged.leaf_index = 2;
    const bad = await sigil([
      'log',
      'verify-proof',
      '--proof',
      file('forged.json', JSON.stringify(forged)),
      '--checkpoint',
      note,
      '--pub-key',
      verifierKey,
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/FAILED: inclusion proof/);
    const other = (await sigil(['init', '--data-dir', join(root, 'other'), '--json'])).stdout;
    const wrongKey = (JSON.parse(other) as { verifier_key: string }).verifier_key;
    const wrong = await sigil([
      'log',
      'verify-proof',
      '--proof',
      proof,
      '--checkpoint',
      note,
      '--pub-key',
      wrongKey,
    ]);
    expect(wrong.code).toBe(1);

    const bundle = await sigil([
      'log',
      'consistency',
      '--data-dir',
      dataDir,
      '--from',
      '2',
      '--json',
    ]);
    expect(bundle.code, bundle.stderr).toBe(0);
    const verifyArgs = ['log', 'verify-proof', '--proof', file('c.json', bundle.stdout)];
    const noOld = await sigil([...verifyArgs, '--pub-key', verifierKey]);
    expect(noOld.code).toBe(2);
    expect(noOld.stderr).toMatch(/--old-checkpoint is required/);
    // The proof from size 2 joins only a size-2 checkpoint, never the larger one.
    const mismatched = await sigil([
      ...verifyArgs,
      '--old-checkpoint',
      note,
      '--pub-key',
      verifierKey,
    ]);
    expect(mismatched.code).toBe(1);
    expect(mismatched.stdout).toMatch(/FAILED: consistency proof: size_mismatch/);
    const fromNote = await sigil([
      'log',
      'consistency',
      '--data-dir',
      dataDir,
      '--from',
      String(size),
      '--json',
    ]);
    const c = await sigil([
      'log',
      'verify-proof',
      '--proof',
      file('c10.json', fromNote.stdout),
      '--old-checkpoint',
      note,
      '--pub-key',
      verifierKey,
    ]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/ok: consistency proof/);
  }, 180_000);

  it('rotates the master key and keeps working under the new one', async () => {
    const NEW = Buffer.alloc(32, 0x43).toString('base64');
    const r = await sigil(['keys', 'rotate-master', '--data-dir', dataDir, '--json'], {
      SIGIL_NEW_MASTER_KEY: NEW,
    });
    expect(r.code, r.stderr).toBe(0);
    // The log key and the runtime's root, provenance and delegation keys.
    expect(JSON.parse(r.stdout)).toMatchObject({ source: 'env', keyFiles: 4 });
    const old = await sigil(['validate', '--data-dir', dataDir]);
    expect(old.code).toBe(3);
    expect(old.stderr).toMatch(/master_key_invalid/);
    const fresh = await sigil(['validate', '--data-dir', dataDir], { SIGIL_MASTER_KEY: NEW });
    expect(fresh.code, fresh.stderr).toBe(0);
  });

  it('reports a missing store and bad options', async () => {
    const none = await sigil(['canon', 'list', '--data-dir', join(root, 'nothing')]);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/store_missing/);
    const badSeq = await sigil(['log', 'prove', '--data-dir', dataDir, '--seq', 'x']);
    expect(badSeq.code).toBe(2);
  });
});

/** The raw base64url public key inside a verifier key string. */
function toRawKey(vkey: string): string {
  const b64 = vkey.slice(vkey.indexOf('+', vkey.indexOf('+') + 1) + 1);
  return Buffer.from(b64, 'base64').subarray(1).toString('base64url');
}
