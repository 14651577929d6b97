/**
 * A witness's attestation made in the browser: the typed human signature Sigil's quorum counts,
 * Ed25519 over deterministic CBOR {domain, schema_version, signer_type, message} where message
 * is the RFC 8785 canonical {domain, proposal_id, change_hash}. The private key is imported for
 * this one signature (non-extractable) and never stored.
 */
import canonicalize from 'canonicalize';
import { encode } from 'cborg';

const ATTEST_DOMAIN = 'sigil.quorum.attest.v1';
const TYPED_SIGNATURE_DOMAIN = 'sigil.typed-signature.v1';
/** DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows. */
const PKCS8_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

function fromBase64Any(text: string): Uint8Array {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/').replace(/\s+/g, '');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function toBase64Url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) or a base64/base64url 32-byte seed. */
function pkcs8Of(key: string): Uint8Array {
  const pem = /-----BEGIN PRIVATE KEY-----([\s\S]+?)-----END PRIVATE KEY-----/.exec(key);
  if (pem) return fromBase64Any(pem[1]!);
  const seed = fromBase64Any(key.trim());
  if (seed.length !== 32) throw new Error('expected a PKCS#8 PEM or a 32-byte Ed25519 seed');
  const out = new Uint8Array(48);
  out.set(PKCS8_ED25519_PREFIX);
  out.set(seed, 16);
  return out;
}

/** The bytes a witness signs for a proposal. */
export function attestationPayload(proposalId: string, changeHash: string): Uint8Array {
  const message = canonicalize({
    domain: ATTEST_DOMAIN,
    proposal_id: proposalId,
    change_hash: changeHash,
  });
  return encode({
    domain: TYPED_SIGNATURE_DOMAIN,
    schema_version: 1,
    signer_type: { type: 'human' },
    message: new TextEncoder().encode(message),
  });
}

/** Signs the attestation with a key the user pasted for this one action; base64url. */
export async function signAttestation(
  proposalId: string,
  changeHash: string,
  privateKey: string,
): Promise<string> {
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey(
      'pkcs8',
      pkcs8Of(privateKey) as BufferSource,
      { name: 'Ed25519' },
      false,
      ['sign'],
    );
  } catch (err) {
    throw new Error(
      `the private key could not be read: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const sig = await crypto.subtle.sign(
    { name: 'Ed25519' },
    key,
    attestationPayload(proposalId, changeHash) as BufferSource,
  );
  return toBase64Url(new Uint8Array(sig));
}
