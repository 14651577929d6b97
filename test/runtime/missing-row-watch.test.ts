/**
 * refuseMissingRow reads the records of a kind once per log and namespace, then only those sealed
 * since. An attacker with the database deletes a view row whose record was sealed after that
 * first read, by this instance or by another one on the same store: the row must still be
 * refused ('state_invalid'), never read as never made.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SQLITE_FILE } from '../../src/canon/store/index.ts';
import { loadConfig } from '../../src/config/index.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { SigilRuntime } from '../../src/runtime/index.ts';
import { tempDir } from '../canon/helpers/log.ts';

const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

const pin = (key: string) => ({
  key,
  upstream: 'up',
  tool: key.split(' ')[1]!,
  hash: 'b'.repeat(64),
  approval_id: null,
});

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return isSigilError(err) ? err.code : String(err);
  }
}

describe('a missing view row, watched incrementally', () => {
  const open: SigilRuntime[] = [];
  afterEach(async () => {
    for (const r of open.splice(0)) await r.close();
  });

  it('refuses a deleted row whose record was sealed after the first read, here or by another instance', async () => {
    const dataDir = tempDir('sigil-missing-row-');
    const env = { SIGIL_MASTER_KEY: MASTER_KEY };
    const config = () => loadConfig({ env, dataDir });
    const boot = await SigilRuntime.bootstrap({ config: config(), env });
    const a = boot.runtime;
    open.push(a);
    const b = await SigilRuntime.open({ config: config(), env });
    open.push(b);
    const db = new Database(join(dataDir, SQLITE_FILE));
    db.pragma('busy_timeout = 10000');
    const remove = (k: string) =>
      db.prepare("DELETE FROM views WHERE ns = 'tool_pins' AND k = ?").run(k);
    try {
      // First reads: neither tool was ever pinned, so both are simply unknown.
      expect(await a.toolPins.get('up here')).toBeUndefined();
      expect(await a.toolPins.get('up there')).toBeUndefined();
      // Pinned afterwards, one by this instance and one by another writer on the store.
      await a.toolPins.pin(pin('up here'));
      await b.toolPins.pin(pin('up there'));
      expect((await a.toolPins.get('up here'))?.hash).toBe('b'.repeat(64));
      expect((await a.toolPins.get('up there'))?.hash).toBe('b'.repeat(64));
      remove('up here');
      remove('up there');
      expect(await codeOf(a.toolPins.get('up here'))).toBe('state_invalid');
      expect(await codeOf(a.toolPins.get('up there'))).toBe('state_invalid');
      // Still refused on the next read, and by an instance reading for the first time.
      expect(await codeOf(a.toolPins.get('up there'))).toBe('state_invalid');
      expect(await codeOf(b.toolPins.get('up here'))).toBe('state_invalid');
      // A tool never pinned is still just unknown.
      expect(await a.toolPins.get('up never')).toBeUndefined();
    } finally {
      db.close();
    }
  });
});
