import { describe, expect, it } from 'vitest';
import { signCheckpoint, verifierKey } from '../../src/canon/checkpoint.ts';
import { leafHash, MerkleTree } from '../../src/canon/merkle.ts';
import {
  buildConsistencyProof,
  buildInclusionProof,
  type ConsistencyProof,
  type InclusionProof,
} from '../../src/canon/proof.ts';
import {
  verifyConsistency,
  verifyConsistencyPath,
  verifyInclusion,
  verifyInclusionProof,
  type LogVerifierKey,
} from '../../src/canon/verify.ts';
import { toHex } from '../../src/core/encoding.ts';
import { generateKeyPair } from '../../src/core/ed25519.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { memoryTiles } from './helpers/tiles.ts';

const N = 1000;
const leaves = Array.from({ length: N }, (_, i) => leafHash(Buffer.from(`record-${i}`)));
const tree = new MerkleTree(leaves);
/** The same leaves as stored tiles: the log's proofs come from these. */
const tiled = memoryTiles(leaves).tree;
const roots = Array.from({ length: N + 1 }, (_, n) => tree.root(n));
const logKey = generateKeyPair();
const KEY_NAME = 'sigil-test-log';
const ORIGIN = 'sigil/test-log';
const note = (size: number) =>
  signCheckpoint({ origin: ORIGIN, size, rootHash: roots[size]! }, KEY_NAME, logKey.privateKey);

function flipped(h: Uint8Array): Uint8Array {
  const copy = h.slice();
  copy[copy.length - 1]! ^= 1;
  return copy;
}

/**
 * Every pair of a 1,000-leaf log is ~10^6 proofs and ~2·10^7 SHA-256 calls (a minute on a
 * shared 2-core machine), so by default every pair is checked up to size 200 and larger sizes
 * with a spread of indices; SIGIL_PROOF_PAIRS=1000 checks every pair of the whole log.
 */
const PAIRS_UP_TO = Math.min(N, Number(process.env.SIGIL_PROOF_PAIRS ?? 200));

/** Indices in lo..hi worth checking for every size: both ends, powers of two around, a spread. */
function spread(n: number, lo: number, hi: number): Set<number> {
  const out = new Set<number>([lo, hi, Math.floor((lo + hi) / 2)]);
  for (let p = 1; p <= hi; p *= 2) {
    for (const v of [p - 1, p]) if (v >= lo && v <= hi) out.add(v);
  }
  for (let i = 1; i <= 4; i++) out.add(lo + ((n * 7919 * i) % (hi - lo + 1)));
  return out;
}

/** A deterministic spread of pairs for the (slower) tamper and API-level checks. */
const sampled = (a: number, b: number): boolean => (a * 7919 + b * 104729) % 503 === 0;

