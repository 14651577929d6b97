/**
 * The tree as tiles (tile-tree.ts) against the in-memory RFC 6962 tree (merkle.ts): every tile a
 * TileEdge writes is the tlog-tiles tile of that level and index, and roots and proofs computed
 * from stored tiles equal the reference tree's, for every size.
 */
import { describe, expect, it } from 'vitest';
import { leafHash, MerkleTree } from '../../src/canon/merkle.ts';
import { edgeTiles, TileEdge, TiledTree } from '../../src/canon/tile-tree.ts';
import { TILE_WIDTH } from '../../src/canon/tiles.ts';
import { memoryTiles } from './helpers/tiles.ts';

const leavesOf = (n: number) =>
  Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf-${i}`)));

describe('tiles of height 8', () => {
  it('lay out the spec example: a tree of 70,000 leaves', () => {
    expect(edgeTiles(70_000)).toEqual([
      { level: 0, index: 273, width: 112 },
      { level: 1, index: 1, width: 17 },
      { level: 2, index: 0, width: 1 },
    ]);
    expect(edgeTiles(256)).toEqual([{ level: 1, index: 0, width: 1 }]);
    expect(edgeTiles(0)).toEqual([]);
  });

  it('equal the reference tree node for node, full and partial, at 70,000 leaves', () => {
    const leaves = leavesOf(70_000);
    const ref = new MerkleTree(leaves);
    const { tiles, edge } = memoryTiles(leaves);
    expect(edge.size).toBe(70_000);
    // 274 level-0 tiles, 2 level-1 tiles and 1 level-2 tile.
    expect(tiles.size).toBe(274 + 2 + 1);
    for (const [key, nodes] of tiles) {
      const [level, index] = key.split('/').map(Number) as [number, number];
      const width = nodes.length / 32;
      expect(width, key).toBe(
        Math.min(TILE_WIDTH, Math.floor(70_000 / 256 ** level) - index * 256),
      );
      expect(
        Buffer.from(nodes).equals(Buffer.from(ref.nodes(8 * level, index * 256, width)!)),
        key,
      ).toBe(true);
    }
    expect(Buffer.from(edge.root()).equals(Buffer.from(ref.root()))).toBe(true);
  });

  it('give the root of every size from the edge alone, and from the stored tiles', async () => {
    const leaves = leavesOf(600);
    const ref = new MerkleTree(leaves);
    const edge = TileEdge.empty();
    const store = new Map<string, Uint8Array>();
    const tree = new TiledTree(async (l, i) => store.get(`${l}/${i}`));
    for (let n = 1; n <= leaves.length; n++) {
      for (const r of edge.extend([leaves[n - 1]!])) store.set(`${r.level}/${r.index}`, r.nodes);
      expect(Buffer.from(edge.root()).equals(Buffer.from(ref.root(n))), `edge ${n}`).toBe(true);
      // Reloaded from the stored tiles, the edge is the same edge.
      const loaded = TileEdge.load(n, (l, i) => store.get(`${l}/${i}`));
      expect(Buffer.from(loaded.root()).equals(Buffer.from(ref.root(n)))).toBe(true);
    }
    for (let n = 0; n <= leaves.length; n++) {
      expect(Buffer.from(await tree.root(n)).equals(Buffer.from(ref.root(n))), `tiles ${n}`).toBe(
        true,
      );
    }
  });

  it('give the reference proofs for a spread of pairs up to 70,000 leaves', async () => {
    const leaves = leavesOf(70_000);
    const ref = new MerkleTree(leaves);
    const { tree } = memoryTiles(leaves);
    const sizes = [1, 2, 255, 256, 257, 511, 512, 65_535, 65_536, 65_537, 69_999, 70_000];
    const hex = (hs: Uint8Array[]) => hs.map((h) => Buffer.from(h).toString('hex'));
    for (const n of sizes) {
      for (const m of [0, 1, 127, 255, 256, 4097, 65_535, 65_536, n - 1]) {
        if (m < 0 || m >= n) continue;
        expect(hex(await tree.inclusionProof(m, n)), `incl ${m} ${n}`).toEqual(
          hex(ref.inclusionProof(m, n)),
        );
        expect(hex(await tree.consistencyProof(m, n)), `cons ${m} ${n}`).toEqual(
          hex(ref.consistencyProof(m, n)),
        );
      }
    }
  });

  it('refuse a stored tile too short for the size asked', () => {
    const { tiles } = memoryTiles(leavesOf(300));
    const short = new Map(tiles);
    short.set('0/1', tiles.get('0/1')!.subarray(0, 32 * 10));
    expect(() => TileEdge.load(300, (l, i) => short.get(`${l}/${i}`))).toThrow(/tile 0\/1/);
  });
});
