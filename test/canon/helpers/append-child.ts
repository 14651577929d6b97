/**
 * Child process for the crash test: appends in a loop (with `appenders` concurrent loops) and
 * prints "<seq> <id>" the moment each append resolves (a synchronous write, so a printed line
 * is an acknowledged append). Usage: append-child.ts <dataDir> <masterKeyBase64> <appenders>
 */
import { writeSync } from 'node:fs';
import { CanonLog } from '../../../src/canon/log.ts';

const [dataDir, masterKey, appenders = '1'] = process.argv.slice(2);
const log = await CanonLog.open({ dataDir: dataDir!, env: { SIGIL_MASTER_KEY: masterKey } });
writeSync(1, 'ready\n');
let n = 0;
async function appendForever(): Promise<never> {
  for (;;) {
    const i = n++;
    const r = await log.append({
      kind: 'user_data',
      tenant: 'crash',
      space: 'user',
      payload: { i },
    });
    writeSync(1, `${r.seq} ${r.id}\n`);
  }
}
await Promise.all(Array.from({ length: Number(appenders) }, appendForever));
