/** `sigil consent grant|revoke`: the caller (as bailor) entrusts data to an agent for a purpose. */
import type { Command } from 'commander';
import { isDid } from '../../core/did.ts';
import { SigilError } from '../../core/errors.ts';
import { CONSENT_PURPOSES, type ConsentPurpose } from '../../gatekeeper/index.ts';
import { withLogOptions } from '../context.ts';
import { wireConsent, wireConsentRevoked } from '../../runtime/wire.ts';
import { printResult } from '../output.ts';
import { callerFor, withRuntime, withTokenOption, type CallerOptions } from '../runtime-context.ts';

interface GrantOptions extends CallerOptions {
  bailee: string;
  scope: string;
  purpose: string;
  expires?: string;
}

function purposeOf(text: string): ConsentPurpose {
  if ((CONSENT_PURPOSES as readonly string[]).includes(text)) return text as ConsentPurpose;
  throw new SigilError('bad_request', `--purpose must be one of ${CONSENT_PURPOSES.join(', ')}`);
}

function expiryOf(text: string | undefined): string | null {
  if (text === undefined) return null;
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) throw new SigilError('bad_request', `--expires is not a date: ${text}`);
  return new Date(ms).toISOString();
}

export function registerConsent(program: Command): void {
  const consent = program
    .command('consent')
    .description('grant or revoke consent for an agent to act on your data (MCP rule mcp-006)');

  withTokenOption(
    withLogOptions(
      consent
        .command('grant')
        .description('entrust data within a scope to a bailee for a purpose (bailment + consent)')
        .requiredOption('--bailee <did>', 'the agent (subject DID) receiving consent')
        .requiredOption('--scope <actions>', 'what it covers, e.g. mcp.tools.call')
        .requiredOption('--purpose <purpose>', CONSENT_PURPOSES.join(', '))
        .option('--expires <date>', 'when the consent ends (default: until revoked)')
        .addHelpText(
          'after',
          '\nExample:\n  sigil consent grant --bailee did:sigil:desktop-agent --scope mcp.tools.call --purpose retrieval',
        ),
    ),
  ).action(async (opts: GrantOptions) => {
    if (!isDid(opts.bailee)) throw new SigilError('bad_request', '--bailee must be a DID');
    const input = {
      bailee: opts.bailee,
      scope: opts.scope,
      purpose: purposeOf(opts.purpose),
      expiresAt: expiryOf(opts.expires),
    };
    const granted = await withRuntime(opts, async (runtime) =>
      runtime.consent.grant(await callerFor(runtime, opts), input),
    );
    printResult(
      opts,
      `consent ${granted.id}: ${granted.grant.bailor} → ${granted.grant.bailee}, ` +
        `${granted.grant.scope} for ${granted.grant.purpose}, ` +
        `expires ${granted.grant.expiresAt ?? 'never'}`,
      wireConsent(granted),
    );
  });

  withTokenOption(
    withLogOptions(
      consent
        .command('revoke <id>')
        .description('revoke a consent at once (bailor or Root)')
        .addHelpText('after', '\nExample:\n  sigil consent revoke 3f2a…'),
    ),
  ).action(async (id: string, opts: CallerOptions) => {
    const revoked = await withRuntime(opts, async (runtime) =>
      runtime.consent.revoke(await callerFor(runtime, opts), id),
    );
    printResult(
      opts,
      `consent ${revoked.id} revoked at ${revoked.revokedAt}`,
      wireConsentRevoked(revoked),
    );
  });
}
