/**
 * The quorum module and the kernel cannot disagree about a vote: for every vote an attacker
 * could bring (AI-typed, relabelled, over another proposal, by another key, for another DID,
 * by a witness not in force or without its standing, without provenance, duplicated), the
 * quorum's count and the kernel's quorum-legitimate judgement, reached through decide() with
 * the evidence the runtime builds for a commit, say the same thing.
 */
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/core/ed25519.ts';
import { createKernel } from '../../src/gatekeeper/index.ts';
import { DEFAULT_POLICY_FLAGS, DEFAULT_TRUST_MODEL } from '../../src/policy/index.ts';
import {
  createProposal,
  electorateFor,
  quorumEvidenceJson,
  quorumStatus,
  registryFromEntries,
  signAttestation,
  type Electorate,
  type Proposal,
} from '../../src/quorum/index.ts';
import { CONSTITUTION_BYTES } from '../../src/runtime/constitution.ts';
import { decide, type Caller, type DecisionState } from '../../src/runtime/decide.ts';
import {
  AI,
  CHANGE,
  ROOT,
  attestationBy,
  entryOf,
  m1,
  m2,
  m3,
  proposal,
  root,
  standardElectorate,
  standingOf,
  T0,
  type Signer,
} from './fixtures.ts';

const kernel = createKernel(CONSTITUTION_BYTES);
const ROOT_CALLER: Caller = {
  subject: root.did,
  loa: 'root',
  signer: { type: 'human' },
  verified: true,
  source: 'token',
};
const state: DecisionState = {
  now: T0 + 60_000,
  mode: 'active',
  threshold: 0.4,
  flags: { ...DEFAULT_POLICY_FLAGS },
  model: DEFAULT_TRUST_MODEL,
  rate: { allowed: true, pressure: 0 },
  kernel,
  trustedKeys: new Map(),
  humanRootCount: 1,
  subjects: new Map(),
  consent: { bailments: [], grants: [] },
  systemCritical: new Set(['system.propose', 'model.upload']),
};

/** A proposal needing one vote, carrying exactly `votes`. */
function withVotes(
  votes: { witness_id: string; signature: string; provenance_signature: string }[],
): Proposal {
  const p = createProposal({
    change: CHANGE,
    proposer: ROOT,
    now: T0,
    ttlMs: 3_600_000,
    requirements: { root: 1, mentors: 1 },
  });
  return {
    ...p,
    attestations: votes.map((v) => ({ ...v, attested_at: new Date(T0).toISOString() })),
  };
}

/** What the quorum counts and what the kernel (threshold = votes that count) rules. */
function judge(p: Proposal, electorate: Electorate, threshold = 1) {
  const status = quorumStatus(p, electorate);
  const wire = quorumEvidenceJson(p, electorate);
  const decision = decide(
    ROOT_CALLER,
    {
      action: 'system.commit',
      target: `system/proposals/${p.id}`,
      quorum: { ...wire, evidence: { ...wire.evidence, threshold } },
    },
    state,
  );
  return { counted: status.counted.length, kernel: decision };
}

