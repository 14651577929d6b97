/**
 * The Merkle tree as stored tiles, on both backends: the tiles written in the append transaction
 * are the tlog-tiles tiles of the leaves; a tile edited in the database is named by validation and
 * a proof built from it does not verify against the signed checkpoint; a store without tiles (made
 * before them) gets them built at open; an instance that wrote nothing serves proofs of what
 * another instance appended, and then appends after it.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { CanonLog, type CanonLogOptions } from '../../src/canon/log.ts';
import { leafHash, MerkleTree } from '../../src/canon/merkle.ts';
import { leafEntry } from '../../src/canon/record.ts';
import { openStore } from '../../src/canon/store/index.ts';
import { verifyConsistency, verifyInclusionProof } from '../../src/canon/verify.ts';
import { BACKENDS, draft, storeOptions, withNewLog } from './helpers/log.ts';

/** Runs SQL against the store behind `opts` directly, as an attacker with database access. */
async function sql(
  opts: CanonLogOptions,
  text: string,
  params: unknown[] = [],
): Promise<unknown[]> {
  if (opts.backend === 'postgres') {
    const client = new pg.Client({ connectionString: opts.databaseUrl });
    await client.connect();
    try {
      return (await client.query(text.replaceAll('tiles', 'sigil_tiles'), params)).rows;
    } finally {
      await client.end();
    }
  }
  const db = new Database(join(opts.dataDir, 'canon.db'));
  try {
    const stmt = db.prepare(text.replace(/\$\d+/g, '?'));
    return stmt.reader ? stmt.all(...params) : (stmt.run(...params), []);
  } finally {
    db.close();
  }
}

/** Flips one byte of a stored tile in the database. */
async function editTile(opts: CanonLogOptions, level: number, index: number, at: number) {
  const [row] = (await sql(opts, 'SELECT nodes FROM tiles WHERE level = $1 AND idx = $2', [
    level,
    index,
  ])) as Array<{ nodes: Buffer }>;
  const nodes = Buffer.from(row!.nodes);
  nodes[at] = nodes[at]! ^ 0x01;
  await sql(opts, 'UPDATE tiles SET nodes = $1 WHERE level = $2 AND idx = $3', [
    nodes,
    level,
    index,
  ]);
}

/** Every tile the store holds for a tree of `size`, from the reference tree of the log's leaves. */
async function expectTilesOf(opts: CanonLogOptions, log: CanonLog, size: number): Promise<void> {
  const leaves: Uint8Array[] = [];
  for (let seq = 0; seq < size; seq++) leaves.push(leafHash(leafEntry((await log.getBySeq(seq))!)));
  const ref = new MerkleTree(leaves);
  const store = await openStore(opts, { create: false });
  try {
    expect(await store.tiledSize()).toBe(size);
    for (let level = 0; 256 ** level <= size; level++) {
      const count = Math.floor(size / 256 ** level);
      for (let index = 0; index * 256 < count; index++) {
        const width = Math.min(256, count - index * 256);
        const stored = await store.readTile(level, index);
        expect(stored && Buffer.from(stored).toString('hex'), `tile ${level}/${index}`).toBe(
          Buffer.from(ref.nodes(8 * level, index * 256, width)!).toString('hex'),
        );
      }
    }
  } finally {
    await store.close();
  }
}

/** Appends `n` records in uneven batches (group commit's shapes) and checkpoints. */
async function grow(log: CanonLog, from: number, n: number): Promise<string> {
  for (let i = from, step = 1; i < from + n; i += step, step = (step * 5 + 2) % 97 || 1) {
    const count = Math.min(step, from + n - i);
    await log.appendMany(Array.from({ length: count }, (_, j) => draft(i + j)));
  }
  return log.checkpoint();
}

