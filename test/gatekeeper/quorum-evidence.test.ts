import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../src/core/hash.ts';
import { checkInvariant } from '../../src/gatekeeper/invariants.ts';
import {
  quorumProblem,
  signVote,
  verifiedHumanApprovals,
} from '../../src/gatekeeper/quorum-evidence.ts';
import type { QuorumEvidence, QuorumVote } from '../../src/gatekeeper/types.ts';
import {
  AI,
  HUMAN,
  humanVote,
  party,
  passingWorld,
  provenanceBy,
  registry,
  request,
} from './judicial-fixtures.ts';

const [v1, v2, v3, v4] = [1, 2, 3, 4].map((i) => party(`did:sigil:voter${i}`)) as [
  ReturnType<typeof party>,
  ReturnType<typeof party>,
  ReturnType<typeof party>,
  ReturnType<typeof party>,
];
const trusted = registry(v1, v2, v3, v4);
const evidence = (votes: QuorumVote[], threshold = 3): QuorumEvidence => ({ threshold, votes });

describe('quorum-legitimate', () => {
  it('passes when enough verified human approvals exist', () => {
    expect(
      quorumProblem(evidence([humanVote(v1), humanVote(v2), humanVote(v3)]), trusted),
    ).toBeNull();
    expect(
      quorumProblem(
        evidence([humanVote(v1), humanVote(v2), humanVote(v3), humanVote(v4, { approved: false })]),
        trusted,
      ),
    ).toBeNull();
  });

  it('fails without evidence', () => {
    expect(quorumProblem(null, trusted)?.description).toBe('No quorum evidence provided');
    const { context } = passingWorld();
    expect(
      checkInvariant('quorum-legitimate', request(), { ...context, quorum: null })?.invariant,
    ).toBe('quorum-legitimate');
  });

  it('fails below the threshold; rejections do not count', () => {
    const v = quorumProblem(
      evidence([humanVote(v1), humanVote(v2), humanVote(v3, { approved: false })]),
      trusted,
    );
    expect(v?.description).toBe('Quorum threshold not met by verified human vote provenance');
    expect(v?.evidence).toContain('verified_human_approvals: 2');
  });

  it('fails a non-positive or fractional threshold', () => {
    expect(quorumProblem(evidence([], 0), trusted)?.description).toContain('positive integer');
    expect(quorumProblem(evidence([humanVote(v1)], 0.5), trusted)?.description).toContain(
      'positive integer',
    );
  });

  it('fails duplicate voters', () => {
    const v = quorumProblem(
      evidence([humanVote(v1), humanVote(v1), humanVote(v2), humanVote(v3)]),
      trusted,
    );
    expect(v?.description).toBe('Quorum evidence contains duplicate voter entries');
    expect(v?.evidence).toContain(`duplicate_voters: ${v1.did}`);
  });

  it('never counts synthetic, system, coordinated, derivative or unlabelled votes', () => {
    const bad = [
      humanVote(v3, { claim: { voiceKind: 'synthetic' } }),
      humanVote(v3, { claim: { voiceKind: 'system' } }),
      humanVote(v3, { claim: { independence: 'coordinated' } }),
      humanVote(v3, { claim: { reviewOrder: 'derivative' } }),
      humanVote(v3, { claim: { voiceKind: undefined } }),
      humanVote(v3, { claim: { independence: undefined } }),
      humanVote(v3, { claim: { reviewOrder: undefined } }),
    ];
    for (const vote of bad) {
      const result = verifiedHumanApprovals(
        evidence([humanVote(v1), humanVote(v2), vote]),
        trusted,
      );
      expect(result.voters).toEqual([v1.did, v2.did].sort());
      expect(quorumProblem(evidence([humanVote(v1), humanVote(v2), vote]), trusted)).not.toBeNull();
    }
  });

  it('an AI-typed vote signature presented as human fails', () => {
    const aiVote = humanVote(v3, { signer: AI });
    const r = verifiedHumanApprovals(evidence([aiVote]), trusted);
    expect(r.voters).toEqual([]);
    expect(r.rejected[0]).toContain('signature: invalid');
    // Even with provenance signed as human, a vote signed as AI does not count.
    const prov = humanVote(v3).provenance!;
    const mixed = signVote(v3.privateKey, AI, { voter: v3.did, approved: true }, prov);
    expect(verifiedHumanApprovals(evidence([mixed]), trusted).rejected[0]).toContain(
      'vote_signature: invalid',
    );
  });

  it('fails a relabelled voice (signed synthetic, presented as human)', () => {
    const signed = humanVote(v3, { claim: { voiceKind: 'synthetic' } });
    const relabelled = {
      ...signed,
      provenance: { ...signed.provenance!, voiceKind: 'human' as const },
    };
    expect(verifiedHumanApprovals(evidence([relabelled]), trusted).rejected[0]).toContain(
      'signature: invalid',
    );
  });

  it('fails provenance by someone other than the voter', () => {
    const prov = provenanceBy(v2, HUMAN, {
      voiceKind: 'human',
      independence: 'independent',
      reviewOrder: 'first-order',
    });
    const vote = signVote(v2.privateKey, HUMAN, { voter: v3.did, approved: true }, prov);
    expect(verifiedHumanApprovals(evidence([vote]), trusted).rejected[0]).toContain(
      'provenance_actor',
    );
  });

  it('fails untrusted keys and a vote signed by a different key than its provenance', () => {
    const stranger = party(v3.did);
    expect(verifiedHumanApprovals(evidence([humanVote(stranger)]), trusted).rejected[0]).toContain(
      'not-bound',
    );
    expect(verifiedHumanApprovals(evidence([humanVote(v3)]), registry(v1)).rejected[0]).toContain(
      'unresolved',
    );
    const prov = humanVote(v3).provenance!;
    const otherKey = signVote(v4.privateKey, HUMAN, { voter: v3.did, approved: true }, prov);
    expect(verifiedHumanApprovals(evidence([otherKey]), trusted).rejected[0]).toContain(
      'vote_signature: invalid',
    );
  });

  it('fails a flipped vote (signed as rejection, presented as approval)', () => {
    const no = humanVote(v3, { approved: false });
    expect(
      verifiedHumanApprovals(evidence([{ ...no, approved: true }]), trusted).rejected[0],
    ).toContain('vote_signature: invalid');
  });

  it('counts only votes for this decision when a subject hash is given', () => {
    const subject = sha256Hex('proposal-7');
    const votes = [v1, v2, v3].map((v) => humanVote(v, { claim: { actionHash: subject } }));
    expect(quorumProblem(evidence(votes), trusted, subject)).toBeNull();
    const stale = [humanVote(v1), humanVote(v2), humanVote(v3)];
    const v = quorumProblem(evidence(stale), trusted, subject);
    expect(v?.evidence.join('\n')).toContain('not-this-decision');
  });

  it('fails a vote without provenance', () => {
    const { provenance: _omit, ...bare } = humanVote(v1);
    expect(verifiedHumanApprovals(evidence([bare]), trusted).rejected[0]).toContain(
      'provenance: missing',
    );
  });
});
