/**
 * The governance monitor: what a scanner reports about the system's governance, and the
 * two brakes it drives. Pure: no storage, no clock (`now` is epoch milliseconds).
 *
 * - Signed findings: a scan's findings are attested by a typed signature over
 *   {domain, signer_did, findings_digest}; the digest is checked against the findings
 *   first, then the signature, and only verified findings are ever counted.
 * - Circuit breaker: critical findings per timestamp; trips when the sum within the window
 *   is greater than the threshold.
 * - Human approval gate: a gated call (a gateway policy row with `approval`, or acting on a scan
 *   with any critical or high finding) waits for a human's typed signature over {approval id,
 *   tool, arguments hash, verdict}; AI signers are refused.
 */
import type { KeyObject } from 'node:crypto';
import { canonicalBytes } from '../core/canonical.ts';
import { publicKeyFromRaw } from '../core/ed25519.ts';
import { constantTimeEqual, fromBase64Url, toBase64Url, utf8Encode } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { sha256Hex } from '../core/hash.ts';
import { signTyped, verifyTyped, type SignerType } from '../core/typed-signature.ts';

export const FINDINGS_DOMAIN = 'sigil.findings.v1';
export const APPROVAL_DOMAIN = 'sigil.approval.v1';
export const DEFAULT_BREAKER_THRESHOLD = 3;
export const DEFAULT_BREAKER_WINDOW_MS = 86_400_000;

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** One finding of a scan. Other JSON fields may ride along and are covered by the digest. */
export interface Finding {
  readonly finding_id: string;
  readonly severity: Severity;
  readonly title: string;
  readonly [extra: string]: unknown;
}

/** A scanner's signed statement that it produced exactly these findings. */
export interface FindingsAttestation {
  readonly signer_did: string;
  readonly signer_type: SignerType;
  /** Hex SHA-256 of the RFC 8785 canonical findings. */
  readonly findings_digest: string;
  /** Base64url typed signature over findingsMessage(signer_did, findings_digest). */
  readonly signature: string;
}

export type SeverityCounts = Readonly<Record<Severity, number>>;

/** Findings that passed verification, with who vouched for them. */
export interface VerifiedFindings {
  readonly signer_did: string;
  readonly signer_type: SignerType;
  readonly findings: readonly Finding[];
  readonly counts: SeverityCounts;
}

type PublicKey = KeyObject | Uint8Array;

function asKey(key: PublicKey): KeyObject | null {
  if (!(key instanceof Uint8Array)) return key;
  try {
    return publicKeyFromRaw(key);
  } catch {
    return null;
  }
}

function decodeSignature(signature: unknown): Uint8Array | null {
  if (typeof signature !== 'string') return null;
  try {
    return fromBase64Url(signature);
  } catch {
    return null;
  }
}

/** Checks the findings' shape; 'findings_invalid' for anything but a list of findings. */
export function parseFindings(findings: unknown): readonly Finding[] {
  if (!Array.isArray(findings)) throw new SigilError('findings_invalid', 'findings must be a list');
  findings.forEach((f: unknown, i) => {
    const { finding_id, severity, title } = (
      typeof f === 'object' && f !== null ? f : {}
    ) as Record<string, unknown>;
    if (
      typeof finding_id !== 'string' ||
      typeof title !== 'string' ||
      !SEVERITIES.includes(severity as Severity)
    ) {
      throw new SigilError(
        'findings_invalid',
        `finding ${i} needs finding_id, title and a known severity`,
      );
    }
  });
  return findings as Finding[];
}

/** Hex SHA-256 of the canonical findings; 'findings_invalid' if they are not canonical JSON. */
export function findingsDigest(findings: readonly Finding[]): string {
  try {
    return sha256Hex(canonicalBytes(findings));
  } catch (err) {
    throw new SigilError('findings_invalid', 'findings are not canonical JSON', {
      cause: err instanceof Error ? err.message : String(err),
    });
  }
}

/** The bytes a findings attestation signs. */
export function findingsMessage(signer_did: string, findings_digest: string): Uint8Array {
  return canonicalBytes({ domain: FINDINGS_DOMAIN, signer_did, findings_digest });
}