describe.each(BACKENDS)('tiles in the $name store', ({ name, skip }) => {
  it.skipIf(skip)(
    'are written with the records, serve proofs, and a tampered tile is caught',
    { timeout: 120_000 },
    async () => {
      await withNewLog(name, async (log, opts) => {
        const cp = await grow(log, 0, 600);
        // 600 leaves: level 0 tiles 000, 001 (full) and 002.p/88; level 1 tile 000.p/2.
        await expectTilesOf(opts, log, 600);
        const proof = await log.proveInclusion(300);
        expect(verifyInclusionProof(proof, cp, log.keyName, log.publicKey)).toEqual({ ok: true });
        expect((await log.validate({ workers: 0 })).ok).toBe(true);

        // Leaf 301, the first hash of seq 300's path, edited inside the stored full tile 0/001,
        // then served by an instance opened after the edit (one that read the tile before may
        // still hold it: a stored hash never changes, so it is cached).
        await editTile(opts, 0, 1, 45 * 32);
        const after = await CanonLog.open(opts);
        try {
          const forged = await after.proveInclusion(300);
          expect(forged.hashes[0]).not.toBe(proof.hashes[0]);
          expect(verifyInclusionProof(forged, cp, log.keyName, log.publicKey)).toMatchObject({
            ok: false,
          });
          expect(await after.validate({ workers: 0 })).toMatchObject({
            ok: false,
            code: 'tile_mismatch',
            seq: 256,
            reason: expect.stringMatching(/^tile\/0\/001: the stored tile differs/),
          });
          await sql(opts, 'DELETE FROM tiles WHERE level = 0 AND idx = 1');
          expect(await after.validate({ workers: 0 })).toMatchObject({
            code: 'tile_mismatch',
            reason: expect.stringMatching(/^tile\/0\/001: the stored tile is missing/),
          });
        } finally {
          await after.close();
        }

        // A store without tiles (as one made before them) has them built at open.
        await sql(opts, 'DELETE FROM tiles');
        await log.close();
        const reopened = await CanonLog.open(opts);
        try {
          await expectTilesOf(opts, reopened, 600);
          expect((await reopened.validate({ workers: 0 })).ok).toBe(true);
        } finally {
          await reopened.close();
        }
        // A level-1 hash (the subtree of leaves 256..511) edited: seq 0's proof uses it.
        await editTile(opts, 1, 0, 32);
        const third = await CanonLog.open(opts);
        try {
          const bad = await third.proveInclusion(0, 600);
          expect(verifyInclusionProof(bad, cp, log.keyName, log.publicKey)).toMatchObject({
            ok: false,
          });
          expect(await third.validate({ workers: 0 })).toMatchObject({
            code: 'tile_mismatch',
            reason: expect.stringMatching(/^tile\/1\/000\.p\/2: the stored tile differs/),
          });
        } finally {
          await third.close();
        }
      });
    },
  );

  it.skipIf(skip)(
    'a tile row added where the tree uses none is named by validation',
    { timeout: 120_000 },
    async () => {
      await withNewLog(name, async (log, opts) => {
        await grow(log, 0, 600);
        expect((await log.validate({ workers: 0 })).ok).toBe(true);
        // 600 leaves use level-0 rows 0 and 1 and the level-1 row 0 (the partial level-0 tile is
        // read from the records). Each row below, of real hashes, is one that no reader asks for.
        const strays: Array<[number, number, number]> = [
          [0, 2, 88], // the partial level-0 tile, which the store never keeps
          [0, 9, 256],
          [0, -1, 256],
          [1, 1, 256],
          [2, 0, 1],
          [9, 0, 256],
        ];
        for (const [level, index, width] of strays) {
          await sql(
            opts,
            'INSERT INTO tiles (level, idx, nodes) SELECT CAST($1 AS INTEGER), CAST($2 AS BIGINT), substr(nodes, 1, CAST($3 AS INTEGER)) FROM tiles WHERE level = 0 AND idx = 1',
            [level, index, width * 32],
          );
          expect(await log.validate({ workers: 0 }), `row ${level}/${index}`).toEqual({
            ok: false,
            seq: 600,
            code: 'tile_unused',
            reason: `a stored tile at level ${level}, index ${index}, that the tree of 600 records does not use`,
          });
          await sql(opts, 'DELETE FROM tiles WHERE level = $1 AND idx = $2', [level, index]);
          expect((await log.validate({ workers: 0 })).ok, `row ${level}/${index} deleted`).toBe(
            true,
          );
        }
        if (name === 'sqlite') {
          // SQLite keeps a value as typed: an index of 1.5 equals no index a reader asks for.
          await sql(opts, "INSERT INTO tiles (level, idx, nodes) VALUES (0, 1.5, x'00')");
          expect(await log.validate({ workers: 0 })).toMatchObject({
            code: 'tile_unused',
            reason: expect.stringMatching(/level 0, index 1\.5,/),
          });
          await sql(opts, 'DELETE FROM tiles WHERE idx = 1.5');
        }
        // Rows another instance adds with its records are in use once the head covers them.
        const other = await CanonLog.open(opts);
        try {
          await grow(other, 600, 300);
        } finally {
          await other.close();
        }
        expect((await log.validate({ workers: 0 })).ok).toBe(true);
      });
    },
  );

  it.skipIf(skip)(
    'an instance that wrote nothing serves proofs of what another appended, then appends after it',
    { timeout: 120_000 },
    async () => {
      const opts = await storeOptions(name);
      await CanonLog.init(opts);
      const a = await CanonLog.open(opts);
      const b = await CanonLog.open(opts);
      try {
        const cp1 = await grow(a, 0, 300);
        const first = await b.proveInclusion(299);
        expect(verifyInclusionProof(first, cp1, a.keyName, a.publicKey)).toEqual({ ok: true });
        // b's right edge is stale (a wrote 300 records): it reloads it from the stored tiles.
        const cp2 = await grow(b, 300, 213);
        const cp3 = await grow(a, 513, 40);
        for (const [from, to] of [
          [cp1, cp2],
          [cp2, cp3],
          [cp1, cp3],
        ] as const) {
          const sizes = [from, to].map((n) => Number(n.split('\n')[1]));
          const proof = await b.proveConsistency(sizes[0]!, sizes[1]!);
          expect(verifyConsistency(proof, from, to, a.verifierKey)).toMatchObject({ ok: true });
        }
        const last = await a.proveInclusion(552);
        expect(verifyInclusionProof(last, cp3, a.keyName, a.publicKey)).toEqual({ ok: true });
        expect((await b.validate({ workers: 0 })).ok).toBe(true);
        await expectTilesOf(opts, a, 553);
      } finally {
        await a.close();
        await b.close();
      }
    },
  );
});
