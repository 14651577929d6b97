/**
 * Attacks on the quorum. Each builds the strongest position an attacker could reach
 * (including proposals and registries edited directly, bypassing `attest` and enrolment) and
 * checks that the change is never committed.
 */
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/core/ed25519.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import {
  attest,
  commitProposal,
  electorateFor,
  quorumStatus,
  registryFromEntries,
  signAttestation,
  type Electorate,
  type Proposal,
} from '../../src/quorum/index.ts';
import {
  AI,
  attestationBy,
  attestedBy,
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

const registry = standardElectorate([root, m1, m2, m3]);
const LATER = T0 + 30 * 60_000;
const all = [root, m1, m2, m3];

function neverCommits(p: Proposal, reg: Electorate = registry): void {
  expect(() => commitProposal(p, reg, LATER)).toThrow();
  expect(quorumStatus(p, reg).satisfied).toBe(false);
}

/** Appends an attestation directly, as someone with write access to stored proposals could. */
function inject(
  p: Proposal,
  s: Signer,
  signatures: { signature: string; provenance_signature: string },
): Proposal {
  return {
    ...p,
    attestations: [
      ...p.attestations,
      { witness_id: s.did, ...signatures, attested_at: new Date(T0).toISOString() },
    ],
  };
}

function subsets<T>(items: readonly T[]): T[][] {
  return Array.from({ length: 2 ** items.length }, (_, mask) =>
    items.filter((_, i) => (mask >> i) & 1),
  );
}

describe('quorum attacks: the change is never committed', () => {
  it('with any strict subset of Root + 3 Mentors (every subset tried)', () => {
    for (const signers of subsets(all)) {
      const p = attestedBy(proposal(), signers, registry);
      if (signers.length === all.length) {
        expect(commitProposal(p, registry, LATER).proposal.status).toBe('committed');
      } else {
        expect(
          () => commitProposal(p, registry, LATER),
          signers.map((s) => s.witness_id).join('+'),
        ).toThrow(expect.objectContaining({ code: 'quorum_required' }));
      }
    }
  });

  it('with 4 signatures from 3 keys (a duplicate): a voter listed twice voids the count', () => {
    const p = attestedBy(proposal(), [root, m1, m2], registry);
    expect(() => attest(p, attestationBy(m2, p), registry, LATER)).toThrow(
      expect.objectContaining({ code: 'duplicate_attestation' }),
    );
    // injected directly: the kernel voids evidence with a duplicate voter, and so does the count
    const forged = inject(p, m2, attestationBy(m2, p));
    expect(forged.attestations).toHaveLength(4);
    expect(quorumStatus(forged, registry)).toMatchObject({ root: 0, mentors: 0, satisfied: false });
    expect(quorumStatus(forged, registry).rejected.map((r) => r.reason)).toEqual([
      'duplicate',
      'duplicate',
      'duplicate',
      'duplicate',
    ]);
    neverCommits(forged);
  });

  it('with one key enrolled under two DIDs (registry rows edited directly)', () => {
    const twin = { ...entryOf(m2), witness_id: 'did:key:m2b', did: 'did:key:m2b' };
    expect(() => registryFromEntries([entryOf(root), entryOf(m2), twin])).toThrow(
      expect.objectContaining({ code: 'witness_key_reused' }),
    );
  });

  it('with an AI-typed vote, relabelled or not', () => {
    const p = attestedBy(proposal(), [root, m1, m2], registry);
    const ai = attestationBy(m3, p, p, AI);
    expect(() => attest(p, ai, registry, LATER)).toThrow(
      expect.objectContaining({ code: 'signature_invalid' }),
    );
    neverCommits(inject(p, m3, ai));
  });

  it('with a witness removed, never admitted, or whose standing was lost, before or after voting', () => {
    const full = attestedBy(proposal(), [root, m1, m2, m3], registry);
    expect(quorumStatus(full, registry).satisfied).toBe(true);
    const rows = [entryOf(root), entryOf(m1), entryOf(m2)];
    const cases: [Electorate, string][] = [
      [
        electorateFor(
          proposal(),
          registryFromEntries([
            ...rows,
            { ...entryOf(m3), revoked_at: new Date(T0).toISOString() },
          ]),
          standingOf([root, m1, m2, m3]),
        ),
        'witness_not_in_force',
      ],
      [
        electorateFor(
          proposal(),
          registryFromEntries([...rows, entryOf(m3, null)]),
          standingOf([root, m1, m2, m3]),
        ),
        'witness_not_in_force',
      ],
      [
        electorateFor(
          proposal(),
          registryFromEntries([...rows, entryOf(m3)]),
          new Map([...standingOf([root, m1, m2]), [m3.did, 'operator' as const]]),
        ),
        'witness_standing_lost',
      ],
      [
        electorateFor(
          proposal(),
          registryFromEntries([...rows, entryOf(m3)]),
          standingOf([root, m1, m2]),
        ),
        'witness_standing_lost',
      ],
    ];
    for (const [electorate, fault] of cases) {
      const p = attestedBy(proposal(), [root, m1, m2], electorate);
      expect(() => attest(p, attestationBy(m3, p), electorate, LATER)).toThrow(
        expect.objectContaining({ code: fault }),
      );
      neverCommits(full, electorate);
      expect(quorumStatus(full, electorate).rejected).toEqual([
        { witness_id: m3.did, reason: fault },
      ]);
    }
    // Root's slot needs Root: a Root witness whose DID holds only Mentor does not count
    const demoted = standardElectorate(
      [root, m1, m2, m3],
      new Map([...standingOf([m1, m2, m3]), [root.did, 'mentor' as const]]),
    );
    neverCommits(full, demoted);
  });

  it('with a vote over another change, another proposal, by another key or for another DID', () => {
    const p = attestedBy(proposal(), [root, m1, m2], registry);
    const other = proposal({ setting: 'irl.threshold', value: 0.01 });
    const stranger = generateKeyPair();
    const ref = { proposal_id: p.id, change_hash: p.change_hash, created_at: p.created_at };
    const m2sig = signAttestation(p, m3.did, m2.keys.privateKey); // m2's key under m3's name
    const bad = [
      signAttestation(other, m3.did, m3.keys.privateKey),
      signAttestation(
        { ...ref, proposal_id: sha256Hex('another proposal') },
        m3.did,
        m3.keys.privateKey,
      ),
      signAttestation({ ...ref, change_hash: sha256Hex('other') }, m3.did, m3.keys.privateKey),
      signAttestation(
        { ...ref, created_at: new Date(T0 + 1).toISOString() },
        m3.did,
        m3.keys.privateKey,
      ),
      signAttestation(p, m2.did, m3.keys.privateKey), // m3's key, voting as m2
      signAttestation(p, m3.did, stranger.privateKey),
      m2sig,
      { signature: 'not base64url!', provenance_signature: 'x' },
      // each signature alone, with the other one missing or swapped
      { ...signAttestation(p, m3.did, m3.keys.privateKey), provenance_signature: '' },
      { ...signAttestation(p, m3.did, m3.keys.privateKey), signature: m2sig.signature },
    ];
    for (const signatures of bad) {
      expect(() => attest(p, { witness_id: m3.did, ...signatures }, registry, LATER)).toThrow(
        expect.objectContaining({ code: 'signature_invalid' }),
      );
      neverCommits(inject(p, m3, signatures));
    }
  });

  it('with a stored proposal whose change, threshold or expiry was edited after attesting', () => {
    const p = attestedBy(proposal(), all, registry);
    const edits: Proposal[] = [
      { ...p, change: { setting: 'irl.threshold', value: 0 } },
      { ...p, required: { root: 1, mentors: 1 } },
      { ...p, expires_at: new Date(T0 + 10 * 3_600_000).toISOString() },
      { ...p, change_hash: sha256Hex('x') },
    ];
    for (const edited of edits) {
      expect(() => commitProposal(edited, registry, LATER)).toThrow(
        expect.objectContaining({ code: 'proposal_tampered' }),
      );
    }
    const lowered = attestedBy(proposal(), [root, m1], registry);
    expect(() =>
      commitProposal({ ...lowered, required: { root: 1, mentors: 1 } }, registry, LATER),
    ).toThrow(expect.objectContaining({ code: 'proposal_tampered' }));
  });

  it('with votes from a witness enrolled under a different role than claimed', () => {
    // the role comes from the registry, never from the attestation: 4 mentors are not Root + 3
    const mentorsOnly = standardElectorate([m1, m2, m3, { ...root, role: 'mentor' }]);
    const p = attestedBy(proposal(), all, mentorsOnly);
    expect(quorumStatus(p, mentorsOnly)).toMatchObject({ root: 0, mentors: 4, satisfied: false });
    neverCommits(p, mentorsOnly);
  });
});
