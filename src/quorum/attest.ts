/**
 * Collecting witness signatures on a proposal. Every check that can be made is made on
 * arrival (and all of them again at commit, see commit.ts): the proposal is intact, open
 * and unexpired; the witness is registered, unrevoked and human; it has not attested
 * already (by id, DID or key); its typed signature covers this proposal's id and change.
 */
import { publicKeyFromRaw } from '../core/ed25519.ts';
import { fromBase64Url } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { verifyTyped, type SignerType } from '../core/typed-signature.ts';
import {
  attestationMessage,
  isExpired,
  verifyProposalIntegrity,
  type Proposal,
  type ProposalRef,
  type WitnessAttestation,
} from './proposals.ts';
import {
  isoTime,
  lookupWitness,
  witnessKeyBytes,
  type WitnessEntry,
  type WitnessRegistry,
} from './registry.ts';

/** Why an attestation does not count (the SigilError code `attest` would throw). */
export type AttestationFault =
  'witness_unknown' | 'witness_revoked' | 'witness_not_human' | 'signature_invalid';

/**
 * Checks one attestation against the registry and the proposal reference; returns the
 * witness entry when it counts, or the reason it does not. Never throws.
 */
export function checkAttestation(
  ref: ProposalRef,
  attestation: { witness_id: string; signature: string; signer_type: SignerType },
  registry: WitnessRegistry,
): { ok: true; entry: WitnessEntry } | { ok: false; fault: AttestationFault } {
  const entry =
    typeof attestation?.witness_id === 'string'
      ? lookupWitness(registry, attestation.witness_id)
      : undefined;
  if (entry === undefined) return { ok: false, fault: 'witness_unknown' };
  if (entry.revoked_at !== null) return { ok: false, fault: 'witness_revoked' };
  if (attestation.signer_type?.type !== 'human') return { ok: false, fault: 'witness_not_human' };
  try {
    const key = publicKeyFromRaw(witnessKeyBytes(entry.public_key));
    const signature = fromBase64Url(attestation.signature);
    if (verifyTyped(key, { type: 'human' }, attestationMessage(ref), signature))
      return { ok: true, entry };
  } catch {
    // an undecodable signature or key is simply not a valid signature
  }
  return { ok: false, fault: 'signature_invalid' };
}

const MESSAGES: Record<AttestationFault, string> = {
  witness_unknown: 'witness is not registered',
  witness_revoked: 'witness has been revoked',
  witness_not_human: 'only human witnesses count',
  signature_invalid: 'signature does not cover this proposal',
};

/**
 * Adds a witness's attestation and returns the updated proposal (the input is untouched).
 * Refusals: 'proposal_tampered', 'proposal_not_pending', 'proposal_expired',
 * 'witness_unknown', 'witness_revoked', 'witness_not_human', 'duplicate_attestation'
 * (same witness, DID or key as an earlier attestation), 'signature_invalid'.
 */
export function attest(
  proposal: Proposal,
  attestation: { witness_id: string; signature: string; signer_type: SignerType },
  registry: WitnessRegistry,
  now: number,
): Proposal {
  const ref = verifyProposalIntegrity(proposal);
  if (proposal.status !== 'pending') {
    throw new SigilError(
      'proposal_not_pending',
      `proposal ${proposal.id} is ${String(proposal.status)}`,
    );
  }
  if (isExpired(proposal, now))
    throw new SigilError('proposal_expired', `proposal ${proposal.id} has expired`);

  const entry =
    typeof attestation?.witness_id === 'string'
      ? lookupWitness(registry, attestation.witness_id)
      : undefined;
  if (entry !== undefined) {
    for (const earlier of proposal.attestations) {
      const other = lookupWitness(registry, earlier.witness_id);
      const same =
        earlier.witness_id === entry.witness_id ||
        other?.did === entry.did ||
        other?.public_key === entry.public_key;
      if (same) {
        throw new SigilError('duplicate_attestation', `${entry.witness_id} has already attested`, {
          witness_id: entry.witness_id,
        });
      }
    }
  }
  const checked = checkAttestation(ref, attestation, registry);
  if (!checked.ok) {
    throw new SigilError(checked.fault, MESSAGES[checked.fault], {
      witness_id: attestation?.witness_id,
    });
  }
  const accepted: WitnessAttestation = {
    witness_id: attestation.witness_id,
    signature: attestation.signature,
    signer_type: { type: 'human' },
    attested_at: isoTime(now),
  };
  return { ...proposal, attestations: [...proposal.attestations, accepted] };
}
