/**
 * Quorum legitimacy: only explicit, independent, first-order human approvals count. Each
 * approving vote needs provenance by the voter, signed (typed, human) by a key the registry
 * trusts for the voter, and the vote itself signed (typed, human) by that same key. A vote
 * signed as AI never counts as human; synthetic, system, coordinated or derivative voices
 * never count; a voter listed twice voids the evidence.
 */
import type { KeyObject } from 'node:crypto';
import { canonicalBytes } from '../core/canonical.ts';
import type { SignerType } from '../core/typed-signature.ts';
import { signTyped, verifyTyped } from '../core/typed-signature.ts';
import { toBase64Url } from '../core/encoding.ts';
import { provenanceSigningBytes } from './provenance.ts';
import { decodeB64, importKey, isTrustedKey } from './trusted-keys.ts';
import type { Did, Provenance, QuorumEvidence, QuorumVote, TrustedKeys } from './types.ts';

/** Domain of the vote signing body. */
export const VOTE_DOMAIN = 'sigil.vote.v1';

const HUMAN: SignerType = { type: 'human' };

/** Canonical bytes a voter signs: the vote and the provenance it rests on. */
export function voteSigningBytes(
  vote: { voter: Did; approved: boolean },
  provenance: Provenance,
): Uint8Array {
  return canonicalBytes({
    domain: VOTE_DOMAIN,
    schema_version: 1,
    voter: vote.voter,
    approved: vote.approved,
    provenance_actor: provenance.actor,
    provenance_action_hash: provenance.actionHash,
    provenance_timestamp: provenance.timestamp,
    voice_kind: provenance.voiceKind ?? null,
    independence: provenance.independence ?? null,
    review_order: provenance.reviewOrder ?? null,
  });
}

/**
 * Signs a vote with the voter's key as `signer` (a human voter signs as human; tests and
 * adversaries may pass an AI signer to show such votes never count).
 */
export function signVote(
  privateKey: KeyObject,
  signer: SignerType,
  vote: { voter: Did; approved: boolean },
  provenance: Provenance,
): QuorumVote {
  const signature = signTyped(privateKey, signer, voteSigningBytes(vote, provenance));
  return {
    voter: vote.voter,
    approved: vote.approved,
    provenance,
    signature: toBase64Url(signature),
  };
}

/** Why one approving vote does not count, as an evidence line; null when it counts. */
export function voteProblem(
  vote: QuorumVote,
  index: number,
  trusted: TrustedKeys,
  subjectHash?: string,
): string | null {
  const at = `vote_index: ${index}; voter: ${vote.voter}`;
  const prov = vote.provenance;
  if (prov === undefined) return `${at}; provenance: missing`;
  if (prov.actor !== vote.voter) return `${at}; provenance_actor: ${prov.actor}`;
  if (prov.voiceKind !== 'human') return `${at}; voice_kind: ${prov.voiceKind ?? 'missing'}`;
  if (prov.independence !== 'independent') {
    return `${at}; independence: ${prov.independence ?? 'missing'}`;
  }
  if (prov.reviewOrder !== 'first-order')
    return `${at}; review_order: ${prov.reviewOrder ?? 'missing'}`;
  if (subjectHash !== undefined && prov.actionHash !== subjectHash) {
    return `${at}; action_hash: not-this-decision`;
  }
  const rawKey = decodeB64(prov.publicKey);
  if (rawKey === null || rawKey.length !== 32) {
    return `${at}; public_key_len: ${rawKey?.length ?? 'malformed'}`;
  }
  if (!trusted.has(vote.voter)) return `${at}; public_key: unresolved`;
  if (!isTrustedKey(trusted, vote.voter, rawKey)) return `${at}; public_key: not-bound`;
  const provSig = decodeB64(prov.signature);
  if (provSig === null || provSig.length !== 64) {
    return `${at}; signature_len: ${provSig?.length ?? 'malformed'}`;
  }
  const key = importKey(rawKey);
  if (key === null || !verifyTyped(key, HUMAN, provenanceSigningBytes(prov), provSig)) {
    return `${at}; signature: invalid`;
  }
  const voteSig = decodeB64(vote.signature);
  if (voteSig === null || voteSig.length !== 64) {
    return `${at}; vote_signature_len: ${voteSig?.length ?? 'malformed'}`;
  }
  if (!verifyTyped(key, HUMAN, voteSigningBytes(vote, prov), voteSig)) {
    return `${at}; vote_signature: invalid`;
  }
  return null;
}

/** Voters that appear more than once, sorted. */
export function duplicateVoters(evidence: QuorumEvidence): Did[] {
  const seen = new Set<Did>();
  const dups = new Set<Did>();
  for (const v of evidence.votes) {
    if (seen.has(v.voter)) dups.add(v.voter);
    seen.add(v.voter);
  }
  return [...dups].sort();
}

/** Distinct voters whose approvals verified, and evidence lines for approvals that did not. */
export function verifiedHumanApprovals(
  evidence: QuorumEvidence,
  trusted: TrustedKeys,
  subjectHash?: string,
): { voters: Did[]; rejected: string[] } {
  const voters = new Set<Did>();
  const rejected: string[] = [];
  evidence.votes.forEach((vote, index) => {
    if (vote.approved !== true) return;
    const problem = voteProblem(vote, index, trusted, subjectHash);
    if (problem === null) voters.add(vote.voter);
    else rejected.push(problem);
  });
  return { voters: [...voters].sort(), rejected };
}

/** Why quorum evidence is not legitimate; null when enough verified human approvals exist. */
export function quorumProblem(
  evidence: QuorumEvidence | null | undefined,
  trusted: TrustedKeys,
  subjectHash?: string,
): { description: string; evidence: string[] } | null {
  if (evidence === null || evidence === undefined) {
    return { description: 'No quorum evidence provided', evidence: ['quorum_evidence: none'] };
  }
  if (!Number.isSafeInteger(evidence.threshold) || evidence.threshold < 1) {
    return {
      description: 'Quorum threshold must be a positive integer',
      evidence: [`threshold: ${String(evidence.threshold)}`],
    };
  }
  const dups = duplicateVoters(evidence);
  if (dups.length > 0) {
    return {
      description: 'Quorum evidence contains duplicate voter entries',
      evidence: [`threshold: ${evidence.threshold}`, `duplicate_voters: ${dups.join(', ')}`],
    };
  }
  const { voters, rejected } = verifiedHumanApprovals(evidence, trusted, subjectHash);
  if (voters.length >= evidence.threshold) return null;
  const excluded = evidence.votes.filter(
    (v) => v.provenance === undefined || v.provenance.voiceKind !== 'human',
  ).length;
  return {
    description: 'Quorum threshold not met by verified human vote provenance',
    evidence: [
      `threshold: ${evidence.threshold}`,
      `verified_human_approvals: ${voters.length}`,
      `synthetic_votes_excluded: ${excluded}`,
      `rejected_approved_votes: ${rejected.length}`,
      ...rejected,
    ],
  };
}
