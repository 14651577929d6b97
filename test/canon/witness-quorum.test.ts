/**
 * The k-of-n witness rule, tested as an attacker: real LogWitness instances over loopback HTTP
 * beside lying witnesses (409 with a size they cannot prove, garbage, 422, a forged or replayed
 * checkpoint) and witnesses that are down. A lie alone never stops the log; `witness_quorum`
 * unproven claims do; one witness's proof (a checkpoint under the log's key that the tree does
 * not extend) always does, so a restored older store is refused even with one honest witness.
 */
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, cpSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { signCheckpoint } from '../../src/canon/checkpoint.ts';
import {
  cosignerVerifierKey,
  parseCosignerKey,
  validCosignatures,
} from '../../src/canon/cosignature.ts';
import { CanonLog, type CanonLogOptions } from '../../src/canon/log.ts';
import { loadConfig } from '../../src/config/config.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import type { LogWitness } from '../../src/witness/witness.ts';
import { draft, storeOptions, tempDir } from './helpers/log.ts';
import { startWitness, stopWitness } from './helpers/witness.ts';

/** How a lying witness answers add-checkpoint (POST) and its checkpoint (GET). */
type Lie = {
  post: (body: string) => { status: number; type?: string; body: string };
  get?: () => { status: number; body: string };
};

interface Endpoint {
  url: string;
  key: string;
  name: string;
  close(): Promise<void>;
  /** Requests it answered so far. */
  hits: number;
  witness?: LogWitness;
  lie?: Lie;
}

const open: Endpoint[] = [];
const logs: CanonLog[] = [];

afterEach(async () => {
  for (const l of logs.splice(0)) await l.close();
  for (const e of open.splice(0)) await e.close();
});

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function closer(server: Server): () => Promise<void> {
  return () => new Promise((r) => server.close(() => r()));
}

async function honest(name: string, logVkey: string): Promise<Endpoint> {
  const w = await startWitness(name, logVkey);
  const e: Endpoint = {
    url: w.url,
    key: w.vkey,
    name,
    witness: w.witness,
    get hits() {
      return w.hits;
    },
    close: () => stopWitness(w),
  };
  open.push(e);
  return e;
}

async function liar(name: string, lie: Lie): Promise<Endpoint> {
  const keys = generateKeyPairSync('ed25519');
  const e: Endpoint = {
    url: '',
    key: cosignerVerifierKey(name, keys.publicKey),
    name,
    hits: 0,
    lie,
    close: async () => {},
  };
  const { server, url } = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      e.hits += 1;
      if (req.method === 'GET') {
        const a = e.lie!.get?.() ?? { status: 404, body: 'no\n' };
        res.writeHead(a.status, { 'content-type': 'text/plain' }).end(a.body);
        return;
      }
      const a = e.lie!.post(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(a.status, { 'content-type': a.type ?? 'text/plain' }).end(a.body);
    });
  });
  e.url = url;
  e.close = closer(server);
  open.push(e);
  return e;
}

/** A configured witness that nobody answers for. */
function down(name: string): Endpoint {
  const key = cosignerVerifierKey(name, generateKeyPairSync('ed25519').publicKey);
  return { url: 'http://127.0.0.1:9', key, name, hits: 0, close: async () => {} };
}

const claimSize = (size: number): Lie => ({
  post: () => ({ status: 409, type: 'text/x.tlog.size', body: `${size}\n` }),
});

async function newLog(): Promise<{ base: CanonLogOptions; vkey: string; origin: string }> {
  const base = await storeOptions('sqlite');
  const init = await CanonLog.init(base);
  return { base, vkey: init.verifierKey, origin: init.origin };
}

async function openWith(
  base: CanonLogOptions,
  endpoints: Endpoint[],
  quorum?: number,
  dataDir = base.dataDir,
): Promise<{ log: CanonLog; warnings: string[] }> {
  const warnings: string[] = [];
  const log = await CanonLog.open({
    ...base,
    dataDir,
    witnesses: endpoints.map((e) => ({ url: e.url, key: e.key })),
    ...(quorum !== undefined && { witnessQuorum: quorum }),
    warn: (line) => warnings.push(line),
  });
  logs.push(log);
  return { log, warnings };
}