/** Attests findings as `signer_did` with a typed signature (for scanners and tests). */
export function signFindings(
  findings: readonly Finding[],
  signer_did: string,
  signer_type: SignerType,
  privateKey: KeyObject,
): FindingsAttestation {
  const findings_digest = findingsDigest(parseFindings(findings));
  const signature = signTyped(
    privateKey,
    signer_type,
    findingsMessage(signer_did, findings_digest),
  );
  return { signer_did, signer_type, findings_digest, signature: toBase64Url(signature) };
}

/** Number of findings of each severity. */
export function countSeverities(findings: readonly Finding[]): SeverityCounts {
  const counts: Record<Severity, number> = { critical: 0, high: 0, medium: 0, low: 0, info: 0 };
  for (const f of findings) counts[f.severity] += 1;
  return counts;
}

/**
 * Verifies an attestation over `findings` with the signer's public key, in this order:
 * attestation shape ('findings_attestation_malformed'), findings shape ('findings_invalid'),
 * digest against the supplied findings ('findings_digest_mismatch', before any signature
 * work), then the typed signature ('findings_signature_invalid'). Call this before
 * storing or counting anything.
 */
export function verifyFindingsAttestation(
  attestation: FindingsAttestation,
  findings: unknown,
  publicKey: PublicKey,
): VerifiedFindings {
  const { signer_did, signer_type, findings_digest, signature } = (attestation ??
    {}) as Partial<FindingsAttestation>;
  if (
    typeof signer_did !== 'string' ||
    typeof findings_digest !== 'string' ||
    typeof signer_type !== 'object'
  ) {
    throw new SigilError(
      'findings_attestation_malformed',
      'attestation needs signer_did, signer_type and findings_digest',
    );
  }
  const parsed = parseFindings(findings);
  const digest = findingsDigest(parsed);
  if (!constantTimeEqual(utf8Encode(digest), utf8Encode(findings_digest))) {
    throw new SigilError(
      'findings_digest_mismatch',
      'the attested digest does not match the supplied findings',
      {
        signer_did,
      },
    );
  }
  const key = asKey(publicKey);
  const sig = decodeSignature(signature);
  if (
    key === null ||
    sig === null ||
    !verifyTyped(key, signer_type, findingsMessage(signer_did, digest), sig)
  ) {
    throw new SigilError(
      'findings_signature_invalid',
      `attestation signature by ${signer_did} does not verify`,
      {
        signer_did,
      },
    );
  }
  return { signer_did, signer_type, findings: parsed, counts: countSeverities(parsed) };
}

// ---------------------------------------------------------------------------------------
// Circuit breaker
// ---------------------------------------------------------------------------------------

/** Breaker state, plain JSON: critical counts per timestamp (ascending), threshold and window. */
export interface CircuitBreaker {
  readonly threshold: number;
  readonly window_ms: number;
  readonly buckets: readonly { readonly at_ms: number; readonly critical: number }[];
}

export interface BreakerStatus {
  readonly tripped: boolean;
  readonly critical_in_window: number;
  readonly threshold: number;
}

const isCount = (n: unknown): n is number =>
  typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** A fresh breaker; defaults: threshold 3, window 24 h. 'circuit_breaker_invalid' for bad settings. */
export function createCircuitBreaker(
  options: { threshold?: number; windowMs?: number } = {},
): CircuitBreaker {
  const threshold = options.threshold ?? DEFAULT_BREAKER_THRESHOLD;
  const window_ms = options.windowMs ?? DEFAULT_BREAKER_WINDOW_MS;
  if (!isCount(threshold) || !isCount(window_ms) || window_ms === 0) {
    throw new SigilError(
      'circuit_breaker_invalid',
      'threshold must be ≥ 0 and window_ms > 0 (integers)',
    );
  }
  return { threshold, window_ms, buckets: [] };
}

