/**
 * What the benchmarks that open a store in a fresh process share: the environment of a bench
 * data root (a fixed master key, an empty config), the list of store sizes to build, and running
 * a bench script as a child that prints one JSON line of figures last.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function benchEnvironment(root: string): NodeJS.ProcessEnv {
  const configFile = join(root, 'mmf.toml');
  writeFileSync(configFile, '');
  return {
    ...process.env,
    SIGIL_MASTER_KEY: Buffer.alloc(32, 0x42).toString('base64'),
    SIGIL_CONFIG: configFile,
    LOG_LEVEL: 'warn',
  };
}

/** Runs `script --child ...args` under tsx; resolves with the last line of its stdout, parsed. */
export function runChild<T>(script: string, args: readonly string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', script, '--child', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`${script} child exited ${code}: ${err}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as T);
    });
  });
}

/**
 * Store sizes from a comma-separated list (`_` allowed as a digit separator), ascending, each a
 * whole number above `min`; `usage` is the error when one is not.
 */
export function recordCounts(raw: string, min: number, usage: string): number[] {
  const list = raw.split(',').map((s) => Number(s.replace(/_/g, '')));
  if (list.some((n) => !Number.isSafeInteger(n) || n <= min)) throw new Error(usage);
  return list.sort((a, b) => a - b);
}
