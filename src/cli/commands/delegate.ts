/** `sigil delegate`: grant an agent actions as a signed authority link; `revoke` and `show` it. */
import type { Command } from 'commander';
import { isDid } from '../../core/did.ts';
import { SigilError } from '../../core/errors.ts';
import { parseDuration } from '../../policy/index.ts';
import type { DelegationInfo } from '../../runtime/index.ts';
import { withLogOptions } from '../context.ts';
import { printResult } from '../output.ts';
import { callerFor, withRuntime, withTokenOption, type CallerOptions } from '../runtime-context.ts';

interface DelegateOptions extends CallerOptions {
  to?: string;
  actions?: string;
  expires?: string;
}

function describe(d: DelegationInfo): string {
  const state =
    d.revoked_at !== null ? `revoked ${d.revoked_at}` : `expires ${d.expires_at ?? 'never'}`;
  const path = [d.chain[0]!.grantor, ...d.chain.map((l) => l.grantee)].join(' → ');
  return [
    `delegation ${d.delegation_id}`,
    `  ${path} (${d.chain.length} link${d.chain.length === 1 ? '' : 's'})`,
    `  actions: ${d.permissions.join(', ')}; ${state}`,
  ].join('\n');
}

/** `delegate` and its subcommands share option names, and commander gives them to the parent. */
function withParent(parent: Command, own: CallerOptions): CallerOptions {
  return { ...(parent.opts() as CallerOptions), ...own };
}

export function registerDelegate(program: Command): void {
  const delegate = withTokenOption(
    withLogOptions(
      program
        .command('delegate')
        .description('delegate actions to an agent (a signed authority link); revoke or show one')
        .option('--to <did>', 'the agent (DID) receiving the actions')
        .option('--actions <a,b>', 'comma-separated actions, e.g. mcp.tools.call,memory.read')
        .option('--expires <duration>', 'lifetime, e.g. 30d, 12h (default: until revoked)')
        .addHelpText(
          'after',
          '\nExamples:\n' +
            '  sigil delegate --to did:sigil:desktop-agent --actions mcp.tools.call --expires 30d --json\n' +
            '  sigil token create --subject did:sigil:desktop-agent --loa operator --signer ai \\\n' +
            '    --delegation <delegation_id>\n' +
            '  sigil delegate revoke <delegation_id>',
        ),
    ),
  ).action(async (opts: DelegateOptions) => {
    if (opts.to === undefined || !isDid(opts.to)) {
      throw new SigilError('bad_request', '--to must be the agent DID');
    }
    const actions = (opts.actions ?? '')
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== '');
    if (actions.length === 0) throw new SigilError('bad_request', '--actions names no action');
    const ttlMs = opts.expires === undefined ? null : parseDuration(opts.expires);
    const to = opts.to;
    const created = await withRuntime(opts, async (runtime) =>
      runtime.delegations.create(await callerFor(runtime, opts), { to, actions, ttlMs }),
    );
    printResult(opts, describe(created), created);
  });

  withTokenOption(
    withLogOptions(
      delegate
        .command('revoke <id>')
        .description('revoke a delegation: every token built on it is denied from its next request')
        .addHelpText('after', '\nExample:\n  sigil delegate revoke 3f2a…'),
    ),
  ).action(async (id: string, own: CallerOptions) => {
    const opts = withParent(delegate, own);
    const revoked = await withRuntime(opts, async (runtime) =>
      runtime.delegations.revoke(await callerFor(runtime, opts), id),
    );
    printResult(opts, `revoked ${describe(revoked)}`, revoked);
  });

  withTokenOption(
    withLogOptions(
      delegate
        .command('show <id>')
        .description('show a delegation and its chain (its grantors, its grantee or Root)'),
    ),
  ).action(async (id: string, own: CallerOptions) => {
    const opts = withParent(delegate, own);
    const found = await withRuntime(opts, async (runtime) =>
      runtime.delegations.get(await callerFor(runtime, opts), id),
    );
    printResult(opts, describe(found), found);
  });
}