/** Reads a stored breaker back, validating every field ('circuit_breaker_invalid'). */
export function parseCircuitBreaker(json: unknown): CircuitBreaker {
  const { threshold, window_ms, buckets } = (
    typeof json === 'object' && json !== null ? json : {}
  ) as Record<string, unknown>;
  const breaker = createCircuitBreaker({
    threshold: threshold as number,
    windowMs: window_ms as number,
  });
  if (!Array.isArray(buckets))
    throw new SigilError('circuit_breaker_invalid', 'buckets must be a list');
  let previous = -1;
  const parsed = buckets.map((b: unknown) => {
    const { at_ms, critical } = (typeof b === 'object' && b !== null ? b : {}) as Record<
      string,
      unknown
    >;
    if (!isCount(at_ms) || !isCount(critical) || critical === 0 || at_ms <= previous) {
      throw new SigilError(
        'circuit_breaker_invalid',
        'buckets must be ascending {at_ms, critical > 0}',
      );
    }
    previous = at_ms;
    return { at_ms, critical };
  });
  return { ...breaker, buckets: parsed };
}

/** Adds `critical` findings at `atMs` (a zero count changes nothing). */
export function recordCriticalFindings(
  breaker: CircuitBreaker,
  atMs: number,
  critical: number,
): CircuitBreaker {
  if (!isCount(atMs) || !isCount(critical)) {
    throw new SigilError(
      'circuit_breaker_invalid',
      'timestamp and count must be non-negative integers',
    );
  }
  if (critical === 0) return breaker;
  const buckets = breaker.buckets.filter((b) => b.at_ms !== atMs);
  const existing = breaker.buckets.find((b) => b.at_ms === atMs)?.critical ?? 0;
  buckets.push({ at_ms: atMs, critical: Math.min(existing + critical, Number.MAX_SAFE_INTEGER) });
  buckets.sort((a, b) => a.at_ms - b.at_ms);
  return { ...breaker, buckets };
}

/** Drops buckets older than the window ending at `nowMs`. */
export function evictExpired(breaker: CircuitBreaker, nowMs: number): CircuitBreaker {
  const start = nowMs - breaker.window_ms;
  return { ...breaker, buckets: breaker.buckets.filter((b) => b.at_ms >= start) };
}

/** Critical findings within the window ending at `nowMs`; tripped when the sum exceeds the threshold. */
export function checkCircuitBreaker(breaker: CircuitBreaker, nowMs: number): BreakerStatus {
  const start = nowMs - breaker.window_ms;
  const count = breaker.buckets.reduce(
    (sum, b) => (b.at_ms >= start ? Math.min(sum + b.critical, Number.MAX_SAFE_INTEGER) : sum),
    0,
  );
  return {
    tripped: count > breaker.threshold,
    critical_in_window: count,
    threshold: breaker.threshold,
  };
}

/** True when a scan with these counts needs human approval: any critical or high finding. */
export function requiresApproval(counts: SeverityCounts): boolean {
  return counts.critical > 0 || counts.high > 0;
}

/** The outcome of taking in one scan. */
export interface ScanIntake {
  readonly verified: VerifiedFindings;
  readonly breaker: CircuitBreaker;
  readonly status: BreakerStatus;
  readonly approval_required: boolean;
}

/**
 * Takes in a scan: verifies the attestation first (throwing, with the breaker untouched,
 * on any failure), then evicts expired buckets, records the critical findings at `nowMs`,
 * and reports the breaker status and whether a human approval gate is needed.
 */
export function ingestScan(
  breaker: CircuitBreaker,
  attestation: FindingsAttestation,
  findings: unknown,
  publicKey: PublicKey,
  nowMs: number,
): ScanIntake {
  const verified = verifyFindingsAttestation(attestation, findings, publicKey);
  const next = recordCriticalFindings(
    evictExpired(breaker, nowMs),
    nowMs,
    verified.counts.critical,
  );
  return {
    verified,
    breaker: next,
    status: checkCircuitBreaker(next, nowMs),
    approval_required: requiresApproval(verified.counts),
  };
}

// ---------------------------------------------------------------------------------------
// Human approval gate
// ---------------------------------------------------------------------------------------

export type ApprovalStatus = 'pending' | 'approved' | 'rejected';
export type ApprovalVerdict = 'approved' | 'rejected';

/** What an approval is about: the request's id and the exact call it gates. */
export interface ApprovalSubject {
  readonly approval_id: string;
  readonly tool: string;
  /** Hex SHA-256 of the RFC 8785 canonical arguments of the call. */
  readonly arguments_hash: string;
}

