/**
 * Child process for the postgres concurrency test: appends `count` records with a few
 * concurrent appenders to a shared postgres log, then prints its seqs as one JSON line.
 * Usage: pg-append-child.ts <dataDir> <databaseUrl> <masterKeyBase64> <count> <tag>
 */
import { CanonLog } from '../../../src/canon/log.ts';

const [dataDir, databaseUrl, masterKey, count, tag] = process.argv.slice(2);
const log = await CanonLog.open({
  dataDir: dataDir!,
  backend: 'postgres',
  databaseUrl: databaseUrl!,
  env: { SIGIL_MASTER_KEY: masterKey },
});
const total = Number(count);
const seqs: number[] = [];
let next = 0;
async function appender(): Promise<void> {
  while (next < total) {
    const i = next++;
    const r = await log.append({
      kind: 'user_data',
      tenant: tag!,
      space: 'user',
      payload: { tag: tag!, i },
    });
    seqs.push(r.seq);
  }
}
await Promise.all(Array.from({ length: 16 }, appender));
await log.close();
process.stdout.write(`${JSON.stringify({ tag, seqs })}\n`);
