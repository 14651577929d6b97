import { SigilError } from '../core/errors.ts';

/**
 * The C2SP tlog-tiles layout: tile paths (`tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]`,
 * N in 3-digit groups, all but the last prefixed `x`) and entry bundles (each entry a big-endian
 * uint16 length and its bytes). Pure: the server, the CLI and the verifier share it.
 */

/** Levels of the Merkle tree one tile spans: a tile holds 2^8 = 256 hashes. */
export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
/** The largest entry a bundle can carry (its length is a uint16). */
export const MAX_ENTRY_BYTES = 0xffff;
const MAX_LEVEL = 63;

/** A tile's coordinates: its level (or the entry bundle), its index, and its width (256 when full). */
export interface TileRef {
  level: number | 'entries';
  index: number;
  width: number;
}

/** `1234067` → `x001/x234/067`. */
export function encodeTileIndex(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new SigilError('bad_request', 'a tile index must be a non-negative integer');
  }
  const groups: string[] = [];
  let n = index;
  do {
    groups.unshift(String(n % 1000).padStart(3, '0'));
    n = Math.floor(n / 1000);
  } while (n > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

/** The path of a tile below the log prefix, e.g. `tile/0/x001/234.p/17` or `tile/entries/000`. */
export function tilePath(ref: TileRef): string {
  const partial = ref.width === TILE_WIDTH ? '' : `.p/${ref.width}`;
  return `tile/${ref.level}/${encodeTileIndex(ref.index)}${partial}`;
}

/**
 * Parses what follows `tile/` in a tile path, accepting only the canonical spelling (the one
 * {@link tilePath} writes); undefined for anything else.
 */
export function parseTilePath(rest: string): TileRef | undefined {
  const m = /^(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/.exec(
    rest,
  );
  if (!m) return undefined;
  const level = m[1] === 'entries' ? 'entries' : Number(m[1]);
  if (level !== 'entries' && level > MAX_LEVEL) return undefined;
  const width = m[3] === undefined ? TILE_WIDTH : Number(m[3]);
  if (m[3] !== undefined && width >= TILE_WIDTH) return undefined;
  const digits = m[2]!.replaceAll('x', '').replaceAll('/', '');
  if (digits.length > 15) return undefined;
  const index = Number(digits);
  const ref: TileRef = { level, index, width };
  // No leading x000 groups: one path per tile, so caches hold one copy.
  return tilePath(ref) === `tile/${rest}` ? ref : undefined;
}

/** The width of the tile at `level`, index `index`, in a tree of `size` leaves (0: none yet). */
export function tileWidthAt(level: number, index: number, size: number): number {
  const nodes = Math.floor(size / TILE_WIDTH ** level);
  return Math.max(0, Math.min(TILE_WIDTH, nodes - index * TILE_WIDTH));
}

/** An entry bundle: each entry as a big-endian uint16 length and its bytes. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const e of entries) {
    if (e.length > MAX_ENTRY_BYTES) {
      throw new SigilError('internal_error', 'a log entry is too large for an entry bundle');
    }
    total += 2 + e.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const e of entries) {
    out[at] = e.length >> 8;
    out[at + 1] = e.length & 0xff;
    out.set(e, at + 2);
    at += 2 + e.length;
  }
  return out;
}

/** Splits an entry bundle into its entries; undefined when it is malformed. */
export function decodeEntryBundle(bundle: Uint8Array): Uint8Array[] | undefined {
  const entries: Uint8Array[] = [];
  let at = 0;
  while (at < bundle.length) {
    if (at + 2 > bundle.length) return undefined;
    const length = (bundle[at]! << 8) | bundle[at + 1]!;
    if (at + 2 + length > bundle.length) return undefined;
    entries.push(bundle.subarray(at + 2, at + 2 + length));
    at += 2 + length;
  }
  return entries;
}
