import { SigilError } from '../core/errors.ts';
import { sha256 } from '../core/hash.ts';

/**
 * The RFC 6962 §2.1 Merkle tree over the log's records, with the audit paths
 * (§2.1.1) and consistency proofs (§2.1.2) that let an outsider check the log.
 *
 * Hashes of complete, aligned power-of-two subtrees are computed once on append
 * and kept level by level, so the root and any proof for any historical size cost
 * O(log n) hashes: only subtrees on the right edge of that size are computed.
 * Those edge subtrees all end at the size asked about and, the tree being
 * append-only, never change, so the edges of the last few sizes are memoised:
 * repeated proofs against one checkpoint cost no hashing beyond the first.
 */

const HASH_SIZE = 32;
export const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);
/** nodeHash's input, reused: sha256 reads it at once. */
const nodeScratch = new Uint8Array(1 + 2 * HASH_SIZE);
/** How many tree sizes keep their right-edge subtree hashes memoised. */
const EDGE_CACHE_SIZES = 4;

/** MTH of one entry: SHA-256(0x00 || entry); an entry given as text is hashed as its UTF-8 bytes. */
export function leafHash(entry: Uint8Array | string): Uint8Array {
  // U+0000 is the one byte 0x00 in UTF-8, so text needs no byte copy.
  if (typeof entry === 'string') return sha256(`\u0000${entry}`);
  const input = new Uint8Array(1 + entry.length);
  input.set(LEAF_PREFIX, 0);
  input.set(entry, 1);
  return sha256(input);
}

/** Interior node: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  // Two hashes are 65 bytes with the prefix, one past V8's on-heap typed arrays: a new buffer each
  // would be a native allocation per node (about one per leaf).
  const length = 1 + left.length + right.length;
  const input = length === nodeScratch.length ? nodeScratch : new Uint8Array(length);
  input.set(NODE_PREFIX, 0);
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return sha256(input);
}

/** MTH({}) — the root of the empty tree. */
export function emptyRoot(): Uint8Array {
  return sha256(new Uint8Array(0));
}

/** The largest power of two strictly less than n (n ≥ 2): the RFC 6962 split point. */
function splitPoint(n: number): number {
  if (n <= 2 ** 32) return 2 ** (31 - Math.clz32(n - 1));
  let k = 2 ** 32;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && splitPoint(n + 1) === n;
}

function outOfRange(message: string): SigilError {
  return new SigilError('proof_out_of_range', message);
}

/** One level of cached subtree hashes, stored contiguously (32 bytes per node). */
class Level {
  bytes = new Uint8Array(HASH_SIZE * 64);
  count = 0;

  push(hash: Uint8Array): void {
    if ((this.count + 1) * HASH_SIZE > this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes.set(hash, this.count * HASH_SIZE);
    this.count += 1;
  }

  at(index: number): Uint8Array {
    return this.bytes.subarray(index * HASH_SIZE, (index + 1) * HASH_SIZE);
  }
}

/** An append-only RFC 6962 tree of leaf hashes. */
export class MerkleTree {
  readonly #levels: Level[] = [new Level()];
  /** end → (start → MTH(D[start:end])) for incomplete subtrees, most recent end last. */
  readonly #edges = new Map<number, Map<number, Uint8Array>>();

  /** Builds a tree from existing leaf hashes (each 32 bytes), in log order. */
  constructor(leafHashes: Uint8Array[] = []) {
    for (const hash of leafHashes) this.append(hash);
  }

  /** Number of leaves. */
  get size(): number {
    return this.#levels[0]!.count;
  }

  /** Appends one leaf hash and completes every subtree it closes. */
  append(hash: Uint8Array): void {
    if (!(hash instanceof Uint8Array) || hash.length !== HASH_SIZE) {
      throw new SigilError('bad_request', 'a leaf hash must be 32 bytes');
    }
    this.#levels[0]!.push(hash);
    let level = 0;
    let index = this.size - 1;
    while (index % 2 === 1) {
      const below = this.#levels[level]!;
      const parent = nodeHash(below.at(index - 1), below.at(index));
      level += 1;
      if (this.#levels.length === level) this.#levels.push(new Level());
      this.#levels[level]!.push(parent);
      index = (index - 1) / 2;
    }
  }

  /** The leaf hash at `index` (a copy). */
  leaf(index: number): Uint8Array {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) {
      throw outOfRange(`leaf index ${index} is outside a tree of size ${this.size}`);
    }
    return this.#levels[0]!.at(index).slice();
  }

