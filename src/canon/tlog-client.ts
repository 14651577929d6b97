import type { KeyObject } from 'node:crypto';
import { canonicalJson } from '../core/canonical.ts';
import { publicKeyToRaw, verify } from '../core/ed25519.ts';
import {
  constantTimeEqual,
  fromBase64,
  fromBase64Url,
  toBase64,
  toBase64Url,
  utf8Decode,
} from '../core/encoding.ts';
import { sha256 } from '../core/hash.ts';
import { openCheckpoint, parseVerifierKey, type Checkpoint } from './checkpoint.ts';
import { entryJson, recordSigningMessage } from './record-json.ts';
import { decodeEntryBundle, TILE_WIDTH, tilePath, tileWidthAt, type TileRef } from './tiles.ts';

/**
 * A client of a log's tlog-tiles API that trusts nothing it fetches: it walks the log's entries
 * from a verified state, recomputes every leaf and every tile hash, and checks them against a
 * checkpoint signed by the log key. `verifyTiles` walks the whole log once; `monitorLog` keeps
 * its walk as state and continues from the last checkpoint it verified, so a log that rewrites
 * or drops anything it already showed can never be followed past (not_extended).
 *
 * Each entry is a record's public envelope: its signature by the log key over the record hash
 * and its link to the record before (`prev`) are checked too. Imports the core, the checkpoint
 * parser and the tile layout only: never the writer.
 */

/** Fetches `<prefix>/<path>`: the bytes, or undefined on 404. */
export type TileFetch = (path: string) => Promise<Uint8Array | undefined>;

export type TlogFailureCode =
  | 'checkpoint_invalid'
  | 'fetch_failed'
  | 'tile_missing'
  | 'tile_mismatch'
  | 'entry_invalid'
  | 'signature_invalid'
  | 'chain_broken'
  | 'root_mismatch'
  | 'not_extended';

export type TlogCheck<T> =
  ({ ok: true } & T) | { ok: false; code: TlogFailureCode; reason: string; seq?: number };

/** What a monitor keeps between runs (JSON, hashes base64). */
export interface MonitorState {
  url: string;
  verifier_key: string;
  /** The last checkpoint verified, its size and root. */
  checkpoint: string;
  size: number;
  root_hash: string;
  /** The hash of the record at size - 1 (the next entry's prev), null for an empty log. */
  last_hash: string | null;
  /** For each tile level, the hashes of its incomplete tile at `size` (the walk's right edge). */
  edge: string[][];
}

/** The entries walked in one run: from and to are tree sizes. */
export interface WalkResult {
  from: number;
  to: number;
  origin: string;
  root_hash: string;
}

class Failure extends Error {
  constructor(
    readonly code: TlogFailureCode,
    reason: string,
    readonly seq?: number,
  ) {
    super(reason);
  }
}

const HEX_HASH_RE = /^[0-9a-f]{64}$/;

function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  const input = new Uint8Array(65);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 33);
  return sha256(input);
}

function leafHashOf(entry: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + entry.length);
  input.set(entry, 1);
  return sha256(input);
}

/** MTH of hashes[0..n) taken as leaves' hashes of equal complete subtrees (RFC 6962 split). */
function subtreeRoot(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 1) return hashes[0]!;
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return nodeHash(subtreeRoot(hashes.slice(0, k)), subtreeRoot(hashes.slice(k)));
}

