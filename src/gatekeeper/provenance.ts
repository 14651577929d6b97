/**
 * Provenance: a typed signature binding an actor to the hash of an action, with the voice
 * taxonomy (human/synthetic/system, independent/coordinated, first-order/derivative) inside
 * the signed body, so relabelling a synthetic voice as human breaks the signature.
 * The signer type is bound too: a signature made as AI never verifies as human.
 */
import type { KeyObject } from 'node:crypto';
import type { JsonValue } from '../core/canonical.ts';
import { canonicalBytes, canonicalJson } from '../core/canonical.ts';
import { publicKeyToRaw } from '../core/ed25519.ts';
import { toBase64Url } from '../core/encoding.ts';
import { sha256Hex } from '../core/hash.ts';
import type { SignerType } from '../core/typed-signature.ts';
import { signTyped, verifyTyped } from '../core/typed-signature.ts';
import { decodeB64, importKey, isTrustedKey } from './trusted-keys.ts';
import type { Did, GatekeeperRequest, Provenance, TrustedKeys } from './types.ts';

/** Domain of the provenance signing body. */
export const PROVENANCE_DOMAIN = 'sigil.provenance.v1';
/** Domain of a gatekeeper request's action hash. */
export const ACTION_HASH_DOMAIN = 'sigil.action.v1';
/** Domain of an MCP tool call's action hash. */
export const MCP_ACTION_DOMAIN = 'sigil.mcp-action.v1';

/** The provenance fields that are signed (everything but the key and signature). */
export type ProvenanceClaim = Omit<Provenance, 'publicKey' | 'signature'>;

/** Canonical bytes signed for provenance; missing taxonomy fields are signed as null. */
export function provenanceSigningBytes(claim: ProvenanceClaim): Uint8Array {
  return canonicalBytes({
    domain: PROVENANCE_DOMAIN,
    schema_version: 1,
    actor: claim.actor,
    action_hash: claim.actionHash,
    timestamp: claim.timestamp,
    voice_kind: claim.voiceKind ?? null,
    independence: claim.independence ?? null,
    review_order: claim.reviewOrder ?? null,
  });
}

/** What a typed signature is bound to besides its message: the signer type (and delegation). */
function signerBinding(signer: SignerType): string {
  return signer.type === 'ai' ? `ai:${signer.delegationId}` : 'human';
}

/** What a successful verification established for one provenance object. */
interface CheckedProvenance {
  signerType: SignerType['type'];
  delegationId: string | null;
  key: KeyObject;
  rawKey: Uint8Array;
}

function bindingOf(signer: SignerType): Pick<CheckedProvenance, 'signerType' | 'delegationId'> {
  return {
    signerType: signer.type,
    delegationId: signer.type === 'ai' ? signer.delegationId : null,
  };
}

// Provenance objects whose signature is known good, with the signer binding it verified as and
// the decoded key. Only frozen objects enter: every signed field is a string, so a frozen object
// still carries exactly what its signature covers, and checking it again would only repeat the
// same Ed25519 verify. Sigil's own signing enters here directly (it made the signature for the
// caller it authenticated). Weak: it holds nothing a request no longer references. What is
// checked per request against that request's state (actor, the key trusted for the actor now,
// the voice) is never cached.
const checked = new WeakMap<Provenance, CheckedProvenance>();

/**
 * Signs a provenance claim as `signer` with the actor's key. The result is frozen; verifying
 * it in this process (as the same signer) skips the Ed25519 check it would pass anyway.
 */
export function signProvenance(
  privateKey: KeyObject,
  publicKey: KeyObject,
  signer: SignerType,
  claim: ProvenanceClaim,
): Provenance {
  const signature = signTyped(privateKey, signer, provenanceSigningBytes(claim));
  const provenance: Provenance = Object.freeze({
    ...claim,
    publicKey: toBase64Url(publicKeyToRaw(publicKey)),
    signature: toBase64Url(signature),
  });
  const rawKey = publicKeyToRaw(publicKey);
  checked.set(provenance, { ...bindingOf(signer), key: publicKey, rawKey });
  return provenance;
}

/**
 * Hash identifying a gatekeeper request, for provenance `actionHash`: hex SHA-256 of the
 * canonical {domain, actor, action, target, permissions (sorted), payload (null if absent)}.
 */
export function actionHash(request: GatekeeperRequest): string {
  return sha256Hex(
    canonicalBytes({
      domain: ACTION_HASH_DOMAIN,
      actor: request.actor,
      action: request.action,
      target: request.target,
      permissions: [...request.permissions].sort(),
      payload: request.payload ?? null,
    }),
  );
}

const MCP_DOMAIN_TEXT = JSON.stringify(MCP_ACTION_DOMAIN);