  /**
   * `count` consecutive hashes of complete subtrees of 2^level leaves, from the `first`-th
   * (concatenated, 32 bytes each): the body of a tlog tile. undefined when not all exist yet.
   */
  nodes(level: number, first: number, count: number): Uint8Array | undefined {
    const row = this.#levels[level];
    if (row === undefined || first + count > row.count) return undefined;
    return row.bytes.slice(first * HASH_SIZE, (first + count) * HASH_SIZE);
  }

  /** MTH of the first `size` leaves (default: all). */
  root(size: number = this.size): Uint8Array {
    this.#checkSize(size, 'size');
    if (size === 0) return emptyRoot();
    return this.#subtree(0, size).slice();
  }

  /** PATH(index, D[0:size]) of RFC 6962 §2.1.1, from the leaf's sibling upwards. */
  inclusionProof(index: number, size: number): Uint8Array[] {
    this.#checkSize(size, 'size');
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
      throw outOfRange(`leaf index ${index} is outside a tree of size ${size}`);
    }
    const proof: Uint8Array[] = [];
    this.#path(index, 0, size, proof);
    return proof.map((h) => h.slice());
  }

  /** PROOF(size1, D[0:size2]) of RFC 6962 §2.1.2; empty when size1 is 0 or equals size2. */
  consistencyProof(size1: number, size2: number): Uint8Array[] {
    this.#checkSize(size2, 'size2');
    if (!Number.isSafeInteger(size1) || size1 < 0 || size1 > size2) {
      throw outOfRange(`size1 ${size1} must be between 0 and size2 ${size2}`);
    }
    const proof: Uint8Array[] = [];
    if (size1 > 0) this.#subproof(size1, 0, size2, true, proof);
    return proof.map((h) => h.slice());
  }

  #checkSize(size: number, name: string): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size) {
      throw outOfRange(`${name} ${size} is outside 0..${this.size}`);
    }
  }

  /** MTH(D[start:start+n]); a cached node when the range is a complete aligned subtree. */
  #subtree(start: number, n: number): Uint8Array {
    if (isPowerOfTwo(n) && start % n === 0) {
      return this.#levels[Math.log2(n)]!.at(start / n);
    }
    const edge = this.#edgeOf(start + n);
    let hash = edge.get(start);
    if (hash === undefined) {
      const k = splitPoint(n);
      hash = nodeHash(this.#subtree(start, k), this.#subtree(start + k, n - k));
      edge.set(start, hash);
    }
    return hash;
  }

  #edgeOf(end: number): Map<number, Uint8Array> {
    let edge = this.#edges.get(end);
    if (edge === undefined) {
      edge = new Map();
      if (this.#edges.size >= EDGE_CACHE_SIZES) {
        this.#edges.delete(this.#edges.keys().next().value as number);
      }
    } else {
      this.#edges.delete(end);
    }
    this.#edges.set(end, edge);
    return edge;
  }

  #path(m: number, start: number, n: number, out: Uint8Array[]): void {
    if (n === 1) return;
    const k = splitPoint(n);
    if (m < k) {
      this.#path(m, start, k, out);
      out.push(this.#subtree(start + k, n - k));
    } else {
      this.#path(m - k, start + k, n - k, out);
      out.push(this.#subtree(start, k));
    }
  }

  #subproof(m: number, start: number, n: number, complete: boolean, out: Uint8Array[]): void {
    if (m === n) {
      if (!complete) out.push(this.#subtree(start, n));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      this.#subproof(m, start, k, complete, out);
      out.push(this.#subtree(start + k, n - k));
    } else {
      this.#subproof(m - k, start + k, n - k, false, out);
      out.push(this.#subtree(start, k));
    }
  }
}
