import { SigilError } from '../core/errors.ts';
import { emptyRoot, nodeHash } from './merkle.ts';
import { TILE_WIDTH } from './tiles.ts';

/**
 * The Merkle tree as the store keeps it: C2SP tlog-tiles of height 8. The tile at level L, index
 * N holds the hashes of the complete subtrees of 256^L leaves numbered N*256 … N*256+255; the
 * rightmost tile of each level is partial and grows in place (a stored tile is always the prefix
 * of every later version of itself, so one row per tile serves all its widths, as Tessera's SQL
 * drivers keep them); the partial level-0 tile is read from the records (see storedTiles).
 *
 * - {@link TileEdge}: the right edge (the partial tile of each level, at most 255 hashes each),
 *   the only part of the tree a writer holds: O(log n). It turns appended leaf hashes into the
 *   tile rows to write and gives the root.
 * - {@link TiledTree}: roots and RFC 6962 proofs for any size, computed from stored tiles.
 */

const HASH = 32;

/** One stored tile: `nodes` is its hashes so far (32 bytes each; 256 of them when full). */
export interface TileRow {
  level: number;
  index: number;
  nodes: Uint8Array;
}

/** Reads the stored hashes of one tile (any width), undefined when none are stored. */
export type TileSource = (level: number, index: number) => Promise<Uint8Array | undefined>;
/** The same, for a read inside a store transaction (tiles read ahead, or a synchronous driver). */
export type TileSourceSync = (level: number, index: number) => Uint8Array | undefined;

function tileMissing(level: number, index: number, need: number): SigilError {
  return new SigilError(
    'store_error',
    `the store does not hold tile ${level}/${index} to width ${need}: run \`sigil validate\``,
  );
}

/** The largest power of two strictly less than n (n ≥ 2): the RFC 6962 split point. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** RFC 6962 MTH over a list of subtree hashes whose subtrees (all but the last) are equal-sized. */
function hashList(hashes: readonly Uint8Array[], from = 0, n = hashes.length): Uint8Array {
  if (n === 1) return hashes[from]!;
  const k = splitPoint(n);
  return nodeHash(hashList(hashes, from, k), hashList(hashes, from + k, n - k));
}

function concat(hashes: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(hashes.length * HASH);
  hashes.forEach((h, i) => out.set(h, i * HASH));
  return out;
}

function split(nodes: Uint8Array, count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) out.push(nodes.slice(i * HASH, (i + 1) * HASH));
  return out;
}

/** Hashes at level `level` in a tree of `size` leaves: floor(size / 256^level). */
function countAt(level: number, size: number): number {
  return Math.floor(size / TILE_WIDTH ** level);
}

/** Bytes of a full tile: 256 hashes. */
export const FULL_TILE_BYTES = TILE_WIDTH * HASH;

/**
 * The rows a store writes: every tile but a partial level-0 one. That tile is the last ≤ 255 leaf
 * hashes of the records table, read from there; keeping a copy would rewrite up to 8 KiB in every
 * append transaction, where the other tiles change once per 256 records or less.
 */
export function storedTiles(rows: readonly TileRow[]): TileRow[] {
  return rows.filter((t) => t.level > 0 || t.nodes.length === FULL_TILE_BYTES);
}

/**
 * How many tile rows a store holds at each level for a tree of `size` (indexes 0 … n−1): its full
 * tiles and its partial one, but no partial level-0 tile (storedTiles).
 */
export function storedTileCounts(size: number): number[] {
  const counts: number[] = [];
  for (let level = 0; countAt(level, size) > 0; level++) {
    const hashes = countAt(level, size) / TILE_WIDTH;
    counts.push(level === 0 ? Math.floor(hashes) : Math.ceil(hashes));
  }
  return counts;
}

/** Where the full level-0 tiles end, given where the last stored level-0 tile ends. */
export function fullTilesEnd(lastTileEnd: number): number {
  return Math.floor(lastTileEnd / TILE_WIDTH) * TILE_WIDTH;
}

/**
 * How many leaves the stored tiles cover in a tree of `size` whose full level-0 tiles end at
 * `fullEnd`: all of them when only the partial level-0 tile (read from the records) follows.
 */
