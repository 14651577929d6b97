import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emptyRoot, leafHash, MerkleTree, nodeHash } from '../../src/canon/merkle.ts';
import { isSigilError } from '../../src/core/errors.ts';

// An independent, deliberately naive RFC 6962 §2.1 implementation over raw entries.
const H = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const split = (n: number): number => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};
function refMth(d: Uint8Array[]): Buffer {
  if (d.length === 0) return H();
  if (d.length === 1) return H(Uint8Array.of(0), d[0]!);
  const k = split(d.length);
  return H(Uint8Array.of(1), refMth(d.slice(0, k)), refMth(d.slice(k)));
}
function refPath(m: number, d: Uint8Array[]): Buffer[] {
  if (d.length <= 1) return [];
  const k = split(d.length);
  if (m < k) return [...refPath(m, d.slice(0, k)), refMth(d.slice(k))];
  return [...refPath(m - k, d.slice(k)), refMth(d.slice(0, k))];
}
function refSubproof(m: number, d: Uint8Array[], b: boolean): Buffer[] {
  const n = d.length;
  if (m === n) return b ? [] : [refMth(d)];
  const k = split(n);
  if (m <= k) return [...refSubproof(m, d.slice(0, k), b), refMth(d.slice(k))];
  return [...refSubproof(m - k, d.slice(k), false), refMth(d.slice(0, k))];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const entry = (i: number): Uint8Array => Buffer.from(`entry-${i}`);

function treeOf(entries: Uint8Array[]): MerkleTree {
  return new MerkleTree(entries.map(leafHash));
}

describe('RFC 6962 hashing', () => {
  it('domain-separates leaves and nodes', () => {
    expect(hex(emptyRoot())).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(hex(leafHash(new Uint8Array(0)))).toBe(hex(H(Uint8Array.of(0))));
    const a = entry(1);
    const b = entry(2);
    expect(hex(nodeHash(a, b))).toBe(hex(H(Uint8Array.of(1), a, b)));
  });

  // The certificate-transparency test tree (certificate-transparency-go, merkle testonly).
  const ctLeaves = [
    '',
    '00',
    '10',
    '2021',
    '3031',
    '40414243',
    '5051525354555657',
    '606162636465666768696a6b6c6d6e6f',
  ].map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
  const ctRoots = [
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
    '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
    'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
    '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
  ];
  const ctPath = [
    '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
    '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
  ];

  it('reproduces the CT test-vector roots for sizes 1..8', () => {
    const tree = treeOf(ctLeaves);
    ctRoots.forEach((root, i) => expect(hex(tree.root(i + 1))).toBe(root));
  });

  it('reproduces the CT audit path of leaf 0 and consistency proof 1 → 8', () => {
    const tree = treeOf(ctLeaves);
    expect(tree.inclusionProof(0, 8).map(hex)).toEqual(ctPath);
    expect(tree.consistencyProof(1, 8).map(hex)).toEqual(ctPath);
  });
});

describe('MerkleTree against the reference implementation', () => {
  const entries = Array.from({ length: 70 }, (_, i) => entry(i));
  const tree = treeOf(entries);

  it('has the reference root for every size 0..70', () => {
    for (let n = 0; n <= 70; n++) expect(hex(tree.root(n))).toBe(hex(refMth(entries.slice(0, n))));
  });

  it('has the reference audit path for every (index, size) up to 70', () => {
    for (let n = 1; n <= 70; n++) {
      for (let m = 0; m < n; m++) {
        expect(tree.inclusionProof(m, n).map(hex)).toEqual(
          refPath(m, entries.slice(0, n)).map(hex),
        );
      }
    }
  });

  it('has the reference consistency proof for every (size1, size2) up to 70', () => {
    for (let n = 1; n <= 70; n++) {
      for (let m = 1; m <= n; m++) {
        expect(tree.consistencyProof(m, n).map(hex)).toEqual(
          refSubproof(m, entries.slice(0, n), true).map(hex),
        );
      }
      expect(tree.consistencyProof(0, n)).toEqual([]);
    }
  });

  it('agrees with the reference for random sizes and indices', () => {
    const big = Array.from({ length: 600 }, (_, i) => entry(i));
    const bigTree = treeOf(big);
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 600 })
          .chain((n) =>
            fc.tuple(
              fc.constant(n),
              fc.integer({ min: 0, max: n - 1 }),
              fc.integer({ min: 1, max: n }),
            ),
          ),
        ([n, m, s1]) => {
          const d = big.slice(0, n);
          expect(hex(bigTree.root(n))).toBe(hex(refMth(d)));
          expect(bigTree.inclusionProof(m, n).map(hex)).toEqual(refPath(m, d).map(hex));
          expect(bigTree.consistencyProof(s1, n).map(hex)).toEqual(
            refSubproof(s1, d, true).map(hex),
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  it('gives the same answers whether built at once or appended one by one', () => {
    const grown = new MerkleTree();
    for (let i = 0; i < 70; i++) {
      grown.append(leafHash(entries[i]!));
      expect(hex(grown.root())).toBe(hex(tree.root(i + 1)));
    }
    expect(grown.size).toBe(70);
  });

  it('returns copies that cannot change the tree', () => {
    const t = treeOf(entries.slice(0, 5));
    const root = hex(t.root());
    t.root().fill(0);
    t.leaf(0).fill(0);
    t.inclusionProof(0, 5).forEach((h) => h.fill(0));
    expect(hex(t.root())).toBe(root);
  });
});

describe('MerkleTree bounds', () => {
  const tree = treeOf(Array.from({ length: 5 }, (_, i) => entry(i)));
  const outOfRange = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      return isSigilError(err, 'proof_out_of_range');
    }
    return false;
  };

  it('rejects sizes and indices outside the tree', () => {
    expect(outOfRange(() => tree.root(6))).toBe(true);
    expect(outOfRange(() => tree.root(-1))).toBe(true);
    expect(outOfRange(() => tree.root(1.5))).toBe(true);
    expect(outOfRange(() => tree.inclusionProof(5, 5))).toBe(true);
    expect(outOfRange(() => tree.inclusionProof(0, 0))).toBe(true);
    expect(outOfRange(() => tree.inclusionProof(0, 6))).toBe(true);
    expect(outOfRange(() => tree.inclusionProof(-1, 5))).toBe(true);
    expect(outOfRange(() => tree.consistencyProof(3, 2))).toBe(true);
    expect(outOfRange(() => tree.consistencyProof(1, 6))).toBe(true);
    expect(outOfRange(() => tree.leaf(5))).toBe(true);
  });

  it('accepts only 32-byte leaf hashes', () => {
    expect(() => new MerkleTree().append(new Uint8Array(31))).toThrow(/32 bytes/);
  });
});

describe('MerkleTree at scale', () => {
  it('appends 10^6 leaves and answers roots and proofs in O(log n)', () => {
    const leaf = new Uint8Array(32);
    const tree = new MerkleTree();
    for (let i = 0; i < 1_000_000; i++) {
      leaf[0] = i & 0xff;
      leaf[1] = (i >> 8) & 0xff;
      leaf[2] = (i >> 16) & 0xff;
      tree.append(leaf);
    }
    const started = performance.now();
    for (let i = 0; i < 1000; i++) {
      const size = 1 + ((i * 7919) % 1_000_000);
      tree.root(size);
      tree.inclusionProof((i * 104729) % size, size);
      tree.consistencyProof(1 + ((i * 31) % size), size);
    }
    expect(tree.size).toBe(1_000_000);
    expect(tree.inclusionProof(0, 1_000_000)).toHaveLength(20);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
