import { describe, expect, it } from 'vitest';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import {
  checkCircuitBreaker,
  createCircuitBreaker,
  decideApproval,
  evictExpired,
  findingsDigest,
  ingestScan,
  openApprovalGate,
  parseCircuitBreaker,
  recordCriticalFindings,
  requiresApproval,
  signApproval,
  signFindings,
  verifyFindingsAttestation,
  type Finding,
} from '../../src/gatekeeper/monitor.ts';

const HUMAN = { type: 'human' } as const;
const AI = { type: 'ai', delegationId: 'cd'.repeat(32) } as const;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2025, 5, 1);

const scanner = generateKeyPair();
const other = generateKeyPair();

const critical = (n: number): Finding[] =>
  Array.from({ length: n }, (_, i) => ({
    finding_id: `F-${i}`,
    severity: 'critical',
    title: `finding ${i}`,
  }));
const findings: Finding[] = [
  { finding_id: 'F-1', severity: 'critical', title: 'real finding' },
  { finding_id: 'F-2', severity: 'low', title: 'minor', location: 'src/x.ts' },
];

describe('signed findings', () => {
  it('a valid attestation verifies, with the signer type known', () => {
    const att = signFindings(findings, 'did:key:scanner', HUMAN, scanner.privateKey);
    expect(att.findings_digest).toBe(findingsDigest(findings));
    const verified = verifyFindingsAttestation(att, findings, scanner.publicKey);
    expect(verified.signer_type).toEqual(HUMAN);
    expect(verified.counts).toEqual({ critical: 1, high: 0, medium: 0, low: 1, info: 0 });
    // raw public keys work as well
    expect(
      verifyFindingsAttestation(att, findings, publicKeyToRaw(scanner.publicKey)).signer_did,
    ).toBe('did:key:scanner');
    const ai = signFindings(findings, 'did:key:bot', AI, scanner.privateKey);
    expect(verifyFindingsAttestation(ai, findings, scanner.publicKey).signer_type).toEqual(AI);
  });

  it('the wrong key fails the signature', () => {
    const att = signFindings(findings, 'did:key:scanner', HUMAN, scanner.privateKey);
    expect(() => verifyFindingsAttestation(att, findings, other.publicKey)).toThrow(
      expect.objectContaining({ code: 'findings_signature_invalid' }),
    );
  });

  it('a digest that does not match the findings fails before the signature is checked', () => {
    const att = signFindings(findings, 'did:key:scanner', HUMAN, scanner.privateKey);
    // replayed against other findings
    expect(() => verifyFindingsAttestation(att, critical(1), scanner.publicKey)).toThrow(
      expect.objectContaining({ code: 'findings_digest_mismatch' }),
    );
    // a tampered digest with garbage signature and an unusable key still reports the digest
    const tampered = { ...att, findings_digest: findingsDigest(critical(2)), signature: '!!' };
    expect(() => verifyFindingsAttestation(tampered, findings, new Uint8Array(3))).toThrow(
      expect.objectContaining({ code: 'findings_digest_mismatch' }),
    );
  });

  it('an AI signature never passes as a human one, nor over another signer DID', () => {
    const ai = signFindings(findings, 'did:key:bot', AI, scanner.privateKey);
    expect(() =>
      verifyFindingsAttestation({ ...ai, signer_type: HUMAN }, findings, scanner.publicKey),
    ).toThrow(expect.objectContaining({ code: 'findings_signature_invalid' }));
    const att = signFindings(findings, 'did:key:scanner', HUMAN, scanner.privateKey);
    expect(() =>
      verifyFindingsAttestation(
        { ...att, signer_did: 'did:key:else' },
        findings,
        scanner.publicKey,
      ),
    ).toThrow(expect.objectContaining({ code: 'findings_signature_invalid' }));
  });

  it('rejects malformed findings and attestations', () => {
    const att = signFindings(findings, 'did:key:scanner', HUMAN, scanner.privateKey);
    for (const bad of [
      null,
      {},
      [{ finding_id: 'x', severity: 'severe', title: 't' }],
      [{ severity: 'low' }],
    ]) {
      expect(() => verifyFindingsAttestation(att, bad, scanner.publicKey)).toThrow(
        expect.objectContaining({ code: 'findings_invalid' }),
      );
    }
    expect(() => verifyFindingsAttestation(null as never, findings, scanner.publicKey)).toThrow(
      expect.objectContaining({ code: 'findings_attestation_malformed' }),
    );
  });
});

