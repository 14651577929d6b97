/** `sigil whoami`: who a token, a license file or this runtime's license says you are. */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { SigilError } from '../../core/errors.ts';
import { wireSigner } from '../../runtime/wire.ts';
import type { SigilRuntime } from '../../runtime/index.ts';
import { withLogOptions } from '../context.ts';
import { EXIT, printResult } from '../output.ts';
import { timeText, withRuntime, withTokenOption, type CallerOptions } from '../runtime-context.ts';

interface WhoamiOptions extends CallerOptions {
  license?: string;
}

type WireSigner = ReturnType<typeof wireSigner>;

/** The answer, with where each value came from (field names as in the HTTP API). */
interface Identity {
  subject: string | null;
  loa: string;
  signer: WireSigner;
  expires_at: string | null;
  source: 'token' | 'license' | 'default';
  /** Why a license did not count (null when it did, or for tokens). */
  reason: string | null;
  from: { subject: string; loa: string; signer: string; expires_at: string };
  token_id?: string;
  license_path?: string;
}

async function fromToken(runtime: SigilRuntime, token: string): Promise<Identity> {
  const caller = await runtime.tokens.authenticate(token);
  const tokenId = caller.tokenId ?? 'unknown';
  const where = `token ${tokenId}`;
  return {
    subject: caller.subject,
    loa: caller.loa,
    signer: wireSigner(caller.signer),
    expires_at: caller.expiresAt == null ? null : timeText(caller.expiresAt),
    source: 'token',
    reason: null,
    from: {
      subject: where,
      loa: where,
      signer: where,
      expires_at: where,
    },
    token_id: tokenId,
  };
}

async function fromLicenseFile(runtime: SigilRuntime, file: string): Promise<Identity> {
  const path = resolve(file);
  const result = await runtime.licenses.validateFile(path);
  const where = `license ${path}`;
  if (result.ok) {
    return {
      subject: result.owner.id,
      loa: result.loa,
      signer: { type: 'human' },
      expires_at: result.expiresAt,
      source: 'license',
      reason: null,
      from: {
        subject: where,
        loa: where,
        signer: 'licenses are held by humans',
        expires_at: where,
      },
      license_path: path,
    };
  }
  return {
    subject: null,
    loa: result.loa,
    signer: { type: 'human' },
    expires_at: null,
    source: 'default',
    reason: result.reason,
    from: {
      subject: `none: ${where} is not valid (${result.reason})`,
      loa: `MMF_TRUST_DEFAULT_LOA, because ${where} is not valid (${result.reason})`,
      signer: 'the local operator',
      expires_at: 'none',
    },
    license_path: path,
  };
}

function fromRuntime(runtime: SigilRuntime): Identity {
  const id = runtime.identity();
  const where = `license ${id.licensePath}`;
  if (id.source === 'license') {
    return {
      subject: id.subject,
      loa: id.loa,
      signer: { type: 'human' },
      expires_at: id.expiresAt,
      source: 'license',
      reason: null,
      from: {
        subject: where,
        loa: where,
        signer: 'licenses are held by humans',
        expires_at: where,
      },
      license_path: id.licensePath,
    };
  }
  return {
    subject: null,
    loa: id.loa,
    signer: { type: 'human' },
    expires_at: null,
    source: 'default',
    reason: id.reason,
    from: {
      subject: `none: no valid license (${id.reason})`,
      loa: `MMF_TRUST_DEFAULT_LOA, because ${where} is not valid (${id.reason})`,
      signer: 'the local operator',
      expires_at: 'none',
    },
    license_path: id.licensePath,
  };
}

function humanText(who: Identity): string {
  const signer = who.signer.type === 'ai' ? `ai (delegation ${who.signer.delegation_id})` : 'human';
  const rows: Array<[string, string, string]> = [
    ['subject', who.subject ?? '(none)', who.from.subject],
    ['loa', who.loa, who.from.loa],
    ['signer', signer, who.from.signer],
    ['expires', who.expires_at ?? (who.source === 'default' ? '-' : 'never'), who.from.expires_at],
  ];
  const width = Math.max(...rows.map(([, v]) => v.length));
  return rows.map(([k, v, from]) => `${`${k}:`.padEnd(9)}${v.padEnd(width)}  (${from})`).join('\n');
}

export function registerWhoami(program: Command): void {
  withTokenOption(
    withLogOptions(
      program
        .command('whoami')
        .description('show who a token, a license or this runtime is: subject, LOA, signer, expiry')
        .option('--license <file>', 'check this license file against the runtime instead'),
    ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  sigil whoami\n  sigil whoami --token "$SIGIL_TOKEN" --json\n' +
        '  sigil whoami --license ./mentor.license.json   # exit 1 when it does not verify',
    )
    .action(async (opts: WhoamiOptions) => {
      if (opts.token !== undefined && opts.license !== undefined) {
        throw new SigilError('bad_request', 'give at most one of --token and --license');
      }
      const token =
        opts.license === undefined ? (opts.token ?? process.env.SIGIL_TOKEN) : undefined;
      const who = await withRuntime(opts, async (runtime) => {
        if (token !== undefined && token !== '') return fromToken(runtime, token);
        if (opts.license !== undefined) return fromLicenseFile(runtime, opts.license);
        return fromRuntime(runtime);
      });
      printResult(opts, humanText(who), who);
      if (opts.license !== undefined && who.source !== 'license') process.exitCode = EXIT.failed;
    });
}
