/** `sigil init`: creates the store, the log and Root keys, the Root license and a Root token. */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolveMasterKey } from '../../canon/masterkey.ts';
import { publicKeyToRaw } from '../../core/ed25519.ts';
import { toBase64Url } from '../../core/encoding.ts';
import { loadConfig } from '../../config/index.ts';
import { SigilRuntime } from '../../runtime/index.ts';
import { dataDirOf, withLogOptions } from '../context.ts';
import { printResult, type GlobalOptions } from '../output.ts';

/** A database URL without its password, for printing. */
function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'the configured database';
  }
}

const MASTER_KEY_WARNING =
  'the master key is read from master.key beside the data it protects; ' +
  'in production supply SIGIL_MASTER_KEY (base64 of 32 bytes) or SIGIL_MASTER_PASSPHRASE';

export function registerInit(program: Command): void {
  withLogOptions(
    program
      .command('init')
      .description('create a data dir: log, keys, the Root license and a Root token (printed once)')
      .addHelpText(
        'after',
        '\nExample:\n  SIGIL_MASTER_KEY=$(openssl rand -base64 32) sigil init --data-dir ./.sigil\n' +
          '\nThe Root token is printed once; keep it (e.g. export SIGIL_TOKEN=…).',
      ),
  ).action(async (opts: GlobalOptions) => {
    const dataDir = dataDirOf(opts);
    const config = loadConfig({ env: process.env, dataDir });
    const keyFile = join(config.dataDir, 'master.key');
    const hadKeyFile = existsSync(keyFile);
    const boot = await SigilRuntime.bootstrap({ config, env: process.env, refuseExisting: true });
    const { runtime } = boot;
    try {
      const log = runtime.log;
      const master = resolveMasterKey({ dataDir: config.dataDir, env: process.env, create: false });
      const where =
        log.backend === 'postgres'
          ? `${redactedUrl(config.databaseUrl ?? '')} (keys in ${config.dataDir})`
          : config.dataDir;
      const result = {
        data_dir: config.dataDir,
        backend: log.backend,
        log_id: log.logId,
        origin: log.origin,
        public_key: toBase64Url(publicKeyToRaw(log.publicKey)),
        verifier_key: log.verifierKey,
        master_key_source: master.source,
        root_subject: boot.rootSubject,
        license_path: boot.licensePath,
        loa: runtime.identity().loa,
        root_token: boot.rootToken ?? null,
      };
      if (master.source === 'file' && !hadKeyFile) {
        process.stderr.write(`warning: created master.key; ${MASTER_KEY_WARNING}\n`);
      }
      const lines = [
        `initialised a ${result.backend} canon log in ${where}`,
        `log id:       ${result.log_id}`,
        `verifier key: ${result.verifier_key}`,
        `master key:   ${result.master_key_source}`,
        `root:         ${result.root_subject} (license ${result.license_path})`,
      ];
      if (boot.rootToken !== undefined) {
        lines.push(
          '',
          `Root token (shown once; keep it secret): ${boot.rootToken}`,
          'use it with --token, or: export SIGIL_TOKEN=<token>',
        );
      }
      printResult(opts, lines.join('\n'), result);
    } finally {
      await runtime.close();
    }
  });
}
