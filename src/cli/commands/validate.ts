/** `sigil validate`: checks the whole log and names the first bad record. */
import type { Command } from 'commander';
import type { ViewProblem } from '../../canon/log.ts';
import { EXIT, counted, printResult, type GlobalOptions } from '../output.ts';
import { intOption, noteOf, withLog, withLogOptions } from '../context.ts';

interface ValidateCliOptions extends GlobalOptions {
  file?: string;
  workers?: string;
  checkpoint?: string;
}

/** A one-line progress bar on stderr, redrawn at most every 100 ms. */
function progressBar(): { update(done: number, total: number): void; end(): void } {
  let last = 0;
  return {
    update(done, total) {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const frac = total === 0 ? 1 : Math.min(done / total, 1);
      const width = 30;
      const filled = Math.round(frac * width);
      process.stderr.write(
        `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} records`,
      );
    },
    end() {
      process.stderr.write('\n');
    },
  };
}

const PROBLEM_TEXT: Record<ViewProblem['problem'], string> = {
  unauthenticated: 'fails authentication (forged or edited)',
  no_record: 'has no record that projects to it',
  differs: 'differs from the projection of',
  missing: 'is missing, the projection of',
};

/** `view tokens/ab12…: differs from the projection of record seq 7 (id …)` */
function viewProblemLine(p: ViewProblem): string {
  const record =
    p.record_id === undefined
      ? `claims record seq ${p.seq}`
      : `record seq ${p.seq} (id ${p.record_id})`;
  const text = PROBLEM_TEXT[p.problem];
  return p.record_id === undefined
    ? `view ${p.ns}/${p.key}: ${text}; ${record}`
    : `view ${p.ns}/${p.key}: ${text} ${record}`;
}

export function registerValidate(program: Command): void {
  withLogOptions(
    program
      .command('validate')
      .description(
        'check every record (hash, signature, chain, encryption) and every checkpoint (Merkle root, signature)',
      )
      .option('--file <dir>', 'alias for --data-dir')
      .option(
        '--checkpoint <file>',
        'a checkpoint you kept (note or `sigil log checkpoint --json`): fail unless the store extends it',
      )
      .option(
        '--workers <n>',
        'worker threads for signature checks (default: cores, 0 for small logs)',
      ),
  ).action(async (opts: ValidateCliOptions) => {
    const scope: GlobalOptions = {
      ...opts,
      ...(opts.file !== undefined && { dataDir: opts.file }),
    };
    const workers = intOption(opts.workers, '--workers');
    const kept = opts.checkpoint === undefined ? undefined : noteOf(opts.checkpoint);
    const bar = process.stderr.isTTY ? progressBar() : undefined;
    const { result, views } = await withLog(scope, async (log) => {
      const result = await log.validate({
        ...(workers !== undefined && { workers }),
        ...(kept !== undefined && { checkpoint: kept }),
        ...(bar && { onProgress: (done: number, total: number) => bar.update(done, total) }),
      });
      // The views are compared with the log only once the log itself is sound.
      return { result, views: result.ok ? await log.checkViews() : [] };
    });
    bar?.end();
    if (result.ok && views.length > 0) {
      printResult(
        opts,
        [
          `FAILED: ${views.length} view rows are not the projection of the log`,
          ...views.map(viewProblemLine),
        ].join('\n'),
        { ok: false, code: 'state_invalid', views },
      );
      process.exitCode = EXIT.failed;
    } else if (result.ok) {
      const rate = Math.round((result.count * 1000) / Math.max(result.ms, 0.001));
      printResult(
        opts,
        `ok: ${counted(result.count, 'record')} and ${counted(result.checkpoints, 'checkpoint')} verified ` +
          `in ${(result.ms / 1000).toFixed(2)} s (${rate} records/s); every view row is its projection` +
          (kept === undefined ? '' : '; the store extends the given checkpoint'),
        { ...result, records_per_s: rate },
      );
    } else {
      printResult(opts, `FAILED at seq ${result.seq}: ${result.code}: ${result.reason}`, result);
      process.exitCode = EXIT.failed;
    }
  });
}
