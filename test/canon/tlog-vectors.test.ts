/**
 * Published transparency-log vectors (test/vectors/tlog, sources in SOURCES.md) against our
 * parsers and verifiers: signed notes and verifier keys from golang.org/x/mod's note tests, a
 * sigsum checkpoint from torchwood's litewitness tests, cosigner keys and a cosignature blob from
 * transparency-dev/formats, real RFC 6962 proofs of the Argon 2020 CT log, and the tile path of
 * the tlog-tiles spec.
 */
import { describe, expect, it } from 'vitest';
import { noteKeyHash, openNote, parseVerifierKey } from '../../src/canon/checkpoint.ts';
import { cosignerKeyId, parseCosignerKey } from '../../src/canon/cosignature.ts';
import { leafHash } from '../../src/canon/merkle.ts';
import { parseTilePath, tilePath } from '../../src/canon/tiles.ts';
import { verifyConsistencyPath, verifyInclusion } from '../../src/canon/verify.ts';
import { publicKeyFromRaw } from '../../src/core/ed25519.ts';
import { fromBase64, fromHex, toHex } from '../../src/core/encoding.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import { readVectorJson } from '../core/helpers.ts';

interface NoteVectors {
  keys: Record<'PeterNeumann' | 'EnochRoot', string>;
  bad_keys: string[];
  text: string;
  signed: string;
  signed_by_peter: string;
  invalid_signature: string;
  too_many_signatures: string;
  malformed: string[];
}

interface WitnessVectors {
  log_key_hex: string;
  checkpoint: string;
  cosigner_keys: Record<'native_0x04' | 'from_0x01', string>;
  bad_cosigner_keys: string[];
  cosignature_blob: string;
  cosignature_time: number;
  tile_paths: Record<string, [number | 'entries', number, number]>;
}

const note = readVectorJson<NoteVectors>('tlog', 'sumdb-note.json');
const wit = readVectorJson<WitnessVectors>('tlog', 'tlog-witness.json');

function refused(fn: () => unknown, code: string): boolean {
  try {
    fn();
    return false;
  } catch (err) {
    return isSigilError(err, code);
  }
}

describe('signed-note vectors (golang.org/x/mod sumdb/note)', () => {
  const peter = parseVerifierKey(note.keys.PeterNeumann);
  const enoch = parseVerifierKey(note.keys.EnochRoot);

  it('parses both verifier keys and derives their key hashes', () => {
    expect(peter.keyName).toBe('PeterNeumann');
    expect(toHex(noteKeyHash('PeterNeumann', peter.publicKey))).toBe('c74f20a3');
    expect(toHex(noteKeyHash('EnochRoot', enoch.publicKey))).toBe('af0cfe78');
  });

  it('refuses the mangled keys: a wrong length and an unknown algorithm', () => {
    for (const k of note.bad_keys)
      expect(refused(() => parseVerifierKey(k), 'bad_request')).toBe(true);
    // Every strict prefix and every one-byte change of a good key is refused too.
    const good = note.keys.PeterNeumann;
    for (let i = 1; i < good.length; i += 7) {
      expect(refused(() => parseVerifierKey(good.slice(0, i)), 'bad_request')).toBe(true);
      const changed =
        good.slice(0, i) + String.fromCharCode(good.charCodeAt(i) + 1) + good.slice(i + 1);
      expect(refused(() => parseVerifierKey(changed), 'bad_request')).toBe(true);
    }
  });

  it('verifies each signature of the signed note, ignoring the other key’s line', () => {
    expect(openNote(note.signed, 'PeterNeumann', peter.publicKey)).toBe(note.text);
    expect(openNote(note.signed, 'EnochRoot', enoch.publicKey)).toBe(note.text);
    expect(openNote(note.signed_by_peter, 'PeterNeumann', peter.publicKey)).toBe(note.text);
    expect(
      refused(
        () => openNote(note.signed_by_peter, 'EnochRoot', enoch.publicKey),
        'checkpoint_invalid',
      ),
    ).toBe(true);
  });

  it('refuses an altered signature, 101 signatures and every malformed note', () => {
    expect(
      refused(
        () => openNote(note.invalid_signature, 'PeterNeumann', peter.publicKey),
        'checkpoint_invalid',
      ),
    ).toBe(true);
    expect(
      refused(
        () => openNote(note.too_many_signatures, 'PeterNeumann', peter.publicKey),
        'checkpoint_invalid',
      ),
    ).toBe(true);
    for (const bad of note.malformed) {
      expect(
        refused(() => openNote(bad, 'PeterNeumann', peter.publicKey), 'checkpoint_invalid'),
        JSON.stringify(bad),
      ).toBe(true);
    }
    // The signature covers the text: one changed character of it fails.
    const edited = note.signed_by_peter.replace('cryptography', 'cryptographY');
    expect(
      refused(() => openNote(edited, 'PeterNeumann', peter.publicKey), 'checkpoint_invalid'),
    ).toBe(true);
  });
});

