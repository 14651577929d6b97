/** `sigil approve <id>` and `sigil approvals`: a human decides gateway calls that need approval. */
import type { Command } from 'commander';
import type { ApprovalInfo } from '../../runtime/index.ts';
import { withLogOptions } from '../context.ts';
import { printResult } from '../output.ts';
import { callerFor, withRuntime, withTokenOption, type CallerOptions } from '../runtime-context.ts';

interface ApproveOptions extends CallerOptions {
  reject?: boolean;
}

interface ApprovalsOptions extends CallerOptions {
  all?: boolean;
}

function line(a: ApprovalInfo): string {
  return `${a.id}  ${a.status.padEnd(8)}  ${a.created_at}  ${a.requested_by}  ${a.target}\n    ${a.summary}`;
}

export function registerApprove(program: Command): void {
  withTokenOption(
    withLogOptions(
      program
        .command('approve')
        .description(
          'approve (or with --reject, reject) a pending gateway call; human Mentor or Root',
        )
        .argument('<id>', 'the approval id the gateway printed')
        .option('--reject', 'reject instead of approving'),
    ),
  ).action(async (id: string, opts: ApproveOptions) => {
    const result = await withRuntime(opts, async (runtime) =>
      runtime.approvals.approve(await callerFor(runtime, opts), id, opts.reject !== true),
    );
    printResult(opts, `${result.status}: ${result.id}`, result);
  });

  withTokenOption(
    withLogOptions(
      program
        .command('approvals')
        .description('list gateway calls waiting for a human approval (--all: decided ones too)')
        .option('--all', 'include approved and rejected requests'),
    ),
  ).action(async (opts: ApprovalsOptions) => {
    const all = await withRuntime(opts, async (runtime) =>
      runtime.approvals.list(await callerFor(runtime, opts)),
    );
    const shown = opts.all ? all : all.filter((a) => a.status === 'pending');
    shown.sort((a, b) => a.created_at.localeCompare(b.created_at));
    printResult(
      opts,
      shown.length === 0 ? 'no pending approvals' : shown.map(line).join('\n'),
      shown,
    );
  });
}
