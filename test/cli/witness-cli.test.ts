/** `sigil witness serve` over HTTP: cosigns a log's checkpoints per C2SP tlog-witness, refuses stale ones. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyCosignature } from '../../src/canon/cosignature.ts';
import { parseVerifierKey } from '../../src/canon/checkpoint.ts';
import { CanonLog } from '../../src/canon/log.ts';
import { publicKeyFromRaw } from '../../src/core/ed25519.ts';
import { fromBase64, fromHex, toBase64 } from '../../src/core/encoding.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { draft, storeOptions, tempDir } from '../canon/helpers/log.ts';
import { MASTER_KEY } from './sigil-process.ts';

let log: CanonLog;
let child: ChildProcess;
let url: string;
let cosignerKey: string;

beforeAll(async () => {
  const opts = await storeOptions('sqlite');
  await CanonLog.init(opts);
  log = await CanonLog.open(opts);
  child = spawn(
    process.execPath,
    [
      join(process.cwd(), 'bin/sigil'),
      'witness',
      'serve',
      '--port',
      '0',
      '--name',
      'witness.test/w1',
      '--log',
      log.verifierKey,
      '--data-dir',
      join(tempDir(), 'w'),
    ],
    {
      env: { PATH: process.env.PATH, SIGIL_MASTER_KEY: MASTER_KEY },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('witness did not start')), 20_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const key = /cosigner key (\S+)/.exec(line);
      if (key) cosignerKey = key[1]!;
      const m = /listening on (http:\/\/\S+)/.exec(line);
      if (m) {
        url = m[1]!;
        clearTimeout(timer);
        resolve();
      }
    });
  });
}, 30_000);

afterAll(async () => {
  child?.kill('SIGTERM');
  await log?.close();
});

async function add(
  oldSize: number,
  note: string,
): Promise<{ status: number; type: string; body: string }> {
  const size = Number(note.split('\n')[1]);
  const proof = oldSize === 0 ? [] : (await log.proveConsistency(oldSize, size)).hashes;
  const body = `old ${oldSize}\n${proof.map((h) => `${toBase64(fromHex(h))}\n`).join('')}\n${note}`;
  const res = await fetch(`${url}/add-checkpoint`, { method: 'POST', body });
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: await res.text(),
  };
}

describe('sigil witness serve', () => {
  it('cosigns with tlog-cosignature/v1 lines, keeps the latest, answers 409 when stale', async () => {
    await log.appendMany([draft(0), draft(1)]);
    const first = await log.checkpoint();
    const a = await add(0, first);
    expect(a.status).toBe(200);
    // The printed cosigner vkey (type 0x04) verifies the returned line.
    const [name, , keyB64] = [
      cosignerKey.split('+')[0]!,
      '',
      cosignerKey.split('+').slice(2).join('+'),
    ];
    const raw = fromBase64(keyB64);
    expect(raw[0]).toBe(0x04);
    expect(
      verifyCosignature(first + a.body, name, publicKeyFromRaw(raw.subarray(1))),
    ).toBeGreaterThan(0);
    await log.append(draft(2));
    const second = await log.checkpoint();
    expect((await add(2, second)).status).toBe(200);
    const stale = await add(0, second);
    expect(stale).toMatchObject({ status: 409, type: 'text/x.tlog.size', body: '3\n' });
    const latest = await fetch(`${url}/${sha256Hex(log.origin)}/checkpoint`);
    expect(latest.status).toBe(200);
    expect(await latest.text()).toContain('\u2014 witness.test/w1 ');
    expect(parseVerifierKey(log.verifierKey).keyName).toBe(log.origin);
  });
});
