/** `sigil generate-license`: Root mints a license sealed by the runtime's Root key. */
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isDid } from '../../core/did.ts';
import { SigilError } from '../../core/errors.ts';
import { parseDuration } from '../../policy/index.ts';
import { ROOT_KEY_ID } from '../../runtime/keys.ts';
import { withLogOptions } from '../context.ts';
import { printResult } from '../output.ts';
import {
  callerFor,
  cliLoa,
  withRuntime,
  withTokenOption,
  type CallerOptions,
} from '../runtime-context.ts';

interface LicenseOptions extends CallerOptions {
  subject: string;
  loa: string;
  expires: string;
  name?: string;
  keyId?: string;
  output?: string;
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/** --expires: an RFC 3339 date or time, a lifetime such as 365d, or `never`. */
function expiryOf(text: string, now: number): string | null {
  if (text === 'never') return null;
  if (/^[1-9][0-9]*[dhms]$/.test(text)) return new Date(now + parseDuration(text)).toISOString();
  const ms = DATE_RE.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) {
    throw new SigilError(
      'bad_request',
      `--expires must be a date (2027-01-31 or RFC 3339), a lifetime (365d) or never: ${text}`,
    );
  }
  if (ms <= now) throw new SigilError('bad_request', `--expires ${text} is in the past`);
  return new Date(ms).toISOString();
}

export function registerLicense(program: Command): void {
  withTokenOption(
    withLogOptions(
      program
        .command('generate-license')
        .description('mint a license sealed by the Root key (Root only; one Root license)')
        .requiredOption('--subject <did>', 'the DID the license is for')
        .requiredOption('--loa <level>', 'guest, observer, operator, mentor or root')
        .requiredOption('--expires <date>', 'expiry: 2027-01-31, an RFC 3339 time, 365d, or never')
        .option('--name <name>', 'the owner name written into the license (default: the DID)')
        .option('--key-id <id>', `sealing key; only the runtime's Root key (${ROOT_KEY_ID}) counts`)
        .option('--output <file>', 'write the license here (mode 0600) instead of to stdout'),
    ),
  )
    .addHelpText(
      'after',
      '\nExample:\n  sigil generate-license --subject did:example:mentor1 --loa mentor \\\n' +
        '    --expires 2027-12-31 --output mentor1.license.json\n' +
        '  sigil whoami --license mentor1.license.json',
    )
    .action(async (opts: LicenseOptions) => {
      if (!isDid(opts.subject)) throw new SigilError('bad_request', '--subject must be a DID');
      if (opts.keyId !== undefined && opts.keyId !== ROOT_KEY_ID) {
        throw new SigilError(
          'bad_request',
          `licenses are sealed by the runtime's Root key (${ROOT_KEY_ID}); ` +
            `a seal by ${opts.keyId} would never verify`,
        );
      }
      const loa = cliLoa(opts.loa);
      expiryOf(opts.expires, Date.now());
      const license = await withRuntime(opts, async (runtime) => {
        const caller = await callerFor(runtime, opts);
        return runtime.licenses.generate(caller, {
          subject: opts.subject,
          loa,
          expiresAt: expiryOf(opts.expires, Date.now()),
          ...(opts.name !== undefined && { name: opts.name }),
        });
      });
      const text = `${JSON.stringify(license, null, 2)}\n`;
      const output = opts.output === undefined ? null : resolve(opts.output);
      if (output !== null) {
        try {
          writeFileSync(output, text, { mode: 0o600 });
        } catch (err) {
          throw new SigilError('bad_request', `cannot write ${output}: ${(err as Error).message}`);
        }
      }
      printResult(
        opts,
        output === null
          ? text.trimEnd()
          : `wrote a ${license.loa} license for ${license.owner.id} ` +
              `(expires ${license.expiresAt ?? 'never'}) to ${output}`,
        { license, output },
      );
    });
}
