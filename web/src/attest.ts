/**
 * A witness's signatures made in the browser: its vote for a proposal and the proof of
 * possession that enrols its key, each a typed human signature (Ed25519 over deterministic CBOR
 * {domain, schema_version, signer_type, message}, message the RFC 8785 canonical body). The
 * private key is imported for one action (non-extractable) and never stored.
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

const PROVENANCE_DOMAIN = 'sigil.provenance.v1';
const VOTE_DOMAIN = 'sigil.vote.v1';
const ENROL_DOMAIN = 'sigil.quorum.enrol.v1';
const APPROVAL_DOMAIN = 'sigil.approval.v1';

function canonical(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new Error('nothing to sign');
  return text;
}

/** The typed human signature payload: deterministic CBOR over the canonical message. */
function typedHuman(message: unknown): Uint8Array {
  return encode({
    domain: TYPED_SIGNATURE_DOMAIN,
    schema_version: 1,
    signer_type: { type: 'human' },
    message: new TextEncoder().encode(canonical(message)),
  });
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Imports a pasted key for one signature (non-extractable); never stored. */
async function importSigner(privateKey: string): Promise<CryptoKey> {
  try {
    return await crypto.subtle.importKey(
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
}

async function signWith(key: CryptoKey, payload: Uint8Array): Promise<string> {
  const sig = await crypto.subtle.sign({ name: 'Ed25519' }, key, payload as BufferSource);
  return toBase64Url(new Uint8Array(sig));
}

/**
 * A witness's vote for a proposal, as the kernel judges votes: a typed human signature over
 * its provenance (the witness `did`, this proposal, a human, independent, first-order voice)
 * and one over the approving vote resting on it.
 */
export async function signAttestation(
  proposal: { id: string; change_hash: string; created_at: string },
  did: string,
  privateKey: string,
): Promise<{ signature: string; provenance_signature: string }> {
  const key = await importSigner(privateKey);
  const actionHash = await sha256Hex(
    canonical({
      domain: ATTEST_DOMAIN,
      proposal_id: proposal.id,
      change_hash: proposal.change_hash,
    }),
  );
  const voice = { voice_kind: 'human', independence: 'independent', review_order: 'first-order' };
  const provenance_signature = await signWith(
    key,
    typedHuman({
      domain: PROVENANCE_DOMAIN,
      schema_version: 1,
      actor: did,
      action_hash: actionHash,
      timestamp: proposal.created_at,
      ...voice,
    }),
  );
  const signature = await signWith(
    key,
    typedHuman({
      domain: VOTE_DOMAIN,
      schema_version: 1,
      voter: did,
      approved: true,
      provenance_actor: did,
      provenance_action_hash: actionHash,
      provenance_timestamp: proposal.created_at,
      ...voice,
    }),
  );
  return { signature, provenance_signature };
}

/** The proof of possession for an enrolment challenge, by the key being enrolled. */
export async function signEnrolment(
  challenge: { id: string; nonce: string; subject: string; role: string },
  publicKey: string,
  privateKey: string,
): Promise<string> {
  return signWith(
    await importSigner(privateKey),
    typedHuman({
      domain: ENROL_DOMAIN,
      challenge_id: challenge.id,
      nonce: challenge.nonce,
      did: challenge.subject,
      role: challenge.role,
      public_key: publicKey,
    }),
  );
}

/**
 * An approver's verdict on a gated call: a typed human signature over the canonical {domain,
 * approval_id, tool, arguments_hash, verdict}.
 */
export async function signApproval(
  approval: { id: string; tool: string; arguments_hash: string },
  verdict: 'approved' | 'rejected',
  privateKey: string,
): Promise<string> {
  return signWith(
    await importSigner(privateKey),
    typedHuman({
      domain: APPROVAL_DOMAIN,
      approval_id: approval.id,
      tool: approval.tool,
      arguments_hash: approval.arguments_hash,
      verdict,
    }),
  );
}