/** The gate in front of one call. Pending until a human decides. */
export interface ApprovalGate extends ApprovalSubject {
  readonly status: ApprovalStatus;
  readonly decided_by: string | null;
  readonly decided_at: string | null;
}

/** A signed verdict on a gate. */
export interface ApprovalDecision {
  readonly approver_did: string;
  readonly verdict: ApprovalVerdict;
  readonly signer_type: SignerType;
  /** Base64url typed signature over approvalMessage(subject, verdict). */
  readonly signature: string;
}

const HEX64_RE = /^[0-9a-f]{64}$/;

/** A new pending gate ('approval_invalid' without an id, a tool and a hex arguments hash). */
export function openApprovalGate(subject: ApprovalSubject): ApprovalGate {
  const { approval_id, tool, arguments_hash } = (subject ?? {}) as Partial<ApprovalSubject>;
  if (
    typeof approval_id !== 'string' ||
    approval_id.length === 0 ||
    typeof tool !== 'string' ||
    tool.length === 0 ||
    typeof arguments_hash !== 'string' ||
    !HEX64_RE.test(arguments_hash)
  ) {
    throw new SigilError(
      'approval_invalid',
      'an approval gate needs an approval id, a tool and a hex SHA-256 arguments hash',
    );
  }
  return {
    approval_id,
    tool,
    arguments_hash,
    status: 'pending',
    decided_by: null,
    decided_at: null,
  };
}

/** The bytes an approver signs: canonical {domain, approval_id, tool, arguments_hash, verdict}. */
export function approvalMessage(subject: ApprovalSubject, verdict: ApprovalVerdict): Uint8Array {
  return canonicalBytes({
    domain: APPROVAL_DOMAIN,
    approval_id: subject.approval_id,
    tool: subject.tool,
    arguments_hash: subject.arguments_hash,
    verdict,
  });
}

/** Signs a verdict on a gate as `signer_type` (for the approver's client and tests); base64url. */
export function signApproval(
  subject: ApprovalSubject,
  verdict: ApprovalVerdict,
  signer_type: SignerType,
  privateKey: KeyObject,
): string {
  return toBase64Url(signTyped(privateKey, signer_type, approvalMessage(subject, verdict)));
}

/**
 * Applies a signed verdict: Pending → Approved or Rejected. Refused with 'approval_not_pending'
 * once decided, 'approver_not_human' for any non-human signer type, 'approval_invalid' for a
 * malformed verdict, 'approval_signature_invalid' unless the typed human signature verifies
 * under one of the approver's `publicKeys`. Returns the decided gate and the index of the key
 * that verified.
 */
export function decideApproval(
  gate: ApprovalGate,
  decision: ApprovalDecision,
  publicKeys: readonly PublicKey[],
  nowMs: number,
): { gate: ApprovalGate; key: number } {
  if (gate.status !== 'pending') {
    throw new SigilError(
      'approval_not_pending',
      `approval ${gate.approval_id} is already ${gate.status}`,
    );
  }
  if (decision?.signer_type?.type !== 'human') {
    throw new SigilError('approver_not_human', 'only a human signer may approve or reject');
  }
  const { approver_did, verdict } = decision;
  if (typeof approver_did !== 'string' || (verdict !== 'approved' && verdict !== 'rejected')) {
    throw new SigilError('approval_invalid', 'a verdict needs approver_did and approved|rejected');
  }
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) {
    throw new SigilError('invalid_time', '`now` must be epoch milliseconds');
  }
  const sig = decodeSignature(decision.signature);
  const message = approvalMessage(gate, verdict);
  const key =
    sig === null
      ? -1
      : publicKeys.findIndex((k) => {
          const pub = asKey(k);
          return pub !== null && verifyTyped(pub, { type: 'human' }, message, sig);
        });
  if (key < 0) {
    throw new SigilError(
      'approval_signature_invalid',
      `the ${verdict} signature on approval ${gate.approval_id} does not verify under a key ` +
        `${approver_did} enrolled`,
    );
  }
  return {
    gate: {
      ...gate,
      status: verdict,
      decided_by: approver_did,
      decided_at: new Date(nowMs).toISOString(),
    },
    key,
  };
}
