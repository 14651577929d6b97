/** `sigil init`: creates the canon store, the log key and the wrapped data key. */
import type { Command } from 'commander';
import { CanonLog } from '../../canon/log.ts';
import { dataDirOf, withLogOptions } from '../context.ts';
import { printResult, type GlobalOptions } from '../output.ts';

/** A database URL without its password, for printing. */
function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the configured database';
  }
}

export function registerInit(program: Command): void {
  withLogOptions(
    program
      .command('init')
      .description('create a new canon log (refuses an existing one); backend from MMF_DB_BACKEND'),
  ).action(async (opts: GlobalOptions) => {
    const result = await CanonLog.init({ dataDir: dataDirOf(opts), env: process.env });
    const where =
      result.backend === 'postgres'
        ? `${redactedUrl(process.env.MMF_DATABASE_URL ?? '')} (keys in ${result.dataDir})`
        : result.dataDir;
    const lines = [
      `initialised a ${result.backend} canon log in ${where}`,
      `log id:       ${result.logId}`,
      `public key:   ${result.publicKey}`,
      `verifier key: ${result.verifierKey}`,
      `master key:   ${result.masterKeySource}`,
    ];
    if (result.masterKeyWarning) {
      process.stderr.write(`warning: created master.key; ${result.masterKeyWarning}\n`);
    }
    printResult(opts, lines.join('\n'), result);
  });
}