describe('a sigsum checkpoint (torchwood litewitness testdata)', () => {
  it('verifies under the log key, its origin being sigsum.org/v1/tree/<sha256(key)>', () => {
    const raw = fromHex(wit.log_key_hex);
    const origin = `sigsum.org/v1/tree/${sha256Hex(raw)}`;
    expect(wit.checkpoint.startsWith(`${origin}\n1\n`)).toBe(true);
    const text = openNote(wit.checkpoint, origin, publicKeyFromRaw(raw));
    expect(text).toBe(`${origin}\n1\nKgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n`);
    const other = wit.checkpoint.replace('\n1\n', '\n2\n');
    expect(
      refused(() => openNote(other, origin, publicKeyFromRaw(raw)), 'checkpoint_invalid'),
    ).toBe(true);
  });
});

describe('cosigner keys and a cosignature (transparency-dev/formats)', () => {
  it('parses a native cosignature/v1 key and a plain Ed25519 note key', () => {
    const native = parseCosignerKey(wit.cosigner_keys.native_0x04);
    expect(native.name).toBe('remora.n621.de');
    expect(toHex(cosignerKeyId(native.name, native.publicKey))).toBe('da77ade7');
    const plain = parseCosignerKey(wit.cosigner_keys.from_0x01);
    expect(plain.name).toBe('TEST');
    // Its cosignature lines carry the 0x04 key ID, not the note key hash of the vkey.
    expect(toHex(cosignerKeyId('TEST', plain.publicKey))).not.toBe('7997405c');
    expect(toHex(noteKeyHash('TEST', plain.publicKey))).toBe('7997405c');
  });

  it('refuses the malformed keys: parts, base64, algorithm, key hash', () => {
    for (const k of wit.bad_cosigner_keys) {
      expect(
        refused(() => parseCosignerKey(k), 'bad_request'),
        k,
      ).toBe(true);
    }
  });

  it('reads a cosignature blob as key ID, big-endian timestamp, signature', () => {
    const blob = fromBase64(wit.cosignature_blob);
    expect(blob.length).toBe(4 + 8 + 64);
    const view = new DataView(blob.buffer, blob.byteOffset + 4, 8);
    expect(Number(view.getBigUint64(0))).toBe(wit.cosignature_time);
  });
});

describe('tlog-tiles paths (C2SP tlog-tiles)', () => {
  it('encodes and parses the spec’s example index', () => {
    for (const [path, [level, index, width]] of Object.entries(wit.tile_paths)) {
      expect(tilePath({ level, index, width })).toBe(path);
      expect(parseTilePath(path.slice('tile/'.length))).toEqual({ level, index, width });
    }
  });
});

describe('RFC 6962 proofs of a real CT log (Argon 2020, via golang.org/x/mod sumdb/tlog)', () => {
  const sth = readVectorJson<{ tree_size: number; sha256_root_hash: string }>(
    'tlog',
    'argon2020-sth.json',
  );
  const entries = readVectorJson<{ entries: Array<{ leaf_input: string }> }>(
    'tlog',
    'argon2020-entries.json',
  );
  const proof = readVectorJson<{ leaf_index: number; audit_path: string[] }>(
    'tlog',
    'argon2020-proof.json',
  );
  const consistency = readVectorJson<{ consistency: string[] }>(
    'tlog',
    'argon2020-consistency.json',
  );
  const root = fromBase64(sth.sha256_root_hash);
  const leaf = leafHash(fromBase64(entries.entries[0]!.leaf_input));
  const path = proof.audit_path.map((h) => fromBase64(h));

  it('verifies the inclusion of entry 10000 in the tree of 961984013', () => {
    expect(verifyInclusion(leaf, proof.leaf_index, sth.tree_size, path, root)).toBe(true);
    expect(verifyInclusion(leaf, proof.leaf_index + 1, sth.tree_size, path, root)).toBe(false);
    const bent = path.map((h, i) =>
      i === 3 ? Uint8Array.from(h, (b, j) => (j === 0 ? b ^ 1 : b)) : h,
    );
    expect(verifyInclusion(leaf, proof.leaf_index, sth.tree_size, bent, root)).toBe(false);
  });

  it('verifies the consistency of the tree of 3654490 with it', () => {
    const old = fromBase64('AuIZ5V6sDUj1vn3Y1K85oOaQ7y+FJJKtyRTl1edIKBQ=');
    const hashes = consistency.consistency.map((h) => fromBase64(h));
    expect(verifyConsistencyPath(3654490, sth.tree_size, old, root, hashes)).toBe(true);
    expect(verifyConsistencyPath(3654491, sth.tree_size, old, root, hashes)).toBe(false);
    expect(verifyConsistencyPath(3654490, sth.tree_size, root, root, hashes)).toBe(false);
  });
});
