/** `sigil state rebuild`: recomputes every view row from the log (Root, explicit). */
import type { Command } from 'commander';
import { withLogOptions } from '../context.ts';
import { printResult } from '../output.ts';
import { callerFor, withRuntime, withTokenOption, type CallerOptions } from '../runtime-context.ts';

export function registerState(program: Command): void {
  const state = program
    .command('state')
    .description('the views Sigil acts on (tokens, consent, witnesses, …), projected from the log');
  withTokenOption(
    withLogOptions(
      state
        .command('rebuild')
        .description(
          'replace every view row with the projection of the log (Root), e.g. after restoring a backup',
        ),
    ),
  ).action(async (opts: CallerOptions) => {
    const result = await withRuntime(opts, async (runtime) =>
      runtime.state.rebuild(await callerFor(runtime, opts)),
    );
    printResult(
      opts,
      `rebuilt ${result.rows} view rows from ${result.size} records (decision ${result.decision_id})`,
      result,
    );
  });
}
