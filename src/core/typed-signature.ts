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

/** The exact bytes a typed signature signs; 'invalid_signer_type' for a malformed signer. */
export function signedPayload(signer: SignerType, message: Uint8Array): Uint8Array {
  const signerType = signerTypeCbor(signer);
  requireBytes(message, 'message');
  return encodeCbor({
    domain: TYPED_SIGNATURE_DOMAIN,
    schema_version: TYPED_SIGNATURE_SCHEMA_VERSION,
    signer_type: signerType,
    message,
  });
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
