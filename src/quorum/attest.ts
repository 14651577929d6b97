/**
 * Collecting witness votes on a proposal. Every check that can be made is made on arrival (and
 * all of them again at commit, see commit.ts): the proposal is intact, open and unexpired; the
 * witness is the caller itself, in the proposal's electorate, and has not voted already; its
 * vote verifies as the kernel verifies votes (gatekeeper/quorum-evidence.ts `voteProblem`).
 */
import { SigilError } from '../core/errors.ts';
import { voteProblem } from '../gatekeeper/quorum-evidence.ts';
import { electorateKeys, type AttestationFault, type Electorate } from './electorate.ts';
import {
  attestationSubjectHash,
  attestationVote,
  isExpired,
  verifyProposalIntegrity,
  type Proposal,
  type ProposalRef,
  type WitnessAttestation,
} from './proposals.ts';
import { isoTime, type WitnessEntry } from './registry.ts';

export type { AttestationFault } from './electorate.ts';

type Submitted = Pick<WitnessAttestation, 'witness_id' | 'signature' | 'provenance_signature'>;

/**
 * Checks one attestation as the kernel would: returns the voter's entry when its vote counts,
 * or the reason it does not. Never throws.
 */
export function checkAttestation(
  ref: ProposalRef,
  attestation: Submitted,
  electorate: Electorate,
): { ok: true; entry: WitnessEntry } | { ok: false; fault: AttestationFault } {
  const id = typeof attestation?.witness_id === 'string' ? attestation.witness_id : '';
  const entry = electorate.voters.get(id);
  if (entry === undefined) {
    return { ok: false, fault: electorate.excluded.get(id) ?? 'witness_unknown' };
  }
  try {
    const vote = attestationVote(ref, attestation, entry.public_key);
    const problem = voteProblem(vote, 0, electorateKeys(electorate), attestationSubjectHash(ref));
    if (problem === null) return { ok: true, entry };
  } catch {
    // a malformed attestation is simply not a valid vote
  }
  return { ok: false, fault: 'signature_invalid' };
}

const MESSAGES: Record<AttestationFault, string> = {
  witness_unknown: 'the caller is not an enrolled witness',
  witness_not_in_force: 'the witness is not in force for this proposal',
  witness_standing_lost: 'the witness no longer holds the standing its slot needs',
  signature_invalid: 'the vote does not verify for this proposal under the witness key',
};

/**
 * Adds a witness's vote and returns the updated proposal (the input is untouched). Refusals:
 * 'proposal_tampered', 'proposal_not_pending', 'proposal_expired', 'duplicate_attestation',
 * and the AttestationFault codes.
 */
export function attest(
  proposal: Proposal,
  attestation: Submitted,
  electorate: Electorate,
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
  if (proposal.attestations.some((a) => a.witness_id === attestation?.witness_id)) {
    throw new SigilError(
      'duplicate_attestation',
      `${String(attestation.witness_id)} has already attested`,
      { witness_id: attestation.witness_id },
    );
  }
  const checked = checkAttestation(ref, attestation, electorate);
  if (!checked.ok) {
    throw new SigilError(checked.fault, MESSAGES[checked.fault], {
      witness_id: attestation?.witness_id,
    });
  }
  const accepted: WitnessAttestation = {
    witness_id: checked.entry.did,
    signature: attestation.signature,
    provenance_signature: attestation.provenance_signature,
    attested_at: isoTime(now),
  };
  return { ...proposal, attestations: [...proposal.attestations, accepted] };
}
