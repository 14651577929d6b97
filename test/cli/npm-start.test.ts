/**
 * `npm start` stops when told: SIGTERM to npm, or Ctrl-C (SIGINT to the whole foreground process
 * group), stops the server cleanly — no process left behind, the port freed, and a final
 * checkpoint signed at shutdown that covers every record.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { CanonLog } from '../../src/canon/log.ts';
import { MASTER_KEY } from './sigil-process.ts';

const START_LIMIT_MS = 90_000;
const STOP_LIMIT_MS = 30_000;
const work = mkdtempSync(join(tmpdir(), 'sigil-npm-start-'));
const started: ChildProcess[] = [];

afterAll(() => {
  for (const child of started) {
    if (child.exitCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  rmSync(work, { recursive: true, force: true });
});

interface Running {
  npm: ChildProcess;
  port: number;
  token: string;
  exited: Promise<number | null>;
  output: () => string;
}

/** `npm start` in its own process group (as a terminal runs it), on a free port and a temp dir. */
function npmStart(dataDir: string): Promise<Running> {
  const npm = spawn('npm', ['start'], {
    cwd: process.cwd(),
    detached: true,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      SIGIL_MASTER_KEY: MASTER_KEY,
      SIGIL_DATA_DIR: dataDir,
      PORT: '0',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(npm);
  let output = '';
  npm.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let token = '';
    const timer = setTimeout(
      () => reject(new Error(`npm start did not listen:\n${output}`)),
      START_LIMIT_MS,
    );
    void exited.then((code) => reject(new Error(`npm start exited (${code}):\n${output}`)));
    createInterface({ input: npm.stdout! }).on('line', (line) => {
      output += `${line}\n`;
      token = /Root token \(shown once; keep it secret\): (sgl_\S+)/.exec(line)?.[1] ?? token;
      const listening = /^sigil listening on http:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
      if (!listening) return;
      clearTimeout(timer);
      resolve({ npm, port: Number(listening[1]), token, exited, output: () => output });
    });
  });
}

/** True when nothing listens on 127.0.0.1:port any more. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** True while any process of the group led by `pid` is alive. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, limitMs: number): Promise<boolean> {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    if (condition()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return condition();
}

describe('npm start', () => {
  for (const [how, signal] of [
    ['SIGTERM to npm', (pid: number) => process.kill(pid, 'SIGTERM')],
    ['Ctrl-C (SIGINT to the process group)', (pid: number) => process.kill(-pid, 'SIGINT')],
  ] as const) {
    it(`stops cleanly on ${how}: no process left, port freed, final checkpoint`, async () => {
      const dataDir = join(work, how.replace(/\W+/g, '-'));
      const server = await npmStart(dataDir);
      // A decision is a record: the shutdown must sign a checkpoint that covers it.
      const answer = await fetch(`http://127.0.0.1:${server.port}/api/whoami`, {
        headers: { authorization: `Bearer ${server.token}` },
      });
      expect(answer.status).toBe(200);
      // Checkpoint times may be whole seconds: signal in a later second than any boot checkpoint.
      await new Promise((r) => setTimeout(r, 1100));
      const signalledAt = Math.floor(Date.now() / 1000) * 1000;
      signal(server.npm.pid!);

      const code = await Promise.race([
        server.exited,
        new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), STOP_LIMIT_MS)),
      ]);
      expect(code, server.output()).toBe(0);
      expect(await waitFor(() => !groupAlive(server.npm.pid!), 5_000), 'a process is left').toBe(
        true,
      );
      expect(server.output()).toContain('sigil stopped');
      expect(await portIsFree(server.port)).toBe(true);

      const log = await CanonLog.open({ dataDir, env: { SIGIL_MASTER_KEY: MASTER_KEY } });
      try {
        const size = await log.size();
        const last = (await log.checkpoints()).at(-1)!;
        expect(last.size).toBe(size);
        expect(Date.parse(last.ts)).toBeGreaterThanOrEqual(signalledAt);
      } finally {
        await log.close();
      }
    }, 180_000);
  }
});
