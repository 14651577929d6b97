import { describe, expect, it } from 'vitest';
import { canonicalBytes } from '../../src/core/canonical.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import {
  attest,
  attestationMessage,
  commitProposal,
  createProposal,
  quorumStatus,
  signAttestation,
  verifyProposalIntegrity,
} from '../../src/quorum/index.ts';
import {
  attestationBy,
  attestedBy,
  CHANGE,
  m1,
  m2,
  m3,
  m4,
  MENTOR_ACTOR,
  proposal,
  root,
  ROOT,
  standardElectorate,
  T0,
} from './fixtures.ts';

const registry = standardElectorate();
const HOUR = 3_600_000;

describe('proposals', () => {
  it('Root opens a proposal bound to the hash of its change', () => {
    const p = proposal();
    expect(p).toMatchObject({
      change: CHANGE,
      change_hash: sha256Hex(canonicalBytes(CHANGE)),
      required: { root: 1, mentors: 3 },
      proposer: 'did:key:root',
      created_at: new Date(T0).toISOString(),
      expires_at: new Date(T0 + HOUR).toISOString(),
      status: 'pending',
      attestations: [],
    });
    expect(p.id).toMatch(/^[0-9a-f]{64}$/);
    expect(verifyProposalIntegrity(p)).toEqual({
      proposal_id: p.id,
      change_hash: p.change_hash,
      created_at: p.created_at,
    });
    expect(createProposal({ change: CHANGE, proposer: ROOT, now: T0 }).expires_at).toBe(
      new Date(T0 + 7 * 24 * HOUR).toISOString(),
    );
  });

  it('only Root may propose, with sane requirements, ttl and a canonical change', () => {
    expect(() => createProposal({ change: CHANGE, proposer: MENTOR_ACTOR, now: T0 })).toThrow(
      expect.objectContaining({ code: 'loa_insufficient' }),
    );
    for (const requirements of [
      { root: 0, mentors: 3 },
      { root: 1, mentors: 0 },
      { root: 1, mentors: 2.5 },
    ]) {
      expect(() =>
        createProposal({ change: CHANGE, proposer: ROOT, now: T0, requirements }),
      ).toThrow(expect.objectContaining({ code: 'quorum_requirements_invalid' }));
    }
    expect(() => createProposal({ change: CHANGE, proposer: ROOT, now: T0, ttlMs: 0 })).toThrow(
      expect.objectContaining({ code: 'quorum_ttl_invalid' }),
    );
    expect(() => createProposal({ change: { x: Number.NaN }, proposer: ROOT, now: T0 })).toThrow(
      expect.objectContaining({ code: 'not_canonicalizable' }),
    );
  });

  it('the proposal keeps its own copy of the change', () => {
    const change = { list: [1, 2] };
    const p = createProposal({ change, proposer: ROOT, now: T0 });
    change.list.push(3);
    expect(p.change).toEqual({ list: [1, 2] });
  });

  it('witnesses sign canonical {domain, proposal_id, change_hash}', () => {
    const p = proposal();
    expect(new TextDecoder().decode(attestationMessage(p))).toBe(
      `{"change_hash":"${p.change_hash}","domain":"sigil.quorum.attest.v1","proposal_id":"${p.id}"}`,
    );
    // offline signing from the reference alone gives the same signatures
    const ref = { proposal_id: p.id, change_hash: p.change_hash, created_at: p.created_at };
    expect(signAttestation(ref, m1.did, m1.keys.privateKey)).toEqual(
      signAttestation(p, m1.did, m1.keys.privateKey),
    );
  });
});

describe('attest and commit', () => {
  it('Root + 3 Mentors commit; the record draft carries every witness signature', () => {
    const p = attestedBy(proposal(), [m1, root, m2, m3], registry);
    const status = quorumStatus(p, registry);
    expect(status).toMatchObject({ root: 1, mentors: 3, satisfied: true, rejected: [] });
    const { proposal: done, record } = commitProposal(p, registry, T0 + 10 * 60_000);
    expect(done.status).toBe('committed');
    expect(record.kind).toBe('system_config');
    expect(record.space).toBe('system');
    expect(record.payload).toEqual({
      proposal_id: p.id,
      change: CHANGE,
      change_hash: p.change_hash,
      required: { root: 1, mentors: 3 },
      proposer: 'did:key:root',
      created_at: p.created_at,
      expires_at: p.expires_at,
    });
    expect(record.witnesses).toEqual(
      [m1, root, m2, m3].map((s, i) => ({
        witness_id: s.witness_id,
        signature: p.attestations[i]?.signature,
        provenance_signature: p.attestations[i]?.provenance_signature,
        timestamp: new Date(T0 + (i + 1) * 60_000).toISOString(),
        authority: s.role,
      })),
    );
    expect(() => commitProposal(done, registry, T0)).toThrow(
      expect.objectContaining({ code: 'proposal_not_pending' }),
    );
    expect(() => attest(done, attestationBy(m4, done), registry, T0)).toThrow(
      expect.objectContaining({ code: 'proposal_not_pending' }),
    );
  });

  it('attest returns a new proposal and leaves the old one untouched', () => {
    const p = proposal();
    const next = attest(p, attestationBy(m1, p), registry, T0 + 1);
    expect(p.attestations).toEqual([]);
    expect(next.attestations).toEqual([
      {
        witness_id: m1.did,
        signature: attestationBy(m1, p).signature,
        provenance_signature: attestationBy(m1, p).provenance_signature,
        attested_at: new Date(T0 + 1).toISOString(),
      },
    ]);
  });

  it('requirements are configurable (k of n)', () => {
    const p = createProposal({
      change: CHANGE,
      proposer: ROOT,
      now: T0,
      requirements: { root: 1, mentors: 2 },
    });
    expect(() => commitProposal(attestedBy(p, [root, m1], registry), registry, T0 + HOUR)).toThrow(
      expect.objectContaining({ code: 'quorum_required' }),
    );
    expect(
      commitProposal(attestedBy(p, [root, m1, m4], registry), registry, T0 + HOUR).record.witnesses,
    ).toHaveLength(3);
  });

  it('extra Mentors beyond k are carried too', () => {
    const p = attestedBy(proposal(), [root, m1, m2, m3, m4], registry);
    expect(commitProposal(p, registry, T0 + 10 * 60_000).record.witnesses).toHaveLength(5);
  });

  it('expired proposals take no attestations and never commit', () => {
    const p = attestedBy(proposal(), [root, m1, m2, m3], registry);
    expect(() => attest(p, attestationBy(m4, p), registry, T0 + HOUR)).toThrow(
      expect.objectContaining({ code: 'proposal_expired' }),
    );
    expect(() => commitProposal(p, registry, T0 + HOUR)).toThrow(
      expect.objectContaining({ code: 'proposal_expired' }),
    );
    expect(commitProposal(p, registry, T0 + HOUR - 1).proposal.status).toBe('committed');
  });

  it('an unknown witness is refused', () => {
    const p = proposal();
    expect(() =>
      attest(p, { ...attestationBy(m1, p), witness_id: 'did:key:m9' }, registry, T0),
    ).toThrow(expect.objectContaining({ code: 'witness_unknown' }));
  });
});
