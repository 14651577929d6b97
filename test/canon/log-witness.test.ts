import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyCosignature } from '../../src/canon/cosignature.ts';
import { CanonLog } from '../../src/canon/log.ts';
import { fromHex, toBase64 } from '../../src/core/encoding.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { LogWitness } from '../../src/witness/witness.ts';
import { draft, storeOptions, tempDir } from './helpers/log.ts';

let log: CanonLog;
let witness: LogWitness;
const keys = generateKeyPairSync('ed25519');
const NAME = 'witness.example/w1';

async function request(oldSize: number, note: string): Promise<string> {
  const cp = note.split('\n');
  const size = Number(cp[1]);
  const proof = oldSize === 0 ? [] : (await log.proveConsistency(oldSize, size)).hashes;
  return `old ${oldSize}\n${proof.map((h) => `${toBase64(fromHex(h))}\n`).join('')}\n${note}`;
}

beforeAll(async () => {
  const opts = await storeOptions('sqlite');
  await CanonLog.init(opts);
  log = await CanonLog.open(opts);
  witness = new LogWitness({
    file: join(tempDir(), 'witness.db'),
    name: NAME,
    privateKey: keys.privateKey,
    publicKey: keys.publicKey,
    logs: [log.verifierKey],
    now: () => 1_700_000_000_000,
  });
});
afterAll(async () => {
  witness.close();
  await log.close();
});

describe('a log witness (C2SP tlog-witness add-checkpoint)', () => {
  it('cosigns a first checkpoint from 0 and then only with a consistency proof from it', async () => {
    await log.appendMany([draft(0), draft(1), draft(2)]);
    const first = await log.checkpoint();
    const a = witness.addCheckpoint(await request(0, first));
    expect(a.status).toBe(200);
    expect(a.body).toMatch(/^\u2014 witness\.example\/w1 \S+\n$/);
    expect(verifyCosignature(first + a.body, NAME, keys.publicKey)).toBe(1_700_000_000);
    // The cosignature covers the checkpoint: on another body it does not verify.
    expect(
      verifyCosignature(first.replace('\n3\n', '\n4\n') + a.body, NAME, keys.publicKey),
    ).toBeUndefined();

    await log.appendMany([draft(3), draft(4)]);
    const second = await log.checkpoint();
    expect(witness.addCheckpoint(await request(3, second)).status).toBe(200);
    const latest = witness.latest(sha256Hex(log.origin));
    expect(latest.status).toBe(200);
    expect(latest.body.startsWith(second.slice(0, -1))).toBe(true);
  });

  it('answers 409 with its size on a stale old size, 422 on a bad proof, 400 when old > size', async () => {
    const note = await log.checkpoint();
    const stale = witness.addCheckpoint(await request(3, note));
    expect(stale).toEqual({ status: 409, type: 'text/x.tlog.size', body: '5\n' });
    await log.append(draft(5));
    const next = await log.checkpoint();
    const good = await request(5, next);
    const lines = good.split('\n');
    lines[1] = toBase64(Buffer.alloc(32, 7));
    expect(witness.addCheckpoint(lines.join('\n')).status).toBe(422);
    expect(witness.addCheckpoint(`old 99\n\n${next}`).status).toBe(400);
    expect(witness.addCheckpoint(good).status).toBe(200);
  });

  it('answers 404 for an unknown origin and 403 without a valid log signature', async () => {
    const note = await log.checkpoint();
    const other = note.replace(log.origin, 'sigil/ffff');
    expect(witness.addCheckpoint(`old 6\n\n${other}`).status).toBe(404);
    const forged = note.replace(/\n\d+\n/, '\n7\n');
    expect(witness.addCheckpoint(`old 6\n\n${forged}`).status).toBe(403);
    expect(witness.latest('00'.repeat(32)).status).toBe(404);
  });

  it('refuses a rolled-back copy of the log: 409 with the size it cosigned, and no cosignature', async () => {
    // A copy of the data dir taken at size 3 and started again: its own idea of the last size
    // cosigned is 0 (or 3), the witness has cosigned 6.
    const old = (await log.checkpoints()).find((c) => c.size === 3)!.note;
    for (const oldSize of [0, 3]) {
      const a = witness.addCheckpoint(`old ${oldSize}\n\n${old}`);
      expect(a).toEqual({ status: 409, type: 'text/x.tlog.size', body: '6\n' });
    }
    // The stored view is unchanged.
    expect(witness.latest(sha256Hex(log.origin)).body).toContain('\n6\n');
  });
});
