/**
 * The runtime's objects in the wire dialect: snake_case names and RFC 3339 UTC times. Every
 * surface that prints Sigil's own objects (HTTP API, CLI --json, the MCP gateway) maps them here,
 * so the same object has the same field names wherever it is read. The shapes are declared in
 * src/http/schemas.ts.
 */
import { SigilError } from '../core/errors.ts';
import type { SignerType } from '../core/typed-signature.ts';
import type { Bailment, ConsentGrant } from '../gatekeeper/index.ts';
import type { FitResult, LicenseVerification, TrustModel } from '../policy/index.ts';
import type { Proposal } from '../quorum/index.ts';
import type { Caller, RuntimeIdentity, TokenInfo } from './index.ts';
import type { FindingsReceipt } from './services/governance.ts';
import type { LicenseInfo } from './services/licenses.ts';

/** Epoch milliseconds as an RFC 3339 UTC time. */
export function wireTime(ms: number): string {
  return new Date(ms).toISOString();
}

function wireTimeOrNull(ms: number | null): string | null {
  return ms === null ? null : wireTime(ms);
}

export function wireSigner(
  signer: SignerType,
): { type: 'human' } | { type: 'ai'; delegation_id: string } {
  return signer.type === 'ai'
    ? { type: 'ai', delegation_id: signer.delegationId }
    : { type: 'human' };
}

/** A wire signer (`delegation_id`) as the runtime's SignerType. */
export function signerFromWire(
  signer: { type: 'human' } | { type: 'ai'; delegation_id: string },
): SignerType {
  return signer.type === 'ai'
    ? { type: 'ai', delegationId: signer.delegation_id }
    : { type: 'human' };
}

export function wireTokenInfo(info: TokenInfo) {
  return {
    id: info.id,
    subject: info.subject,
    loa: info.loa,
    signer: wireSigner(info.signer),
    created_at: wireTime(info.createdAt),
    expires_at: wireTimeOrNull(info.expiresAt),
    revoked_at: wireTimeOrNull(info.revokedAt),
    ...(info.scopes !== undefined ? { scopes: info.scopes } : {}),
    issued_by: info.issuedBy,
  };
}

export function wireCaller(caller: Caller) {
  return {
    subject: caller.subject,
    loa: caller.loa,
    signer: wireSigner(caller.signer),
    verified: caller.verified,
    source: caller.source,
    ...(caller.scopes !== undefined ? { scopes: [...caller.scopes] } : {}),
    ...(caller.tokenId !== undefined ? { token_id: caller.tokenId } : {}),
    ...(caller.delegatedBy !== undefined ? { delegated_by: caller.delegatedBy } : {}),
    ...(caller.expiresAt !== undefined ? { expires_at: wireTimeOrNull(caller.expiresAt) } : {}),
  };
}

/** The runtime's own standing; the license file's path stays on the server. */
export function wireIdentity(identity: RuntimeIdentity) {
  return {
    loa: identity.loa,
    source: identity.source,
    subject: identity.subject,
    expires_at: identity.expiresAt,
    reason: identity.reason,
  };
}

export function wireLicenseInfo(l: LicenseInfo) {
  return {
    id: l.id,
    owner: l.owner,
    loa: l.loa,
    expires_at: l.expiresAt,
    revoked_at: l.revokedAt ?? null,
    revoked_by: l.revokedBy ?? null,
  };
}

export function wireLicenseCheck(v: LicenseVerification) {
  return v.ok
    ? { ok: true, loa: v.loa, owner: v.owner, expires_at: v.expiresAt }
    : { ok: false, loa: v.loa, reason: v.reason };
}

function wireConsentRecord<T extends Bailment | ConsentGrant>(r: T) {
  return {
    kind: r.kind,
    id: r.id,
    bailor: r.bailor,
    bailee: r.bailee,
    scope: r.scope,
    purpose: r.purpose,
    created_at: r.createdAt,
    expires_at: r.expiresAt,
    revoked_at: r.revokedAt,
  };
}

export function wireConsent(c: { id: string; bailment: Bailment; grant: ConsentGrant }) {
  return { id: c.id, bailment: wireConsentRecord(c.bailment), grant: wireConsentRecord(c.grant) };
}

export function wireConsentRevoked(r: { id: string; revokedAt: string }) {
  return { id: r.id, revoked_at: r.revokedAt };
}

export function wireTrustModel(m: TrustModel) {
  return {
    version: m.version,
    bias: m.bias,
    weights: m.weights,
    threshold: m.threshold,
    action_risk: m.actionRisk,
    target_risk: m.targetRisk,
  };
}

export function wireFitResult(fit: FitResult) {
  return {
    weights: fit.weights,
    bias: fit.bias,
    threshold: fit.threshold,
    train_accuracy: fit.trainAccuracy,
    held_out_accuracy: fit.heldOutAccuracy,
    n: fit.n,
    n_train: fit.nTrain,
    n_held_out: fit.nHeldOut,
  };
}

/**
 * A trust model sent in the wire dialect as the runtime parses it (`action_risk` →
 * `actionRisk`, `target_risk` → `targetRisk`); the runtime's own spellings are refused.
 */
export function trustModelFromWire(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (key === 'actionRisk' || key === 'targetRisk') {
      throw new SigilError('bad_request', `body.${key} is not a known field (use snake_case)`, {
        field: `body.${key}`,
      });
    }
    out[key === 'action_risk' ? 'actionRisk' : key === 'target_risk' ? 'targetRisk' : key] = value;
  }
  return out;
}

export function wireProposal(p: Proposal) {
  return {
    ...p,
    attestations: p.attestations.map((a) => ({
      witness_id: a.witness_id,
      signature: a.signature,
      provenance_signature: a.provenance_signature,
      attested_at: a.attested_at,
    })),
  };
}

/** Trust status with the runtime's identity in the wire dialect. */
export function wireTrustStatus<T extends { runtime: RuntimeIdentity }>(status: T) {
  return { ...status, runtime: wireIdentity(status.runtime) };
}

/** A findings report as the API and `sigil governance report` show it. */
export function wireFindingsReceipt(r: FindingsReceipt) {
  return {
    record_id: r.record_id,
    signer_did: r.intake.verified.signer_did,
    counts: { ...r.intake.verified.counts },
    approval_required: r.intake.approval_required,
    tripped_now: r.tripped_now,
    breaker: { ...r.intake.status },
  };
}

/** A wire findings report (`signer_type.delegation_id`) as the runtime takes it. */
export function findingsReportFromWire(body: {
  attestation: {
    signer_did: string;
    signer_type: { type: 'human' } | { type: 'ai'; delegation_id: string };
    findings_digest: string;
    signature: string;
  };
  findings: unknown;
}) {
  return {
    attestation: { ...body.attestation, signer_type: signerFromWire(body.attestation.signer_type) },
    findings: body.findings,
  };
}
