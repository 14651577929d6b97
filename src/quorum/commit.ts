/**
 * Counting a quorum and committing a proposal. Nothing collected earlier is trusted:
 * every attestation is re-verified against the registry as it is now (a witness revoked
 * since attesting no longer counts), and each witness id, DID and key counts once.
 */
import type { JsonValue } from '../core/canonical.ts';
import { SigilError } from '../core/errors.ts';
import { checkAttestation, type AttestationFault } from './attest.ts';
import {
  isExpired,
  verifyProposalIntegrity,
  type Proposal,
  type QuorumRequirements,
} from './proposals.ts';
import type { WitnessRegistry, WitnessRole } from './registry.ts';

/** A counted witness signature, in the record's witness shape. */
export interface Witness {
  readonly witness_id: string;
  readonly signature: string;
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
 * Counts the valid, distinct human witnesses of a proposal by role, re-verifying every
 * signature. Throws 'proposal_tampered' if the proposal no longer matches its id.
 */
export function quorumStatus(proposal: Proposal, registry: WitnessRegistry): QuorumStatus {
  const ref = verifyProposalIntegrity(proposal);
  const seen = new Set<string>();
  const counted: Witness[] = [];
  const rejected: { witness_id: string; reason: AttestationFault | 'duplicate' }[] = [];
  let root = 0;
  let mentors = 0;
  for (const a of proposal.attestations) {
    const checked = checkAttestation(ref, a, registry);
    if (!checked.ok) {
      rejected.push({ witness_id: String(a?.witness_id), reason: checked.fault });
      continue;
    }
    const { entry } = checked;
    const keys = [`id:${entry.witness_id}`, `did:${entry.did}`, `key:${entry.public_key}`];
    if (keys.some((k) => seen.has(k))) {
      rejected.push({ witness_id: entry.witness_id, reason: 'duplicate' });
      continue;
    }
    keys.forEach((k) => seen.add(k));
    if (entry.role === 'root') root += 1;
    else mentors += 1;
    counted.push({
      witness_id: entry.witness_id,
      signature: a.signature,
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
  registry: WitnessRegistry,
  now: number,
): { proposal: Proposal; record: SystemConfigDraft } {
  const status = quorumStatus(proposal, registry);
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
