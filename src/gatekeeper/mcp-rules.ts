/**
 * The six MCP rules for AI actors. They apply only to AI signers (the signer type comes from
 * verified identity); human signers are exempt. Every fact is derived, never asserted:
 * - mcp-001 scope: the token/session declares a scope and it covers the requested action;
 * - mcp-002 no self-escalation: the request does not widen the actor's own standing;
 * - mcp-003 provenance: the call carries provenance, and it is for exactly this call (hash of
 *   {domain, action, arguments});
 * - mcp-004 no identity forgery: the call claims neither another subject nor another signer type;
 * - mcp-005 distinguishable: output carries the AI marker (or the gateway commits to adding it);
 * - mcp-006 consent boundaries: the data subject has an active bailment and consent for the actor.
 *
 * The rules run before the kernel, and the first failure denies, so each leaves to its invariant
 * the facts the invariant owns (as the reference divides them): whether the provenance's
 * signature verifies under a key trusted for the actor is `provenance-verifiable`'s, and whether
 * the consent's scope covers the action is `consent-required`'s. A rule judging them too would
 * deny first on every AI request and leave the invariant nothing to decide.
 */
import type { JsonValue } from '../core/canonical.ts';
import type { Bailment, ConsentGrant, ConsentPurpose } from './consent.ts';
import { evaluateConsent } from './consent.ts';
import { scopeCovers } from './consent-scope.ts';
import { mcpActionHash } from './provenance.ts';
import { selfGrantFindings } from './request-facts.ts';
import type { Did, GatekeeperRequest, Provenance } from './types.ts';
import { parseGatekeeperRequest } from './types.ts';

/** The six rules in enforcement order, with their severities (5 = gravest). */
export const MCP_RULES = [
  {
    rule: 'mcp-001-bcts-scope',
    severity: 5,
    description: 'AI must operate within its declared scope',
  },
  {
    rule: 'mcp-002-no-self-escalation',
    severity: 5,
    description: 'AI cannot self-escalate capabilities',
  },
  {
    rule: 'mcp-003-provenance-required',
    severity: 4,
    description: 'AI actions require provenance metadata',
  },
  {
    rule: 'mcp-004-no-identity-forge',
    severity: 5,
    description: 'AI cannot forge identity or signatures',
  },
  {
    rule: 'mcp-005-distinguishable',
    severity: 3,
    description: 'AI outputs must be distinguishable from human',
  },
  {
    rule: 'mcp-006-consent-boundaries',
    severity: 5,
    description: 'AI must respect consent boundaries',
  },
] as const;

/** Stable id of an MCP rule. */
export type McpRuleId = (typeof MCP_RULES)[number]['rule'];

/** The marker string AI-mediated output carries in its metadata. */
export const AI_OUTPUT_MARKER = 'sigil:ai-mediated';
/** The metadata key (MCP `_meta` style) under which the marker is carried. */
export const AI_OUTPUT_META_KEY = 'sigil/marker';

/** Returns `metadata` with the AI marker added (a new object; the input is not changed). */
export function markOutput(metadata?: { [key: string]: JsonValue } | null): {
  [key: string]: JsonValue;
} {
  return { ...(metadata ?? {}), [AI_OUTPUT_META_KEY]: AI_OUTPUT_MARKER };
}

/** True when `metadata` is an object carrying the AI marker under its key. */
export function isOutputMarked(metadata: unknown): boolean {
  return (
    typeof metadata === 'object' &&
    metadata !== null &&
    !Array.isArray(metadata) &&
    Object.hasOwn(metadata, AI_OUTPUT_META_KEY) &&
    (metadata as Record<string, unknown>)[AI_OUTPUT_META_KEY] === AI_OUTPUT_MARKER
  );
}

/**
 * How output is marked: before a call, `'gateway'` (the gateway commits to marking what
 * it returns) or `'none'`; after a call, the output's metadata itself.
 */
export type OutputMarking = 'gateway' | 'none' | { metadata: unknown };

/** What the call claims about who makes it (from tool arguments or request metadata). */
export interface IdentityClaim {
  subject?: string;
  signerType?: string;
  delegationId?: string;
}

/** Consent facts for mcp-006: whose data the call serves (the bailor) and the records. */
export interface McpConsentState {
  bailor: Did | null;
  bailments: readonly Bailment[];
  grants: readonly ConsentGrant[];
  purpose?: ConsentPurpose;
  now: number;
}

/**
 * Everything the rules look at. `request.actor`/`actorSigner` are the authenticated identity;
 * `request.payload` is the tool's arguments; `scope` is the token's or session's declared
 * scope (null when none).
 */
export interface McpContext {
  request: GatekeeperRequest;
  scope: string | null;
  claimed?: IdentityClaim;
  provenance: Provenance | null;
  /** `mcpActionHash(request.action, request.payload)`, when the caller already computed it. */
  actionHash?: string;
  output: OutputMarking;
  consent: McpConsentState;
}

/** One rule's outcome. `exempt` is true when the signer is human and the rule was not applied. */
export interface McpRuleResult {
  rule: McpRuleId;
  severity: number;
  description: string;
  passed: boolean;
  exempt: boolean;
  evidence: string[];
}

/** The first failed rule. */
export interface McpViolation {
  rule: McpRuleId;
  severity: number;
  description: string;
  evidence: string[];
}

type Finding = string[] | null;

function scopeRule(ctx: McpContext): Finding {
  const { action, actor } = ctx.request;
  if (ctx.scope === null || ctx.scope.trim() === '') {
    return [`actor: ${actor}`, 'scope: none declared'];
  }
  if (!scopeCovers(ctx.scope, action)) {
    return [`actor: ${actor}`, `scope: ${ctx.scope}`, `action: ${action}`];
  }
  return null;
}