describe('inclusion proofs on a 1,000-leaf log', () => {
  it(`verify for every (index, size) pair of sizes 1..${PAIRS_UP_TO}`, () => {
    let checked = 0;
    let failures = 0;
    for (let n = 1; n <= PAIRS_UP_TO; n++) {
      for (let m = 0; m < n; m++) {
        if (!verifyInclusion(leaves[m]!, m, n, tree.inclusionProof(m, n), roots[n]!)) failures += 1;
        checked += 1;
      }
    }
    expect(checked).toBe((PAIRS_UP_TO * (PAIRS_UP_TO + 1)) / 2);
    expect(failures).toBe(0);
  });

  it('verify for every size up to 1,000 at the edge, middle and a spread of indices', () => {
    let failures = 0;
    for (let n = 1; n <= N; n++) {
      for (const m of spread(n, 0, n - 1)) {
        if (!verifyInclusion(leaves[m]!, m, n, tree.inclusionProof(m, n), roots[n]!)) failures += 1;
      }
    }
    expect(failures).toBe(0);
  });

  it('fail for any altered hash, leaf, index or root', () => {
    let cases = 0;
    for (let n = 1; n <= N; n++) {
      for (let m = 0; m < n; m++) {
        if (!sampled(m, n)) continue;
        const proof = tree.inclusionProof(m, n);
        const root = roots[n]!;
        const leaf = leaves[m]!;
        for (let i = 0; i < proof.length; i++) {
          const bad = proof.map((h, j) => (j === i ? flipped(h) : h));
          expect(verifyInclusion(leaf, m, n, bad, root)).toBe(false);
        }
        expect(verifyInclusion(flipped(leaf), m, n, proof, root)).toBe(false);
        expect(verifyInclusion(leaf, m, n, proof, flipped(root))).toBe(false);
        expect(verifyInclusion(leaf, m + 1, n, proof, root)).toBe(false);
        if (m > 0) expect(verifyInclusion(leaf, m - 1, n, proof, root)).toBe(false);
        expect(verifyInclusion(leaf, m, n, [...proof, leaf], root)).toBe(false);
        if (proof.length > 0) expect(verifyInclusion(leaf, m, n, proof.slice(1), root)).toBe(false);
        cases += 1;
      }
    }
    expect(cases).toBeGreaterThan(400);
  });

  it('verify against the signed checkpoint and fail when the proof is altered', async () => {
    for (let n = 1; n <= N; n += 97) {
      const cp = note(n);
      for (let m = 0; m < n; m += 29) {
        const proof = await buildInclusionProof(tiled, m, n, N);
        expect(verifyInclusionProof(proof, cp, KEY_NAME, logKey.publicKey)).toEqual({ ok: true });
        const codeOf = (p: InclusionProof) => {
          const r = verifyInclusionProof(p, cp, KEY_NAME, logKey.publicKey);
          return r.ok ? 'ok' : r.code;
        };
        expect(codeOf({ ...proof, tree_size: n + 1 })).toBe('size_mismatch');
        expect(codeOf({ ...proof, leaf_index: m + 1 })).not.toBe('ok');
        expect(codeOf({ ...proof, root_hash: '0'.repeat(64) })).toBe('root_mismatch');
        expect(codeOf({ ...proof, leaf_hash: '0'.repeat(64) })).toBe('proof_invalid');
        for (let i = 0; i < proof.hashes.length; i++) {
          const hashes = proof.hashes.map((h, j) => (j === i ? proof.leaf_hash : h));
          expect(codeOf({ ...proof, hashes })).toBe('proof_invalid');
        }
      }
    }
  });
});