/** Hash identifying an MCP tool call: hex SHA-256 of canonical {domain, action, arguments}. */
export function mcpActionHash(action: string, args: JsonValue): string {
  // The canonical text of {domain, action, arguments} laid out directly (JCS member order:
  // action < arguments < domain), hashed as its UTF-8 bytes: no object, sort or encoding pass.
  return sha256Hex(
    `{"action":${canonicalJson(action)},"arguments":${canonicalJson(args)},"domain":${MCP_DOMAIN_TEXT}}`,
  );
}

// Successful verifications, keyed by exactly what they cover: the key, the signer binding, the
// signature and every signed field (the message is a pure function of those). The MCP rule
// and the provenance invariant check the same provenance within one decision, and a caller's
// provenance may recur. Bounded (the oldest leaves first); failures are never cached.
const VERIFIED_MAX = 4096;
const verified = new Set<string>();

function verifiedBefore(
  key: KeyObject,
  signer: SignerType,
  provenance: Provenance,
  signature: Uint8Array,
): boolean {
  const binding = signerBinding(signer);
  const id = JSON.stringify([
    provenance.publicKey,
    binding,
    provenance.signature,
    provenance.actor,
    provenance.actionHash,
    provenance.timestamp,
    provenance.voiceKind ?? null,
    provenance.independence ?? null,
    provenance.reviewOrder ?? null,
  ]);
  if (verified.has(id)) return true;
  if (!verifyTyped(key, signer, provenanceSigningBytes(provenance), signature)) return false;
  if (verified.size >= VERIFIED_MAX) verified.delete(verified.values().next().value!);
  verified.add(id);
  return true;
}

/** A provenance check failure: a description and evidence lines. */
export interface ProvenanceProblem {
  description: string;
  evidence: string[];
}

/** The key and checks that verified a provenance. */
export interface VerifiedProvenance {
  key: KeyObject;
  rawKey: Uint8Array;
}

/**
 * Verifies provenance for `actor`: actor matches, the key is 32 bytes and trusted for the
 * actor, and the 64-byte typed signature verifies as `signer` over the canonical body.
 * A human voice claimed under an AI signer is refused.
 */
export function verifyProvenance(
  provenance: Provenance,
  actor: Did,
  signer: SignerType,
  trusted: TrustedKeys,
): { ok: true; verified: VerifiedProvenance } | ({ ok: false } & ProvenanceProblem) {
  const known = checked.get(provenance);
  if (
    known !== undefined &&
    known.signerType === signer.type &&
    known.delegationId === (signer.type === 'ai' ? signer.delegationId : null) &&
    provenance.actor === actor &&
    !(provenance.voiceKind === 'human' && signer.type !== 'human') &&
    isTrustedKey(trusted, actor, known.rawKey)
  ) {
    return { ok: true, verified: { key: known.key, rawKey: known.rawKey } };
  }
  // Anything else takes the full path, which also names the failure.
  const fail = (description: string, ...evidence: string[]) =>
    ({ ok: false, description, evidence }) as const;
  if (provenance.actor !== actor) {
    return fail(
      'Provenance actor does not match request actor',
      `provenance.actor: ${provenance.actor}`,
      `actor: ${actor}`,
    );
  }
  if (typeof provenance.actionHash !== 'string' || !/^[0-9a-f]{64}$/.test(provenance.actionHash)) {
    return fail('Provenance action_hash is not a SHA-256 hex digest', `actor: ${actor}`);
  }
  const rawKey = decodeB64(provenance.publicKey);
  if (rawKey === null || rawKey.length !== 32) {
    return fail(
      'Provenance public_key is not 32 bytes',
      `key_len: ${rawKey?.length ?? 'malformed'}`,
    );
  }
  if (!trusted.has(actor)) {
    return fail('Provenance public_key is unresolved for actor DID', `actor: ${actor}`);
  }
  if (!isTrustedKey(trusted, actor, rawKey)) {
    return fail('Provenance public_key is not bound to actor DID', `actor: ${actor}`);
  }
  const signature = decodeB64(provenance.signature);
  if (signature === null || signature.length !== 64) {
    return fail(
      'Provenance signature is not 64 bytes (required for Ed25519)',
      `sig_len: ${signature?.length ?? 'malformed'}`,
    );
  }
  if (provenance.voiceKind === 'human' && signer.type !== 'human') {
    return fail(
      'Provenance claims a human voice for an AI signer',
      `actor: ${actor}`,
      `signer_type: ${signer.type}`,
    );
  }
  const key = importKey(rawKey);
  if (key === null || !verifiedBefore(key, signer, provenance, signature)) {
    return fail(
      'Provenance Ed25519 signature is cryptographically invalid',
      `actor: ${actor}`,
      `signer_type: ${signer.type}`,
    );
  }
  if (Object.isFrozen(provenance)) {
    checked.set(provenance, { ...bindingOf(signer), key, rawKey });
  }
  return { ok: true, verified: { key, rawKey } };
}
