/**
 * CanonLog on the embedded backend: the sealer against record.ts, group commit, encryption
 * nonces, key rotation and init. (The behaviour shared by both backends is in store.test.ts.)
 */
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GroupCommit, readyDrafts, sealBatch, type SealKeys } from '../../src/canon/append.ts';
import { decryptBody, MAX_RECORDS_PER_DATA_KEY } from '../../src/canon/envelope.ts';
import { KeyStore } from '../../src/canon/keystore.ts';
import { CanonLog, KEYS_DIR, type CanonLogOptions } from '../../src/canon/log.ts';
import { leafHash } from '../../src/canon/merkle.ts';
import {
  leafEntry,
  recordBytes,
  verifyRecord,
  type CanonicalRecord,
} from '../../src/canon/record.ts';
import { rotateMasterKey } from '../../src/canon/rotate.ts';
import { SqliteStore } from '../../src/canon/store/sqlite.ts';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { fromBase64, toBase64Url, toHex } from '../../src/core/encoding.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { randomBytes } from '../../src/core/random.ts';
import { draft, MASTER_KEY, tempDir, TEST_ENV } from './helpers/log.ts';

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isSigilError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
}

function stripSeq(r: CanonicalRecord & { seq: number }): CanonicalRecord {
  const { seq: _seq, ...record } = r;
  return record;
}

async function newLog(extra: Partial<CanonLogOptions> = {}): Promise<CanonLogOptions> {
  const opts: CanonLogOptions = { dataDir: tempDir(), env: TEST_ENV, ...extra };
  await CanonLog.init(opts);
  return opts;
}

/** Every stored row, all columns, read straight from the SQLite file. */
function dumpRows(dataDir: string): unknown[] {
  const db = new Database(join(dataDir, 'canon.db'), { readonly: true });
  try {
    return db.prepare('SELECT * FROM records ORDER BY seq').all();
  } finally {
    db.close();
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('sealing', () => {
  const signer = generateKeyPair();
  const keys: SealKeys = {
    signer,
    pubKey: toBase64Url(publicKeyToRaw(signer.publicKey)),
    dataKey: randomBytes(32),
  };

  it('seals exactly the records record.ts defines, encrypted under (seq, id)', () => {
    const tenant = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 });
    const link = fc.record({
      rel: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }),
      id: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }),
    });
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 4 }),
        tenant,
        fc.array(link, { maxLength: 3 }),
        fc.nat({ max: 1000 }),
        (payload, t, links, size) => {
          const [d] = readyDrafts([
            { kind: 'decision', tenant: t, space: 'system', payload, links },
          ]);
          const prev = size === 0 ? null : toHex(randomBytes(32));
          const { records, rows } = sealBatch(keys, [d!], { size, hash: prev });
          const record = stripSeq(records[0]!);
          const row = rows[0]!;
          expect(verifyRecord(record)).toEqual({ ok: true });
          expect(record.prev).toBe(prev);
          const plain = decryptBody(keys.dataKey, size, record.id, row.body);
          expect(toHex(plain)).toBe(toHex(recordBytes(record)));
          expect(toHex(row.leaf_hash)).toBe(toHex(leafHash(leafEntry(record))));
          expect([row.seq, row.id, row.hash, row.prev, row.kind, row.ts]).toEqual([
            size,
            record.id,
            record.hash,
            prev,
            record.kind,
            record.ts,
          ]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('chains a batch and refuses to pass the data key limit', () => {
    const drafts = readyDrafts([draft(0), draft(1), draft(2)]);
    const { records } = sealBatch(keys, drafts, { size: 10, hash: null });
    expect(records.map((r) => r.seq)).toEqual([10, 11, 12]);
    expect(records[2]!.prev).toBe(records[1]!.hash);
    expect(() =>
      sealBatch(keys, drafts, { size: MAX_RECORDS_PER_DATA_KEY - 2, hash: null }),
    ).toThrow(expect.objectContaining({ code: 'data_key_exhausted' }));
  });

  it('names the bad draft of a batch by index', () => {
    expect(() => readyDrafts([draft(0), draft(1, { tenant: 'lone \ud800' })])).toThrow(
      expect.objectContaining({ code: 'record_invalid', details: { field: 'tenant', index: 1 } }),
    );
    expect(() => readyDrafts([draft(0), { ...draft(1), space: 'nowhere' }])).toThrow(
      expect.objectContaining({
        code: 'record_invalid',
        details: expect.objectContaining({ index: 1 }),
      }),
    );
  });
});

