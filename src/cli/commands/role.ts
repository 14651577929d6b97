/** `sigil role grant|revoke|list`: governed roles; a grant is a quorum proposal. */
import type { Command } from 'commander';
import { withLogOptions } from '../context.ts';
import { printResult } from '../output.ts';
import { callerFor, withRuntime, withTokenOption, type CallerOptions } from '../runtime-context.ts';

interface RoleOptions extends CallerOptions {
  subject: string;
  role: string;
}

export function registerRole(program: Command): void {
  const role = program
    .command('role')
    .description('grant (through the quorum), revoke and list governed roles');

  withTokenOption(
    withLogOptions(
      role
        .command('grant')
        .description(
          'propose a governed role for a subject; it takes effect when the quorum commits',
        )
        .requiredOption('--subject <did>', 'who receives the role')
        .requiredOption(
          '--role <name>',
          'senator, legislator, voter, executive, executive-admin, operator, worker, judge, transition-judge',
        )
        .addHelpText(
          'after',
          '\nExample:\n  sigil role grant --subject did:sigil:alice --role judge\n' +
            '  sigil quorum attest … ; sigil quorum commit --proposal <id>',
        ),
    ),
  ).action(async (opts: RoleOptions) => {
    const proposal = await withRuntime(opts, async (runtime) =>
      runtime.roles.grant(await callerFor(runtime, opts), {
        subject: opts.subject,
        role: opts.role,
      }),
    );
    printResult(
      opts,
      `proposal ${proposal.id}: ${opts.role} for ${opts.subject} (needs the quorum, then commit)`,
      proposal,
    );
  });

  withTokenOption(
    withLogOptions(
      role
        .command('revoke')
        .description('revoke a governed role at once (Root)')
        .requiredOption('--subject <did>', 'who holds the role')
        .requiredOption('--role <name>', 'the role'),
    ),
  ).action(async (opts: RoleOptions) => {
    const revoked = await withRuntime(opts, async (runtime) =>
      runtime.roles.revoke(await callerFor(runtime, opts), {
        subject: opts.subject,
        role: opts.role,
      }),
    );
    printResult(opts, `revoked ${revoked.name} (${revoked.branch}) of ${revoked.subject}`, revoked);
  });

  withTokenOption(
    withLogOptions(role.command('list').description('every governed role held now')),
  ).action(async (opts: CallerOptions) => {
    const roles = await withRuntime(opts, async (runtime) =>
      runtime.roles.list(await callerFor(runtime, opts)),
    );
    printResult(
      opts,
      roles.length === 0
        ? '(no roles)'
        : roles.map((r) => `${r.subject}\t${r.name}\t${r.branch}\t${r.granted_at}`).join('\n'),
      { roles },
    );
  });
}