/** The fetch of an HTTP(S) log prefix. */
export function httpTileFetch(url: string, fetchImpl: typeof fetch = fetch): TileFetch {
  const prefix = url.replace(/\/+$/, '');
  return async (path) => {
    let res: Response;
    try {
      res = await fetchImpl(`${prefix}/${path}`, {
        headers: { 'accept-encoding': 'gzip, identity' },
      });
    } catch (err) {
      throw new Failure('fetch_failed', `${path}: ${(err as Error).message}`);
    }
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Failure('fetch_failed', `${path}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  };
}

/**
 * The walk: the right edge of the tree (per tile level, the hashes of its incomplete tile), the
 * last record hash, and the tiles each completed tile is checked against.
 */
class Walker {
  readonly edge: Uint8Array[][];
  size: number;
  lastHash: string | null;
  readonly #get: TileFetch;

  constructor(get: TileFetch, size: number, lastHash: string | null, edge: Uint8Array[][]) {
    this.#get = get;
    this.size = size;
    this.lastHash = lastHash;
    this.edge = edge;
  }

  /** A tile's bytes; a partial tile missing may be served as the full tile (tlog-tiles). */
  async tile(ref: TileRef): Promise<Uint8Array> {
    const want = ref.level === 'entries' ? undefined : ref.width * 32;
    let bytes = await this.#get(tilePath(ref));
    if (bytes === undefined && ref.width < TILE_WIDTH) {
      const full = await this.#get(tilePath({ ...ref, width: TILE_WIDTH }));
      if (full !== undefined && ref.level !== 'entries') bytes = full.subarray(0, want);
      else if (full !== undefined) bytes = full;
    }
    if (bytes === undefined) throw new Failure('tile_missing', `${tilePath(ref)} is not served`);
    if (want !== undefined && bytes.length !== want) {
      throw new Failure('tile_mismatch', `${tilePath(ref)} is ${bytes.length} bytes, not ${want}`);
    }
    return bytes;
  }

  async #checkTile(level: number, index: number, hashes: readonly Uint8Array[]): Promise<void> {
    const ref: TileRef = { level, index, width: hashes.length };
    const bytes = await this.tile(ref);
    hashes.forEach((h, i) => {
      if (!constantTimeEqual(bytes.subarray(i * 32, i * 32 + 32), h)) {
        throw new Failure('tile_mismatch', `${tilePath(ref)}: hash ${i} is not the log's`);
      }
    });
  }

  /** Adds a leaf; each tile it completes is checked against the served one, then hashed up. */
  async pushLeaf(hash: Uint8Array): Promise<void> {
    let carry = hash;
    let index = this.size;
    for (let level = 0; ; level += 1) {
      this.edge[level] ??= [];
      const row = this.edge[level]!;
      row.push(carry);
      if (row.length < TILE_WIDTH) break;
      index = Math.floor(index / TILE_WIDTH);
      await this.#checkTile(level, index, row);
      carry = subtreeRoot(row);
      this.edge[level] = [];
    }
    this.size += 1;
  }

  /** Checks every incomplete tile of the edge against its partial tile. */
  async checkEdge(): Promise<void> {
    for (let level = 0; level < this.edge.length; level += 1) {
      const row = this.edge[level]!;
      if (row.length === 0) continue;
      await this.#checkTile(level, Math.floor(this.size / TILE_WIDTH ** (level + 1)), row);
    }
  }

  /** MTH of the tree walked so far. */
  root(): Uint8Array {
    const parts: Uint8Array[] = [];
    for (let level = this.edge.length - 1; level >= 0; level -= 1) {
      let row = this.edge[level]!;
      while (row.length > 0) {
        let k = 1;
        while (k * 2 <= row.length) k *= 2;
        parts.push(subtreeRoot(row.slice(0, k)));
        row = row.slice(k);
      }
    }
    if (parts.length === 0) return sha256(new Uint8Array(0));
    let root = parts[parts.length - 1]!;
    for (let i = parts.length - 2; i >= 0; i -= 1) root = nodeHash(parts[i]!, root);
    return root;
  }
}

interface EnvelopeShape {
  hash: string;
  id: string;
  kind: string;
  prev: string | null;
  pub_key: string;
  sig: string;
  ts: string;
  witnesses: unknown[];
}

/** Checks one entry: canonical envelope, signed by the log key, chained to the one before. */
function checkEntry(
  entry: Uint8Array,
  seq: number,
  prev: string | null,
  pubKey: KeyObject,
  pubKeyB64: string,
): string {
  let e: EnvelopeShape;
  let text: string;
  try {
    text = utf8Decode(entry);
    e = JSON.parse(text) as EnvelopeShape;
    if (
      typeof e !== 'object' ||
      e === null ||
      !HEX_HASH_RE.test(e.hash) ||
      !Array.isArray(e.witnesses) ||
      entryJson(e as Parameters<typeof entryJson>[0], canonicalJson(e.witnesses)) !== text
    ) {
      throw new Error('not a canonical envelope');
    }
  } catch {
    throw new Failure('entry_invalid', `entry ${seq} is not a canonical record envelope`, seq);
  }
  if (e.prev !== prev) {
    throw new Failure('chain_broken', `entry ${seq} does not link to the record before it`, seq);
  }
  let sig: Uint8Array;
  try {
    sig = fromBase64Url(e.sig);
  } catch {
    throw new Failure('signature_invalid', `entry ${seq}: signature is not base64url`, seq);
  }
  if (e.pub_key !== pubKeyB64 || !verify(pubKey, recordSigningMessage(e.hash), sig)) {
    throw new Failure('signature_invalid', `entry ${seq} is not signed by the log key`, seq);
  }
  return e.hash;
}

/** Walks entries [walker.size, size) from their bundles, then checks the tree against `cp`. */
async function walkTo(walker: Walker, cp: Checkpoint, publicKey: KeyObject): Promise<void> {
  const pubKeyB64 = toBase64Url(publicKeyToRaw(publicKey));
  while (walker.size < cp.size) {
    const index = Math.floor(walker.size / TILE_WIDTH);
    const width = tileWidthAt(0, index, cp.size);
    const bundle = decodeEntryBundle(await walker.tile({ level: 'entries', index, width }));
    const skip = walker.size - index * TILE_WIDTH;
    if (bundle === undefined || bundle.length < width) {
      throw new Failure('entry_invalid', `entry bundle ${index} is malformed or short`);
    }
    for (let i = skip; i < width; i += 1) {
      const seq = index * TILE_WIDTH + i;
      walker.lastHash = checkEntry(bundle[i]!, seq, walker.lastHash, publicKey, pubKeyB64);
      await walker.pushLeaf(leafHashOf(bundle[i]!));
    }
  }
  await walker.checkEdge();
  if (!constantTimeEqual(walker.root(), cp.rootHash)) {
    throw new Failure(
      'root_mismatch',
      `the tiles do not hash to the checkpoint's root of size ${cp.size}`,
    );
  }
}

