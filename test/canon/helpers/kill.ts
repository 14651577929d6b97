/**
 * Crash tests' child: a script run with tsx that prints `ready`, then one line per write it saw
 * acknowledged. It is killed with SIGKILL `killAfterMs` after `ready`.
 */
import { spawn } from 'node:child_process';

/** The whole lines the child printed after `ready` before the kill (a line cut by it is dropped). */
export function runUntilKilled(
  script: string,
  args: readonly string[],
  killAfterMs: number,
  env?: NodeJS.ProcessEnv,
): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(env !== undefined && { env }),
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (timer === undefined && out.startsWith('ready\n')) {
        timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') {
        reject(new Error(`child ended without being killed: ${err}`));
        return;
      }
      resolve(out.split('\n').slice(1, -1));
    });
  });
}