async function until(what: string, ok: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The witnesses whose valid lines the served checkpoint carries, and its size. */
async function served(log: CanonLog, endpoints: Endpoint[]) {
  const note = (await log.cosignedCheckpoint()) ?? '';
  const names = [
    ...validCosignatures(
      note,
      endpoints.map((e) => parseCosignerKey(e.key)),
    ).keys(),
  ];
  return { size: Number(note.split('\n')[1]), names: names.sort() };
}

function status(log: CanonLog, e: Endpoint) {
  return log.witnessStatus().find((s) => s.name === e.name)!;
}

/** Appends `n` records and waits for the honest witnesses to cosign the new size. */
async function grow(log: CanonLog, n: number, honestOnes: Endpoint[]): Promise<number> {
  const from = await log.size();
  await log.appendMany(Array.from({ length: n }, (_, i) => draft(from + i)));
  const size = from + n;
  await until(`cosigned at ${size}`, () => honestOnes.every((e) => status(log, e).size === size));
  return size;
}

describe('one lying witness among honest ones cannot stop the log', () => {
  it('a false 409 size, garbage, a 422, a forged and a replayed checkpoint: writes go on', async () => {
    const { base, vkey, origin } = await newLog();
    const a = await honest('witness.test/a', vkey);
    const b = await honest('witness.test/b', vkey);
    let firstNote = '';
    const forger = generateKeyPairSync('ed25519');
    const lies: Array<[string, Lie]> = [
      ['409 with a size it cannot prove', claimSize(1_000_000)],
      ['409 with garbage', { post: () => ({ status: 409, type: 'text/x.tlog.size', body: 'x' }) }],
      ['200 with a garbage line', { post: () => ({ status: 200, body: '\u2014 x AAAA\n' }) }],
      ['422 on a good proof', { post: () => ({ status: 422, body: 'bad proof\n' }) }],
      ['500', { post: () => ({ status: 500, body: 'oops\n' }) }],
      [
        '409 backed by a forged checkpoint (the origin, another key)',
        {
          post: () => ({ status: 409, type: 'text/x.tlog.size', body: '1000\n' }),
          get: () => ({
            status: 200,
            body: signCheckpoint(
              { origin, size: 1000, rootHash: new Uint8Array(32) },
              origin,
              forger.privateKey,
            ),
          }),
        },
      ],
      [
        '409 backed by a genuine old checkpoint the tree extends',
        {
          post: () => ({ status: 409, type: 'text/x.tlog.size', body: '1000\n' }),
          get: () => ({ status: 200, body: firstNote }),
        },
      ],
      [
        '409 at the size sent (a claimed fork) with nothing to show',
        {
          post: (body) => ({
            status: 409,
            type: 'text/x.tlog.size',
            body: `${/^old (\d+)/.exec(body)![1]}\n`,
          }),
        },
      ],
      ['a garbage checkpoint', { ...claimSize(50), get: () => ({ status: 200, body: 'x\n\n' }) }],
    ];
    const c = await liar('witness.test/liar', lies[0]![1]);
    const { log } = await openWith(base, [a, b, c], 2);
    firstNote = (await log.latestCheckpoint())!;
    for (const [what, lie] of lies) {
      c.lie = lie;
      const hits = c.hits;
      const size = await grow(log, 2, [a, b]);
      await until(`the liar was asked (${what})`, () => c.hits > hits);
      expect(log.rolledBack, what).toBeUndefined();
      expect((await log.append(draft(size))).seq, what).toBe(size);
      const s = status(log, c);
      expect(s.size, what).toBeUndefined();
      expect(s.problem, what).toBeDefined();
      // The served checkpoint is the newest the two honest witnesses cosigned.
      const seen = await served(log, [a, b, c]);
      expect(seen.names, what).toEqual(['witness.test/a', 'witness.test/b']);
    }
    // A standing claim is shown as such, with the size it claimed.
    c.lie = claimSize(1_000_000);
    const hits = c.hits;
    await grow(log, 1, [a, b]);
    await until('asked', () => c.hits > hits);
    await until('claim recorded', () => status(log, c).claim?.size === 1_000_000);
    expect(status(log, c).claim).toMatchObject({ size: 1_000_000 });
    expect(status(log, c).problem).toMatch(/unproven; 1 of 2 needed/);
  }, 60_000);

  it('k-1 lying witnesses are not a quorum; k of them are', async () => {
    const { base, vkey } = await newLog();
    const a = await honest('witness.test/a', vkey);
    const liars = [
      await liar('witness.test/l1', claimSize(999)),
      await liar('witness.test/l2', claimSize(999)),
    ];
    // Quorum 3 of 3: two claims are k-1.
    const { log } = await openWith(base, [a, ...liars], 3);
    await grow(log, 3, [a]);
    await until('both claims', () => liars.every((l) => status(log, l).claim !== undefined));
    expect(log.rolledBack).toBeUndefined();
    expect((await log.append(draft(3))).seq).toBe(3);
    // Below quorum no checkpoint is quorum-cosigned: the served one carries a's line alone.
    expect((await served(log, [a, ...liars])).names).toEqual(['witness.test/a']);
    await log.close();
    logs.length = 0;

    // The same two claims with a quorum of 2: the log stops, naming both.
    const again = await openWith(base, [a, ...liars], 2);
    await until('rolled back', () => again.log.rolledBack !== undefined);
    expect(again.log.rolledBack?.message).toMatch(
      /2 witnesses \(witness\.test\/l1, witness\.test\/l2\)/,
    );
    expect(again.warnings.join('\n')).toMatch(/SIGIL LOG ROLLED BACK/);
    const err = await again.log.append(draft(9)).catch((e: unknown) => e);
    expect(isSigilError(err, 'log_rolled_back')).toBe(true);
  }, 60_000);
});

describe('witnesses that are down', () => {
  it('one down of three (quorum 2): writes go on and the newest checkpoint is served', async () => {
    const { base, vkey } = await newLog();
    const a = await honest('witness.test/a', vkey);
    const b = await honest('witness.test/b', vkey);
    const off = down('witness.test/down');
    const { log } = await openWith(base, [a, b, off]);
    const size = await grow(log, 4, [a, b]);
    expect(log.rolledBack).toBeUndefined();
    expect(await served(log, [a, b, off])).toEqual({
      size,
      names: ['witness.test/a', 'witness.test/b'],
    });
    expect(status(log, off).problem).toMatch(/unreachable/);
  }, 30_000);

  it('only k-1 up: writes go on, the served checkpoint lacks the quorum', async () => {
    const { base, vkey } = await newLog();
    const a = await honest('witness.test/a', vkey);
    const { log } = await openWith(base, [a, down('witness.test/d1'), down('witness.test/d2')], 2);
    const size = await grow(log, 2, [a]);
    expect(log.rolledBack).toBeUndefined();
    expect(await served(log, [a])).toEqual({ size, names: ['witness.test/a'] });
  }, 30_000);
});

describe('a real rollback is refused on one witness’s proof', () => {
  it('a restored older copy meets one honest witness, two down and a liar (quorum 3)', async () => {
    const { base, vkey } = await newLog();
    const a = await honest('witness.test/a', vkey);
    const first = await openWith(base, [a], 1);
    await grow(first.log, 3, [a]);
    await first.log.close();
    logs.length = 0;
    const older = join(tempDir(), 'data');
    cpSync(base.dataDir, older, { recursive: true });
    chmodSync(older, 0o700);
    chmodSync(join(older, 'keys'), 0o700);
    const second = await openWith(base, [a], 1);
    await grow(second.log, 3, [a]);
    await second.log.close();
    logs.length = 0;

    const l = await liar('witness.test/liar', { post: () => ({ status: 500, body: 'x\n' }) });
    const endpoints = [a, down('witness.test/d1'), down('witness.test/d2'), l];
    const { log, warnings } = await openWith(base, endpoints, 3, older);
    expect(await log.size()).toBe(3);
    expect(log.rolledBack?.code).toBe('log_rolled_back');
    expect(log.rolledBack?.message).toMatch(/witness\.test\/a .*size 6 signed by this log's key/);
    expect(warnings.join('\n')).toMatch(/SIGIL LOG ROLLED BACK/);
    expect(
      isSigilError(await log.append(draft(7)).catch((e: unknown) => e), 'log_rolled_back'),
    ).toBe(true);
    expect(status(log, a).size).toBe(6);
    // The honest witness did not move back.
    expect(Number(a.witness!.latest(sha256Hex(log.origin)).body.split('\n')[1])).toBe(6);
  }, 60_000);
});

describe('[log] witness_quorum', () => {
  it('must be between 1 and the witnesses configured', async () => {
    const { base, vkey } = await newLog();
    const a = await honest('witness.test/a', vkey);
    for (const q of [0, 2, 1.5]) {
      const err = await CanonLog.open({
        ...base,
        witnesses: [{ url: a.url, key: a.key }],
        witnessQuorum: q,
      }).catch((e: unknown) => e);
      expect(isSigilError(err, 'config_invalid'), String(q)).toBe(true);
    }
    const dir = tempDir();
    const file = join(dir, 'mmf.toml');
    writeFileSync(
      file,
      `[log]\nwitness_quorum = 2\nwitnesses = [{ url = "${a.url}", key = "${a.key}" }]\n`,
    );
    let caught: unknown;
    try {
      loadConfig({ env: {}, configFile: file });
    } catch (e) {
      caught = e;
    }
    expect(isSigilError(caught, 'config_invalid')).toBe(true);
    writeFileSync(file, `[log]\nwitnesses = [{ url = "${a.url}", key = "${a.key}" }]\n`);
    expect(loadConfig({ env: {}, configFile: file }).log.witnessQuorum).toBeUndefined();
  });
});
