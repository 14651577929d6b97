/** A tiled tree held in a Map, built through TileEdge exactly as a store writes its tiles. */
import { TileEdge, TiledTree, type TileRow } from '../../../src/canon/tile-tree.ts';

export function memoryTiles(leaves: readonly Uint8Array[]): {
  tree: TiledTree;
  tiles: Map<string, Uint8Array>;
  edge: TileEdge;
} {
  const tiles = new Map<string, Uint8Array>();
  const put = (rows: readonly TileRow[]) => {
    for (const r of rows) tiles.set(`${r.level}/${r.index}`, r.nodes);
  };
  const edge = TileEdge.empty();
  // Uneven batches, as group commit makes them.
  for (let i = 0, step = 1; i < leaves.length; i += step, step = (step * 7 + 3) % 300 || 1) {
    put(edge.extend(leaves.slice(i, i + step)));
  }
  const tree = new TiledTree(async (level, index) => tiles.get(`${level}/${index}`));
  return { tree, tiles, edge };
}
