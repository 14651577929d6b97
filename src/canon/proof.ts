import { toHex } from '../core/encoding.ts';
import type { MerkleTree } from './merkle.ts';
import type { ConsistencyProof, InclusionProof } from './verify.ts';

/**
 * Builds the JSON proofs the log hands out (hashes as lowercase hex). The
 * shapes are defined beside the verifier so that it needs nothing from here.
 */

export type { ConsistencyProof, InclusionProof } from './verify.ts';

/** Inclusion proof for the leaf at `index` in the tree of `size` leaves ('proof_out_of_range'). */
export function buildInclusionProof(tree: MerkleTree, index: number, size: number): InclusionProof {
  const hashes = tree.inclusionProof(index, size).map(toHex);
  return {
    leaf_index: index,
    tree_size: size,
    leaf_hash: toHex(tree.leaf(index)),
    hashes,
    root_hash: toHex(tree.root(size)),
  };
}

/** Consistency proof from the tree of `size1` leaves to the tree of `size2` leaves. */
export function buildConsistencyProof(
  tree: MerkleTree,
  size1: number,
  size2: number,
): ConsistencyProof {
  const hashes = tree.consistencyProof(size1, size2).map(toHex);
  return {
    size1,
    size2,
    hashes,
    root1: toHex(tree.root(size1)),
    root2: toHex(tree.root(size2)),
  };
}