function verified(note: string, verifierKey: string): { cp: Checkpoint; publicKey: KeyObject } {
  try {
    const { keyName, publicKey } = parseVerifierKey(verifierKey);
    return { cp: openCheckpoint(note, keyName, publicKey), publicKey };
  } catch (err) {
    throw new Failure('checkpoint_invalid', (err as Error).message);
  }
}

async function run<T>(fn: () => Promise<T>): Promise<TlogCheck<T>> {
  try {
    return { ok: true, ...(await fn()) };
  } catch (err) {
    if (!(err instanceof Failure)) throw err;
    return {
      ok: false,
      code: err.code,
      reason: err.message,
      ...(err.seq !== undefined && { seq: err.seq }),
    };
  }
}

/**
 * Fetches every entry bundle and tile a tree of the checkpoint's size needs from the log at
 * `url` (its tlog-tiles prefix), and checks every hash, every envelope and the root against the
 * checkpoint signed by `verifierKey`.
 */
export async function verifyTiles(opts: {
  url: string;
  checkpoint: string;
  verifierKey: string;
  fetch?: TileFetch;
}): Promise<TlogCheck<WalkResult>> {
  return run(async () => {
    const { cp, publicKey } = verified(opts.checkpoint, opts.verifierKey);
    const walker = new Walker(opts.fetch ?? httpTileFetch(opts.url), 0, null, []);
    await walkTo(walker, cp, publicKey);
    return { from: 0, to: cp.size, origin: cp.origin, root_hash: toBase64(cp.rootHash) };
  });
}

/**
 * One step of a monitor: fetches the log's checkpoint, and walks and checks every entry since the
 * state's checkpoint (from the start without a state, which then needs `verifierKey`). The new
 * tree must extend the one verified before: the walk continues from the old right edge, so any
 * change to what was already seen fails at the root. Returns the state to keep.
 */
export async function monitorLog(opts: {
  url: string;
  state?: MonitorState;
  verifierKey?: string;
  fetch?: TileFetch;
}): Promise<TlogCheck<WalkResult & { state: MonitorState; entries: number }>> {
  return run(async () => {
    const verifierKey = opts.state?.verifier_key ?? opts.verifierKey;
    if (verifierKey === undefined) {
      throw new Failure('checkpoint_invalid', 'a first run needs the log verifier key');
    }
    if (opts.verifierKey !== undefined && opts.verifierKey !== verifierKey) {
      throw new Failure('checkpoint_invalid', 'the verifier key is not the one the state follows');
    }
    const get = opts.fetch ?? httpTileFetch(opts.url);
    const note = await get('checkpoint');
    if (note === undefined) throw new Failure('fetch_failed', 'the log serves no checkpoint');
    const { cp, publicKey } = verified(utf8Decode(note), verifierKey);
    const s = opts.state;
    if (s !== undefined) {
      const old = verified(s.checkpoint, verifierKey).cp;
      if (old.origin !== cp.origin) {
        throw new Failure(
          'checkpoint_invalid',
          `the log's origin is ${cp.origin}, not ${old.origin}`,
        );
      }
      if (cp.size < s.size) {
        throw new Failure('not_extended', `the log shrank from ${s.size} to ${cp.size} records`);
      }
    }
    const edge = (s?.edge ?? []).map((row) => row.map((h) => fromBase64(h)));
    const walker = new Walker(get, s?.size ?? 0, s?.last_hash ?? null, edge);
    if (s !== undefined && !constantTimeEqual(walker.root(), fromBase64(s.root_hash))) {
      throw new Failure(
        'checkpoint_invalid',
        'the monitor state is damaged: its edge does not hash to its root',
      );
    }
    try {
      await walkTo(walker, cp, publicKey);
    } catch (err) {
      // Against a tree we already verified, a disagreement is the log not extending it.
      if (s !== undefined && err instanceof Failure && err.code === 'root_mismatch') {
        throw new Failure(
          'not_extended',
          `the log's tree of ${cp.size} does not extend the verified tree of ${s.size}`,
        );
      }
      throw err;
    }
    const state: MonitorState = {
      url: opts.url,
      verifier_key: verifierKey,
      checkpoint: utf8Decode(note),
      size: cp.size,
      root_hash: toBase64(cp.rootHash),
      last_hash: walker.lastHash,
      edge: walker.edge.map((row) => row.map(toBase64)),
    };
    return {
      from: s?.size ?? 0,
      to: cp.size,
      origin: cp.origin,
      root_hash: state.root_hash,
      state,
      entries: cp.size - (s?.size ?? 0),
    };
  });
}
