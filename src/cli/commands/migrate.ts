/** `sigil migrate`: moves a store to the log format this Sigil writes (every instance stopped). */
import type { Command } from 'commander';
import { counted, printResult, type GlobalOptions } from '../output.ts';
import { dataDirOf, withLogOptions } from '../context.ts';

export function registerMigrate(program: Command): void {
  withLogOptions(
    program
      .command('migrate')
      .description(
        'move the store to the current log format (stop every instance first); a no-op when current',
      ),
  ).action(async (opts: GlobalOptions) => {
    const { migrateStore } = await import('../../runtime/log-reader.ts');
    const done = await migrateStore(dataDirOf(opts), process.env);
    if (done === undefined) {
      printResult(opts, 'ok: the store is at the current log format', { migrated: false });
      return;
    }
    printResult(
      opts,
      `ok: log format ${done.from} -> ${done.to}: leaf hashes of ${counted(done.records, 'record')} recomputed, ` +
        `${counted(done.checkpoints, 'checkpoint')} of format ${done.from} retired ` +
        `(kept in the store meta); sign a new checkpoint with \`sigil log checkpoint\``,
      { migrated: true, ...done },
    );
  });
}
