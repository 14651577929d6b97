/**
 * Counting a quorum and committing a proposal. Nothing collected earlier is trusted: every
 * vote is re-verified against the electorate as it is now (a witness removed, or whose DID lost
 * its standing, since voting no longer counts). A voter listed twice voids the count, as it
 * voids the kernel's evidence; the kernel's evidence is built here (`quorumEvidence`).
 */
import type { JsonValue } from '../core/canonical.ts';
import { toBase64Url } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { duplicateVoters } from '../gatekeeper/quorum-evidence.ts';
import type { QuorumEvidence } from '../gatekeeper/types.ts';
import { checkAttestation, type AttestationFault } from './attest.ts';
import { electorateKeys, type Electorate } from './electorate.ts';
import {
  attestationSubjectHash,
  attestationVote,
  isExpired,
  verifyProposalIntegrity,
  type Proposal,
  type QuorumRequirements,
} from './proposals.ts';
import type { WitnessRole } from './registry.ts';

/** A counted witness signature, in the record's witness shape. */
export interface Witness {
  readonly witness_id: string;
  readonly signature: string;
  readonly provenance_signature: string;
  readonly timestamp: string;
  readonly authority: WitnessRole;
}

export interface QuorumStatus {
  readonly root: number;
  readonly mentors: number;
  readonly required: QuorumRequirements;
  readonly satisfied: boolean;
  readonly counted: readonly Witness[];
  readonly rejected: readonly {
    readonly witness_id: string;
    readonly reason: AttestationFault | 'duplicate';
  }[];
}

/**
 * The kernel's quorum evidence for a proposal: one vote per attestation, with the threshold of
 * Root plus Mentors it requires, the subject hash every vote must name, and the keys it trusts.
 */
export function quorumEvidence(
  proposal: Proposal,
  electorate: Electorate,
): {
  evidence: QuorumEvidence;
  subjectHash: string;
  trustedKeys: ReturnType<typeof electorateKeys>;
} {
  const ref = verifyProposalIntegrity(proposal);
  const votes = proposal.attestations.map((a) =>
    attestationVote(ref, a, electorate.voters.get(a.witness_id)?.public_key ?? ''),
  );
  return {
    evidence: { threshold: proposal.required.root + proposal.required.mentors, votes },
    subjectHash: attestationSubjectHash(ref),
    trustedKeys: electorateKeys(electorate),
  };
}

/** `quorumEvidence` in the wire form a decision request carries and its record seals. */
export function quorumEvidenceJson(
  proposal: Proposal,
  electorate: Electorate,
): { evidence: QuorumEvidence; subject_hash: string; trusted_keys: Record<string, string[]> } {
  const { evidence, subjectHash, trustedKeys } = quorumEvidence(proposal, electorate);
  return {
    evidence,
    subject_hash: subjectHash,
    trusted_keys: Object.fromEntries(
      [...trustedKeys].map(([did, keys]) => [did, keys.map((k) => toBase64Url(k))]),
    ),
  };
}

/**
 * Counts the valid, distinct human witnesses of a proposal by role, re-verifying every vote.
 * Throws 'proposal_tampered' if the proposal no longer matches its id.
 */
export function quorumStatus(proposal: Proposal, electorate: Electorate): QuorumStatus {
  const ref = verifyProposalIntegrity(proposal);
  const counted: Witness[] = [];
  const rejected: { witness_id: string; reason: AttestationFault | 'duplicate' }[] = [];
  let root = 0;
  let mentors = 0;
  const duplicates = new Set(duplicateVoters(quorumEvidence(proposal, electorate).evidence));
  for (const a of proposal.attestations) {
    if (duplicates.size > 0) {
      rejected.push({ witness_id: String(a?.witness_id), reason: 'duplicate' });
      continue;
    }
    const checked = checkAttestation(ref, a, electorate);
    if (!checked.ok) {
      rejected.push({ witness_id: String(a?.witness_id), reason: checked.fault });
      continue;
    }
    const { entry } = checked;
    if (entry.role === 'root') root += 1;
    else mentors += 1;
    counted.push({
      witness_id: entry.witness_id,
      signature: a.signature,
      provenance_signature: a.provenance_signature,
      timestamp: a.attested_at,
      authority: entry.role,
    });
  }
  const { required } = proposal;
  return {
    root,
    mentors,
    required,
    satisfied: root >= required.root && mentors >= required.mentors,
    counted,
    rejected,
  };
}

/** The payload of the `system_config` record a commit produces. */
export interface SystemConfigPayload {
  readonly proposal_id: string;
  readonly change: JsonValue;
  readonly change_hash: string;
  readonly required: QuorumRequirements;
  readonly proposer: string;
  readonly created_at: string;
  readonly expires_at: string;
}

/** A `system_config` record draft: the runtime seals it with `witnesses` attached. */
export interface SystemConfigDraft {
  readonly kind: 'system_config';
  readonly space: 'system';
  readonly payload: SystemConfigPayload;
  readonly witnesses: readonly Witness[];
}

/**
 * Commits a proposal once Root + k Mentors have validly attested. Refusals:
 * 'proposal_tampered', 'proposal_not_pending', 'proposal_expired', 'quorum_required'
 * (with the counts in details). Returns the committed proposal and the record draft
 * carrying every counted witness signature.
 */
export function commitProposal(
  proposal: Proposal,
  electorate: Electorate,
  now: number,
): { proposal: Proposal; record: SystemConfigDraft } {
  const status = quorumStatus(proposal, electorate);
  if (proposal.status !== 'pending') {
    throw new SigilError(
      'proposal_not_pending',
      `proposal ${proposal.id} is ${String(proposal.status)}`,
    );
  }
  if (isExpired(proposal, now))
    throw new SigilError('proposal_expired', `proposal ${proposal.id} has expired`);
  if (!status.satisfied) {
    throw new SigilError(
      'quorum_required',
      `quorum not satisfied: ${status.root}/${status.required.root} Root, ${status.mentors}/${status.required.mentors} Mentors`,
      {
        root: status.root,
        mentors: status.mentors,
        required: status.required,
        rejected: status.rejected,
      },
    );
  }
  const { id, change, change_hash, required, proposer, created_at, expires_at } = proposal;
  return {
    proposal: { ...proposal, status: 'committed' },
    record: {
      kind: 'system_config',
      space: 'system',
      payload: { proposal_id: id, change, change_hash, required, proposer, created_at, expires_at },
      witnesses: status.counted,
    },
  };
}
