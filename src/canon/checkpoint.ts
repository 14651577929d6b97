import { createPublicKey, type KeyObject } from 'node:crypto';
import { publicKeyFromRaw, publicKeyToRaw, sign, verify } from '../core/ed25519.ts';
import {
  concatBytes,
  constantTimeEqual,
  fromBase64,
  fromHex,
  toBase64,
  toHex,
  utf8Encode,
} from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { sha256 } from '../core/hash.ts';

/**
 * Signed checkpoints in the C2SP tlog-checkpoint / signed-note layout, so any
 * tool that reads transparency-log checkpoints can read Sigil's:
 *
 *   sigil/<log-id>\n            origin
 *   <tree size>\n               decimal
 *   <base64 root hash>\n        32 bytes, standard base64
 *   [timestamp <RFC 3339>\n]    optional extension line
 *   \n
 *   — <key name> <base64(key hash[4] || Ed25519 signature)>\n
 *
 * The signature covers the note text: everything before the blank line,
 * including its last newline. The Ed25519 key hash is
 * SHA-256(key name || "\n" || 0x01 || raw public key)[:4].
 */

/** A tree head: the log's origin, its size and its Merkle root. */
export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  /** When the log signed it (RFC 3339 UTC); carried as an extension line. */
  timestamp?: string;
}

const EM_DASH = '\u2014';
const ED25519_ALG = 0x01;
const MAX_SIGNATURES = 100;
const MAX_NOTE_CHARS = 16_384;
const ORIGIN_RE = /^sigil\/[\x21-\x7e]{1,200}$/;
const KEY_NAME_RE = /^[\x21-\x2a\x2c-\x7e]{1,128}$/; // printable ASCII without space or '+'
const SIZE_RE = /^(0|[1-9][0-9]{0,15})$/;
const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;
const SIGNATURE_LINE_RE = /^\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})$/;
// eslint-disable-next-line no-control-regex -- it matches control characters on purpose
const CONTROL_RE = /[\u0000-\u0009\u000b-\u001f\u007f]/;

function invalid(reason: string): SigilError {
  return new SigilError('checkpoint_invalid', `checkpoint invalid: ${reason}`);
}

/** The origin line for a log id: `sigil/<log-id>`. */
export function checkpointOrigin(logId: string): string {
  const origin = `sigil/${logId}`;
  if (!ORIGIN_RE.test(origin)) {
    throw new SigilError('bad_request', 'log id must be 1..200 printable ASCII characters');
  }
  return origin;
}

/** The 4-byte signed-note key hash of an Ed25519 key under `keyName`. */
export function noteKeyHash(keyName: string, publicKey: KeyObject): Uint8Array {
  return sha256(
    concatBytes(utf8Encode(`${keyName}\n`), Uint8Array.of(ED25519_ALG), publicKeyToRaw(publicKey)),
  ).subarray(0, 4);
}

function checkKeyName(keyName: string): void {
  if (typeof keyName !== 'string' || !KEY_NAME_RE.test(keyName)) {
    throw new SigilError(
      'bad_request',
      'key name must be 1..128 printable ASCII characters, no "+"',
    );
  }
}

function isValidTimestamp(ts: string): boolean {
  if (!TIMESTAMP_RE.test(ts)) return false;
  const parsed = new Date(ts);
  if (Number.isNaN(parsed.getTime())) return false;
  return parsed.toISOString() === (ts.length === 20 ? `${ts.slice(0, 19)}.000Z` : ts);
}

function noteText(cp: Checkpoint): string {
  const ext = cp.timestamp === undefined ? '' : `timestamp ${cp.timestamp}\n`;
  return `${cp.origin}\n${cp.size}\n${toBase64(cp.rootHash)}\n${ext}`;
}

/** Signs a checkpoint with the log key; returns the complete note text. */
export function signCheckpoint(cp: Checkpoint, keyName: string, privateKey: KeyObject): string {
  checkKeyName(keyName);
  if (typeof cp.origin !== 'string' || !ORIGIN_RE.test(cp.origin)) {
    throw new SigilError('bad_request', 'checkpoint origin must look like sigil/<log-id>');
  }
  if (!Number.isSafeInteger(cp.size) || cp.size < 0) {
    throw new SigilError('bad_request', 'checkpoint size must be a non-negative integer');
  }
  if (!(cp.rootHash instanceof Uint8Array) || cp.rootHash.length !== 32) {
    throw new SigilError('bad_request', 'checkpoint root hash must be 32 bytes');
  }
  if (cp.timestamp !== undefined && !isValidTimestamp(cp.timestamp)) {
    throw new SigilError('bad_request', 'checkpoint timestamp must be RFC 3339 UTC');
  }
  const text = noteText(cp);
  const signature = sign(privateKey, utf8Encode(text));
  const keyHash = noteKeyHash(keyName, publicKeyFromPrivate(privateKey));
  return `${text}\n${EM_DASH} ${keyName} ${toBase64(concatBytes(keyHash, signature))}\n`;
}

function publicKeyFromPrivate(privateKey: KeyObject): KeyObject {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new SigilError('invalid_key', 'checkpoint key must be an Ed25519 private key');
  }
  return createPublicKey(privateKey);
}