describe('group commit', () => {
  it('commits concurrent appends in a few transactions and acks only after commit', async () => {
    const opts = await newLog();
    const spy = vi.spyOn(SqliteStore.prototype, 'appendBatch');
    const log = await CanonLog.open(opts);
    try {
      const records = await Promise.all(Array.from({ length: 64 }, (_, i) => log.append(draft(i))));
      expect(new Set(records.map((r) => r.seq)).size).toBe(64);
      expect(spy.mock.calls.length).toBeLessThanOrEqual(2);
      // A failing transaction acknowledges nothing.
      spy.mockRejectedValueOnce(new Error('disk on fire'));
      await expect(log.append(draft(99))).rejects.toThrow('disk on fire');
      expect(await log.size()).toBe(64);
      const big = await Promise.all([
        log.appendMany(Array.from({ length: 5000 }, (_, i) => draft(i))),
        log.append(draft(-1)),
      ]);
      const seqs = big[0].map((r) => r.seq);
      expect(seqs[seqs.length - 1]! - seqs[0]!).toBe(4999);
      expect(await log.size()).toBe(5065);
      expect(await log.validate({ workers: 0 })).toMatchObject({ ok: true, count: 5065 });
    } finally {
      await log.close();
    }
  });

  it('keeps appenders that take a turn between appends in full batches', async () => {
    // 64 appenders that, like runtime.check, take a few steps and then wait one event-loop turn
    // (a read of the store) after each acknowledgement before they append again, over a commit
    // that takes 2 ms.
    const sizes: number[] = [];
    const writer = new GroupCommit<object>(
      async (drafts) => {
        sizes.push(drafts.length);
        await new Promise((resolve) => setTimeout(resolve, 2));
        return drafts.map((d, seq) => ({ ...d, seq }) as never);
      },
      async () => {},
      () => ({}),
      () => true,
    );
    const [ready] = readyDrafts([draft(0)]);
    let left = 64 * 20;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (left-- > 0) {
          await writer.submit([ready!]);
          for (let hop = 0; hop < 10; hop++) await null;
          await new Promise((resolve) => setImmediate(resolve));
        }
      }),
    );
    // Two batches in flight share the 64: after the first few, every batch holds half of them.
    expect(
      sizes.slice(4).every((n) => n >= 32),
      sizes.join(' '),
    ).toBe(true);
  });

  it('never repeats a nonce over 100,000 appends', { timeout: 300_000 }, async () => {
    const opts = await newLog({ checkpointEvery: { appends: 1_000_000, ms: 600_000 } });
    const log = await CanonLog.open(opts);
    try {
      const batch = Array.from({ length: 5000 }, (_, i) => ({
        kind: 'user_data' as const,
        tenant: 't',
        space: 'user' as const,
        payload: i,
      }));
      for (let b = 0; b < 20; b++) await log.appendMany(batch);
    } finally {
      await log.close();
    }
    const db = new Database(join(opts.dataDir, 'canon.db'), { readonly: true });
    try {
      const nonces = new Set<string>();
      for (const row of db.prepare('SELECT body FROM records').iterate() as Iterable<{
        body: Buffer;
      }>) {
        nonces.add(row.body.subarray(0, 12).toString('hex'));
      }
      expect(nonces.size).toBe(100_000);
    } finally {
      db.close();
    }
  });
});

describe('init', () => {
  it('reports the master.key warning only when it created the file', async () => {
    const dataDir = tempDir();
    const first = await CanonLog.init({ dataDir, env: {} });
    expect(first.masterKeySource).toBe('file');
    expect(first.masterKeyWarning).toMatch(/master\.key/);
    expect(existsSync(join(dataDir, 'master.key'))).toBe(true);
    await rejectsWith(CanonLog.init({ dataDir, env: {} }), 'store_exists');
    // A data dir that still holds a log key is not re-initialised either.
    rmSync(join(dataDir, 'canon.db'));
    await rejectsWith(CanonLog.init({ dataDir, env: {} }), 'store_exists');
    const env = await CanonLog.init({ dataDir: tempDir(), env: TEST_ENV });
    expect(env.masterKeySource).toBe('env');
    expect(env.masterKeyWarning).toBeUndefined();
  });

  it('validates an empty log', async () => {
    const opts = await newLog();
    const log = await CanonLog.open(opts);
    try {
      expect(await log.validate()).toMatchObject({ ok: true, count: 0 });
    } finally {
      await log.close();
    }
  });
});

