/**
 * Validation catches tampering: specific attacks, then 1,000 random single-byte mutations of
 * stored rows (records and checkpoints, every column), each named by its row; and bodies
 * re-encrypted by a holder of the data key as the same record written other than canonically.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signCheckpoint } from '../../src/canon/checkpoint.ts';
import { decryptBody, encryptBody, unwrapDataKey } from '../../src/canon/envelope.ts';
import { CanonLog } from '../../src/canon/log.ts';
import { resolveMasterKey } from '../../src/canon/masterkey.ts';
import { leafHash } from '../../src/canon/merkle.ts';
import { leafEntry, recordBytes, type CanonicalRecord } from '../../src/canon/record.ts';
import { openStore } from '../../src/canon/store/index.ts';
import type { ValidationResult } from '../../src/canon/validate.ts';
import type { JsonValue } from '../../src/core/canonical.ts';
import { utf8Decode, utf8Encode } from '../../src/core/encoding.ts';
import { BACKENDS, draft, storeOptions, tempDir, TEST_ENV } from './helpers/log.ts';

/** A log of `n` records with a checkpoint every `every` records; returns it open, plus its db. */
async function makeLog(
  n: number,
  every: number,
): Promise<{ log: CanonLog; db: Database.Database; dataDir: string }> {
  const dataDir = tempDir();
  await CanonLog.init({ dataDir, env: TEST_ENV });
  const log = await CanonLog.open({ dataDir, env: TEST_ENV });
  for (let i = 0; i < n; i += every) {
    await log.appendMany(Array.from({ length: Math.min(every, n - i) }, (_, j) => draft(i + j)));
    await log.checkpoint();
  }
  const db = new Database(join(dataDir, 'canon.db'));
  db.pragma('synchronous = OFF');
  return { log, db, dataDir };
}

function failed(r: ValidationResult): Extract<ValidationResult, { ok: false }> {
  expect(r.ok, 'validate should fail').toBe(false);
  return r as Extract<ValidationResult, { ok: false }>;
}