describe('consistency proofs on a 1,000-leaf log', () => {
  it(`verify for every (size1, size2) pair of sizes up to ${PAIRS_UP_TO}`, () => {
    let checked = 0;
    let failures = 0;
    for (let n = 1; n <= PAIRS_UP_TO; n++) {
      for (let m = 0; m <= n; m++) {
        if (!verifyConsistencyPath(m, n, roots[m]!, roots[n]!, tree.consistencyProof(m, n))) {
          failures += 1;
        }
        checked += 1;
      }
    }
    expect(checked).toBe(((PAIRS_UP_TO + 1) * (PAIRS_UP_TO + 2)) / 2 - 1);
    expect(failures).toBe(0);
  });

  it('verify for every size2 up to 1,000 from a spread of size1', () => {
    let failures = 0;
    for (let n = 1; n <= N; n++) {
      for (const m of spread(n, 0, n)) {
        if (!verifyConsistencyPath(m, n, roots[m]!, roots[n]!, tree.consistencyProof(m, n))) {
          failures += 1;
        }
      }
    }
    expect(failures).toBe(0);
  });

  it('fail for any altered hash, size or root', () => {
    let cases = 0;
    for (let n = 2; n <= N; n++) {
      for (let m = 1; m < n; m++) {
        if (!sampled(m, n)) continue;
        const proof = tree.consistencyProof(m, n);
        const r1 = roots[m]!;
        const r2 = roots[n]!;
        for (let i = 0; i < proof.length; i++) {
          const bad = proof.map((h, j) => (j === i ? flipped(h) : h));
          expect(verifyConsistencyPath(m, n, r1, r2, bad)).toBe(false);
        }
        expect(verifyConsistencyPath(m, n, flipped(r1), r2, proof)).toBe(false);
        expect(verifyConsistencyPath(m, n, r1, flipped(r2), proof)).toBe(false);
        expect(verifyConsistencyPath(m + 1, n, r1, r2, proof)).toBe(false);
        expect(verifyConsistencyPath(m - 1, n, r1, r2, proof)).toBe(false);
        expect(verifyConsistencyPath(m, n, r1, r2, proof.slice(1))).toBe(false);
        expect(verifyConsistencyPath(m, n, r1, r2, [...proof, r1])).toBe(false);
        cases += 1;
      }
    }
    expect(cases).toBeGreaterThan(400);
  });

  it('treat the empty and the equal-size cases exactly', () => {
    expect(verifyConsistencyPath(0, 5, roots[0]!, roots[5]!, [])).toBe(true);
    expect(verifyConsistencyPath(0, 5, roots[0]!, roots[5]!, [roots[1]!])).toBe(false);
    expect(verifyConsistencyPath(5, 5, roots[5]!, roots[5]!, [])).toBe(true);
    expect(verifyConsistencyPath(5, 5, roots[5]!, roots[4]!, [])).toBe(false);
    expect(verifyConsistencyPath(3, 5, roots[3]!, roots[5]!, [])).toBe(false);
    expect(verifyConsistencyPath(6, 5, roots[6]!, roots[5]!, [])).toBe(false);
  });

  it('verify against the old and the new signed checkpoint and fail when anything is altered', async () => {
    const vkey = verifierKey(KEY_NAME, logKey.publicKey);
    for (let n = 1; n <= N; n += 101) {
      const newer = note(n);
      for (let m = 0; m <= n; m += 31) {
        const proof = await buildConsistencyProof(tiled, m, n, N);
        const codeOf = (p: ConsistencyProof, older = note(m), key: LogVerifierKey = vkey) => {
          const r = verifyConsistency(p, older, newer, key);
          return r.ok ? 'ok' : r.code;
        };
        expect(codeOf(proof)).toBe('ok');
        expect(codeOf(proof, note(m), { keyName: KEY_NAME, publicKey: logKey.publicKey })).toBe(
          'ok',
        );
        expect(codeOf({ ...proof, size2: n + 1 })).toBe('size_mismatch');
        expect(codeOf({ ...proof, size1: m + 1 })).toBe('size_mismatch');
        expect(codeOf({ ...proof, root2: 'not hex' })).toBe('proof_invalid');
        expect(codeOf({ ...proof, root2: toHex(flipped(roots[n]!)) })).toBe('root_mismatch');
        // A first root that is not the auditor's fails, whatever the new checkpoint says.
        expect(codeOf({ ...proof, root1: toHex(flipped(roots[m]!)) })).toBe('root_mismatch');
        if (m > 0) {
          const forged = signCheckpoint(
            { origin: ORIGIN, size: m, rootHash: flipped(roots[m]!) },
            KEY_NAME,
            logKey.privateKey,
          );
          expect(codeOf(proof, forged)).toBe('root_mismatch');
          expect(codeOf({ ...proof, root1: toHex(flipped(roots[m]!)) }, forged)).toBe(
            'proof_invalid',
          );
        }
        if (m < n) {
          const back = verifyConsistency(
            await buildConsistencyProof(tiled, m, m, N),
            newer,
            note(m),
            vkey,
          );
          expect(back).toMatchObject({ ok: false, code: 'rolled_back' });
        }
      }
    }
  });

  it('need both checkpoints signed by the log key and of the same log', async () => {
    const proof = await buildConsistencyProof(tiled, 4, 10, N);
    const other = generateKeyPair();
    const vkey = verifierKey(KEY_NAME, logKey.publicKey);
    const otherLog = signCheckpoint(
      { origin: 'sigil/other-log', size: 4, rootHash: roots[4]! },
      KEY_NAME,
      logKey.privateKey,
    );
    const codeOf = (older: string, newer: string, key: LogVerifierKey = vkey) => {
      const r = verifyConsistency(proof, older, newer, key);
      return r.ok ? 'ok' : r.code;
    };
    expect(codeOf(note(4), note(10))).toBe('ok');
    expect(codeOf(note(4), note(10), verifierKey(KEY_NAME, other.publicKey))).toBe(
      'checkpoint_invalid',
    );
    expect(codeOf(note(4), note(10), 'not a key')).toBe('checkpoint_invalid');
    expect(codeOf('not a note', note(10))).toBe('checkpoint_invalid');
    expect(codeOf(note(4), note(10).replace('\n10\n', '\n11\n'))).toBe('checkpoint_invalid');
    expect(codeOf(otherLog, note(10))).toBe('checkpoint_invalid');
  });
});

