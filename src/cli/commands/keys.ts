/** `sigil keys rotate-master`: re-wraps the data key and the key files under a new master key. */
import type { Command } from 'commander';
import { rotateMasterKey } from '../../canon/rotate.ts';
import { dataDirOf, withLogOptions } from '../context.ts';
import { printResult, type GlobalOptions } from '../output.ts';

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('manage the keys protecting the log');
  withLogOptions(
    keys
      .command('rotate-master')
      .description(
        're-wrap the data key and key files under SIGIL_NEW_MASTER_KEY (or ' +
          'SIGIL_NEW_MASTER_PASSPHRASE; with master.key, a fresh generated key); records are untouched',
      ),
  ).action(async (opts: GlobalOptions) => {
    const result = await rotateMasterKey({ dataDir: dataDirOf(opts), env: process.env });
    const next =
      result.source === 'file'
        ? `the new key is in ${result.masterKeyFile}`
        : result.source === 'env'
          ? 'set SIGIL_MASTER_KEY to the value of SIGIL_NEW_MASTER_KEY from now on'
          : 'use the new passphrase as SIGIL_MASTER_PASSPHRASE from now on';
    if (result.staleMasterKeyFile) {
      process.stderr.write(
        `warning: ${result.staleMasterKeyFile} still holds the old master key; delete it\n`,
      );
    }
    printResult(
      opts,
      `master key rotated (kek id ${result.kekId}; ${result.keyFiles} key files re-wrapped); ${next}`,
      result,
    );
  });
}