describe('validate names the bad record', () => {
  let log: CanonLog;
  let db: Database.Database;
  let dataDir: string;
  beforeAll(async () => {
    ({ log, db, dataDir } = await makeLog(20, 10));
  });
  afterAll(async () => {
    db.close();
    await log.close();
  });

  /** Applies `mutate`, validates, and always undoes it. */
  async function tampered(mutate: () => void, undo: () => void): Promise<ValidationResult> {
    const tx = () => mutate();
    db.transaction(tx)();
    try {
      return await log.validate({ workers: 0 });
    } finally {
      db.transaction(undo)();
      expect((await log.validate({ workers: 0 })).ok).toBe(true);
    }
  }

  it('passes untouched and reports progress', async () => {
    const progress: number[] = [];
    const r = await log.validate({
      workers: 0,
      chunkSize: 7,
      onProgress: (done) => progress.push(done),
    });
    expect(r).toMatchObject({ ok: true, count: 20, checkpoints: 2 });
    expect(progress).toEqual([7, 14, 20]);
  });

  it('swapped bodies do not decrypt', async () => {
    const body = (seq: number) =>
      (db.prepare('SELECT body FROM records WHERE seq = ?').get(seq) as { body: Buffer }).body;
    const [b3, b4] = [body(3), body(4)];
    const set = db.prepare('UPDATE records SET body = ? WHERE seq = ?');
    const r = await tampered(
      () => {
        set.run(b4, 3);
        set.run(b3, 4);
      },
      () => {
        set.run(b3, 3);
        set.run(b4, 4);
      },
    );
    expect(failed(r)).toMatchObject({ seq: 3, code: 'decrypt_failed' });
  });

  it('a deleted record is missing, and so is a truncated tail a checkpoint covers', async () => {
    const rows = db.prepare('SELECT * FROM records WHERE seq >= ?').all(12) as Array<
      Record<string, unknown>
    >;
    const head = db.prepare('SELECT size, hash FROM head').get() as { size: number; hash: string };
    const restore = () => {
      const insert = db.prepare(
        'INSERT OR REPLACE INTO records (seq, id, kind, ts, leaf_hash, hash, prev, body) VALUES (@seq, @id, @kind, @ts, @leaf_hash, @hash, @prev, @body)',
      );
      for (const row of rows) insert.run(row);
      db.prepare('UPDATE head SET size = ?, hash = ?').run(head.size, head.hash);
    };
    const middle = await tampered(
      () => db.prepare('DELETE FROM records WHERE seq = 15').run(),
      restore,
    );
    expect(failed(middle)).toMatchObject({ seq: 15, code: 'missing_record' });
    const tail = await tampered(() => {
      db.prepare('DELETE FROM records WHERE seq >= 12').run();
      db.prepare(
        'UPDATE head SET size = 12, hash = (SELECT hash FROM records WHERE seq = 11)',
      ).run();
    }, restore);
    expect(failed(tail)).toMatchObject({ seq: 12, code: 'missing_record', checkpoint: 20 });
  });

  it('a signature that does not verify is named by its seq, on the main thread and in the pool', async () => {
    // A data-key holder without the log key: another record's signature spliced into the body,
    // re-encrypted, and the leaf hash recomputed so that only the signature is wrong.
    const dataKey = await dataKeyOf(dataDir);
    const get = db.prepare('SELECT id, body, leaf_hash FROM records WHERE seq = ?');
    const set = db.prepare('UPDATE records SET body = ?, leaf_hash = ? WHERE seq = ?');
    const open = (seq: number) => {
      const row = get.get(seq) as { id: string; body: Buffer; leaf_hash: Buffer };
      return {
        ...row,
        record: JSON.parse(
          utf8Decode(decryptBody(dataKey, seq, row.id, row.body)),
        ) as CanonicalRecord,
      };
    };
    const donor = open(1).record.sig;
    for (const seq of [0, 9, 10, 19]) {
      const row = open(seq);
      const forged = { ...row.record, sig: donor };
      const body = encryptBody(dataKey, seq, row.id, recordBytes(forged));
      set.run(body, leafHash(leafEntry(forged)), seq);
      try {
        for (const opts of [{ workers: 0 }, { workers: 2, chunkSize: 3 }]) {
          const bad = failed(await log.validate(opts));
          expect(bad, JSON.stringify(opts)).toMatchObject({ seq, code: 'signature_invalid' });
          expect(bad.reason).toBe(`seq ${seq} (${row.id}): signature does not verify`);
        }
      } finally {
        set.run(row.body, row.leaf_hash, seq);
      }
    }
    expect((await log.validate({ workers: 2, chunkSize: 3 })).ok).toBe(true);
  });

  it('a head that does not point at the last record breaks the chain', async () => {
    const head = db.prepare('SELECT size, hash FROM head').get() as { size: number; hash: string };
    const r = await tampered(
      () => db.prepare('UPDATE head SET hash = ?').run('00'.repeat(32)),
      () => db.prepare('UPDATE head SET size = ?, hash = ?').run(head.size, head.hash),
    );
    expect(failed(r)).toMatchObject({ seq: 19, code: 'chain_broken' });
  });

  it('a checkpoint signed by the log key over a wrong root is a root mismatch', async () => {
    const note = signCheckpoint(
      {
        origin: log.origin,
        size: 5,
        rootHash: new Uint8Array(32),
        timestamp: '2026-01-01T00:00:00.000Z',
      },
      log.keyName,
      log.signer.privateKey,
    );
    const r = await tampered(
      () =>
        db
          .prepare('INSERT INTO checkpoints (size, root, note, ts) VALUES (5, ?, ?, ?)')
          .run(Buffer.alloc(32), note, '2026-01-01T00:00:00.000Z'),
      () => db.prepare('DELETE FROM checkpoints WHERE size = 5').run(),
    );
    expect(failed(r)).toMatchObject({ seq: 4, code: 'root_mismatch', checkpoint: 5 });
    expect(failed(r).reason).toMatch(/do not hash to the signed root/);
  });
});

type Kind = 'int' | 'text' | 'blob';
const TABLES = {
  records: {
    key: 'seq',
    columns: {
      seq: 'int',
      id: 'text',
      kind: 'text',
      ts: 'text',
      leaf_hash: 'blob',
      hash: 'text',
      prev: 'text',
      body: 'blob',
    } as Record<string, Kind>,
  },
  checkpoints: {
    key: 'size',
    columns: { size: 'int', root: 'blob', note: 'text', ts: 'text' } as Record<string, Kind>,
  },
};

