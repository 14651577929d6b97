/**
 * Runs every benchmark in turn (`npm run bench`); each prints its rate beside the physical
 * limit measured in the same run, and the ratio. `npm run bench -- canon http` runs a subset.
 */
import { run as core } from './core.ts';
import { run as canon } from './canon.ts';
import { run as decide } from './decide.ts';
import { run as http } from './http.ts';
import { run as gateway } from './gateway.ts';

const BENCHES: Record<string, () => Promise<void>> = { core, canon, decide, http, gateway };

const wanted = process.argv.slice(2);
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
