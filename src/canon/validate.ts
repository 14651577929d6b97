/**
 * Validation of a whole log: every row (decrypts, canonical, hash, signature — validate-row.ts),
 * seq contiguity, every prev link, the head, the Merkle root at every stored checkpoint with
 * the checkpoint's signature, and every stored tile against the tiles the leaves make (the tree
 * is rebuilt as its right edge only, so validation holds O(log n) of it). Signatures are verified on worker threads (verify-pool.ts) while
 * the main thread reads and decrypts rows, follows the chain and builds the tree. The result
 * names the first bad seq.
 */
import type { KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { publicKeyToRaw } from '../core/ed25519.ts';
import { constantTimeEqual, toBase64Url, toHex } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { openCheckpoint, type Checkpoint } from './checkpoint.ts';
import { emptyRoot } from './merkle.ts';
import { TileEdge, type TileRow } from './tile-tree.ts';
import { TILE_WIDTH, tilePath } from './tiles.ts';
import { recordSigningMessage } from './record-json.ts';
import type { CanonStore, StoredCheckpoint, StoredRow } from './store/types.ts';
import {
  badSignature,
  checkRow,
  checkRowContent,
  type Failure,
  type RowKeys,
  type ValidationCode,
} from './validate-row.ts';
import { VerifyPool, type SignatureItem } from './verify-pool.ts';

export type { ValidationCode } from './validate-row.ts';

export type ValidationResult =
  | { ok: true; count: number; checkpoints: number; ms: number }
  | {
      ok: false;
      seq: number;
      code: ValidationCode;
      reason: string;
      /** Set when the failing item is the checkpoint of this size. */
      checkpoint?: number;
    };

export interface ValidateOptions {
  /** Threads verifying signatures beside the main thread; default: the cores, none for small logs. */
  workers?: number;
  /** Rows per read and per worker message (default 1024). */
  chunkSize?: number;
  /** Called after each chunk with rows read so far and the head size. */
  onProgress?: (done: number, total: number) => void;
  /** A checkpoint note the auditor kept: the store must extend it (same first records, same root). */
  checkpoint?: string;
}

/** What validation needs from the log. */
export interface ValidationContext {
  store: CanonStore;
  dataKey: Uint8Array;
  publicKey: KeyObject;
  keyName: string;
  origin: string;
}

/** Times the head is read again for rows appended while validating. */
const MAX_HEAD_READS = 8;
/** Below this many records, starting worker threads costs more than it saves. */
const WORKER_THRESHOLD = 2048;

/** Lower seq first; at equal seq a record's own failure before a checkpoint's. */
function earlier(a: Failure | undefined, b: Failure | undefined): Failure | undefined {
  if (!a) return b;
  if (!b) return a;
  if (a.seq !== b.seq) return a.seq < b.seq ? a : b;
  return a.checkpoint === undefined ? a : b;
}

/** Checks a signed checkpoint against the tree built from the rows so far. */
function checkCheckpoint(
  ctx: ValidationContext,
  cp: StoredCheckpoint,
  tree: TileEdge,
): Failure | undefined {
  const fail = (code: ValidationCode, reason: string): Failure => ({
    seq: Math.max(cp.size - 1, 0),
    code,
    reason: `checkpoint at size ${cp.size}: ${reason}`,
    checkpoint: cp.size,
  });
  let signed: Checkpoint;
  try {
    signed = openCheckpoint(cp.note, ctx.keyName, ctx.publicKey);
  } catch {
    return fail('signature_invalid', 'the note is not signed by the log key');
  }
  if (signed.origin !== ctx.origin) return fail('signature_invalid', 'the note names another log');
  const differs =
    signed.size !== cp.size
      ? 'size'
      : !constantTimeEqual(signed.rootHash, cp.root)
        ? 'root'
        : signed.timestamp !== cp.ts
          ? 'time'
          : undefined;
  if (differs) return fail('root_mismatch', `stored ${differs} differs from the signed note`);
  if (!constantTimeEqual(tree.root(), signed.rootHash)) {
    return fail('root_mismatch', 'the records do not hash to the signed root');
  }
  return undefined;
}

/** Opens the auditor's checkpoint with the log key ('checkpoint_invalid' when it is not this log's). */
function keptCheckpoint(ctx: ValidationContext, note: string): Checkpoint {
  const cp = openCheckpoint(note, ctx.keyName, ctx.publicKey);
  if (cp.origin !== ctx.origin) {
    throw new SigilError(
      'checkpoint_invalid',
      `the checkpoint is of ${cp.origin}, not ${ctx.origin}`,
    );
  }
  return cp;
}

/**
 * Whether the records as stored (`size` of them, whose first kept.size hash to `root`) extend
 * the kept checkpoint.
 */
function checkExtends(
  kept: Checkpoint,
  size: number,
  root: Uint8Array | undefined,
): Failure | undefined {
  const expected = `expected at least ${kept.size} records with root ${toHex(kept.rootHash)} at size ${kept.size}`;
  if (root === undefined) {
    return {
      seq: size,
      code: 'not_extended',
      reason: `the store does not extend the checkpoint (tail cut or rolled back): ${expected}, the store holds ${size}`,
      checkpoint: kept.size,
    };
  }
  if (!constantTimeEqual(root, kept.rootHash)) {
    return {
      seq: Math.max(kept.size - 1, 0),
      code: 'not_extended',
      reason: `the store does not extend the checkpoint (forked or rewritten): ${expected}, its first ${kept.size} records hash to ${toHex(root)}`,
      checkpoint: kept.size,
    };
  }
  return undefined;
}

/** A failure naming the stored tile that differs from `want` (the tile the leaves make). */
async function checkTile(
  store: CanonStore,
  want: TileRow,
  grown: () => Promise<boolean> = async () => false,
): Promise<Failure | undefined> {
  const stored = await store.readTile(want.level, want.index);
  if (stored !== undefined && constantTimeEqual(stored, want.nodes)) return undefined;
  // A right-edge tile that goes on past the records read: fine only if the log has grown since
  // (another writer's records, committed with their tiles after these were read).
  if (
    stored !== undefined &&
    stored.length > want.nodes.length &&
    constantTimeEqual(stored.subarray(0, want.nodes.length), want.nodes) &&
    (await grown())
  ) {
    return undefined;
  }
  const width = want.nodes.length / 32;
  const path = tilePath({ level: want.level, index: want.index, width });
  const what =
    stored === undefined
      ? 'is missing'
      : stored.length !== want.nodes.length
        ? `holds ${stored.length / 32} hashes, not ${width}`
        : 'differs from the tile the records hash to';
  return {
    seq: want.index * TILE_WIDTH ** (want.level + 1),
    code: 'tile_mismatch',
    reason: `${path}: the stored tile ${what}`,
  };
}

/**
 * A failure naming a stored tile row that the tree of `size` does not use. Rows past it are fine
 * only if the log has grown since (another writer's tiles, committed with their records).
 */
async function checkUnusedTiles(store: CanonStore, size: number): Promise<Failure | undefined> {
  let stray = await store.unusedTile(size);
  for (let seen = size, pass = 0; stray !== undefined && pass < MAX_HEAD_READS; pass++) {
    const now = (await store.head()).size;
    if (now <= seen) break;
    seen = now;
    stray = await store.unusedTile(now);
  }
  if (stray === undefined) return undefined;
  const { level, index } = stray;
  return {
    seq: size,
    code: 'tile_unused',
    reason: `a stored tile at level ${level}, index ${index}, that the tree of ${size} records does not use`,
  };
}

function notATreeSize(cp: StoredCheckpoint): Failure {
  const reason = `checkpoint at size ${cp.size}: not a tree size`;
  return { seq: 0, code: 'root_mismatch', reason, checkpoint: cp.size };
}

/** Validates the whole log behind `ctx.store`. */
export async function validateStore(
  ctx: ValidationContext,
  opts: ValidateOptions = {},
): Promise<ValidationResult> {
  const started = performance.now();
  const { store } = ctx;
  const kept = opts.checkpoint === undefined ? undefined : keptCheckpoint(ctx, opts.checkpoint);
  let head = await store.head();
  const checkpoints = await store.checkpoints();
  const chunkSize = opts.chunkSize ?? 1024;
  const pubKey = toBase64Url(publicKeyToRaw(ctx.publicKey));
  const keys: RowKeys = { dataKey: ctx.dataKey, publicKey: ctx.publicKey, pubKey };
  const workers =
    opts.workers ?? (head.size >= WORKER_THRESHOLD ? Math.min(availableParallelism(), 4) : 0);
  const pool =
    workers > 0 ? new VerifyPool(workers, ctx.publicKey, recordSigningMessage('')) : undefined;

  const tree = TileEdge.empty();
  let keptRoot: Uint8Array | undefined = kept?.size === 0 ? emptyRoot() : undefined;
  const pending: Array<Promise<Failure | undefined>> = [];
  let failure: Failure | undefined;
  let cpIndex = 0;
  let prevHash: string | null = null;
  let expected = 0;
  // Checkpoints are sorted by size; each is checked when the tree reaches its size (a size
  // the tree has already passed can only be a negative or fractional one).
  const checkDueCheckpoints = (): void => {
    while (cpIndex < checkpoints.length && checkpoints[cpIndex]!.size <= tree.size) {
      const cp = checkpoints[cpIndex++]!;
      failure = earlier(
        failure,
        cp.size === tree.size ? checkCheckpoint(ctx, cp, tree) : notATreeSize(cp),
      );
    }
  };

  try {
    checkDueCheckpoints();
    for (let pass = 0; ; pass += 1) {
      await readRows();
      // Rows past the head read at the start: another writer appended meanwhile (its rows and
      // its head commit together), so the head is read again and any rows it now covers too.
      // A row that no head covers still breaks the chain below.
      if (failure !== undefined || expected <= head.size || pass >= MAX_HEAD_READS) break;
      const now = await store.head();
      if (now.size <= head.size) break;
      head = now;
    }
    for (const f of await Promise.all(pending)) failure = earlier(failure, f);
  } finally {
    await pool?.close();
  }

  async function readRows(): Promise<void> {
    reading: while (failure === undefined || failure.seq >= expected) {
      const rows = await store.readRange(expected, chunkSize);
      if (rows.length === 0) break;
      const completed: TileRow[] = [];
      const accepted: StoredRow[] = [];
      for (const row of rows) {
        if (row.seq !== expected) {
          failure = earlier(failure, {
            seq: expected,
            code: 'missing_record',
            reason: `seq ${expected}: no record (next stored seq is ${row.seq})`,
          });
          break;
        }
        if (row.prev !== prevHash) {
          failure = earlier(failure, {
            seq: row.seq,
            code: 'chain_broken',
            reason: `seq ${row.seq} (${row.id}): prev does not link to the previous record`,
          });
        }
        if (row.leaf_hash.length !== 32) {
          failure = earlier(failure, {
            seq: row.seq,
            code: 'hash_mismatch',
            reason: `seq ${row.seq} (${row.id}): stored leaf hash is not 32 bytes`,
          });
          break;
        }
        accepted.push(row);
        tree.push(row.leaf_hash, completed);
        prevHash = row.hash;
        expected += 1;
        if (kept !== undefined && tree.size === kept.size) keptRoot = tree.root();
        checkDueCheckpoints();
      }
      for (const tile of completed.splice(0))
        failure = earlier(failure, await checkTile(store, tile));
      if (pool) {
        const items: SignatureItem[] = [];
        for (const row of accepted) {
          const checked = checkRowContent(keys, row);
          if ('code' in checked) {
            failure = earlier(failure, checked);
            break;
          }
          items.push(checked);
        }
        const first = accepted[0]?.seq ?? 0;
        // Only the ids wait for the answer: the rows are garbage once checked, while still young.
        const ids = accepted.map((row) => row.id);
        const { result } = await pool.submit(items);
        pending.push(
          result.then((bad) =>
            bad === undefined ? undefined : badSignature(bad, ids[bad - first]!),
          ),
        );
      } else {
        for (const row of accepted) {
          const f = checkRow(keys, row);
          if (f) {
            failure = earlier(failure, f);
            break;
          }
        }
      }
      opts.onProgress?.(expected, head.size);
      if (accepted.length < rows.length) break reading;
    }
  }

  if (failure === undefined) {
    const beyond = checkpoints[cpIndex];
    if (beyond !== undefined) {
      failure = {
        seq: expected,
        code: 'missing_record',
        reason: `seq ${expected}: missing, but the checkpoint at size ${beyond.size} covers it`,
        checkpoint: beyond.size,
      };
    } else if (head.size > expected) {
      failure = {
        seq: expected,
        code: 'missing_record',
        reason: `seq ${expected}: missing, but the head counts ${head.size} records`,
      };
    } else if (head.size !== expected || head.hash !== prevHash) {
      failure = {
        seq: Math.max(expected - 1, 0),
        code: 'chain_broken',
        reason: `the head (size ${head.size}) does not point at the last record`,
      };
    } else if (kept !== undefined) {
      failure = checkExtends(kept, tree.size, keptRoot);
    }
  }
  // Last, as a tail cut or a missing record also leaves the right edge's tiles wrong.
  if (failure === undefined) {
    const grown = async () => (await store.head()).size > tree.size;
    for (const tile of tree.partialRows()) failure ??= await checkTile(store, tile, grown);
    failure ??= await checkUnusedTiles(store, tree.size);
  }
  if (failure !== undefined) {
    const { seq, code, reason, checkpoint } = failure;
    return checkpoint === undefined
      ? { ok: false, seq, code, reason }
      : { ok: false, seq, code, reason, checkpoint };
  }
  return {
    ok: true,
    count: expected,
    checkpoints: checkpoints.length,
    ms: performance.now() - started,
  };
}
