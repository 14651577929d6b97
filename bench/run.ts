/**
 * Runs every benchmark in turn (`npm run bench`); each prints its rate beside the physical
 * limit measured in the same run, and the ratio. `npm run bench -- canon http` runs a subset;
 * flags (`--json`, `--runs N`) go to the benchmarks that take them (cli).
 */
import { run as auth } from './auth.ts';
import { run as core } from './core.ts';
import { run as canon } from './canon.ts';
import { run as decide } from './decide.ts';
import { run as http } from './http.ts';
import { run as gateway } from './gateway.ts';
import { run as cli } from './cli.ts';
import { run as dashboard } from './dashboard.ts';

const BENCHES: Record<string, () => Promise<void>> = {
  core,
  auth,
  canon,
  decide,
  http,
  gateway,
  cli,
  dashboard,
};

const args = process.argv.slice(2);
const flagValues = new Set(args.flatMap((a, i) => (a === '--runs' ? [i + 1] : [])));
const wanted = args.filter((a, i) => !a.startsWith('--') && !flagValues.has(i));
const unknown = wanted.filter((name) => !(name in BENCHES));
if (unknown.length > 0) {
  console.error(
    `unknown benchmark: ${unknown.join(', ')} (have: ${Object.keys(BENCHES).join(', ')})`,
  );
  process.exit(2);
}
for (const [name, run] of Object.entries(BENCHES)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  console.log(`\n== ${name}`);
  await run();
}
