import type { KeyObject } from 'node:crypto';
import { publicKeyToRaw, sign, verify } from '../core/ed25519.ts';
import {
  concatBytes,
  constantTimeEqual,
  fromBase64,
  toBase64,
  toHex,
  utf8Encode,
} from '../core/encoding.ts';
import { sha256 } from '../core/hash.ts';

/**
 * C2SP tlog-cosignature, Ed25519 (cosignature/v1): a cosigner's note signature on a checkpoint,
 * `— <name> base64(keyid[4] || u64 timestamp || signature[64])`, over
 * "cosignature/v1\ntime <timestamp>\n" || the checkpoint's note body. The key ID is
 * SHA-256(<name> || "\n" || 0x04 || public key)[:4].
 */

const COSIGNATURE_ALG = 0x04;
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

/**
 * The timestamp of a valid cosignature by (name, publicKey) among a note's signature lines, or
 * undefined when there is none. Lines of other keys are ignored, as the spec asks.
 */
export function verifyCosignature(
  note: string,
  name: string,
  publicKey: KeyObject,
): number | undefined {
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
    if (verify(publicKey, message(body, timestamp), blob.subarray(12))) return timestamp;
  }
  return undefined;
}
