import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CanonLog } from '../../src/canon/log.ts';
import { leafHash } from '../../src/canon/merkle.ts';
import { leafEntry } from '../../src/canon/record.ts';
import {
  decodeEntryBundle,
  encodeTileIndex,
  parseTilePath,
  tilePath,
  tileWidthAt,
} from '../../src/canon/tiles.ts';
import { monitorLog, verifyTiles, type TileFetch } from '../../src/verify.ts';
import { utf8Encode } from '../../src/core/encoding.ts';
import { BACKENDS, draft, storeOptions } from './helpers/log.ts';
import { independentVerify } from '../verify-independent/tiles.ts';

/** Serves a log's tiles the way /log/ does, straight from the CanonLog. */
function fetchFrom(log: CanonLog, edit?: (path: string, b: Uint8Array) => Uint8Array): TileFetch {
  return async (path) => {
    let body: Uint8Array | undefined;
    if (path === 'checkpoint') body = utf8Encode(await log.checkpoint());
    else {
      const ref = path.startsWith('tile/') ? parseTilePath(path.slice(5)) : undefined;
      if (ref === undefined) return undefined;
      body =
        ref.level === 'entries'
          ? await log.entryBundle(ref.index, ref.width)
          : await log.tile(ref.level, ref.index, ref.width);
    }
    return body && edit ? edit(path, body) : body;
  };
}

describe('tile paths (C2SP tlog-tiles)', () => {
  it('encodes N in x-prefixed 3-digit groups, as the spec example', () => {
    expect(encodeTileIndex(1234067)).toBe('x001/x234/067');
    expect(encodeTileIndex(0)).toBe('000');
    expect(encodeTileIndex(1000)).toBe('x001/000');
    expect(tilePath({ level: 0, index: 1234067, width: 256 })).toBe('tile/0/x001/x234/067');
    expect(tilePath({ level: 'entries', index: 5, width: 17 })).toBe('tile/entries/005.p/17');
  });

  it('parses only the canonical spelling', () => {
    expect(parseTilePath('0/x001/x234/067')).toEqual({ level: 0, index: 1234067, width: 256 });
    expect(parseTilePath('entries/000.p/5')).toEqual({ level: 'entries', index: 0, width: 5 });
    for (const bad of [
      '0/x000/001', // leading zero group
      '0/1', // not 3 digits
      '00/000', // level with a leading zero
      '64/000', // level above 63
      '0/000.p/256',
      '0/000.p/0',
      '0/000.p/07',
      '0/x001',
      '0/001/002',
      'entries/../000',
    ]) {
      expect(parseTilePath(bad), bad).toBeUndefined();
    }
  });

  it('gives the widths of the spec example: a tree of 70,000', () => {
    expect(tileWidthAt(0, 273, 70_000)).toBe(112);
    expect(tileWidthAt(0, 272, 70_000)).toBe(256);
    expect(tileWidthAt(1, 0, 70_000)).toBe(256);
    expect(tileWidthAt(1, 1, 70_000)).toBe(17);
    expect(tileWidthAt(2, 0, 70_000)).toBe(1);
    expect(tileWidthAt(1, 0, 256)).toBe(1);
  });
});

