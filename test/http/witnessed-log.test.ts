/**
 * Done-when test of issue 17's witnesses, all real processes on loopback: two `sigil witness
 * serve` and one `sigil serve` configured with both. Both cosign; /log/checkpoint carries their
 * cosignatures; `sigil log verify-proof --witness` requires each (a forged line or an unknown
 * key is witness_missing). A restored older copy of the data dir is refused by both witnesses,
 * and that log refuses writes (log_rolled_back) while reads go on. `sigil log witnesses` prints
 * what /api/log/witnesses serves, and fails when writes are stopped or the server is gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { appendFileSync, chmodSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosignerVerifierKey, verifyWitnessed } from '../../src/canon/cosignature.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import type { ServerProcess } from './helpers.ts';
import {
  call,
  CLI,
  MASTER_KEY,
  ROOMY_LIMITS,
  runCli,
  startServer,
  tempDataDir,
} from './helpers.ts';

interface WitnessProcess {
  child: ChildProcess;
  key: string;
  url: string;
}

let dir: ReturnType<typeof tempDataDir>;
let work: string;
let rootToken: string;
let vkey: string;
let origin: string;
const witnesses: WitnessProcess[] = [];
const servers: ServerProcess[] = [];

function startWitness(name: string): Promise<WitnessProcess> {
  const child = spawn(
    process.execPath,
    [CLI, 'witness', 'serve', '--port', '0', '--name', name, '--log', vkey, '--json'],
    {
      env: {
        PATH: process.env.PATH,
        SIGIL_MASTER_KEY: MASTER_KEY,
        SIGIL_DATA_DIR: join(work, name.replace(/\W/g, '_')),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`witness ${name} did not start`)), 30_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const out = JSON.parse(line) as { cosigner_key: string; url: string };
      clearTimeout(timer);
      resolve({ child, key: out.cosigner_key, url: out.url });
    });
  });
}

async function serve(dataDir: string): Promise<ServerProcess> {
  const s = await startServer(dataDir, dir.config);
  servers.push(s);
  return s;
}

async function write(s: ServerProcess, i: number) {
  return call(s.url, 'POST', '/api/canon/user/write', {
    token: rootToken,
    body: { kind: 'user_data', payload: { i } },
  });
}

/** The served checkpoint once both witnesses cosigned one of at least `size` records. */
async function cosigned(s: ServerProcess, size: number): Promise<string> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const note = await (await fetch(`${s.url}/log/checkpoint`)).text();
    const ok = verifyWitnessed(
      note,
      witnesses.map((w) => w.key),
    ).ok;
    if (ok && Number(note.split('\n')[1]) >= size) return note;
    if (Date.now() > deadline) throw new Error(`never cosigned by both at ${size}:\n${note}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function witnessSize(w: WitnessProcess): Promise<number> {
  const res = await fetch(`${w.url}/${sha256Hex(origin)}/checkpoint`);
  expect(res.status).toBe(200);
  return Number((await res.text()).split('\n')[1]);
}

beforeAll(async () => {
  dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
  work = mkdtempSync(join(tmpdir(), 'sigil-witnessed-'));
  const first = await serve(dir.dataDir);
  rootToken = first.rootToken!;
  const cp = (await call(first.url, 'GET', '/api/log/checkpoint')).body as {
    verifier_key: string;
    origin: string;
  };
  vkey = cp.verifier_key;
  origin = cp.origin;
  await first.stop();
  witnesses.push(await startWitness('witness.test/one'), await startWitness('witness.test/two'));
  appendFileSync(
    dir.config,
    `[log]\nwitnesses = [\n${witnesses.map((w) => `  { url = "${w.url}", key = "${w.key}" },`).join('\n')}\n]\n`,
  );
}, 90_000);

afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const w of witnesses) w.child.kill('SIGTERM');
  dir?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('a log with two Sigil witnesses', () => {
  let older: string;
  let newest: string;

  it('both witnesses cosign, and /log/checkpoint carries both cosignatures', async () => {
    const s = await serve(dir.dataDir);
    for (let i = 0; i < 3; i += 1) expect((await write(s, i)).status).toBe(201);
    const note = await cosigned(s, 3);
    const size = Number(note.split('\n')[1]);
    await s.stop();
    // A backup taken now, restored later.
    older = join(work, 'older');
    cpSync(dir.dataDir, older, { recursive: true });
    chmodSync(older, 0o700);
    chmodSync(join(older, 'keys'), 0o700);

    const again = await serve(dir.dataDir);
    for (let i = 3; i < 6; i += 1) expect((await write(again, i)).status).toBe(201);
    newest = await cosigned(again, size + 1);
    for (const w of witnesses) expect(await witnessSize(w)).toBeGreaterThan(size);
    // Their status over HTTP (public, no token) and in /metrics.
    const served = Number(newest.split('\n')[1]);
    const status = await call(again.url, 'GET', '/api/log/witnesses');
    expect(status.status).toBe(200);
    const body = status.body as {
      checkpoint: unknown;
      witnesses: Array<{ name: string; url: string; cosigned_size: number; cosigned_at: string }>;
    };
    expect(body).toMatchObject({
      witnessed: true,
      quorum: 2,
      rolled_back: null,
      checkpoint: { cosigned_by: ['witness.test/one', 'witness.test/two'], quorum_met: true },
    });
    for (const w of body.witnesses) {
      expect(w).toMatchObject({ last_error: null, claim: null });
      expect(w.cosigned_size).toBeGreaterThanOrEqual(served);
      expect(Math.abs(Date.parse(w.cosigned_at) - Date.now())).toBeLessThan(120_000);
    }
    // The same through `sigil log witnesses`: as JSON, and in words.
    const cli = await runCli(['log', 'witnesses', '--url', again.url, '--json']);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stderr).toBe('');
    const printed = JSON.parse(cli.stdout) as typeof body;
    expect(printed).toMatchObject({
      witnessed: true,
      quorum: 2,
      rolled_back: null,
      checkpoint: body.checkpoint,
    });
    expect(printed.witnesses.map((w) => [w.name, w.cosigned_size])).toEqual(
      body.witnesses.map((w) => [w.name, w.cosigned_size]),
    );
    const words = await runCli(['log', 'witnesses', '--url', again.url]);
    expect(words.code, words.stderr).toBe(0);
    expect(words.stdout).toMatch(
      /^writes: served\nquorum: 2\ncheckpoint: size \d+, cosigned by witness\.test\/one, witness\.test\/two \(quorum met\)\n/,
    );
    for (const w of body.witnesses)
      expect(words.stdout).toContain(`${w.name} ${w.url}: cosigned ${w.cosigned_size} at `);
    const metrics = await (await fetch(`${again.url}/metrics`)).text();
    expect(metrics).toMatch(/^sigil_log_rolled_back 0$/m);
    for (const name of ['one', 'two']) {
      const m = new RegExp(
        `^sigil_log_witness_cosigned_size\\{witness="witness.test/${name}"\\} (\\d+)$`,
        'm',
      ).exec(metrics);
      expect(Number(m?.[1]), metrics).toBeGreaterThanOrEqual(served);
      expect(metrics).toContain(`sigil_log_witness_failing{witness="witness.test/${name}"} 0`);
    }
    await again.stop();
    // No server there any more: one line on stderr, nothing on stdout, a failure exit.
    const gone = await runCli(['log', 'witnesses', '--url', again.url, '--json']);
    expect(gone.code).toBe(1);
    expect(gone.stdout).toBe('');
    expect(gone.stderr).toMatch(
      /^sigil: upstream_unavailable: http:\/\/127\.0\.0\.1:\d+: [^\n]+\n$/,
    );
  }, 120_000);

  it('verify-proof --witness requires a valid cosignature from each named witness', async () => {
    const size = Number(newest.split('\n')[1]);
    const s = await serve(dir.dataDir);
    const proof = await call(s.url, 'GET', `/api/log/proof/inclusion?seq=1&size=${size}`);
    await s.stop();
    expect(proof.status).toBe(200);
    const proofFile = join(work, 'proof.json');
    const noteFile = join(work, 'cosigned.note');
    writeFileSync(proofFile, JSON.stringify(proof.body));
    writeFileSync(noteFile, newest);
    const verify = (note: string, ...keys: string[]) => {
      writeFileSync(noteFile, note);
      const args = ['log', 'verify-proof', '--proof', proofFile, '--checkpoint', noteFile];
      return runCli([...args, '--pub-key', vkey, '--witness', ...keys, '--json']);
    };
    const both = witnesses.map((w) => w.key);
    const good = await verify(newest, ...both);
    expect(good.code, good.stderr).toBe(0);
    expect(JSON.parse(good.stdout)).toMatchObject({
      ok: true,
      witnesses: ['witness.test/one', 'witness.test/two'],
    });

    // A forged line: witness two's line with one bit of its signature flipped.
    const lines = newest.split('\n');
    const at = lines.findIndex((l) => l.startsWith('\u2014 witness.test/two '));
    const blob = Buffer.from(lines[at]!.split(' ')[2]!, 'base64');
    blob[blob.length - 1]! ^= 1;
    lines[at] = `\u2014 witness.test/two ${blob.toString('base64')}`;
    const forged = await verify(lines.join('\n'), ...both);
    expect(forged.code).toBe(1);
    expect(JSON.parse(forged.stdout)).toMatchObject({ ok: false, code: 'witness_missing' });
    // Witness one alone still verifies on the forged note: its line is intact.
    expect((await verify(lines.join('\n'), both[0]!)).code).toBe(0);

    // Two's line copied onto a checkpoint it never cosigned (another size) does not count.
    const older = newest.replace(
      /^(.*\n)(\d+)\n/,
      (_m, o: string, n: string) => `${o}${Number(n) - 1}\n`,
    );
    expect((await verify(older, ...both)).code).not.toBe(0);

    // A well-formed key of a witness that never cosigned: witness_missing.
    const stranger = cosignerVerifierKey(
      'witness.test/stranger',
      generateKeyPairSync('ed25519').publicKey,
    );
    const unknown = await verify(newest, both[0]!, stranger);
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stdout)).toMatchObject({ code: 'witness_missing' });
    // A key with another's name: the key ID no longer matches, a usage error.
    const renamed = await verify(newest, both[0]!.replace('witness.test/one', 'witness.test/two'));
    expect(renamed.code).toBe(2);
    // The log's own key (a plain note key) has signed no cosignature line.
    const own = await verify(newest, vkey);
    expect(own.code).toBe(1);
    expect(JSON.parse(own.stdout)).toMatchObject({ code: 'witness_missing' });
    // Not a key at all: a usage error.
    expect((await verify(newest, 'witness.test/one+00000000+AwEB')).code).toBe(2);
  }, 120_000);

  it('a restored older copy is refused by both witnesses and refuses writes', async () => {
    const known = await Promise.all(witnesses.map(witnessSize));
    const s = await serve(older);
    // Reads go on.
    const note = await (await fetch(`${s.url}/log/checkpoint`)).text();
    const size = Number(note.split('\n')[1]);
    expect(size).toBeLessThan(Math.min(...known));
    const res = await write(s, 100);
    expect(res.status).toBe(503);
    expect((res.body as { code: string }).code).toBe('log_rolled_back');
    expect(s.stderr()).toMatch(/SIGIL LOG ROLLED BACK/);
    // The status route still answers, and says why; so does /metrics.
    const status = await call(s.url, 'GET', '/api/log/witnesses');
    expect(status.status).toBe(200);
    expect((status.body as { rolled_back: string }).rolled_back).toMatch(
      /^log_rolled_back: witness witness\.test\/(one|two) refuses this log/,
    );
    expect(await (await fetch(`${s.url}/metrics`)).text()).toMatch(/^sigil_log_rolled_back 1$/m);
    // `sigil log witnesses` prints the status and fails with log_rolled_back (exit 3).
    const cli = await runCli(['log', 'witnesses', '--url', s.url, '--json']);
    expect(cli.code).toBe(3);
    expect(JSON.parse(cli.stdout)).toMatchObject({
      rolled_back: (status.body as { rolled_back: string }).rolled_back,
    });
    expect(cli.stderr).toMatch(
      /^sigil: log_rolled_back: witness witness\.test\/(one|two) refuses this log[^\n]*\n$/,
    );
    const words = await runCli(['log', 'witnesses', '--url', s.url]);
    expect(words.code).toBe(3);
    expect(words.stdout).toMatch(/^WRITES STOPPED: log_rolled_back: /);
    // Neither witness went back, and both refuse the older tree with the size they cosigned.
    expect(await Promise.all(witnesses.map(witnessSize))).toEqual(known);
    for (const [i, w] of witnesses.entries()) {
      const answer = await fetch(`${w.url}/add-checkpoint`, {
        method: 'POST',
        body: `old ${size}\n\n${note}`,
      });
      expect(answer.status).toBe(409);
      expect(await answer.text()).toBe(`${known[i]}\n`);
    }
    await s.stop();
  }, 120_000);
});
