/**
 * Quorum proposals: a system change that waits for Root and k Mentor witnesses.
 * A proposal's id is the hash of everything that defines it (change hash, requirements,
 * proposer, times), so a stored proposal whose change, threshold or expiry was altered no
 * longer matches its id and is refused ('proposal_tampered') before anything is counted.
 */
import type { KeyObject } from 'node:crypto';
import { canonicalBytes, canonicalJson, type JsonValue } from '../core/canonical.ts';
import { toBase64Url } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { sha256Hex } from '../core/hash.ts';
import { signTyped, type SignerType } from '../core/typed-signature.ts';
import { provenanceSigningBytes, type ProvenanceClaim } from '../gatekeeper/provenance.ts';
import { voteSigningBytes } from '../gatekeeper/quorum-evidence.ts';
import type { Provenance, QuorumVote } from '../gatekeeper/types.ts';
import { isoTime, type QuorumActor } from './registry.ts';

export const PROPOSAL_DOMAIN = 'sigil.quorum.proposal.v1';
export const ATTEST_DOMAIN = 'sigil.quorum.attest.v1';
/** The original's rule: system operations need Root + 3 Mentors. */
export const DEFAULT_REQUIREMENTS: QuorumRequirements = Object.freeze({ root: 1, mentors: 3 });
export const DEFAULT_PROPOSAL_TTL_MS = 7 * 24 * 3_600_000;
const MAX_REQUIRED = 1000;

/** How many distinct Root and Mentor witnesses a proposal needs. */
export interface QuorumRequirements {
  readonly root: number;
  readonly mentors: number;
}

/**
 * A witness's vote for a proposal, as the kernel judges votes (gatekeeper/quorum-evidence.ts):
 * a typed human signature over its provenance (attestationClaim: the witness, this proposal,
 * a human, independent, first-order voice) and one over the approving vote resting on it, both
 * by the witness's enrolled key. `witness_id` is the witness's DID, the caller who submitted it.
 */
export interface WitnessAttestation {
  readonly witness_id: string;
  /** Base64url typed signature over the vote (voteSigningBytes). */
  readonly signature: string;
  /** Base64url typed signature over the provenance claim (provenanceSigningBytes). */
  readonly provenance_signature: string;
  readonly attested_at: string;
}

export interface Proposal {
  readonly id: string;
  readonly change: JsonValue;
  /** Hex SHA-256 of the RFC 8785 canonical change. */
  readonly change_hash: string;
  readonly required: QuorumRequirements;
  readonly proposer: string;
  readonly created_at: string;
  readonly expires_at: string;
  readonly status: 'pending' | 'committed';
  readonly attestations: readonly WitnessAttestation[];
}

/** What a witness signs for: the proposal id, the hash of its change and when it was opened. */
export interface ProposalRef {
  readonly proposal_id: string;
  readonly change_hash: string;
  readonly created_at: string;
}

function proposalId(p: Omit<Proposal, 'id' | 'change' | 'status' | 'attestations'>): string {
  return sha256Hex(
    canonicalBytes({
      domain: PROPOSAL_DOMAIN,
      change_hash: p.change_hash,
      required: p.required,
      proposer: p.proposer,
      created_at: p.created_at,
      expires_at: p.expires_at,
    }),
  );
}

function readRequirements(req: QuorumRequirements): QuorumRequirements {
  const ok = (n: unknown) =>
    typeof n === 'number' && Number.isSafeInteger(n) && n >= 1 && n <= MAX_REQUIRED;
  if (!ok(req?.root) || !ok(req.mentors)) {
    throw new SigilError(
      'quorum_requirements_invalid',
      `root and mentors must be integers from 1 to ${MAX_REQUIRED}`,
    );
  }
  return { root: req.root, mentors: req.mentors };
}

/**
 * Opens a proposal for `change` (any canonical JSON). Only Root may propose
 * ('loa_insufficient'). Defaults: Root + 3 Mentors, open for 7 days.
 */
