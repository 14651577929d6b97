import { toHex } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import type { TiledTree } from './tile-tree.ts';
import type { ConsistencyProof, InclusionProof } from './verify.ts';

/**
 * Builds the JSON proofs the log hands out (hashes as lowercase hex) from the stored tiles. The
 * shapes are defined beside the verifier so that it needs nothing from here.
 */

export type { ConsistencyProof, InclusionProof } from './verify.ts';

function outOfRange(message: string): SigilError {
  return new SigilError('proof_out_of_range', message);
}

/**
 * Inclusion proof for the leaf at `index` in the tree of `size` leaves, of a tree that holds
 * `treeSize` ('proof_out_of_range' outside it).
 */
export async function buildInclusionProof(
  tree: TiledTree,
  index: number,
  size: number,
  treeSize: number,
): Promise<InclusionProof> {
  if (size > treeSize) throw outOfRange(`size ${size} is outside 0..${treeSize}`);
  if (index >= size) {
    throw outOfRange(`leaf index ${index} is outside a tree of size ${size}`);
  }
  const hashes = (await tree.inclusionProof(index, size)).map(toHex);
  return {
    leaf_index: index,
    tree_size: size,
    leaf_hash: toHex(await tree.leaf(index)),
    hashes,
    root_hash: toHex(await tree.root(size)),
  };
}

/** Consistency proof from the tree of `size1` leaves to the tree of `size2` leaves (≤ treeSize). */
export async function buildConsistencyProof(
  tree: TiledTree,
  size1: number,
  size2: number,
  treeSize: number,
): Promise<ConsistencyProof> {
  if (size2 > treeSize) throw outOfRange(`size2 ${size2} is outside 0..${treeSize}`);
  if (size1 > size2) {
    throw outOfRange(`size1 ${size1} must be between 0 and size2 ${size2}`);
  }
  const hashes = (await tree.consistencyProof(size1, size2)).map(toHex);
  return {
    size1,
    size2,
    hashes,
    root1: toHex(await tree.root(size1)),
    root2: toHex(await tree.root(size2)),
  };
}
