/**
 * Runs every benchmark in turn (`npm run bench`); each prints its figures beside the limit
 * measured in the same run, and the ratio. `npm run bench -- canon http` runs a subset;
 * `--json` also writes the run's figures to bench-results.json (`--json=path` elsewhere) as
 * [{name, value, unit, limit, limit_name, ratio, goal, met}], from which
 * `node scripts/perf-table.mjs` regenerates the README's performance table; `--runs N` goes to
 * the CLI start-up benchmark; `--scale=N,N` gives the scale report its store sizes.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { run as auth } from './auth.ts';
import { run as core } from './core.ts';
import { run as canon } from './canon.ts';
import { run as decide } from './decide.ts';
import { run as http } from './http.ts';
import { run as gateway } from './gateway.ts';
import { run as cli } from './cli.ts';
import { run as dashboard } from './dashboard.ts';
import { run as postgres } from './postgres.ts';
import { run as scale } from './scale.ts';
import { run as tiles } from './tiles.ts';
import { collected, say } from './report.ts';

const BENCHES: Record<string, () => Promise<void>> = {
  core,
  auth,
  canon,
  decide,
  http,
  gateway,
  cli,
  dashboard,
  postgres,
  scale,
  tiles,
};

const args = process.argv.slice(2);
const flagValues = new Set(args.flatMap((a, i) => (a === '--runs' ? [i + 1] : [])));
const wanted = args.filter((a, i) => !a.startsWith('--') && !flagValues.has(i));
const json = args.find((a) => a === '--json' || a.startsWith('--json='));
const unknown = wanted.filter((name) => !(name in BENCHES));
if (unknown.length > 0) {
  console.error(
    `unknown benchmark: ${unknown.join(', ')} (have: ${Object.keys(BENCHES).join(', ')})`,
  );
  process.exit(2);
}
// The machine may be shared: the load beside the figures says how contended they are.
const load = (): string =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
say(`load average at start: ${load()}`);
for (const [name, run] of Object.entries(BENCHES)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  say(`\n== ${name}`);
  await run();
}
say(`\nload average at end: ${load()}`);
if (json !== undefined) {
  const file = json.includes('=') ? json.slice(json.indexOf('=') + 1) : 'bench-results.json';
  writeFileSync(file, `${JSON.stringify(collected(), null, 2)}\n`);
  say(`wrote ${collected().length} figures to ${file}`);
}