export function coverage(size: number, fullEnd: number): number {
  return size - fullEnd < TILE_WIDTH ? size : fullEnd;
}

/** The partial tiles of a tree of `size` leaves: one per level with 1..255 hashes. */
export function edgeTiles(size: number): Array<{ level: number; index: number; width: number }> {
  const out: Array<{ level: number; index: number; width: number }> = [];
  for (let level = 0; countAt(level, size) > 0; level++) {
    const count = countAt(level, size);
    const width = count % TILE_WIDTH;
    if (width > 0) out.push({ level, index: Math.floor(count / TILE_WIDTH), width });
  }
  return out;
}

/** The right edge of the tree: per level, the hashes of its partial tile. */
export class TileEdge {
  #size: number;
  readonly #partial: Uint8Array[][];

  private constructor(size: number, partial: Uint8Array[][]) {
    this.#size = size;
    this.#partial = partial;
  }

  static empty(): TileEdge {
    return new TileEdge(0, []);
  }

  /**
   * The edge of a tree of `size` leaves from its stored partial tiles ({@link edgeTiles}), each
   * read as stored (a stored tile may be wider: only its first `width` hashes belong to `size`).
   * Throws 'store_error' when one is missing or short.
   */
  static load(size: number, read: TileSourceSync): TileEdge {
    const partial: Uint8Array[][] = [];
    for (const t of edgeTiles(size)) {
      const nodes = read(t.level, t.index);
      if (nodes === undefined || nodes.length < t.width * HASH) {
        throw tileMissing(t.level, t.index, t.width);
      }
      partial[t.level] = split(nodes, t.width);
    }
    return new TileEdge(size, partial);
  }

  /** Number of leaves. */
  get size(): number {
    return this.#size;
  }

  /** An independent copy: a transaction extends a copy, kept only once it commits. */
  clone(): TileEdge {
    return new TileEdge(
      this.#size,
      this.#partial.map((p) => p.slice()),
    );
  }