function selfEscalationRule(ctx: McpContext): Finding {
  const findings = selfGrantFindings(ctx.request);
  return findings.length === 0
    ? null
    : [`actor: ${ctx.request.actor}`, `action: ${ctx.request.action}`, ...findings];
}

function provenanceRule(ctx: McpContext): Finding {
  const { action, payload } = ctx.request;
  if (ctx.provenance === null) return [`action: ${action}`, 'provenance: none'];
  const expected = ctx.actionHash ?? mcpActionHash(action, payload ?? null);
  if (ctx.provenance.actionHash !== expected) {
    return [
      `action: ${action}`,
      `provenance.action_hash: ${ctx.provenance.actionHash}`,
      `expected_action_hash: ${expected}`,
    ];
  }
  return null;
}

function identityRule(ctx: McpContext): Finding {
  const { actor, actorSigner } = ctx.request;
  const claim = ctx.claimed ?? {};
  const out: string[] = [];
  if (claim.subject !== undefined && claim.subject !== actor) {
    out.push(`claimed_subject: ${claim.subject}`);
  }
  if (claim.signerType !== undefined && claim.signerType !== actorSigner.type) {
    out.push(`claimed_signer_type: ${claim.signerType}`);
  }
  if (
    claim.delegationId !== undefined &&
    (actorSigner.type !== 'ai' || claim.delegationId !== actorSigner.delegationId)
  ) {
    out.push(`claimed_delegation_id: ${claim.delegationId}`);
  }
  return out.length === 0 ? null : [`actor: ${actor}`, `signer_type: ${actorSigner.type}`, ...out];
}

function distinguishableRule(ctx: McpContext): Finding {
  const { output } = ctx;
  if (output === 'gateway') return null;
  if (output !== 'none' && isOutputMarked(output.metadata)) return null;
  return [
    `action: ${ctx.request.action}`,
    `output_marking: ${output === 'none' ? 'none' : 'missing'}`,
  ];
}

function consentRule(ctx: McpContext): Finding {
  const { actor, action, permissions } = ctx.request;
  const { bailor } = ctx.consent;
  if (bailor === null) return [`actor: ${actor}`, 'bailor: none'];
  const result = evaluateConsent({
    bailments: ctx.consent.bailments,
    grants: ctx.consent.grants,
    bailor,
    bailee: actor,
    permissions: permissions.length > 0 ? permissions : [action],
    ...(ctx.consent.purpose === undefined ? {} : { purpose: ctx.consent.purpose }),
    now: ctx.consent.now,
  });
  // A consent in force whose scope misses the action is consent-required's to deny.
  return result.ok || result.reason === 'scope_not_covered'
    ? null
    : [result.description, ...result.evidence];
}

const CHECKS: Readonly<Record<McpRuleId, (ctx: McpContext) => Finding>> = {
  'mcp-001-bcts-scope': scopeRule,
  'mcp-002-no-self-escalation': selfEscalationRule,
  'mcp-003-provenance-required': provenanceRule,
  'mcp-004-no-identity-forge': identityRule,
  'mcp-005-distinguishable': distinguishableRule,
  'mcp-006-consent-boundaries': consentRule,
};

function validated(ctx: McpContext): McpContext {
  return { ...ctx, request: parseGatekeeperRequest(ctx.request) };
}

/**
 * Every rule's outcome, in rule order (for the MCP audit chain). Human signers are exempt:
 * every rule passes with `exempt: true`. Throws SigilError 'invalid_request' for a malformed request.
 */
export function audit(context: McpContext): McpRuleResult[] {
  return auditParsed(validated(context));
}

/**
 * `audit` for a context whose request `parseGatekeeperRequest` returned, not changed since
 * (decide() parses its request once for the rules and the kernel).
 */
/**
 * Each rule's result when it passes, frozen and shared: the same six objects for every request
 * that passes them, so what is derived from them (a sealed input's hash) is kept by identity.
 */
const PASSED: Readonly<Record<McpRuleId, McpRuleResult>> = Object.freeze(
  Object.fromEntries(
    MCP_RULES.map(({ rule, severity, description }) => [
      rule,
      Object.freeze({
        rule,
        severity,
        description,
        passed: true,
        exempt: false,
        evidence: Object.freeze([]) as unknown as string[],
      }),
    ]),
  ) as Record<McpRuleId, McpRuleResult>,
);

export function auditParsed(ctx: McpContext): McpRuleResult[] {
  const human = ctx.request.actorSigner.type === 'human';
  return MCP_RULES.map(({ rule, severity, description }) => {
    if (human) {
      return {
        rule,
        severity,
        description,
        passed: true,
        exempt: true,
        evidence: ['signer_type: human'],
      };
    }
    const finding = CHECKS[rule](ctx);
    if (finding === null) return PASSED[rule];
    return { rule, severity, description, passed: false, exempt: false, evidence: finding };
  });
}

/** The first failed rule in rule order, or ok; human signers always pass. */
export function enforce(
  context: McpContext,
): { ok: true } | { ok: false; violation: McpViolation } {
  const ctx = validated(context);
  if (ctx.request.actorSigner.type === 'human') return { ok: true };
  for (const { rule, severity, description } of MCP_RULES) {
    const finding = CHECKS[rule](ctx);
    if (finding !== null)
      return { ok: false, violation: { rule, severity, description, evidence: finding } };
  }
  return { ok: true };
}
