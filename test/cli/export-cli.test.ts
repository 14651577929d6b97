/**
 * `sigil export` end to end, as a SIEM's collector would run it: the real CLI in child processes
 * on a real data dir, killed with SIGKILL midway and resumed, followed while another process
 * appends, and read with a Guest token that must see envelopes only.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MASTER_KEY, initDataDir, json, sigil, tempRoot } from './sigil-process.ts';

const BIN = join(process.cwd(), 'bin/sigil');
const ENVELOPE_KEYS = ['hash', 'id', 'kind', 'leaf_hash', 'prev', 'pub_key', 'seq', 'sig', 'ts'];
const RECORDS = 600;

let tmp: ReturnType<typeof tempRoot>;
let dataDir: string;
let rootToken: string;
let guestToken: string;

interface Line {
  seq: number;
  id: string;
  kind: string;
  payload?: unknown;
}

const linesOf = (file: string): Line[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);

/** Appends `n` user records in one batch; returns the seq of the last. */
async function append(n: number, mark: string): Promise<number> {
  const text = Array.from({ length: n }, (_, i) =>
    JSON.stringify({ kind: 'user_data', tenant: 't', space: 'user', payload: { mark, i } }),
  ).join('\n');
  const run = await sigil(
    ['canon', 'append', '--data-dir', dataDir, '--token', rootToken, '--file', '-', '--json'],
    {},
    text,
  );
  expect(run.code, run.stderr).toBe(0);
  return json<{ last_seq: number }>(run).last_seq;
}