describe('circuit breaker', () => {
  it('trips only when the critical findings in the window exceed the threshold', () => {
    let breaker = createCircuitBreaker();
    breaker = recordCriticalFindings(breaker, T0, 2);
    breaker = recordCriticalFindings(breaker, T0 + HOUR, 1);
    expect(checkCircuitBreaker(breaker, T0 + 2 * HOUR)).toEqual({
      tripped: false,
      critical_in_window: 3,
      threshold: 3,
    });
    breaker = recordCriticalFindings(breaker, T0 + 2 * HOUR, 1);
    expect(checkCircuitBreaker(breaker, T0 + 2 * HOUR).tripped).toBe(true);
    expect(recordCriticalFindings(breaker, T0, 0)).toBe(breaker);
  });

  it('counts only the window, and evicts expired buckets', () => {
    let breaker = createCircuitBreaker();
    breaker = recordCriticalFindings(breaker, T0, 3);
    breaker = recordCriticalFindings(breaker, T0 + DAY, 1);
    // at T0 + 1 day the first bucket is exactly at the window start and still counts
    expect(checkCircuitBreaker(breaker, T0 + DAY).critical_in_window).toBe(4);
    expect(checkCircuitBreaker(breaker, T0 + DAY + 1)).toMatchObject({
      tripped: false,
      critical_in_window: 1,
    });
    expect(evictExpired(breaker, T0 + DAY + 1).buckets).toEqual([{ at_ms: T0 + DAY, critical: 1 }]);
  });

  it('is configurable', () => {
    let breaker = createCircuitBreaker({ threshold: 0, windowMs: HOUR });
    breaker = recordCriticalFindings(breaker, T0, 1);
    expect(checkCircuitBreaker(breaker, T0).tripped).toBe(true);
    expect(checkCircuitBreaker(breaker, T0 + HOUR + 1).tripped).toBe(false);
    expect(() => createCircuitBreaker({ windowMs: 0 })).toThrow(
      expect.objectContaining({ code: 'circuit_breaker_invalid' }),
    );
    expect(() => createCircuitBreaker({ threshold: -1 })).toThrow(
      expect.objectContaining({ code: 'circuit_breaker_invalid' }),
    );
  });

  it('serialises and parses back, rejecting tampered state', () => {
    let breaker = createCircuitBreaker({ threshold: 5 });
    breaker = recordCriticalFindings(breaker, T0 + 5, 2);
    breaker = recordCriticalFindings(breaker, T0, 1);
    breaker = recordCriticalFindings(breaker, T0 + 5, 1);
    expect(breaker.buckets).toEqual([
      { at_ms: T0, critical: 1 },
      { at_ms: T0 + 5, critical: 3 },
    ]);
    expect(parseCircuitBreaker(JSON.parse(JSON.stringify(breaker)))).toEqual(breaker);
    for (const bad of [
      null,
      { ...breaker, buckets: [{ at_ms: T0, critical: -1 }] },
      { ...breaker, buckets: [...breaker.buckets].reverse() },
      { ...breaker, threshold: '3' },
      { ...breaker, buckets: 'none' },
    ]) {
      expect(() => parseCircuitBreaker(bad)).toThrow(
        expect.objectContaining({ code: 'circuit_breaker_invalid' }),
      );
    }
  });

  it('ingestScan verifies before counting: unsigned criticals never move the breaker', () => {
    const breaker = createCircuitBreaker();
    const forged = { ...signFindings(critical(1), 'did:key:scanner', HUMAN, scanner.privateKey) };
    expect(() => ingestScan(breaker, forged, critical(10), scanner.publicKey, T0)).toThrow(
      expect.objectContaining({ code: 'findings_digest_mismatch' }),
    );
    const wrongKey = signFindings(critical(10), 'did:key:scanner', HUMAN, other.privateKey);
    expect(() => ingestScan(breaker, wrongKey, critical(10), scanner.publicKey, T0)).toThrow(
      expect.objectContaining({ code: 'findings_signature_invalid' }),
    );
    expect(breaker.buckets).toEqual([]);

    const good = signFindings(critical(4), 'did:key:scanner', HUMAN, scanner.privateKey);
    const intake = ingestScan(breaker, good, critical(4), scanner.publicKey, T0);
    expect(intake.status).toEqual({ tripped: true, critical_in_window: 4, threshold: 3 });
    expect(intake.approval_required).toBe(true);
    const later = ingestScan(
      intake.breaker,
      signFindings([], 'did:key:scanner', HUMAN, scanner.privateKey),
      [],
      scanner.publicKey,
      T0 + DAY + 1,
    );
    expect(later.breaker.buckets).toEqual([]);
    expect(later.status.tripped).toBe(false);
    expect(later.approval_required).toBe(false);
  });
});

