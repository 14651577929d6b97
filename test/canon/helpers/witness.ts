/** A real LogWitness (tlog-witness cosigner) on loopback HTTP, for the witnessed-log tests. */
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { cosignerVerifierKey } from '../../../src/canon/cosignature.ts';
import { LogWitness, witnessHttpHandler } from '../../../src/witness/witness.ts';
import { tempDir } from './log.ts';

export interface RunningWitness {
  name: string;
  vkey: string;
  url: string;
  witness: LogWitness;
  server: Server;
  /** Requests it answered so far. */
  hits: number;
}

/** Starts a witness of the log `logVkey`; `close` it (server and store) after. */
export async function startWitness(name: string, logVkey: string): Promise<RunningWitness> {
  const keys = generateKeyPairSync('ed25519');
  const witness = new LogWitness({
    file: join(tempDir(), 'witness.db'),
    name,
    privateKey: keys.privateKey,
    publicKey: keys.publicKey,
    logs: [logVkey],
  });
  const handle = witnessHttpHandler(witness);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    w.hits += 1;
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const vkey = cosignerVerifierKey(name, keys.publicKey);
  const w: RunningWitness = {
    name,
    vkey,
    url: `http://127.0.0.1:${port}`,
    witness,
    server,
    hits: 0,
  };
  return w;
}

/** Stops a witness's server and closes its store. */
export async function stopWitness(w: RunningWitness): Promise<void> {
  await new Promise((r) => w.server.close(r));
  w.witness.close();
}
