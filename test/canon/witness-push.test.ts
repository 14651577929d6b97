/**
 * The log pushes its checkpoints to two witnesses (real LogWitness instances over loopback
 * HTTP), keeps and serves their cosignatures verified on read, and refuses writes
 * (log_rolled_back) when a restored older copy of its store, or a fork of it, meets witnesses
 * that cosigned more.
 */
import Database from 'better-sqlite3';
import { chmodSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../src/canon/checkpoint.ts';
import { parseCosignerKey, verifyWitnessed } from '../../src/canon/cosignature.ts';
import { CanonLog, type CanonLogOptions } from '../../src/canon/log.ts';
import { openStore, SQLITE_FILE } from '../../src/canon/store/index.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { BACKENDS, draft, storeOptions, tempDir } from './helpers/log.ts';
import { startWitness, stopWitness, type RunningWitness } from './helpers/witness.ts';

const witnesses: RunningWitness[] = [];
let base: CanonLogOptions;
let vkeyOfLog: string;
const warnings: string[] = [];

function witnessed(dataDir = base.dataDir): CanonLogOptions {
  return {
    ...base,
    dataDir,
    witnesses: witnesses.map((w) => ({ url: w.url, key: w.vkey })),
    warn: (line) => warnings.push(line),
  };
}

/** Waits until the served checkpoint is cosigned by both witnesses at `size`. */
async function cosignedAt(log: CanonLog, size: number): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const note = await log.cosignedCheckpoint();
    if (
      note !== undefined &&
      Number(note.split('\n')[1]) === size &&
      verifyWitnessed(
        note,
        witnesses.map((w) => w.vkey),
      ).ok
    ) {
      return note;
    }
    if (Date.now() > deadline) throw new Error(`not cosigned at ${size}: ${note}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A copy of the data dir as it is now (the log closed), as a backup restored later would be. */
function snapshot(): string {
  const copy = join(tempDir(), 'data');
  cpSync(base.dataDir, copy, { recursive: true });
  chmodSync(copy, 0o700);
  chmodSync(join(copy, 'keys'), 0o700);
  return copy;
}

let origin: string;

function witnessSize(w: RunningWitness): number {
  return Number(w.witness.latest(sha256Hex(origin)).body.split('\n')[1]);
}

let older: string;

beforeAll(async () => {
  base = await storeOptions('sqlite');
  const init = await CanonLog.init(base);
  vkeyOfLog = init.verifierKey;
  origin = init.origin;
  witnesses.push(await startWitness('witness.test/a', vkeyOfLog));
  witnesses.push(await startWitness('witness.test/b', vkeyOfLog));
}, 30_000);

afterAll(async () => {
  for (const w of witnesses) await stopWitness(w);
});

describe('a witnessed log', () => {
  it('pushes checkpoints to both witnesses and serves their cosignatures', async () => {
    const log = await CanonLog.open(witnessed());
    try {
      expect(log.witnessed).toBe(true);
      await log.appendMany([draft(0), draft(1), draft(2)]);
      const note = await cosignedAt(log, 3);
      // The log's own signature still verifies, with both cosignature lines after it.
      expect(openCheckpoint(note, log.keyName, log.publicKey).size).toBe(3);
      expect(note.split('\n').filter((l) => l.startsWith('\u2014 witness.test/')).length).toBe(2);
      expect(witnesses.map(witnessSize)).toEqual([3, 3]);
    } finally {
      await log.close();
    }
    older = snapshot();
    const again = await CanonLog.open(witnessed());
    try {
      await again.appendMany([draft(3), draft(4), draft(5)]);
      await cosignedAt(again, 6);
      expect(witnesses.map(witnessSize)).toEqual([6, 6]);
      expect(again.rolledBack).toBeUndefined();
    } finally {
      await again.close();
    }
  }, 30_000);

  it('a stored cosignature row that was edited is not served', async () => {
    const db = new Database(join(base.dataDir, SQLITE_FILE), { fileMustExist: true });
    try {
      const row = db
        .prepare<[string], { note: string }>('SELECT note FROM cosigned WHERE cosigner = ?')
        .get('witness.test/a')!;
      const lines = row.note.trimEnd().split('\n');
      const last = lines.pop()!;
      const blob = Buffer.from(last.split(' ')[2]!, 'base64');
      blob[blob.length - 1]! ^= 1; // one bit of the signature
      lines.push(`${last.split(' ').slice(0, 2).join(' ')} ${blob.toString('base64')}`);
      db.prepare('UPDATE cosigned SET note = ? WHERE cosigner = ?').run(
        `${lines.join('\n')}\n`,
        'witness.test/a',
      );
    } finally {
      db.close();
    }
    // The witnesses' keys, but unreachable: nothing pushes the real cosignature back.
    const offline = await CanonLog.open({
      ...witnessed(),
      witnesses: witnesses.map((w) => ({ url: 'http://127.0.0.1:9', key: w.vkey })),
    });
    try {
      const note = (await offline.cosignedCheckpoint())!;
      expect(Number(note.split('\n')[1])).toBe(6);
      expect(verifyWitnessed(note, [witnesses[1]!.vkey]).ok).toBe(true);
      const check = verifyWitnessed(note, [parseCosignerKey(witnesses[0]!.vkey)]);
      expect(check.ok ? '' : check.code).toBe('witness_missing');
      expect(note).not.toContain('\u2014 witness.test/a ');
      expect(warnings.join('\n')).toMatch(/witness\.test\/a .*unreachable/);
      expect(offline.rolledBack).toBeUndefined();
    } finally {
      await offline.close();
    }
  }, 30_000);

  it('a restored older copy is refused by both witnesses and refuses writes', async () => {
    warnings.length = 0;
    const log = await CanonLog.open(witnessed(older));
    try {
      expect(log.rolledBack?.code).toBe('log_rolled_back');
      expect(warnings.join('\n')).toMatch(/SIGIL LOG ROLLED BACK/);
      const err = await log.append(draft(99)).catch((e: unknown) => e);
      expect(isSigilError(err, 'log_rolled_back')).toBe(true);
      // It signs no checkpoint of the rolled-back tree either.
      expect(isSigilError(await log.checkpoint().catch((e: unknown) => e), 'log_rolled_back')).toBe(
        true,
      );
      // Reads go on.
      expect(await log.size()).toBe(3);
      expect((await log.getBySeq(2))?.seq).toBe(2);
      // Neither witness moved back.
      expect(witnesses.map(witnessSize)).toEqual([6, 6]);
      // Both refuse the older checkpoint outright.
      const note = (await log.latestCheckpoint())!;
      for (const w of witnesses) {
        const res = await fetch(`${w.url}/add-checkpoint`, {
          method: 'POST',
          body: `old 3\n\n${note}`,
        });
        expect(res.status).toBe(409);
        expect(await res.text()).toBe('6\n');
      }
      expect(log.witnessStatus().every((w) => w.size === 6)).toBe(true);
    } finally {
      await log.close();
    }
  }, 30_000);

  it('a fork grown past what the witnesses cosigned is refused (their checkpoint has another root)', async () => {
    const plain = await CanonLog.open({ ...base, dataDir: older });
    await plain.appendMany([draft(10), draft(11), draft(12), draft(13), draft(14)]);
    await plain.close();
    warnings.length = 0;
    const log = await CanonLog.open(witnessed(older));
    try {
      expect(await log.size()).toBe(8);
      expect(log.rolledBack?.code).toBe('log_rolled_back');
      expect(log.rolledBack?.message).toMatch(/another root/);
      expect(
        isSigilError(await log.append(draft(15)).catch((e: unknown) => e), 'log_rolled_back'),
      ).toBe(true);
      expect(witnesses.map(witnessSize)).toEqual([6, 6]);
    } finally {
      await log.close();
    }
  }, 30_000);

  it('refuses a witness configuration that is not https (but loopback) or not a cosigner key', async () => {
    const bad = [
      { url: 'http://witness.example', key: witnesses[0]!.vkey },
      { url: witnesses[0]!.url, key: 'rekor.sigstore.dev+12345678+AwEB' },
      { url: witnesses[0]!.url, key: `${witnesses[0]!.vkey.slice(0, -4)}AAA=` },
    ];
    for (const w of bad) {
      const err = await CanonLog.open({ ...base, witnesses: [w] }).catch((e: unknown) => e);
      expect(isSigilError(err, 'config_invalid')).toBe(true);
    }
  });
});

describe.each(BACKENDS)('the cosigned table on $name', ({ name, skip }) => {
  it.skipIf(skip)('keeps each cosigner’s newest row and never goes back', async () => {
    const opts = await storeOptions(name);
    await CanonLog.init(opts);
    const store = await openStore(opts, { create: false });
    try {
      expect(await store.cosigned()).toEqual([]);
      await store.putCosigned({ cosigner: 'w/a', size: 5, note: 'five' });
      await store.putCosigned({ cosigner: 'w/b', size: 3, note: 'three' });
      await store.putCosigned({ cosigner: 'w/a', size: 4, note: 'four' });
      await store.putCosigned({ cosigner: 'w/b', size: 7, note: 'seven' });
      expect(await store.cosigned()).toEqual([
        { cosigner: 'w/a', size: 5, note: 'five' },
        { cosigner: 'w/b', size: 7, note: 'seven' },
      ]);
    } finally {
      await store.close();
    }
  });
});