describe('master key rotation', () => {
  const NEW_KEY = Buffer.alloc(32, 0x33).toString('base64');

  async function logWithRecords(env: NodeJS.ProcessEnv): Promise<CanonLogOptions> {
    const opts: CanonLogOptions = { dataDir: tempDir(), env };
    await CanonLog.init(opts);
    const log = await CanonLog.open(opts);
    await log.appendMany([draft(0), draft(1), draft(2)]);
    await log.close();
    return opts;
  }

  async function reads(opts: CanonLogOptions): Promise<number> {
    const log = await CanonLog.open(opts);
    try {
      expect(await log.validate()).toMatchObject({ ok: true });
      return (await log.list()).records.length;
    } finally {
      await log.close();
    }
  }

  it('re-wraps under SIGIL_NEW_MASTER_KEY without touching records', async () => {
    const opts = await logWithRecords(TEST_ENV);
    const before = dumpRows(opts.dataDir);
    const result = await rotateMasterKey({
      dataDir: opts.dataDir,
      env: { SIGIL_MASTER_KEY: MASTER_KEY, SIGIL_NEW_MASTER_KEY: NEW_KEY },
    });
    expect(result).toMatchObject({ source: 'env', keyFiles: 1 });
    expect(dumpRows(opts.dataDir)).toEqual(before);
    await rejectsWith(CanonLog.open(opts), 'master_key_invalid');
    expect(await reads({ ...opts, env: { SIGIL_MASTER_KEY: NEW_KEY } })).toBe(3);
  });

  it('completes a rotation that was interrupted after the key files', async () => {
    const opts = await logWithRecords(TEST_ENV);
    new KeyStore(join(opts.dataDir, KEYS_DIR), fromBase64(MASTER_KEY)).rewrap(fromBase64(NEW_KEY));
    await rejectsWith(
      CanonLog.open({ ...opts, env: { SIGIL_MASTER_KEY: NEW_KEY } }),
      'master_key_invalid',
    );
    await rotateMasterKey({
      dataDir: opts.dataDir,
      env: { SIGIL_MASTER_KEY: MASTER_KEY, SIGIL_NEW_MASTER_KEY: NEW_KEY },
    });
    expect(await reads({ ...opts, env: { SIGIL_MASTER_KEY: NEW_KEY } })).toBe(3);
  });

  it('generates a new master.key with the file fallback', async () => {
    const opts = await logWithRecords({});
    const oldKey = readFileSync(join(opts.dataDir, 'master.key'), 'utf8');
    const result = await rotateMasterKey({ dataDir: opts.dataDir, env: {} });
    expect(result.masterKeyFile).toBe(join(opts.dataDir, 'master.key'));
    expect(readFileSync(join(opts.dataDir, 'master.key'), 'utf8')).not.toBe(oldKey);
    expect(existsSync(join(opts.dataDir, 'master-next'))).toBe(false);
    expect(await reads(opts)).toBe(3);
  });

  it('moves to a passphrase, and refuses without a new key', async () => {
    const opts = await logWithRecords(TEST_ENV);
    await rejectsWith(rotateMasterKey({ dataDir: opts.dataDir, env: TEST_ENV }), 'bad_request');
    await rejectsWith(
      rotateMasterKey({
        dataDir: opts.dataDir,
        env: { ...TEST_ENV, SIGIL_NEW_MASTER_KEY: MASTER_KEY },
      }),
      'bad_request',
    );
    await rotateMasterKey({
      dataDir: opts.dataDir,
      env: { ...TEST_ENV, SIGIL_NEW_MASTER_PASSPHRASE: 'correct horse battery' },
    });
    expect(
      await reads({ ...opts, env: { SIGIL_MASTER_PASSPHRASE: 'correct horse battery' } }),
    ).toBe(3);
  });
});