/** A small seeded PRNG (mulberry32) so a failing run can be replayed from its seed. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** The value with one byte changed: a bit pattern XORed into an integer byte, a blob byte, a character. */
function flipped(kind: Kind, value: unknown, rand: (n: number) => number): unknown {
  const delta = 1 + rand(255);
  if (kind === 'int')
    return Number(BigInt(value as number) ^ (BigInt(delta) << BigInt(8 * rand(6))));
  if (kind === 'blob') {
    const copy = Buffer.from(value as Buffer);
    const at = rand(copy.length);
    copy[at] = copy[at]! ^ delta;
    return copy;
  }
  const s = value as string;
  const at = rand(s.length);
  let c = s.charCodeAt(at);
  while (c === s.charCodeAt(at)) c = 0x21 + rand(94);
  return s.slice(0, at) + String.fromCharCode(c) + s.slice(at + 1);
}

describe.each(BACKENDS)('validate while another writer appends ($name)', ({ name, skip }) => {
  it.skipIf(skip)(
    'is whole: records committed after it read the head are not a broken chain',
    { timeout: 120_000 },
    async () => {
      const opts = await storeOptions(name);
      await CanonLog.init(opts);
      const reader = await CanonLog.open(opts);
      const writer = await CanonLog.open(opts);
      try {
        await writer.appendMany(Array.from({ length: 2000 }, (_, i) => draft(i)));
        let writing = true;
        const appending = (async () => {
          for (let i = 0; writing; i++) await writer.append(draft(10_000 + i));
        })();
        const results: ValidationResult[] = [];
        for (let round = 0; round < 5; round++) {
          results.push(await reader.validate({ workers: 0, chunkSize: 128 }));
        }
        writing = false;
        await appending;
        expect(results.filter((r) => !r.ok)).toEqual([]);
      } finally {
        await reader.close();
        await writer.close();
      }
    },
  );
});

describe('a row past the head', () => {
  it('breaks the chain: the head is read again only to take in records committed meanwhile', async () => {
    const { log, db } = await makeLog(12, 12);
    try {
      db.prepare(
        'UPDATE head SET size = 11, hash = (SELECT hash FROM records WHERE seq = 10)',
      ).run();
      expect(failed(await log.validate({ workers: 0 }))).toMatchObject({
        seq: 11,
        code: 'chain_broken',
      });
    } finally {
      db.close();
      await log.close();
    }
  });
});

describe('1,000 random mutations', () => {
  it('are all caught and each names its row', { timeout: 240_000 }, async () => {
    const { log, db } = await makeLog(24, 6);
    const seed = Number(process.env.SIGIL_MUTATION_SEED ?? Date.now() % 1_000_000);
    const rand = prng(seed);
    const keys = {
      records: (db.prepare('SELECT seq FROM records').all() as Array<{ seq: number }>).map(
        (r) => r.seq,
      ),
      checkpoints: (
        db.prepare('SELECT size FROM checkpoints').all() as Array<{ size: number }>
      ).map((r) => r.size),
    };
    let caught = 0;
    try {
      while (caught < 1000) {
        const table = rand(100) < 80 ? 'records' : 'checkpoints';
        const { key, columns } = TABLES[table];
        const names = Object.keys(columns);
        const column = names[rand(names.length)]!;
        const kind = columns[column]!;
        const rowKey = keys[table][rand(keys[table].length)]!;
        const select = db.prepare(`SELECT ${column} AS v FROM ${table} WHERE ${key} = ?`);
        const original = (select.get(rowKey) as { v: unknown }).v;
        if (original === null) continue; // the first record's prev has no bytes to flip
        const value = flipped(kind, original, rand);
        const where = column === key ? value : rowKey;
        try {
          db.prepare(`UPDATE ${table} SET ${column} = ? WHERE ${key} = ?`).run(value, rowKey);
        } catch {
          continue; // collided with another row's unique seq, size or id
        }
        let result: ValidationResult;
        try {
          result = await log.validate({ workers: 0 });
        } finally {
          db.prepare(`UPDATE ${table} SET ${column} = ? WHERE ${key} = ?`).run(original, where);
        }
        const context = `seed ${seed}: ${table}.${column} of ${key} ${rowKey}`;
        expect(result.ok, context).toBe(false);
        const bad = result as Extract<ValidationResult, { ok: false }>;
        if (table === 'records') expect(bad.seq, `${context}: ${bad.reason}`).toBe(rowKey);
        else
          expect(bad.checkpoint, `${context}: ${bad.reason}`).toBe(column === key ? value : rowKey);
        caught += 1;
      }
      expect((await log.validate({ workers: 0 })).ok).toBe(true);
    } finally {
      db.close();
      await log.close();
    }
  });
});

