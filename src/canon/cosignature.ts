import type { KeyObject } from 'node:crypto';
import { publicKeyFromRaw, publicKeyToRaw, sign, verify } from '../core/ed25519.ts';
import {
  concatBytes,
  constantTimeEqual,
  fromBase64,
  toBase64,
  toHex,
  utf8Encode,
} from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { sha256 } from '../core/hash.ts';
import { noteKeyHash } from './checkpoint.ts';
import type { ProofCheck } from './verify.ts';

/**
 * C2SP tlog-cosignature, Ed25519 (cosignature/v1): a cosigner's note signature on a checkpoint,
 * `— <name> base64(keyid[4] || u64 timestamp || signature[64])`, over
 * "cosignature/v1\ntime <timestamp>\n" || the checkpoint's note body. The key ID is
 * SHA-256(<name> || "\n" || 0x04 || public key)[:4].
 */

const COSIGNATURE_ALG = 0x04;
const NOTE_ED25519_ALG = 0x01;
const LINE_RE = /^\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})$/;

/** The 4-byte key ID of an Ed25519 cosigner key. */
export function cosignerKeyId(name: string, publicKey: KeyObject): Uint8Array {
  return sha256(
    concatBytes(utf8Encode(`${name}\n`), Uint8Array.of(COSIGNATURE_ALG), publicKeyToRaw(publicKey)),
  ).subarray(0, 4);
}

/** The cosigner's vkey: `<name>+<hex key id>+<base64(0x04 || public key)>`. */
export function cosignerVerifierKey(name: string, publicKey: KeyObject): string {
  const raw = concatBytes(Uint8Array.of(COSIGNATURE_ALG), publicKeyToRaw(publicKey));
  return `${name}+${toHex(cosignerKeyId(name, publicKey))}+${toBase64(raw)}`;
}

function message(body: string, timestamp: number): Uint8Array {
  return utf8Encode(`cosignature/v1\ntime ${timestamp}\n${body}`);
}

/** The note body of a checkpoint: everything before the blank line, with its last newline. */
export function noteBody(note: string): string {
  const split = note.indexOf('\n\n');
  return split < 0 ? note : note.slice(0, split + 1);
}

/** Cosigns a checkpoint's body at `timestamp` (POSIX seconds); returns the signature line. */
export function cosign(
  body: string,
  name: string,
  privateKey: KeyObject,
  publicKey: KeyObject,
  timestamp: number,
): string {
  const ts = new Uint8Array(8);
  new DataView(ts.buffer).setBigUint64(0, BigInt(timestamp));
  const sig = sign(privateKey, message(body, timestamp));
  return `\u2014 ${name} ${toBase64(concatBytes(cosignerKeyId(name, publicKey), ts, sig))}\n`;
}

/** The first signature line of `note` that is a valid cosignature by (name, publicKey). */
function findCosignature(
  note: string,
  name: string,
  publicKey: KeyObject,
): { line: string; timestamp: number } | undefined {
  const body = noteBody(note);
  const id = cosignerKeyId(name, publicKey);
  for (const line of note.slice(body.length + 1).split('\n')) {
    const m = LINE_RE.exec(line);
    if (!m || m[1] !== name) continue;
    let blob: Uint8Array;
    try {
      blob = fromBase64(m[2]!);
    } catch {
      continue;
    }
    if (blob.length !== 4 + 8 + 64 || !constantTimeEqual(blob.subarray(0, 4), id)) continue;
    const timestamp = Number(new DataView(blob.buffer, blob.byteOffset + 4, 8).getBigUint64(0));
    if (verify(publicKey, message(body, timestamp), blob.subarray(12))) {
      return { line: `${line}\n`, timestamp };
    }
  }
  return undefined;
}

/**
 * The timestamp of a valid cosignature by (name, publicKey) among a note's signature lines, or
 * undefined when there is none. Lines of other keys are ignored, as the spec asks.
 */
export function verifyCosignature(
  note: string,
  name: string,
  publicKey: KeyObject,
): number | undefined {
  return findCosignature(note, name, publicKey)?.timestamp;
}

/** A witness (cosigner) as a verifier of its lines: its name and Ed25519 public key. */
export interface CosignerKey {
  name: string;
  publicKey: KeyObject;
  /** The vkey string it was parsed from. */
  vkey: string;
}

/**
 * Parses a cosigner vkey `<name>+<hex key id>+<base64(0x04 || public key)>` (or the plain
 * signed-note form with 0x01); 'bad_request' when it is malformed, not an Ed25519 key, or its
 * key ID does not match.
 */
export function parseCosignerKey(vkey: string): CosignerKey {
  const bad = (why: string) => new SigilError('bad_request', `witness key invalid: ${why}`);
  if (typeof vkey !== 'string') throw bad('not a string');
  const text = vkey.trim();
  // The key data is standard base64 and may itself contain '+': split at the first two only.
  const m = /^([\x21-\x2a\x2c-\x7e]{1,128})\+([0-9a-f]{8})\+([A-Za-z0-9+/]+={0,2})$/.exec(text);
  if (!m) throw bad('expected <name>+<hex key id>+<base64 key>');
  let publicKey: KeyObject | undefined;
  let alg: number | undefined;
  try {
    const raw = fromBase64(m[3]!);
    alg = raw[0];
    if (raw.length === 33 && (alg === COSIGNATURE_ALG || alg === NOTE_ED25519_ALG)) {
      publicKey = publicKeyFromRaw(raw.subarray(1));
    }
  } catch {
    // not base64, or not an Ed25519 point: the same answer as a wrong key type
  }
  if (publicKey === undefined) throw bad('not an Ed25519 key (type 0x04 or 0x01)');
  // A plain signed-note Ed25519 vkey (0x01) names the same key; its ID is the note key hash,
  // while its cosignature lines carry the 0x04 key ID (as transparency-dev/formats reads it).
  const id =
    alg === COSIGNATURE_ALG ? cosignerKeyId(m[1]!, publicKey) : noteKeyHash(m[1]!, publicKey);
  if (toHex(id) !== m[2]) throw bad('key ID does not match');
  return { name: m[1]!, publicKey, vkey: text };
}

/**
 * The valid cosignature line of each of `keys` found in `note`, by cosigner name. Lines of
 * unknown keys and lines that do not verify are dropped.
 */
export function validCosignatures(
  note: string,
  keys: readonly CosignerKey[],
): Map<string, { line: string; timestamp: number }> {
  const out = new Map<string, { line: string; timestamp: number }>();
  for (const key of keys) {
    const found = findCosignature(note, key.name, key.publicKey);
    if (found) out.set(key.name, found);
  }
  return out;
}

/**
 * Requires a valid cosignature on `note` from each of `witnesses` (cosigner vkeys or parsed
 * keys): 'witness_missing' names the first one without. Lines of other keys are ignored, and a
 * forged line (wrong key ID, bad signature, another checkpoint's) counts as none.
 */
export function verifyWitnessed(
  note: string,
  witnesses: ReadonlyArray<string | CosignerKey>,
): ProofCheck {
  let keys: CosignerKey[];
  try {
    keys = witnesses.map((w) => (typeof w === 'string' ? parseCosignerKey(w) : w));
  } catch (err) {
    return {
      ok: false,
      code: 'bad_request',
      reason: err instanceof Error ? err.message : 'bad key',
    };
  }
  const found = validCosignatures(note, keys);
  const missing = keys.find((k) => !found.has(k.name));
  return missing === undefined
    ? { ok: true }
    : {
        ok: false,
        code: 'witness_missing',
        reason: `the checkpoint carries no valid cosignature by witness ${missing.name}`,
      };
}
