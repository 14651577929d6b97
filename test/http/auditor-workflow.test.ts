/**
 * The README's "An auditor's workflow", run as written against the real server: the verifier key
 * taken from `sigil serve`'s start-up line, the two shell blocks run with bash in a directory of
 * their own, and records written between them. A tampered kept checkpoint makes the same block fail.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cutTail } from '../cli/sigil-process.ts';
import {
  call,
  ROOMY_LIMITS,
  runCli,
  startServer,
  tempDataDir,
  type ServerProcess,
} from './helpers.ts';

const VKEY_LINE = /^sigil: verifier key \(checks checkpoints and proofs\): (sigil\/\S+)$/;

/** The ```sh blocks of the README section with this heading. */
function shellBlocks(heading: string): string[] {
  const readme = readFileSync(join(process.cwd(), 'README.md'), 'utf8');
  const start = readme.indexOf(`\n## ${heading}\n`);
  expect(start).toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

function bash(script: string, cwd: string, url: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-euo', 'pipefail', '-c', script],
      { cwd, env: { PATH: process.env.PATH, SIGIL_URL: url }, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, out: `${stdout}${stderr}` });
      },
    );
  });
}

let dir: ReturnType<typeof tempDataDir>;
let server: ServerProcess;
let work: string;

beforeAll(async () => {
  dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
  server = await startServer(dir.dataDir, dir.config);
  work = mkdtempSync(join(tmpdir(), 'sigil-auditor-'));
  symlinkSync(join(process.cwd(), 'bin'), join(work, 'bin'));
});
afterAll(async () => {
  await server?.stop();
  dir?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("the README's auditor workflow", () => {
  it('runs as written: keep a checkpoint, prove the log extends it, prove one record', async () => {
    const rootToken = server.rootToken!;
    const [today, later] = shellBlocks("An auditor's workflow");
    expect(today).toBeDefined();
    expect(later).toBeDefined();
    const vkey = server.lines.map((l) => VKEY_LINE.exec(l)?.[1]).find(Boolean);
    expect(vkey, server.lines.join('\n')).toBeDefined();
    writeFileSync(join(work, 'verifier.key'), `${vkey}\n`);

    const first = await bash(today!, work, server.url);
    expect(first.code, first.out).toBe(0);
    const kept = JSON.parse(readFileSync(join(work, 'old.json'), 'utf8')) as {
      size: number;
      root_hash: string;
      verifier_key: string;
    };
    expect(kept.verifier_key).toBe(vkey);
    expect(first.out).toContain(kept.root_hash);

    for (let i = 0; i < 3; i++) {
      const w = await call(server.url, 'POST', '/api/canon/user/write', {
        token: rootToken,
        body: { payload: { audited: i } },
      });
      expect(w.status, w.text).toBe(201);
    }

    // "Later": the server signs a fresh checkpoint on demand at most once a second.
    await new Promise((r) => setTimeout(r, 1100));
    const second = await bash(later!, work, server.url);
    expect(second.code, second.out).toBe(0);
    expect(second.out).toContain(
      'ok: consistency proof verifies against the old and the new checkpoint',
    );
    expect(second.out).toContain('ok: inclusion proof verifies against the checkpoint');
    const newer = JSON.parse(readFileSync(join(work, 'new.json'), 'utf8')) as { size: number };
    expect(newer.size).toBeGreaterThan(kept.size);

    // The log is forked: rolled back below the checkpoint the auditor now keeps, then grown
    // again with other records. The same block, as written, refuses it.
    writeFileSync(join(work, 'old.json'), readFileSync(join(work, 'new.json')));
    expect(await server.stop()).toBe(0);
    cutTail(dir.dataDir, kept.size);
    server = await startServer(dir.dataDir, dir.config);
    for (let i = 0; i < newer.size - kept.size + 2; i++) {
      const w = await call(server.url, 'POST', '/api/canon/user/write', {
        token: rootToken,
        body: { payload: { forged: i } },
      });
      expect(w.status, w.text).toBe(201);
    }
    await new Promise((r) => setTimeout(r, 1100));
    const forked = await bash(later!, work, server.url);
    expect(forked.code, forked.out).not.toBe(0);
    expect(forked.out).toMatch(/FAILED: consistency proof: root_mismatch: .*does not extend/);
  });

  it('bare sigil prints the verifier key the server printed', async () => {
    const vkey = server.lines.map((l) => VKEY_LINE.exec(l)?.[1]).find(Boolean);
    const bare = await runCli(['--data-dir', dir.dataDir], { SIGIL_CONFIG: dir.config });
    expect(bare.code, bare.stderr).toBe(0);
    expect(bare.stdout).toContain(`verifier key: ${vkey}`);
  });
});