  /**
   * Appends leaf hashes; returns the tiles they change: every tile they complete, then the
   * partial tiles they grew (each as its whole content, to upsert by level and index).
   */
  extend(leaves: readonly Uint8Array[]): TileRow[] {
    const full: TileRow[] = [];
    let grown = 0;
    for (const leaf of leaves) grown = Math.max(grown, this.push(leaf, full));
    const partial: TileRow[] = [];
    if (leaves.length > 0) {
      for (const t of edgeTiles(this.#size)) {
        if (t.level <= grown) partial.push(this.#partialRow(t.level, t.index));
      }
    }
    return [...full, ...partial];
  }

  /**
   * Appends one leaf hash; adds each tile it completes to `full`. Returns the highest level it
   * changed.
   */
  push(leaf: Uint8Array, full: TileRow[]): number {
    if (leaf.length !== HASH) throw new SigilError('bad_request', 'a leaf hash must be 32 bytes');
    this.#size += 1;
    let hash = leaf;
    for (let level = 0; ; level++) {
      const p = (this.#partial[level] ??= []);
      p.push(hash);
      if (p.length < TILE_WIDTH) return level;
      full.push({ level, index: countAt(level + 1, this.#size) - 1, nodes: concat(p) });
      hash = hashList(p);
      this.#partial[level] = [];
    }
  }

  #partialRow(level: number, index: number): TileRow {
    return { level, index, nodes: concat(this.#partial[level]!) };
  }

  /** The partial tiles as rows (what the store must hold for this size beyond full tiles). */
  partialRows(): TileRow[] {
    return edgeTiles(this.#size).map((t) => this.#partialRow(t.level, t.index));
  }

  /** MTH of the tree: the partial tiles folded from the lowest level up. */
  root(): Uint8Array {
    if (this.#size === 0) return emptyRoot();
    let acc: Uint8Array | undefined;
    for (let level = 0; level < this.#partial.length; level++) {
      const p = this.#partial[level] ?? [];
      if (p.length === 0) continue;
      acc = hashList(acc === undefined ? p : [...p, acc]);
    }
    return acc!;
  }
}

/** How many tiles a tree reader keeps (each at most 8 KiB). */
const TILE_CACHE = 64;

/**
 * Roots and RFC 6962 proofs (§2.1.1, §2.1.2) of any tree size up to what the store holds,
 * computed from stored tiles: a complete subtree of 2^(8L+j) leaves is 2^j hashes of one level-L
 * tile hashed up j levels. A few recent tiles are cached; a cached tile is only ever used up to
 * the width it had when read, and a stored hash never changes, so the cache never goes stale.
 */
export class TiledTree {
  readonly #read: TileSource;
  readonly #cache = new Map<string, Uint8Array>();

  constructor(read: TileSource) {
    this.#read = read;
  }

  /** `count` hashes of level `level` from the `first`-th, all within one tile. */
  async #hashes(level: number, first: number, count: number): Promise<Uint8Array[]> {
    const index = Math.floor(first / TILE_WIDTH);
    const offset = first % TILE_WIDTH;
    const key = `${level}/${index}`;
    let nodes = this.#cache.get(key);
    if (nodes === undefined || nodes.length < (offset + count) * HASH) {
      nodes = await this.#read(level, index);
      if (nodes === undefined || nodes.length < (offset + count) * HASH) {
        throw tileMissing(level, index, offset + count);
      }
    }
    this.#cache.delete(key);
    this.#cache.set(key, nodes);
    if (this.#cache.size > TILE_CACHE) this.#cache.delete(this.#cache.keys().next().value!);
    return split(nodes.subarray(offset * HASH), count);
  }

  /** MTH of the complete subtree of 2^height leaves from `start` (a multiple of 2^height). */
  async #complete(start: number, height: number): Promise<Uint8Array> {
    const level = Math.floor(height / 8);
    const within = height % 8;
    const first = start / TILE_WIDTH ** level;
    return hashList(await this.#hashes(level, first, 2 ** within));
  }

  /** MTH(D[start:start+n]) for n ≥ 1, start a multiple of the split points above it. */
  async #subtree(start: number, n: number): Promise<Uint8Array> {
    const height = Math.log2(n);
    if (Number.isInteger(height) && start % n === 0) return this.#complete(start, height);
    const k = splitPoint(n);
    return nodeHash(await this.#subtree(start, k), await this.#subtree(start + k, n - k));
  }

  /** The leaf hash at `index` (the caller checks it is below the tree size). */
  async leaf(index: number): Promise<Uint8Array> {
    return this.#complete(index, 0);
  }

  /** `count` consecutive hashes of level `level` from `first`, concatenated (one tile's worth). */
  async nodes(level: number, first: number, count: number): Promise<Uint8Array> {
    return concat(await this.#hashes(level, first, count));
  }

  async root(size: number): Promise<Uint8Array> {
    return size === 0 ? emptyRoot() : this.#subtree(0, size);
  }

  /** PATH(index, D[0:size]), from the leaf's sibling upwards (index < size). */
  async inclusionProof(index: number, size: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    const path = async (m: number, start: number, n: number): Promise<void> => {
      if (n === 1) return;
      const k = splitPoint(n);
      if (m < k) {
        await path(m, start, k);
        out.push(await this.#subtree(start + k, n - k));
      } else {
        await path(m - k, start + k, n - k);
        out.push(await this.#subtree(start, k));
      }
    };
    await path(index, 0, size);
    return out;
  }

  /** PROOF(size1, D[0:size2]); empty when size1 is 0 or equals size2 (size1 ≤ size2). */
  async consistencyProof(size1: number, size2: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    const sub = async (m: number, start: number, n: number, complete: boolean): Promise<void> => {
      if (m === n) {
        if (!complete) out.push(await this.#subtree(start, n));
        return;
      }
      const k = splitPoint(n);
      if (m <= k) {
        await sub(m, start, k, complete);
        out.push(await this.#subtree(start + k, n - k));
      } else {
        await sub(m - k, start + k, n - k, false);
        out.push(await this.#subtree(start, k));
      }
    };
    if (size1 > 0) await sub(size1, 0, size2, true);
    return out;
  }
}
