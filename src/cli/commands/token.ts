/** `sigil token create|list|revoke`: API tokens, minted and revoked by Root through the runtime. */
import type { Command } from 'commander';
import { isDid } from '../../core/did.ts';
import { SigilError } from '../../core/errors.ts';
import type { SignerType } from '../../core/typed-signature.ts';
import { parseDuration } from '../../policy/index.ts';
import type { TokenInfo } from '../../runtime/index.ts';
import { withLogOptions } from '../context.ts';
import { wireTokenInfo } from '../../runtime/wire.ts';
import { printResult } from '../output.ts';
import {
  callerFor,
  cliLoa,
  timeText,
  withRuntime,
  withTokenOption,
  type CallerOptions,
} from '../runtime-context.ts';

interface CreateOptions extends CallerOptions {
  subject: string;
  loa: string;
  signer: string;
  delegation?: string;
  scope?: string;
  expires?: string;
}

const DELEGATION_RE = /^[0-9a-f]{64}$/;

/** The signer type from --signer and --delegation (an AI token names its delegation). */
function signerOf(opts: CreateOptions): SignerType {
  if (opts.signer === 'human') {
    if (opts.delegation !== undefined) {
      throw new SigilError('bad_request', '--delegation is only for --signer ai');
    }
    return { type: 'human' };
  }
  if (opts.signer === 'ai') {
    if (opts.delegation === undefined || !DELEGATION_RE.test(opts.delegation)) {
      throw new SigilError('bad_request', '--signer ai needs --delegation <64 lowercase hex>');
    }
    return { type: 'ai', delegationId: opts.delegation };
  }
  throw new SigilError('bad_request', `--signer must be human or ai, not ${opts.signer}`);
}

function scopesOf(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const scopes = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (scopes.length === 0) throw new SigilError('bad_request', '--scope names no action');
  return scopes;
}

function signerText(signer: SignerType): string {
  return signer.type === 'ai' ? `ai (delegation ${signer.delegationId})` : 'human';
}

function tokenRow(t: TokenInfo): string {
  const state =
    t.revokedAt !== null
      ? `revoked ${timeText(t.revokedAt)}`
      : `expires ${t.expiresAt === null ? 'never' : timeText(t.expiresAt)}`;
  return `${t.id}\t${t.subject}\t${t.loa}\t${t.signer.type}\t${state}`;
}

function registerCreate(token: Command): void {
  withTokenOption(
    withLogOptions(
      token
        .command('create')
        .description('mint an API token (Root only); it is printed once and only its hash is kept')
        .requiredOption('--subject <did>', 'the DID the token acts for')
        .requiredOption('--loa <level>', 'guest, observer, operator, mentor or root')
        .requiredOption('--signer <type>', 'human or ai')
        .option(
          '--delegation <id>',
          'for --signer ai: the delegation_id from `sigil delegate` (its grantee is --subject)',
        )
        .option(
          '--scope <actions>',
          'comma-separated actions or prefixes (e.g. canon.*,trust.check)',
        )
        .option('--expires <duration>', 'lifetime, e.g. 30d, 12h, 15m (default: no expiry)')
        .addHelpText(
          'after',
          '\nExamples:\n' +
            '  sigil token create --subject did:example:alice --loa operator --signer human --expires 30d\n' +
            '  sigil delegate --to did:example:agent --actions trust.check,canon.read --json\n' +
            '  sigil token create --subject did:example:agent --loa observer --signer ai \\\n' +
            '    --delegation <delegation_id> --scope trust.check,canon.read --json',
        ),
    ),
  ).action(async (opts: CreateOptions) => {
    if (!isDid(opts.subject)) throw new SigilError('bad_request', '--subject must be a DID');
    const loa = cliLoa(opts.loa);
    const signer = signerOf(opts);
    const scopes = scopesOf(opts.scope);
    const ttlMs = opts.expires === undefined ? null : parseDuration(opts.expires);
    const { token, info } = await withRuntime(opts, async (runtime) =>
      runtime.tokens.create(await callerFor(runtime, opts), {
        subject: opts.subject,
        loa,
        signer,
        ttlMs,
        ...(scopes !== undefined && { scopes }),
      }),
    );
    const expires = info.expiresAt === null ? null : timeText(info.expiresAt);
    printResult(
      opts,
      [
        `token ${info.id} for ${info.subject} (${info.loa}, ${signerText(info.signer)}), ` +
          `expires ${expires ?? 'never'}`,
        ...(info.scopes === undefined ? [] : [`scopes: ${info.scopes.join(', ')}`]),
        '',
        'The token is shown once; keep it secret:',
        token,
      ].join('\n'),
      { token, info: wireTokenInfo(info) },
    );
  });
}

function registerList(token: Command): void {
  withTokenOption(
    withLogOptions(
      token
        .command('list')
        .description('list API tokens (ids and metadata; never the tokens themselves)')
        .addHelpText('after', '\nExample:\n  sigil token list --json'),
    ),
  ).action(async (opts: CallerOptions) => {
    const tokens = await withRuntime(opts, async (runtime) =>
      runtime.tokens.list(await callerFor(runtime, opts)),
    );
    const header = 'id\tsubject\tloa\tsigner\tstate';
    printResult(
      opts,
      tokens.length === 0 ? '(no tokens)' : [header, ...tokens.map(tokenRow)].join('\n'),
      { tokens: tokens.map(wireTokenInfo) },
    );
  });
}

function registerRevoke(token: Command): void {
  withTokenOption(
    withLogOptions(
      token
        .command('revoke')
        .description('revoke an API token by id; it stops working at once')
        .argument('<id>', 'the token id, as shown by `sigil token list`')
        .addHelpText('after', '\nExample:\n  sigil token revoke 3f2a9c0d1e4b5a69'),
    ),
  ).action(async (id: string, opts: CallerOptions) => {
    const info = await withRuntime(opts, async (runtime) =>
      runtime.tokens.revoke(await callerFor(runtime, opts), id),
    );
    printResult(opts, `revoked token ${info.id} (${info.subject})`, wireTokenInfo(info));
  });
}

export function registerToken(program: Command): void {
  const token = program
    .command('token')
    .description('create, list and revoke API tokens (Root only)');
  registerCreate(token);
  registerList(token);
  registerRevoke(token);
}
