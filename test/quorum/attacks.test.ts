/**
 * Attacks on the quorum. Each builds the strongest position an attacker could reach
 * (including proposals and registries edited directly, bypassing `attest` and
 * `registerWitness`) and checks that the change is never committed.
 */
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../../src/core/ed25519.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import {
  attest,
  commitProposal,
  quorumStatus,
  revokeWitness,
  signAttestation,
  type Proposal,
  type WitnessRegistry,
} from '../../src/quorum/index.ts';
import {
  AI,
  attestationBy,
  attestedBy,
  HUMAN,
  m1,
  m2,
  m3,
  proposal,
  root,
  ROOT,
  standardRegistry,
  T0,
  type Signer,
} from './fixtures.ts';

const registry = standardRegistry([root, m1, m2, m3]);
const LATER = T0 + 30 * 60_000;
const all = [root, m1, m2, m3];

function neverCommits(p: Proposal, reg: WitnessRegistry = registry): void {
  expect(() => commitProposal(p, reg, LATER)).toThrow();
  expect(quorumStatus(p, reg).satisfied).toBe(false);
}

/** Appends an attestation directly, as someone with write access to stored proposals could. */
function inject(
  p: Proposal,
  s: Signer,
  signature: string,
  signerType: typeof HUMAN | typeof AI = HUMAN,
): Proposal {
  return {
    ...p,
    attestations: [
      ...p.attestations,
      {
        witness_id: s.witness_id,
        signature,
        signer_type: signerType,
        attested_at: new Date(T0).toISOString(),
      },
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

  it('with 4 signatures from 3 keys (a duplicate)', () => {
    const p = attestedBy(proposal(), [root, m1, m2], registry);
    expect(() => attest(p, attestationBy(m2, p), registry, LATER)).toThrow(
      expect.objectContaining({ code: 'duplicate_attestation' }),
    );
    // injected directly: counted once
    const forged = inject(p, m2, attestationBy(m2, p).signature);
    expect(forged.attestations).toHaveLength(4);
    expect(quorumStatus(forged, registry)).toMatchObject({ root: 1, mentors: 2, satisfied: false });
    expect(quorumStatus(forged, registry).rejected).toEqual([
      { witness_id: 'mentor-2', reason: 'duplicate' },
    ]);
    neverCommits(forged);
  });

  it('with one key registered under two witness ids (registry edited directly)', () => {
    const entries = new Map(registry.entries);
    const m2entry = entries.get('mentor-2');
    if (m2entry === undefined) throw new Error('fixture');
    entries.set('mentor-2-again', { ...m2entry, witness_id: 'mentor-2-again', did: 'did:key:m2b' });
    const doctored: WitnessRegistry = { entries };
    const twin: Signer = { ...m2, witness_id: 'mentor-2-again', did: 'did:key:m2b' };
    const p = attestedBy(proposal(), [root, m1, m2], doctored);
    expect(() => attest(p, attestationBy(twin, p), doctored, LATER)).toThrow(
      expect.objectContaining({ code: 'duplicate_attestation' }),
    );
    neverCommits(inject(p, twin, attestationBy(twin, p).signature), doctored);
  });

  it('with an AI witness', () => {
    const p = attestedBy(proposal(), [root, m1, m2], registry);
    const ai = attestationBy(m3, p, p, AI);
    expect(() => attest(p, ai, registry, LATER)).toThrow(
      expect.objectContaining({ code: 'witness_not_human' }),
    );
    // an AI signature relabelled as human does not verify
    expect(() => attest(p, { ...ai, signer_type: HUMAN }, registry, LATER)).toThrow(
      expect.objectContaining({ code: 'signature_invalid' }),
    );
    neverCommits(inject(p, m3, ai.signature, AI));
    neverCommits(inject(p, m3, ai.signature, HUMAN));
  });

  it('with a revoked witness, whether revoked before or after attesting', () => {
    const revoked = revokeWitness(registry, 'mentor-3', ROOT, T0 + 1).registry;
    const p = attestedBy(proposal(), [root, m1, m2], revoked);
    expect(() => attest(p, attestationBy(m3, p), revoked, LATER)).toThrow(
      expect.objectContaining({ code: 'witness_revoked' }),
    );
    const full = attestedBy(proposal(), all, registry);
    expect(quorumStatus(full, registry).satisfied).toBe(true);
    neverCommits(full, revoked);
    expect(quorumStatus(full, revoked).rejected).toEqual([
      { witness_id: 'mentor-3', reason: 'witness_revoked' },
    ]);
  });

  it('with a signature over another change, another proposal or by another key', () => {
    const p = attestedBy(proposal(), [root, m1, m2], registry);
    const other = proposal({ setting: 'irl.threshold', value: 0.01 });
    const stranger = generateKeyPair();
    const bad = [
      signAttestation(other, m3.keys.privateKey),
      signAttestation(
        { proposal_id: sha256Hex('another proposal'), change_hash: p.change_hash },
        m3.keys.privateKey,
      ),
      signAttestation({ proposal_id: p.id, change_hash: sha256Hex('other') }, m3.keys.privateKey),
      signAttestation(p, stranger.privateKey),
      signAttestation(p, m2.keys.privateKey), // m2's key under m3's name
      'not base64url!',
    ];
    for (const signature of bad) {
      expect(() =>
        attest(p, { witness_id: m3.witness_id, signature, signer_type: HUMAN }, registry, LATER),
      ).toThrow(expect.objectContaining({ code: 'signature_invalid' }));
      neverCommits(inject(p, m3, signature));
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

  it('with attestations from a witness registered under a different role than claimed', () => {
    // the role comes from the registry, never from the attestation: 4 mentors are not Root + 3
    const mentorsOnly = standardRegistry([m1, m2, m3, { ...root, role: 'mentor' }]);
    const p = attestedBy(proposal(), all, mentorsOnly);
    expect(quorumStatus(p, mentorsOnly)).toMatchObject({ root: 0, mentors: 4, satisfied: false });
    neverCommits(p, mentorsOnly);
  });
});