describe('human approval gate', () => {
  it('is required for any critical or high finding', () => {
    const zero = { critical: 0, high: 0, medium: 3, low: 9, info: 1 };
    expect(requiresApproval(zero)).toBe(false);
    expect(requiresApproval({ ...zero, high: 1 })).toBe(true);
    expect(requiresApproval({ ...zero, critical: 1 })).toBe(true);
  });

  const subject = { approval_id: 'ap-7', tool: 'fs__write_file', arguments_hash: 'ab'.repeat(32) };

  it('opens only for an id, a tool and a hex arguments hash', () => {
    for (const bad of [
      { ...subject, approval_id: '' },
      { ...subject, tool: '' },
      { ...subject, arguments_hash: 'AB'.repeat(32) },
      { ...subject, arguments_hash: 'ab' },
    ]) {
      expect(() => openApprovalGate(bad)).toThrow(
        expect.objectContaining({ code: 'approval_invalid' }),
      );
    }
  });

  it('Pending → Approved or Rejected by a human signer, under any of their keys', () => {
    const gate = openApprovalGate(subject);
    expect(gate.status).toBe('pending');
    const decision = (verdict: 'approved' | 'rejected') => ({
      approver_did: 'did:key:alice',
      verdict,
      signer_type: HUMAN,
      signature: signApproval(subject, verdict, HUMAN, scanner.privateKey),
    });
    const approved = decideApproval(
      gate,
      decision('approved'),
      [other.publicKey, scanner.publicKey],
      T0,
    );
    expect(approved).toEqual({
      gate: {
        ...subject,
        status: 'approved',
        decided_by: 'did:key:alice',
        decided_at: new Date(T0).toISOString(),
      },
      key: 1,
    });
    expect(decideApproval(gate, decision('rejected'), [scanner.publicKey], T0).gate.status).toBe(
      'rejected',
    );
    expect(() =>
      decideApproval(approved.gate, decision('rejected'), [scanner.publicKey], T0),
    ).toThrow(expect.objectContaining({ code: 'approval_not_pending' }));
  });

  it('an AI signer is refused with approver_not_human', () => {
    const gate = openApprovalGate(subject);
    const ai = {
      approver_did: 'did:key:bot',
      verdict: 'approved' as const,
      signer_type: AI,
      signature: signApproval(subject, 'approved', AI, scanner.privateKey),
    };
    expect(() => decideApproval(gate, ai, [scanner.publicKey], T0)).toThrow(
      expect.objectContaining({ code: 'approver_not_human' }),
    );
    // relabelling the AI signature as human does not verify
    expect(() =>
      decideApproval(gate, { ...ai, signer_type: HUMAN }, [scanner.publicKey], T0),
    ).toThrow(expect.objectContaining({ code: 'approval_signature_invalid' }));
  });

  it('a signature for another request, tool, arguments or verdict, or by another key, is refused', () => {
    const gate = openApprovalGate(subject);
    const signed = (s: typeof subject, verdict: 'approved' | 'rejected') => ({
      approver_did: 'did:key:alice',
      verdict: 'approved' as const,
      signer_type: HUMAN,
      signature: signApproval(s, verdict, HUMAN, scanner.privateKey),
    });
    const yes = signed(subject, 'approved');
    for (const [decision, key] of [
      [signed({ ...subject, approval_id: 'ap-8' }, 'approved'), scanner.publicKey],
      [signed({ ...subject, tool: 'fs__read_file' }, 'approved'), scanner.publicKey],
      [signed({ ...subject, arguments_hash: 'cd'.repeat(32) }, 'approved'), scanner.publicKey],
      [signed(subject, 'rejected'), scanner.publicKey],
      [yes, other.publicKey],
      [{ ...yes, signature: toBase64Url(new Uint8Array(64)) }, scanner.publicKey],
      [{ ...yes, signature: '***' }, scanner.publicKey],
    ] as const) {
      expect(() => decideApproval(gate, decision, [key], T0)).toThrow(
        expect.objectContaining({ code: 'approval_signature_invalid' }),
      );
    }
    expect(() => decideApproval(gate, yes, [], T0)).toThrow(
      expect.objectContaining({ code: 'approval_signature_invalid' }),
    );
  });
});
