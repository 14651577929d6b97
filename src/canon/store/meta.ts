/** Helpers shared by the backends: the meta table's key/value layout and error mapping. */
import { SigilError, isSigilError } from '../../core/errors.ts';
import type { WrappedKey } from '../envelope.ts';
import { storedTileCounts } from '../tile-tree.ts';
import type { StoreMeta } from './types.ts';

/** The meta row keys, one value each. */
export function metaToEntries(meta: StoreMeta): Array<[string, string]> {
  return [
    ['log_id', meta.logId],
    ['public_key', meta.publicKey],
    ['wrapped_key', JSON.stringify(meta.wrappedKey)],
    ['created_at', meta.createdAt],
    ['log_format', String(meta.logFormat)],
  ];
}

/** Rebuilds the meta; undefined when empty (not initialised), 'store_error' when incomplete. */
export function metaFromEntries(entries: Array<[string, string]>): StoreMeta | undefined {
  if (entries.length === 0) return undefined;
  const m = new Map(entries);
  const logId = m.get('log_id');
  const publicKey = m.get('public_key');
  const wrapped = m.get('wrapped_key');
  const createdAt = m.get('created_at');
  if (!logId || !publicKey || !wrapped || !createdAt) {
    throw new SigilError('store_error', 'the canon store meta is incomplete');
  }
  let wrappedKey: WrappedKey;
  try {
    wrappedKey = JSON.parse(wrapped) as WrappedKey;
  } catch {
    throw new SigilError('store_error', 'the wrapped data key in the store meta is not JSON');
  }
  const format = m.get('log_format') ?? '1';
  if (!/^[1-9][0-9]{0,3}$/.test(format)) {
    throw new SigilError('store_error', 'the log format in the store meta is not a number');
  }
  return { logId, publicKey, wrappedKey, createdAt, logFormat: Number(format) };
}

/** The meta key holding the checkpoints a format migration retired (JSON array). */
export function retiredCheckpointsKey(format: number): string {
  return `format${format}_checkpoints`;
}

/** 'conflict' unless the store is at the format a migration starts from. */
export function checkMigrationStart(meta: StoreMeta | undefined, from: number): void {
  if (meta === undefined)
    throw new SigilError('store_missing', 'the canon store is not initialised');
  if (meta.logFormat !== from) {
    throw new SigilError('conflict', `the store is at log format ${meta.logFormat}, not ${from}`);
  }
}

/** Wraps a driver error as 'store_error' (SigilErrors pass through unchanged). */
export function storeError(err: unknown): SigilError {
  if (isSigilError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new SigilError('store_error', `canon store: ${message}`);
}

/** The error of an append whose view expectation no longer holds. */
export function viewMoved(e: { ns: string; key: string; seq: number }): SigilError {
  return new SigilError(
    'conflict',
    `the view row ${e.ns}/${e.key} is no longer the one at seq ${e.seq}`,
    {
      ns: e.ns,
      key: e.key,
    },
  );
}

/**
 * A WHERE clause matching the tile rows that a tree of `size` does not use (storedTileCounts),
 * with its parameters; `p(i)` spells the i-th placeholder (from 1).
 */
export function unusedTilesWhere(
  size: number,
  p: (i: number) => string,
): { where: string; params: number[] } {
  const counts = storedTileCounts(size);
  const used = counts.map(
    (_, l) => `(level = ${p(2 * l + 1)} AND idx >= 0 AND idx < ${p(2 * l + 2)})`,
  );
  return {
    where: `NOT (${['1 = 0', ...used].join(' OR ')})`,
    params: counts.flatMap((n, level) => [level, n]),
  };
}