/** Starts `sigil export …` as a long-running child. */
function start(args: string[]) {
  const child = spawn(process.execPath, [BIN, 'export', '--data-dir', dataDir, ...args], {
    env: { PATH: process.env.PATH, SIGIL_MASTER_KEY: MASTER_KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | string>((done) =>
    child.on('exit', (code, signal) => done(code ?? signal ?? -1)),
  );
  return { child, exited, stderr: () => stderr };
}

async function until(check: () => boolean, what: string, ms = 90_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const lineCount = (file: string): number =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').length - 1 : 0;

beforeAll(async () => {
  tmp = tempRoot();
  dataDir = join(tmp.root, 'data');
  rootToken = (await initDataDir(dataDir)).rootToken;
  const guest = await sigil([
    'token',
    'create',
    '--data-dir',
    dataDir,
    '--token',
    rootToken,
    '--subject',
    'did:example:siem',
    '--loa',
    'guest',
    '--signer',
    'human',
    '--json',
  ]);
  expect(guest.code, guest.stderr).toBe(0);
  guestToken = json<{ token: string }>(guest).token;
  await append(RECORDS, 'bulk');
}, 120_000);
afterAll(() => tmp.remove());

describe('sigil export', () => {
  it('killed midway (SIGKILL, a line cut off) and resumed: every record exactly once, in log order', async () => {
    const out = join(tmp.root, 'killed.jsonl');
    const first = start(['--token', rootToken, '--to', out, '--limit', '5']);
    await until(() => lineCount(out) >= 5, 'the first lines');
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    const atKill = lineCount(out);
    expect(atKill).toBeLessThan(RECORDS);
    // A write the kill cut off in the middle of a line.
    appendFileSync(out, '{"seq":');
    const resumed = await sigil([
      'export',
      '--data-dir',
      dataDir,
      '--token',
      rootToken,
      '--to',
      out,
    ]);
    expect(resumed.code, resumed.stderr).toBe(0);

    const lines = linesOf(out);
    const seqs = lines.map((l) => l.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i));
    expect(new Set(lines.map((l) => l.id)).size).toBe(lines.length);
    expect(lines.length).toBeGreaterThan(RECORDS);
    // The same records as a fresh export, which also holds what was sealed since.
    const fresh = join(tmp.root, 'fresh.jsonl');
    const again = await sigil([
      'export',
      '--data-dir',
      dataDir,
      '--token',
      rootToken,
      '--to',
      fresh,
    ]);
    expect(again.code, again.stderr).toBe(0);
    const all = linesOf(fresh);
    expect(lines.map((l) => l.id)).toEqual(all.slice(0, lines.length).map((l) => l.id));
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(statSync(`${out}.cursor`).mode & 0o777).toBe(0o600);
    const cursor = JSON.parse(readFileSync(`${out}.cursor`, 'utf8')) as { seq: number; id: string };
    expect(cursor).toEqual({ seq: lines.at(-1)!.seq, id: lines.at(-1)!.id });
  }, 240_000);

  it('a Guest credential sees envelopes only (bodies of its own read decisions alone); Root sees the bodies', async () => {
    const guestOut = join(tmp.root, 'guest.jsonl');
    const run = await sigil([
      'export',
      '--data-dir',
      dataDir,
      '--token',
      guestToken,
      '--to',
      guestOut,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const lines = readFileSync(guestOut, 'utf8').split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(RECORDS);
    let own = 0;
    for (const line of lines) {
      const view = JSON.parse(line) as Line & { payload?: { caller?: { subject?: string } } };
      if (view.payload === undefined) {
        expect(Object.keys(view).sort()).toEqual(ENVELOPE_KEYS);
      } else {
        // The table's 'concerned' reader: the decisions the export's own reads sealed.
        expect(view.kind).toBe('decision');
        expect(view.payload.caller?.subject).toBe('did:example:siem');
        own += 1;
      }
    }
    expect(own).toBeGreaterThan(0);
    expect(own).toBeLessThan(3);
    expect(readFileSync(guestOut, 'utf8')).not.toContain('bulk');
    const rootLines = linesOf(join(tmp.root, 'fresh.jsonl'));
    expect(rootLines.filter((l) => (l.payload as { mark?: string })?.mark === 'bulk')).toHaveLength(
      RECORDS,
    );
  }, 120_000);

  it('--follow picks up records sealed after it started, and stops cleanly on SIGTERM', async () => {
    const out = join(tmp.root, 'follow.jsonl');
    const follower = start(['--follow', '--token', rootToken, '--to', out, '--interval', '100']);
    await until(() => lineCount(out) > RECORDS, 'the catch-up');
    const last = await append(2, 'late');
    await until(() => readFileSync(out, 'utf8').includes('"late"'), 'the late records');
    await until(() => linesOf(out).some((l) => l.seq === last), 'the last late record');
    follower.child.kill('SIGTERM');
    expect(await follower.exited, follower.stderr()).toBe(0);
    const seqs = linesOf(out).map((l) => l.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i));
  }, 240_000);

  it('a token revoked while following stops the stream (token_invalid, non-zero exit)', async () => {
    const made = await sigil([
      'token',
      'create',
      '--data-dir',
      dataDir,
      '--token',
      rootToken,
      '--subject',
      'did:example:siem2',
      '--loa',
      'observer',
      '--signer',
      'human',
      '--json',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const {
      token,
      info: { id },
    } = json<{ token: string; info: { id: string } }>(made);
    const out = join(tmp.root, 'revoked.jsonl');
    const follower = start(['--follow', '--token', token, '--to', out, '--interval', '100']);
    await until(() => lineCount(out) > RECORDS, 'the catch-up');
    const revoked = await sigil([
      'token',
      'revoke',
      id,
      '--data-dir',
      dataDir,
      '--token',
      rootToken,
    ]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(await follower.exited).not.toBe(0);
    expect(follower.stderr()).toMatch(/^sigil: token_invalid: /);
  }, 240_000);

  it('to stdout: RFC 5424 syslog lines, resumed from the cursor (at least once, ids to de-duplicate)', async () => {
    const cursor = join(tmp.root, 'stdout.cursor');
    const args = ['export', '--data-dir', dataDir, '--token', guestToken, '--format', 'syslog'];
    const first = await sigil([...args, '--cursor', cursor]);
    expect(first.code, first.stderr).toBe(0);
    const rfc5424 =
      /^<110>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z \S+ sigil \d+ [a-z_]+ \[sigil@32473 seq="(\d+)" id="(rec_[a-z0-9]+)" hash="[0-9a-f]{64}" body="(yes|no)"\] (\{.*\})$/;
    const parse = (text: string) =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const m = rfc5424.exec(l);
          expect(m, l).not.toBeNull();
          const view = JSON.parse(m![5]!) as Line;
          expect(view.id).toBe(m![3]);
          expect('payload' in view).toBe(m![4] === 'yes');
          return Number(m![2]);
        });
    const seqs = parse(first.stdout);
    expect(seqs[0]).toBe(0);
    expect(statSync(cursor).mode & 0o777).toBe(0o600);
    const second = await sigil([...args, '--cursor', cursor]);
    expect(second.code, second.stderr).toBe(0);
    const next = parse(second.stdout);
    expect(next.length).toBeGreaterThan(0);
    expect(next[0]).toBe(seqs.at(-1)! + 1);
  }, 120_000);

  it('a bad format, an unwritable target, a foreign file or a bad token: one line on stderr, non-zero exit', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--format', 'cef'], /^sigil: bad_request: unknown format cef/],
      [['--to', join(tmp.root, 'no-such-dir', 'x.jsonl')], /^sigil: bad_request: cannot write to/],
      [['--to', tmp.root], /^sigil: bad_request: cannot write to/],
      [['--to', tmp.file('notes.txt', 'hello\n')], /does not end with a jsonl export line/],
      [['--limit', '0'], /^sigil: bad_request: --limit must be 1\.\.1000/],
      [['--token', 'sgl_forged', '--to', join(tmp.root, 'forged.jsonl')], /^sigil: token_invalid/],
    ];
    for (const [extra, message] of cases) {
      const run = await sigil(['export', '--data-dir', dataDir, ...extra]);
      expect(run.code, run.stderr).not.toBe(0);
      expect(run.stderr).toMatch(message);
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(run.stdout).toBe('');
    }
    expect(existsSync(join(tmp.root, 'forged.jsonl.cursor'))).toBe(false);
  }, 240_000);
});