function parseText(text: string): Checkpoint {
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3 || lines.length > 4) throw invalid('expected 3 or 4 body lines');
  const [origin, sizeLine, rootLine, ext] = lines as [string, string, string, string | undefined];
  if (!ORIGIN_RE.test(origin)) throw invalid('origin must look like sigil/<log-id>');
  if (!SIZE_RE.test(sizeLine) || !Number.isSafeInteger(Number(sizeLine))) {
    throw invalid('tree size is not a decimal integer');
  }
  let rootHash: Uint8Array;
  try {
    rootHash = fromBase64(rootLine);
  } catch {
    throw invalid('root hash is not base64');
  }
  if (rootHash.length !== 32) throw invalid('root hash is not 32 bytes');
  const cp: Checkpoint = { origin, size: Number(sizeLine), rootHash };
  if (ext !== undefined) {
    const ts = ext.startsWith('timestamp ') ? ext.slice('timestamp '.length) : '';
    if (!isValidTimestamp(ts)) throw invalid('unknown extension line');
    cp.timestamp = ts;
  }
  return cp;
}

/**
 * C2SP signed-note: parses `note` strictly and verifies the signature by `keyName`/`publicKey`;
 * returns the note text (everything before the blank line, with its last newline). Signature
 * lines of other keys are ignored but must be well formed; 'checkpoint_invalid' otherwise.
 */
export function openNote(note: string, keyName: string, publicKey: KeyObject): string {
  if (typeof note !== 'string' || note.length > MAX_NOTE_CHARS) throw invalid('not a note');
  const split = note.indexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) throw invalid('missing blank line or final newline');
  const text = note.slice(0, split + 1);
  // signed-note: the text is UTF-8 without control characters other than newline.
  if (CONTROL_RE.test(text)) throw invalid('control character in the note text');
  const sigLines = note.slice(split + 2, -1).split('\n');
  if (sigLines.length > MAX_SIGNATURES) throw invalid('too many signatures');

  let wantHash: Uint8Array;
  try {
    wantHash = noteKeyHash(keyName, publicKey);
  } catch {
    throw invalid('verifier key is not an Ed25519 public key');
  }
  let signature: Uint8Array | undefined;
  for (const line of sigLines) {
    const m = SIGNATURE_LINE_RE.exec(line);
    if (!m) throw invalid('malformed signature line');
    let blob: Uint8Array;
    try {
      blob = fromBase64(m[2]!);
    } catch {
      throw invalid('signature is not base64');
    }
    if (blob.length < 5) throw invalid('signature too short');
    if (m[1] === keyName && constantTimeEqual(blob.subarray(0, 4), wantHash)) {
      signature = blob.subarray(4);
    }
  }
  if (signature === undefined) throw invalid(`no signature by key ${keyName}`);
  if (!verify(publicKey, utf8Encode(text), signature)) throw invalid('signature does not verify');
  return text;
}

/**
 * Parses a checkpoint note strictly and verifies the signature by `keyName`/`publicKey`.
 * Returns the checkpoint; throws 'checkpoint_invalid' for anything else.
 */
export function openCheckpoint(note: string, keyName: string, publicKey: KeyObject): Checkpoint {
  if (typeof note === 'string' && note.indexOf('\n\n') >= 0) {
    // The body is checked first, so a malformed checkpoint says why before any signature.
    parseText(note.slice(0, note.indexOf('\n\n') + 1));
  }
  return parseText(openNote(note, keyName, publicKey));
}

/** A C2SP verifier key: `<name>+<hex key hash>+<base64(0x01 || public key)>`. */
export function verifierKey(keyName: string, publicKey: KeyObject): string {
  checkKeyName(keyName);
  const raw = concatBytes(Uint8Array.of(ED25519_ALG), publicKeyToRaw(publicKey));
  return `${keyName}+${toHex(noteKeyHash(keyName, publicKey))}+${toBase64(raw)}`;
}

/** Parses a verifier key string; 'bad_request' if malformed or its hash does not match. */
export function parseVerifierKey(vkey: string): { keyName: string; publicKey: KeyObject } {
  const bad = (why: string) => new SigilError('bad_request', `verifier key invalid: ${why}`);
  if (typeof vkey !== 'string') throw bad('not a string');
  // The key data is standard base64 and may itself contain '+': split at the first two only.
  const m = /^([^+]*)\+([^+]*)\+(.*)$/s.exec(vkey);
  if (!m) throw bad('expected <name>+<hash>+<key>');
  const [, keyName, hashHex, keyB64] = m as unknown as [string, string, string, string];
  if (!KEY_NAME_RE.test(keyName)) throw bad('bad key name');
  let hash: Uint8Array;
  let raw: Uint8Array;
  try {
    hash = fromHex(hashHex);
    raw = fromBase64(keyB64);
  } catch {
    throw bad('bad encoding');
  }
  if (raw.length !== 33 || raw[0] !== ED25519_ALG) throw bad('not an Ed25519 key');
  let publicKey: KeyObject;
  try {
    publicKey = publicKeyFromRaw(raw.subarray(1));
  } catch {
    throw bad('not an Ed25519 key');
  }
  if (hash.length !== 4 || !constantTimeEqual(hash, noteKeyHash(keyName, publicKey))) {
    throw bad('key hash does not match');
  }
  return { keyName, publicKey };
}