for (const { name, skip } of BACKENDS) {
  describe.skipIf(skip)(`tiles of a ${name} log`, () => {
    let log: CanonLog;
    beforeAll(async () => {
      const opts = await storeOptions(name);
      await CanonLog.init(opts);
      log = await CanonLog.open(opts);
      await log.appendMany(Array.from({ length: 600 }, (_, i) => draft(i)));
    });
    afterAll(async () => log.close());

    it('serves tiles whose hashes are the tree, and bundles of envelopes without payloads', async () => {
      const full = await log.tile(0, 0, 256);
      expect(full?.length).toBe(8192);
      const bundle = decodeEntryBundle((await log.entryBundle(2, 88))!)!;
      expect(bundle).toHaveLength(88);
      const first = (await log.getBySeq(512))!;
      expect(bundle[0]).toEqual(leafEntry(first));
      expect(Buffer.from(bundle[0]!).toString()).not.toContain('payload');
      const tile = (await log.tile(0, 2, 88))!;
      // the partial tile's bytes (a Buffer on SQLite), compared as bytes
      expect(Buffer.from(tile.subarray(0, 32))).toEqual(Buffer.from(leafHash(bundle[0]!)));
      // Not yet in the tree: no tile, no bundle.
      expect(await log.tile(0, 2, 89)).toBeUndefined();
      expect(await log.entryBundle(2, 89)).toBeUndefined();
      expect(await log.tile(1, 0, 3)).toBeUndefined();
      expect((await log.tile(1, 0, 2))?.length).toBe(64);
    });

    it('verifies against the checkpoint, with this verifier and the independent one', async () => {
      const checkpoint = await log.checkpoint();
      const fetch = fetchFrom(log);
      const check = await verifyTiles({
        url: 'x',
        checkpoint,
        verifierKey: log.verifierKey,
        fetch,
      });
      expect(check).toMatchObject({ ok: true, from: 0, to: 600 });
      const other = await independentVerify(fetch, checkpoint, log.verifierKey);
      expect(other).toEqual({ ok: true, size: 600 });
    });

    it('fails on any changed byte of a tile or an entry', async () => {
      const checkpoint = await log.checkpoint();
      for (const target of ['tile/0/001', 'tile/1/000.p/2', 'tile/entries/002.p/88']) {
        const fetch = fetchFrom(log, (path, b) => {
          if (path !== target) return b;
          const copy = b.slice();
          copy[40] = copy[40]! ^ 1;
          return copy;
        });
        const check = await verifyTiles({
          url: 'x',
          checkpoint,
          verifierKey: log.verifierKey,
          fetch,
        });
        expect(check.ok, target).toBe(false);
        expect((await independentVerify(fetch, checkpoint, log.verifierKey)).ok, target).toBe(
          false,
        );
      }
    });

    it('monitors: follows appends, and refuses a log that rewrote what it showed', async () => {
      const first = await monitorLog({
        url: 'x',
        verifierKey: log.verifierKey,
        fetch: fetchFrom(log),
      });
      if (!first.ok) throw new Error(first.reason);
      expect(first.entries).toBe(600);
      await log.appendMany(Array.from({ length: 300 }, (_, i) => draft(1000 + i)));
      const second = await monitorLog({ url: 'x', state: first.state, fetch: fetchFrom(log) });
      if (!second.ok) throw new Error(second.reason);
      expect(second).toMatchObject({ from: 600, to: 900, entries: 300 });
      // A state whose edge was edited no longer hashes to its own root.
      const forged = structuredClone(second.state);
      forged.edge[0]![0] = Buffer.alloc(32).toString('base64');
      const damaged = await monitorLog({ url: 'x', state: forged, fetch: fetchFrom(log) });
      expect(damaged).toMatchObject({ ok: false, code: 'checkpoint_invalid' });
      // A log serving different history for an entry the monitor already saw.
      const rewritten = fetchFrom(log, (path, b) => {
        if (path !== 'tile/1/000.p/3') return b;
        const copy = b.slice();
        copy[0] = copy[0]! ^ 1;
        return copy;
      });
      await log.append(draft(5000));
      const third = await monitorLog({ url: 'x', state: second.state, fetch: rewritten });
      expect(third.ok).toBe(false);
    });
  });
}

describe('sigil migrate: log format 1 to 2', () => {
  it('recomputes every leaf from the envelope, retires the old checkpoints, and the log opens', async () => {
    const opts = await storeOptions('sqlite');
    await CanonLog.init(opts);
    let log = await CanonLog.open(opts);
    await log.appendMany(Array.from({ length: 20 }, (_, i) => draft(i)));
    await log.checkpoint();
    await log.close();
    // Turn the store into a format-1 one: leaves over the whole record, no format key.
    const { recordBytes } = await import('../../src/canon/record.ts');
    log = await CanonLog.open(opts);
    const records = (await log.list({ limit: 100 })).records;
    await log.close();
    const db = new Database(join(opts.dataDir, 'canon.db'));
    for (const r of records) {
      const { seq, ...rec } = r;
      db.prepare('UPDATE records SET leaf_hash = ? WHERE seq = ?').run(
        leafHash(recordBytes(rec)),
        seq,
      );
    }
    db.prepare("DELETE FROM meta WHERE k = 'log_format'").run();
    db.close();
    await expect(CanonLog.open(opts)).rejects.toMatchObject({ code: 'store_format_old' });

    const done = await CanonLog.migrate(opts);
    expect(done).toMatchObject({ from: 1, to: 2, records: 20 });
    expect(done!.checkpoints).toBeGreaterThan(0);
    expect(await CanonLog.migrate(opts)).toBeUndefined();
    log = await CanonLog.open(opts);
    try {
      expect((await log.validate()).ok).toBe(true);
      const checkpoint = await log.checkpoint();
      const check = await verifyTiles({
        url: 'x',
        checkpoint,
        verifierKey: log.verifierKey,
        fetch: fetchFrom(log),
      });
      expect(check.ok).toBe(true);
    } finally {
      await log.close();
    }
    const kept = new Database(join(opts.dataDir, 'canon.db'));
    const retired = kept.prepare("SELECT v FROM meta WHERE k = 'format1_checkpoints'").get() as {
      v: string;
    };
    kept.close();
    expect(JSON.parse(retired.v)).toHaveLength(done!.checkpoints);
  });
});