/** The data key, as only a holder of the master key has it. */
async function dataKeyOf(dataDir: string): Promise<Uint8Array> {
  const store = await openStore({ dataDir, env: TEST_ENV }, { create: false });
  try {
    const meta = (await store.readMeta())!;
    const { kek } = resolveMasterKey({ dataDir, env: TEST_ENV, create: false });
    return unwrapDataKey(meta.wrappedKey, kek);
  } finally {
    await store.close();
  }
}

describe('a body re-encrypted under the data key', () => {
  // Payloads whose canonical text JSON.stringify does not write: index-like keys (V8 lists them
  // first, in numeric order), escapes, numbers JCS writes its own way.
  const payloads: Array<Record<string, JsonValue>> = [
    { '10': 'ten', '9': 'nine', a: 1 },
    { note: 'line\nbreak "quoted" \\ é 🙂', n: 1e21, m: 0.1, k: -5, deep: [[{ z: 1, y: [] }]] },
    { i: 7, note: 'record 7' },
  ];
  let dataDir: string;
  let log: CanonLog;
  let db: Database.Database;
  let dataKey: Uint8Array;
  beforeAll(async () => {
    dataDir = tempDir();
    await CanonLog.init({ dataDir, env: TEST_ENV });
    log = await CanonLog.open({ dataDir, env: TEST_ENV });
    await log.appendMany(payloads.map((payload, i) => draft(i, { payload })));
    await log.checkpoint();
    db = new Database(join(dataDir, 'canon.db'));
    dataKey = await dataKeyOf(dataDir);
  });
  afterAll(async () => {
    db.close();
    await log.close();
  });

  const row = (seq: number) =>
    db.prepare('SELECT id, body FROM records WHERE seq = ?').get(seq) as {
      id: string;
      body: Buffer;
    };

  /** Validates with the plaintext of `seq` replaced by `edit(text)`, then restores the row. */
  async function withPlaintext(
    seq: number,
    edit: (text: string) => string,
  ): Promise<ValidationResult> {
    const { id, body } = row(seq);
    const text = utf8Decode(decryptBody(dataKey, seq, id, body));
    const edited = edit(text);
    expect(edited, 'the edit must change the bytes').not.toBe(text);
    const set = db.prepare('UPDATE records SET body = ? WHERE seq = ?');
    set.run(encryptBody(dataKey, seq, id, utf8Encode(edited)), seq);
    try {
      return await log.validate({ workers: 0 });
    } finally {
      set.run(body, seq);
    }
  }

  it('validates when it is the canonical record, whatever JSON.stringify would write', async () => {
    expect(await log.validate({ workers: 0 })).toMatchObject({ ok: true, count: 3 });
    for (let seq = 0; seq < 3; seq++) {
      expect((await withPlaintext(seq, (t) => ` ${t}`)).ok).toBe(false);
      expect((await log.validate({ workers: 0 })).ok).toBe(true);
    }
  });

  /** The same record, meaning for meaning, written other than canonically: each is refused. */
  const reencodings: Array<[string, number, (t: string) => string]> = [
    ['a space between members', 2, (t) => t.replace('","id":', '", "id":')],
    ['a newline at the end', 2, (t) => `${t}\n`],
    [
      'the top-level members reordered',
      2,
      (t) => reorder(t, (r) => ({ witnesses: r.witnesses, ...r })),
    ],
    [
      'the payload members reordered',
      2,
      (t) => reorder(t, (r) => ({ ...r, payload: reversed(r.payload) })),
    ],
    [
      'index-like keys in numeric order',
      0,
      (t) => t.replace('{"10":"ten","9":"nine"', '{"9":"nine","10":"ten"'),
    ],
    ['a letter escaped', 2, (t) => t.replace('"record 7"', '"\\u0072ecord 7"')],
    [
      'a control character escaped the long way',
      1,
      (t) => t.replace('line\\nbreak', 'line\\u000abreak'),
    ],
    ['a slash escaped', 1, (t) => t.replace('\\\\ é', '\\/\\\\ é')],
    ['a non-ASCII character escaped', 1, (t) => t.replace('é', '\\u00e9')],
    ['a number written with an exponent', 2, (t) => t.replace('"i":7', '"i":7e0')],
    ['a number written with a fraction', 2, (t) => t.replace('"i":7', '"i":7.0')],
    ['a large number written out', 1, (t) => t.replace('"n":1e+21', '"n":1000000000000000000000')],
    ['a duplicate member', 2, (t) => t.replace('"i":7', '"i":7,"i":7')],
    ['an extra top-level member', 2, (t) => t.replace(',"witnesses":', ',"extra":1,"witnesses":')],
    ['an escaped lone surrogate', 2, (t) => t.replace('"record 7"', '"record 7\\ud800"')],
    ['negative zero', 1, (t) => t.replace('"z":1', '"z":-0')],
    ['a nested array member reordered', 1, (t) => t.replace('{"y":[],"z":1}', '{"z":1,"y":[]}')],
  ];
  it.each(reencodings)('is refused: %s', async (_what, seq, edit) => {
    const bad = failed(await withPlaintext(seq, edit));
    expect(bad).toMatchObject({ seq, code: 'hash_mismatch' });
    // Named as not canonical, before any hash is compared.
    expect(bad.reason).toMatch(/not its canonical form|not canonicalisable/);
    expect((await log.validate({ workers: 0 })).ok).toBe(true);
  });
});

