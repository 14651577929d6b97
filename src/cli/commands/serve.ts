/**
 * `sigil serve` (and `npm start`): the HTTP API on the configured store. A new data dir is
 * initialised on first start and its Root token printed once. SIGTERM/SIGINT stop accepting
 * connections, finish in-flight requests, then close the runtime (drain appends, final
 * checkpoint). A second signal, or a shutdown longer than 15 s, exits at once with status 1.
 * Ctrl-C under `npm start` reaches the server twice (from the terminal and forwarded by npm),
 * so a repeat within a second of the first signal is that echo, not a second request.
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { resolveMasterKey } from '../../canon/masterkey.ts';
import { loadConfig } from '../../config/index.ts';
import { SigilError } from '../../core/errors.ts';
import { buildServer } from '../../http/index.ts';
import { isLoopbackHost } from '../../mcp/config.ts';
import { SigilRuntime } from '../../runtime/index.ts';
import { dataDirOf, intOption, withLogOptions } from '../context.ts';
import { reportError, type GlobalOptions } from '../output.ts';

interface ServeOptions extends GlobalOptions {
  host?: string;
  port?: string;
}

const SHUTDOWN_LIMIT_MS = 15_000;
const SIGNAL_ECHO_MS = 1_000;

/** The URL a listening server answers on (IPv6 hosts in brackets). */
function urlOf(address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

function write(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function registerServe(program: Command): void {
  withLogOptions(
    program
      .command('serve')
      .description('serve the HTTP API (initialises a new data dir and prints its Root token once)')
      .option('--host <host>', 'address to bind (default: [server] host or 127.0.0.1)')
      .option('--port <port>', 'port, 0 for any free port (default: $PORT, [server] port or 8080)')
      .addHelpText(
        'after',
        '\nExamples:\n' +
          '  SIGIL_MASTER_KEY=$(openssl rand -base64 32) sigil serve --data-dir ./.sigil\n' +
          '  sigil serve --port 0 --json        # any free port; prints {"event":"listening",…}\n' +
          '\nThe first start prints the Root token once: keep it (export SIGIL_TOKEN=…).\n' +
          'Stop with Ctrl-C or SIGTERM: in-flight requests finish and a final checkpoint is signed.',
      ),
  ).action(async (opts: ServeOptions) => {
    const port = intOption(opts.port, '--port');
    if (port !== undefined && port > 65535) {
      throw new SigilError('bad_request', '--port must be 0 … 65535');
    }
    const config = loadConfig({ env: process.env, dataDir: dataDirOf(opts) });
    const hadKeyFile = existsSync(join(config.dataDir, 'master.key'));
    const boot = await SigilRuntime.bootstrap({ config, env: process.env });
    const { runtime } = boot;
    const host = opts.host ?? config.server.host;
    // Off the loopback, the browser reaches Sigil through a TLS proxy: Secure cookies and HSTS.
    const app = buildServer(runtime, {
      secureCookies: config.server.secureCookies ?? !isLoopbackHost(host),
    });
    let address: AddressInfo;
    try {
      await app.listen({ host, port: port ?? config.server.port });
      address = app.server.address() as AddressInfo;
    } catch (err) {
      await app.close().catch(() => {});
      await runtime.close();
      throw err;
    }
    const url = urlOf(address);
    const master = resolveMasterKey({ dataDir: config.dataDir, env: process.env, create: false });
    if (boot.created && master.source === 'file' && !hadKeyFile) {
      process.stderr.write(
        'warning: created master.key beside the data it protects; in production supply ' +
          'SIGIL_MASTER_KEY (base64 of 32 bytes) or SIGIL_MASTER_PASSPHRASE\n',
      );
    }
    if (opts.json) {
      write(
        JSON.stringify({
          event: 'listening',
          url,
          data_dir: config.dataDir,
          created: boot.created,
          root_token: boot.rootToken ?? null,
          loa: runtime.identity().loa,
          verifier_key: runtime.log.verifierKey,
        }),
      );
    } else {
      if (boot.rootToken !== undefined) {
        write(`sigil: initialised a new ${runtime.log.backend} store in ${config.dataDir}`);
        write(`sigil: Root token (shown once; keep it secret): ${boot.rootToken}`);
        write(`sigil: try  curl -H "Authorization: Bearer <token>" ${url}/api/whoami`);
      }
      write(`sigil: verifier key (checks checkpoints and proofs): ${runtime.log.verifierKey}`);
      write(`sigil listening on ${url}`);
    }

    let stoppingSince: number | undefined;
    const stop = (signal: NodeJS.Signals): void => {
      if (stoppingSince !== undefined) {
        if (Date.now() - stoppingSince < SIGNAL_ECHO_MS) return;
        process.stderr.write(`sigil: ${signal} again, exiting without a final checkpoint\n`);
        process.exit(1);
      }
      stoppingSince = Date.now();
      const limit = setTimeout(() => {
        process.stderr.write('sigil: shutdown took too long, exiting\n');
        process.exit(1);
      }, SHUTDOWN_LIMIT_MS);
      limit.unref();
      void (async () => {
        try {
          await app.close();
          await runtime.close();
          if (!opts.json) write('sigil stopped');
        } catch (err) {
          reportError(err);
        } finally {
          clearTimeout(limit);
          process.removeListener('SIGTERM', stop);
          process.removeListener('SIGINT', stop);
        }
      })();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
