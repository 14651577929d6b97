/**
 * `sigil witness serve`: runs Sigil as a log witness (C2SP tlog-witness cosigner) for other
 * logs: POST /add-checkpoint and GET /<sha256(origin)>/checkpoint. Its key is `witness` in the
 * key store of its data dir, encrypted under the master key; its state is <data-dir>/witness.db.
 */
import type { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { KeyStore } from '../../canon/keystore.ts';
import { resolveMasterKey } from '../../canon/masterkey.ts';
import { cosignerVerifierKey } from '../../canon/cosignature.ts';
import { generateKeyPair } from '../../core/ed25519.ts';
import { SigilError } from '../../core/errors.ts';
import { LogWitness, witnessHttpHandler } from '../../witness/witness.ts';
import { dataDirOf, intOption } from '../context.ts';
import type { GlobalOptions } from '../output.ts';

interface ServeOptions extends GlobalOptions {
  name: string;
  log: string[];
  port: string;
  host: string;
}

const WITNESS_KEY_ID = 'witness';

export function registerWitness(program: Command): void {
  const witness = program
    .command('witness')
    .description('run Sigil as a log witness (C2SP tlog-witness cosigner) for other logs');
  witness
    .command('serve')
    .description(
      'serve add-checkpoint for the logs named by --log, cosigning consistent checkpoints',
    )
    .requiredOption(
      '--name <name>',
      'the cosigner name, a schema-less URL (e.g. witness.example/w1)',
    )
    .requiredOption('--log <vkey...>', 'verifier key of a log to witness (repeatable)')
    .option('--port <port>', 'port to listen on (0: any free one)', '8090')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--data-dir <dir>', 'data directory (default: $SIGIL_DATA_DIR or ./.sigil)')
    .option('--json', 'print the cosigner key and the URL as one JSON line')
    .action(async (opts: ServeOptions) => {
      const dataDir = dataDirOf(opts);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const master = resolveMasterKey({ dataDir, env: process.env, create: true });
      const keys = new KeyStore(join(dataDir, 'keys'), master.kek);
      if (!keys.has(WITNESS_KEY_ID)) keys.save(WITNESS_KEY_ID, generateKeyPair());
      const pair = keys.load(WITNESS_KEY_ID);
      const w = new LogWitness({
        file: join(dataDir, 'witness.db'),
        name: opts.name,
        privateKey: pair.privateKey,
        publicKey: pair.publicKey,
        logs: opts.log,
      });
      const server = createServer(witnessHttpHandler(w));
      const port = intOption(opts.port, '--port')!;
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err) =>
          reject(new SigilError('bad_request', `cannot listen: ${err.message}`)),
        );
        server.listen(port, opts.host, resolve);
      });
      const address = server.address();
      const actual = typeof address === 'object' && address ? address.port : port;
      const cosignerKey = cosignerVerifierKey(opts.name, pair.publicKey);
      const listening = `http://${opts.host}:${actual}`;
      process.stdout.write(
        opts.json
          ? `${JSON.stringify({ cosigner_key: cosignerKey, url: listening })}\n`
          : `sigil witness: cosigner key ${cosignerKey}\nsigil witness listening on ${listening}\n`,
      );
      const stop = () => server.close(() => w.close());
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