function reorder(text: string, f: (r: Record<string, unknown>) => Record<string, unknown>): string {
  return JSON.stringify(f(JSON.parse(text) as Record<string, unknown>));
}

function reversed(v: unknown): Record<string, unknown> {
  return Object.fromEntries(Object.entries(v as Record<string, unknown>).reverse());
}

describe('records whose strings and keys spell their own members', () => {
  // The fast check cuts the body and the log entry out of the record's text at `,"sig":`,
  // `,"prev":`, `,"ts":`, `,"links":`: each of these spelled inside a value must not be taken
  // for the member, and the entry it cuts must still cover the signature.
  const lookalikes = [
    ',"sig":"x',
    ',"prev":null',
    ',"ts":"t',
    ',"links":[]',
    ',"witnesses":[]',
    'é\\',
  ];
  let dataDir: string;
  let log: CanonLog;
  let db: Database.Database;
  beforeAll(async () => {
    dataDir = tempDir();
    await CanonLog.init({ dataDir, env: TEST_ENV });
    log = await CanonLog.open({ dataDir, env: TEST_ENV });
    const payload = Object.fromEntries(lookalikes.map((s, i) => [`${s}${i}`, s]));
    await log.appendMany([
      ...lookalikes.map((tenant, i) => draft(i, { tenant, payload: { ...payload, i } })),
      ...lookalikes.map((s, i) => draft(i, { payload: { prev: s, sig: s, ts: s, links: [s] } })),
    ]);
    await log.checkpoint();
    db = new Database(join(dataDir, 'canon.db'));
  });
  afterAll(async () => {
    db.close();
    await log.close();
  });

  it('validate, on the main thread and in the pool', async () => {
    const count = 2 * lookalikes.length;
    expect(await log.validate({ workers: 0 })).toMatchObject({ ok: true, count });
    expect(await log.validate({ workers: 1 })).toMatchObject({ ok: true, count });
  });

  it('are refused with another signature in the body (only the leaf covers it)', async () => {
    const dataKey = await dataKeyOf(dataDir);
    for (let seq = 0; seq < 2 * lookalikes.length; seq += 1) {
      const { id, body } = db.prepare('SELECT id, body FROM records WHERE seq = ?').get(seq) as {
        id: string;
        body: Buffer;
      };
      const text = utf8Decode(decryptBody(dataKey, seq, id, body));
      const sig = (JSON.parse(text) as { sig: string }).sig;
      const other = `${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
      const edited = text.replace(`"sig":"${sig}"`, `"sig":"${other}"`);
      expect(edited).not.toBe(text);
      const set = db.prepare('UPDATE records SET body = ? WHERE seq = ?');
      set.run(encryptBody(dataKey, seq, id, utf8Encode(edited)), seq);
      try {
        const bad = failed(await log.validate({ workers: 0 }));
        expect(bad).toMatchObject({ seq, code: 'hash_mismatch' });
        expect(bad.reason).toMatch(/leaf hash does not match/);
      } finally {
        set.run(body, seq);
      }
    }
    expect((await log.validate({ workers: 0 })).ok).toBe(true);
  });
});
