/**
 * `sigil approve <id>` and `sigil approvals`: a human signs a verdict on a gateway call that
 * needs approval, after reading the call's arguments.
 */
import type { Command } from 'commander';
import { SigilError } from '../../core/errors.ts';
import { signApproval, type ApprovalVerdict } from '../../gatekeeper/index.ts';
import type { ApprovalView } from '../../runtime/index.ts';
import { openKeyStore } from '../../runtime/keys.ts';
import { dataDirOf, withLogOptions } from '../context.ts';
import { printResult } from '../output.ts';
import { callerFor, withRuntime, withTokenOption, type CallerOptions } from '../runtime-context.ts';

interface ApproveOptions extends CallerOptions {
  reject?: boolean;
  keyId?: string;
  signature?: string;
  signOnly?: boolean;
}

interface ApprovalsOptions extends CallerOptions {
  all?: boolean;
}

function line(a: ApprovalView): string {
  return [
    `${a.id}  ${a.status.padEnd(8)}  ${a.created_at}  ${a.requested_by}  ${a.tool}`,
    `    ${a.summary}`,
    `    arguments: ${a.arguments === null ? '(not sealed)' : JSON.stringify(a.arguments)}`,
  ].join('\n');
}

export function registerApprove(program: Command): void {
  withTokenOption(
    withLogOptions(
      program
        .command('approve')
        .description(
          'sign a verdict on a pending gateway call (approve, or --reject); human Mentor or Root ' +
            'with an enrolled witness key',
        )
        .argument('<id>', 'the approval id the gateway printed')
        .option('--reject', 'reject instead of approving')
        .option('--key-id <id>', 'sign with this witness key from the key store')
        .option('--signature <b64url>', 'or submit a signature made elsewhere (e.g. --sign-only)')
        .option('--sign-only', 'with --key-id: print the signature and submit nothing'),
    ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  sigil approve <id> --key-id mentor1\n' +
        '  sigil approve <id> --reject --key-id mentor1 --sign-only   (paste into the dashboard)',
    )
    .action(async (id: string, opts: ApproveOptions) => {
      if ((opts.keyId === undefined) === (opts.signature === undefined)) {
        throw new SigilError('bad_request', 'give exactly one of --key-id and --signature');
      }
      if (opts.signOnly === true && opts.keyId === undefined) {
        throw new SigilError('bad_request', '--sign-only signs with --key-id');
      }
      const verdict: ApprovalVerdict = opts.reject === true ? 'rejected' : 'approved';
      const result = await withRuntime(opts, async (runtime) => {
        const caller = await callerFor(runtime, opts);
        let signature = opts.signature;
        if (signature === undefined) {
          const key = openKeyStore(dataDirOf(opts), process.env).load(opts.keyId!);
          const approval = (await runtime.approvals.list(caller)).find((a) => a.id === id);
          if (!approval) throw new SigilError('not_found', `no approval request ${id}`);
          signature = signApproval(
            {
              approval_id: approval.id,
              tool: approval.tool,
              arguments_hash: approval.arguments_hash,
            },
            verdict,
            { type: 'human' },
            key.privateKey,
          );
        }
        if (opts.signOnly === true) return { id, verdict, signature };
        return runtime.approvals.decide(caller, id, { verdict, signature });
      });
      if ('signature' in result) {
        printResult(opts, result.signature, result);
        return;
      }
      printResult(opts, `${result.status}: ${result.id} (decision ${result.decision_id})`, result);
    });

  withTokenOption(
    withLogOptions(
      program
        .command('approvals')
        .description(
          'list gateway calls waiting for a human approval, with their arguments (--all: decided ones too)',
        )
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