export function createProposal(args: {
  change: unknown;
  proposer: QuorumActor;
  now: number;
  requirements?: QuorumRequirements;
  ttlMs?: number;
}): Proposal {
  if (args.proposer?.loa !== 'root')
    throw new SigilError('loa_insufficient', 'only Root may propose a system change');
  const required = readRequirements(args.requirements ?? DEFAULT_REQUIREMENTS);
  const ttl = args.ttlMs ?? DEFAULT_PROPOSAL_TTL_MS;
  if (!Number.isSafeInteger(ttl) || ttl <= 0)
    throw new SigilError('quorum_ttl_invalid', 'ttlMs must be a positive integer');
  const text = canonicalJson(args.change);
  const body = {
    change_hash: sha256Hex(text),
    required,
    proposer: args.proposer.subject,
    created_at: isoTime(args.now),
    expires_at: isoTime(args.now + ttl),
  };
  return {
    id: proposalId(body),
    change: JSON.parse(text) as JsonValue,
    ...body,
    status: 'pending',
    attestations: [],
  };
}

/**
 * Recomputes the change hash and id of a (possibly stored) proposal and returns the
 * reference witnesses sign; 'proposal_tampered' if either no longer matches.
 */
export function verifyProposalIntegrity(proposal: Proposal): ProposalRef {
  let change_hash: string;
  let id: string;
  try {
    change_hash = sha256Hex(canonicalBytes(proposal.change));
    id = proposalId({ ...proposal, change_hash, required: readRequirements(proposal.required) });
  } catch {
    throw new SigilError('proposal_tampered', 'proposal cannot be read');
  }
  if (change_hash !== proposal.change_hash || id !== proposal.id) {
    throw new SigilError(
      'proposal_tampered',
      `proposal ${String(proposal.id)} does not match its contents`,
    );
  }
  return { proposal_id: id, change_hash, created_at: proposal.created_at };
}

/** True once `now` has reached the proposal's expiry (and for an unreadable expiry). */
export function isExpired(proposal: Proposal, now: number): boolean {
  isoTime(now);
  return !(now < Date.parse(proposal.expires_at));
}

function toRef(target: Proposal | ProposalRef): ProposalRef {
  return 'proposal_id' in target
    ? target
    : { proposal_id: target.id, change_hash: target.change_hash, created_at: target.created_at };
}

/** Canonical {domain, proposal_id, change_hash}: what a vote is about. */
export function attestationMessage(target: Proposal | ProposalRef): Uint8Array {
  const { proposal_id, change_hash } = toRef(target);
  return canonicalBytes({ domain: ATTEST_DOMAIN, proposal_id, change_hash });
}

/** The hash every counted vote's provenance names (the kernel's quorum subject hash). */
export function attestationSubjectHash(target: Proposal | ProposalRef): string {
  return sha256Hex(attestationMessage(target));
}

/** The provenance a witness signs for a proposal: itself, this proposal, a first-order human voice. */
export function attestationClaim(target: Proposal | ProposalRef, did: string): ProvenanceClaim {
  return {
    actor: did,
    actionHash: attestationSubjectHash(target),
    timestamp: toRef(target).created_at,
    voiceKind: 'human',
    independence: 'independent',
    reviewOrder: 'first-order',
  };
}

/** The kernel's vote for an attestation, its provenance carrying the witness key `publicKey`. */
export function attestationVote(
  target: Proposal | ProposalRef,
  attestation: Pick<WitnessAttestation, 'witness_id' | 'signature' | 'provenance_signature'>,
  publicKey: string,
): QuorumVote {
  const provenance: Provenance = {
    ...attestationClaim(target, attestation.witness_id),
    publicKey,
    signature: attestation.provenance_signature,
  };
  return {
    voter: attestation.witness_id,
    approved: true,
    provenance,
    signature: attestation.signature,
  };
}

/**
 * A witness's two typed signatures for a proposal, base64url (for clients and offline
 * signing). Human by default; only human signatures ever count.
 */
export function signAttestation(
  target: Proposal | ProposalRef,
  did: string,
  privateKey: KeyObject,
  signer: SignerType = { type: 'human' },
): { signature: string; provenance_signature: string } {
  const claim = attestationClaim(target, did);
  const provenance_signature = toBase64Url(
    signTyped(privateKey, signer, provenanceSigningBytes(claim)),
  );
  const provenance = { ...claim, publicKey: '', signature: provenance_signature };
  const signature = toBase64Url(
    signTyped(privateKey, signer, voteSigningBytes({ voter: did, approved: true }, provenance)),
  );
  return { signature, provenance_signature };
}