describe('the quorum module and the kernel agree on every vote', () => {
  const electorate = standardElectorate([root, m1, m2, m3]);
  const p0 = withVotes([]);
  const stranger = generateKeyPair();
  const as = (s: Signer, signed: { signature: string; provenance_signature: string }) => ({
    witness_id: s.did,
    ...signed,
  });
  const other = proposal({ setting: 'irl.threshold', value: 0.01 });
  const votes: [
    string,
    { witness_id: string; signature: string; provenance_signature: string },
    Electorate,
  ][] = [
    ['a valid human vote', attestationBy(m1, p0), electorate],
    ['an AI-typed vote', attestationBy(m1, p0, p0, AI), electorate],
    ['a vote for another proposal', attestationBy(m1, p0, other), electorate],
    [
      'a vote by a stranger key',
      as(m1, signAttestation(p0, m1.did, stranger.privateKey)),
      electorate,
    ],
    [
      'a vote signed by another witness',
      as(m1, signAttestation(p0, m1.did, m2.keys.privateKey)),
      electorate,
    ],
    [
      'a vote signed for another DID',
      as(m1, signAttestation(p0, m2.did, m1.keys.privateKey)),
      electorate,
    ],
    [
      'a vote with no provenance signature',
      { ...attestationBy(m1, p0), provenance_signature: '' },
      electorate,
    ],
    [
      'a vote with its provenance swapped',
      {
        ...attestationBy(m1, p0),
        provenance_signature: attestationBy(m2, p0).provenance_signature,
      },
      electorate,
    ],
    [
      'a vote by a witness not admitted',
      attestationBy(m1, p0),
      electorateFor(
        p0,
        registryFromEntries([entryOf(root), entryOf(m1, null)]),
        standingOf([root, m1]),
      ),
    ],
    [
      'a vote by a witness whose standing is lost',
      attestationBy(m1, p0),
      electorateFor(p0, registryFromEntries([entryOf(root), entryOf(m1)]), standingOf([root])),
    ],
  ];

  for (const [what, vote, who] of votes) {
    it(what, () => {
      const { counted, kernel: decision } = judge(withVotes([vote]), who);
      const kernelCounts = decision.verdict === 'allow';
      expect(kernelCounts).toBe(counted === 1);
      if (!kernelCounts) {
        expect(decision.code).toBe('quorum_required');
        expect(decision.violations.map((v) => v.invariant)).toEqual(['quorum-legitimate']);
      }
      expect(counted).toBe(what === 'a valid human vote' ? 1 : 0);
    });
  }

  it('a voter listed twice voids the evidence for both', () => {
    const v = attestationBy(m1, p0);
    const { counted, kernel: decision } = judge(
      withVotes([v, v, attestationBy(m2, p0)]),
      electorate,
    );
    expect(counted).toBe(0);
    expect(decision.verdict).toBe('deny');
    expect(decision.violations[0]?.evidence.join(' ')).toMatch(/duplicate_voters/);
  });

  it('an unprovenanced vote never counts for the kernel, and no attestation can be one', () => {
    const p = withVotes([attestationBy(m1, p0)]);
    const wire = quorumEvidenceJson(p, electorate);
    const { provenance: _dropped, ...bare } = wire.evidence.votes[0]!;
    const decision = decide(
      ROOT_CALLER,
      {
        action: 'system.commit',
        target: `system/proposals/${p.id}`,
        quorum: { ...wire, evidence: { threshold: 1, votes: [bare] } },
      },
      state,
    );
    expect(decision).toMatchObject({ verdict: 'deny', code: 'quorum_required' });
    // the same vote, provenanced, counts
    expect(judge(p, electorate).kernel.verdict).toBe('allow');
  });

  it('a commit without evidence is a system change the kernel refuses', () => {
    const decision = decide(
      ROOT_CALLER,
      { action: 'system.commit', target: 'system/proposals/x' },
      state,
    );
    expect(decision).toMatchObject({ verdict: 'deny', code: 'quorum_required' });
    expect(decision.violations[0]).toMatchObject({
      invariant: 'quorum-legitimate',
      description: 'No quorum evidence provided',
    });
  });

  it('the kernel needs as many verified votes as the quorum, Root and Mentors together', () => {
    const all = [root, m1, m2, m3];
    const p = {
      ...proposal(),
      attestations: all.map((s) => ({
        ...attestationBy(s, proposal()),
        attested_at: new Date(T0).toISOString(),
      })),
    };
    expect(judge(p, electorate, 4)).toMatchObject({ counted: 4, kernel: { verdict: 'allow' } });
    const three = { ...p, attestations: p.attestations.slice(0, 3) };
    expect(judge(three, electorate, 4)).toMatchObject({ counted: 3, kernel: { verdict: 'deny' } });
  });
});
