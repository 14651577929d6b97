/**
 * Typed signatures: the signer's type is inside the signed bytes, so a signature made as
 * an AI (under one delegation) never verifies as a human's or under another delegation.
 *
 * Signed payload (deterministic CBOR, see cbor.ts), a map of exactly four entries:
 *   "domain":         "sigil.typed-signature.v1"          (text)
 *   "message":        the message                          (byte string)
 *   "signer_type":    {"type": "human"}
 *                   | {"type": "ai", "delegation_id": h}   (h: 64 lowercase hex chars, text)
 *   "schema_version": 1                                    (unsigned integer)
 */
import type { KeyObject } from 'node:crypto';
import { encodeCbor } from './cbor.ts';
import { sign, verify } from './ed25519.ts';
import { SigilError } from './errors.ts';
import { requireBytes } from './guard.ts';

export type SignerType = { type: 'human' } | { type: 'ai'; delegationId: string };

export const TYPED_SIGNATURE_DOMAIN = 'sigil.typed-signature.v1';
export const TYPED_SIGNATURE_SCHEMA_VERSION = 1;

const DELEGATION_ID_RE = /^[0-9a-f]{64}$/;

type SignerTypeCbor = { type: 'human' } | { type: 'ai'; delegation_id: string };

function signerTypeCbor(signer: unknown): SignerTypeCbor {
  if (typeof signer === 'object' && signer !== null) {
    const { type, delegationId } = signer as { type?: unknown; delegationId?: unknown };
    if (type === 'human' && delegationId === undefined) return { type: 'human' };
    if (type === 'ai' && typeof delegationId === 'string' && DELEGATION_ID_RE.test(delegationId)) {
      return { type: 'ai', delegation_id: delegationId };
    }
  }
  throw new SigilError(
    'invalid_signer_type',
    "signer must be {type:'human'} or {type:'ai', delegationId: 64 lowercase hex chars}",
  );
}

/**
 * The payload's encoding around its message, per signer type: deterministic CBOR orders the map
 * by encoded key, so "message" (after "domain") is the second entry, and the bytes before and
 * after its byte string depend on the signer alone. Taken from encodeCbor with an empty message
 * (whose byte string is the single byte 0x40), so the two can never differ. Bounded: cleared
 * when full (delegation ids come from tokens).
 */
interface Frame {
  head: Uint8Array;
  tail: Uint8Array;
}
const FRAMES_MAX = 1024;
const frames = new Map<string, Frame>();
const MESSAGE_KEY = new Uint8Array([0x67, ...new TextEncoder().encode('message')]);

function frameOf(signerType: SignerTypeCbor): Frame {
  const key = signerType.type === 'ai' ? signerType.delegation_id : 'human';
  let frame = frames.get(key);
  if (frame === undefined) {
    const empty = encodeCbor({
      domain: TYPED_SIGNATURE_DOMAIN,
      schema_version: TYPED_SIGNATURE_SCHEMA_VERSION,
      signer_type: signerType,
      message: new Uint8Array(0),
    });
    const at = indexOf(empty, MESSAGE_KEY) + MESSAGE_KEY.length;
    if (empty[at] !== 0x40) throw new SigilError('cbor_invalid', 'unexpected payload layout');
    frame = { head: empty.subarray(0, at), tail: empty.subarray(at + 1) };
    if (frames.size >= FRAMES_MAX) frames.clear();
    frames.set(key, frame);
  }
  return frame;
}

function indexOf(bytes: Uint8Array, part: Uint8Array): number {
  outer: for (let i = 0; i + part.length <= bytes.length; i++) {
    for (let j = 0; j < part.length; j++) if (bytes[i + j] !== part[j]) continue outer;
    return i;
  }
  return -1;
}

/** The CBOR head of a byte string of `length` bytes (major type 2, shortest form). */
function byteStringHead(length: number): number[] {
  if (length < 24) return [0x40 + length];
  if (length < 0x100) return [0x58, length];
  if (length < 0x10000) return [0x59, length >> 8, length & 0xff];
  return [0x5a, (length >>> 24) & 0xff, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff];
}

/** The exact bytes a typed signature signs; 'invalid_signer_type' for a malformed signer. */
export function signedPayload(signer: SignerType, message: Uint8Array): Uint8Array {
  const signerType = signerTypeCbor(signer);
  requireBytes(message, 'message');
  // encodeCbor of the whole map, laid out from its frame: the map's encoding was a tenth of a
  // gateway call's provenance signing (profiled).
  const { head, tail } = frameOf(signerType);
  const size = byteStringHead(message.length);
  const out = new Uint8Array(head.length + size.length + message.length + tail.length);
  out.set(head, 0);
  out.set(size, head.length);
  out.set(message, head.length + size.length);
  out.set(tail, head.length + size.length + message.length);
  return out;
}

/** Ed25519 signature over signedPayload(signer, message). */
export function signTyped(
  privateKey: KeyObject,
  signer: SignerType,
  message: Uint8Array,
): Uint8Array {
  return sign(privateKey, signedPayload(signer, message));
}

/** True only if `signature` was made by signTyped with this key, signer type and message. */
export function verifyTyped(
  publicKey: KeyObject,
  signer: SignerType,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  let payload: Uint8Array;
  try {
    payload = signedPayload(signer, message);
  } catch {
    return false;
  }
  return verify(publicKey, payload, signature);
}
