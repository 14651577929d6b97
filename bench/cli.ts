/**
 * CLI start-up benchmark. One run measures, as a user runs them (`node bin/sigil …`, a fresh
 * process each time), the median wall time of:
 * - `node -e 0`, the floor any Node CLI pays, measured in the same run as the baseline;
 * - `sigil --version` and `sigil --help` (goal: at most 3× the baseline);
 * - `sigil whoami --token T` in an initialised data dir (goal: a median of at most 400 ms).
 * Rounds interleave the commands so contention on a shared machine hits each alike.
 * It builds dist/ first (`npm run build`: the compiled library and the CLI bundle), so the CLI of
 * the current sources is measured as bin/sigil runs it.
 * Flags: --runs N (default 15), --json (one JSON document instead of the table).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { figure, say } from './report.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'sigil');
const DEFAULT_RUNS = 15;
const WHOAMI_GOAL_MS = 400;
const STARTUP_GOAL_RATIO = 3;

interface Measured {
  name: string;
  median_ms: number;
  min_ms: number;
  max_ms: number;
  ratio_to_node: number;
  goal: string;
  met: boolean;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Wall time of one process from spawn to exit; a failing command aborts the benchmark. */
function timeOnce(args: string[], env: NodeJS.ProcessEnv): number {
  const started = performance.now();
  const run = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
  const elapsed = performance.now() - started;
  if (run.status !== 0) {
    throw new Error(`${args.join(' ')} exited ${run.status}: ${run.stderr.trim()}`);
  }
  return elapsed;
}

function runsOption(argv: string[]): number {
  const at = argv.indexOf('--runs');
  if (at < 0) return DEFAULT_RUNS;
  const runs = Number(argv[at + 1]);
  if (!Number.isSafeInteger(runs) || runs < 1) throw new Error('--runs takes a positive integer');
  return runs;
}

export async function run(argv: string[] = process.argv.slice(2)): Promise<void> {
  const runs = runsOption(argv);
  // Standalone (`tsx bench/cli.ts --json`) prints its own document; under bench/run.ts the
  // figures are collected with the others.
  const json = argv.includes('--json') && import.meta.url === `file://${process.argv[1]}`;
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });

  const dataDir = mkdtempSync(join(tmpdir(), 'sigil-bench-cli-'));
  const env = {
    PATH: process.env.PATH,
    SIGIL_MASTER_KEY: Buffer.alloc(32, 0x33).toString('base64'),
    SIGIL_DATA_DIR: dataDir,
  };
  try {
    const init = JSON.parse(
      execFileSync(process.execPath, [BIN, 'init', '--json'], { env, encoding: 'utf8' }),
    ) as { rootToken?: string; root_token?: string };
    const token = init.root_token ?? init.rootToken ?? '';
    const commands: Array<[string, string[]]> = [
      ['node -e 0', ['-e', '0']],
      ['sigil --version', [BIN, '--version']],
      ['sigil --help', [BIN, '--help']],
      ['sigil whoami --token T', [BIN, 'whoami', '--token', token]],
    ];
    const samples = new Map(commands.map(([name]) => [name, [] as number[]]));
    for (const [, args] of commands) timeOnce(args, env); // warm the file cache
    for (let round = 0; round < runs; round++) {
      for (const [name, args] of commands) samples.get(name)!.push(timeOnce(args, env));
    }

    const baseline = median(samples.get('node -e 0')!);
    const results: Measured[] = commands.map(([name]) => {
      const times = samples.get(name)!;
      const med = median(times);
      const ratio = med / baseline;
      const isWhoami = name.startsWith('sigil whoami');
      const goal =
        name === 'node -e 0'
          ? 'baseline'
          : isWhoami
            ? `median <= ${WHOAMI_GOAL_MS} ms`
            : `<= ${STARTUP_GOAL_RATIO}x node -e 0`;
      const met =
        name === 'node -e 0'
          ? true
          : isWhoami
            ? med <= WHOAMI_GOAL_MS
            : ratio <= STARTUP_GOAL_RATIO;
      return {
        name,
        median_ms: Math.round(med * 10) / 10,
        min_ms: Math.round(Math.min(...times) * 10) / 10,
        max_ms: Math.round(Math.max(...times) * 10) / 10,
        ratio_to_node: Math.round(ratio * 100) / 100,
        goal,
        met,
      };
    });

    if (json) {
      console.log(JSON.stringify({ runs, node: process.version, results }, null, 2));
      return;
    }
    say(`CLI start-up (median of ${runs} runs each, a fresh process per run)`);
    for (const r of results.slice(1)) {
      figure({
        name: r.name,
        value: r.median_ms,
        unit: 'ms',
        limit: { name: 'node -e 0', value: Math.round(baseline * 10) / 10 },
        goal: r.name.startsWith('sigil whoami')
          ? { atMost: WHOAMI_GOAL_MS }
          : { ratioAtMost: STARTUP_GOAL_RATIO },
        note: `min ${r.min_ms.toFixed(1)} ms`,
      });
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