const proof3in10 = await buildInclusionProof(tiled, 3, 10, N);

describe('the outside verifier', () => {
  const proof = proof3in10;
  const cp = note(10);

  it('rejects malformed proofs without throwing', async () => {
    const bad: unknown[] = [
      null,
      'proof',
      {},
      { ...proof, leaf_index: -1 },
      { ...proof, leaf_index: 1.5 },
      { ...proof, tree_size: '10' },
      { ...proof, leaf_hash: 'zz' },
      { ...proof, leaf_hash: proof.leaf_hash.toUpperCase() },
      { ...proof, hashes: 'abc' },
      { ...proof, hashes: [1] },
      { ...proof, hashes: Array(200).fill(proof.leaf_hash) },
      { ...proof, leaf_index: 10 },
    ];
    for (const p of bad) {
      const r = verifyInclusionProof(p as InclusionProof, cp, KEY_NAME, logKey.publicKey);
      expect(r.ok).toBe(false);
    }
    const junk = [null, 'x', [new Uint8Array(31)], [null]] as unknown as Uint8Array[][];
    for (const j of junk) {
      expect(verifyInclusion(leaves[0]!, 0, 2, j, roots[2]!)).toBe(false);
      expect(verifyConsistencyPath(1, 2, roots[1]!, roots[2]!, j)).toBe(false);
    }
    expect(verifyInclusion(null as never, 0, 2, [leaves[1]!], roots[2]!)).toBe(false);
    expect(verifyConsistencyPath(1, 2, roots[1]!, 'r' as never, [leaves[1]!])).toBe(false);
    const cons = await buildConsistencyProof(tiled, 4, 10, N);
    const vkey = verifierKey(KEY_NAME, logKey.publicKey);
    for (const p of [null, {}, { ...cons, size1: 11 }, { ...cons, hashes: null }]) {
      const r = verifyConsistency(p as ConsistencyProof, note(4), cp, vkey);
      expect(r.ok).toBe(false);
    }
  });

  it('needs the checkpoint signed by the log key', () => {
    const other = generateKeyPair();
    const check = (note: string, name = KEY_NAME, key = logKey.publicKey) =>
      verifyInclusionProof(proof, note, name, key);
    expect(check(cp)).toEqual({ ok: true });
    expect(check(cp, KEY_NAME, other.publicKey)).toMatchObject({ code: 'checkpoint_invalid' });
    expect(check(cp, 'another-name')).toMatchObject({ code: 'checkpoint_invalid' });
    expect(check('not a note')).toMatchObject({ code: 'checkpoint_invalid' });
    expect(check(cp.replace('\n10\n', '\n11\n'))).toMatchObject({ code: 'checkpoint_invalid' });
  });

  it('builders refuse out-of-range requests', async () => {
    for (const f of [
      () => buildInclusionProof(tiled, 10, 10, N),
      () => buildInclusionProof(tiled, 0, N + 1, N),
      () => buildConsistencyProof(tiled, 5, 4, N),
      () => buildConsistencyProof(tiled, 0, N + 1, N),
    ]) {
      const err = await f().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isSigilError(err, 'proof_out_of_range')).toBe(true);
    }
  });

  it('builds the documented JSON shapes', async () => {
    expect(proof).toEqual({
      leaf_index: 3,
      tree_size: 10,
      leaf_hash: Buffer.from(leaves[3]!).toString('hex'),
      hashes: tree.inclusionProof(3, 10).map((h) => Buffer.from(h).toString('hex')),
      root_hash: Buffer.from(roots[10]!).toString('hex'),
    });
    const cons = await buildConsistencyProof(tiled, 4, 10, N);
    expect(Object.keys(cons).sort()).toEqual(['hashes', 'root1', 'root2', 'size1', 'size2']);
    expect(cons.root1).toBe(Buffer.from(roots[4]!).toString('hex'));
  });
});
