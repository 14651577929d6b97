/**
 * The judicial vocabulary of the gatekeeper: what a request looks like, what evidence it
 * may carry (provenance, authority links, quorum votes), and what a violation reports.
 *
 * A request states who acts (from verified identity), what it does, on what, with which
 * permissions, and what its effect is. It carries no asserted facts such as
 * `is_self_grant` or `modifies_kernel`: the invariants derive those from the request
 * itself (see request-facts.ts). Parsers here are strict: unknown keys are rejected.
 */
import { z } from 'zod';
import type { JsonValue } from '../core/canonical.ts';
import { isDid } from '../core/did.ts';
import { SigilError } from '../core/errors.ts';
import type { SignerType } from '../core/typed-signature.ts';

export type { SignerType } from '../core/typed-signature.ts';

/** A decentralised identifier string (`did:method:id`). */
export type Did = string;

/** Raw 32-byte Ed25519 public keys trusted for each DID; supplied by the runtime from its registries. */
export type TrustedKeys = ReadonlyMap<Did, readonly Uint8Array[]>;

/** The eight constitutional invariants, by stable id, in evaluation order. */
export const INVARIANT_IDS = [
  'separation-of-powers',
  'consent-required',
  'no-self-grant',
  'human-override',
  'kernel-immutability',
  'authority-chain-valid',
  'quorum-legitimate',
  'provenance-verifiable',
  'human-credentials',
] as const;

/** Stable id of a constitutional invariant. */
export type InvariantId = (typeof INVARIANT_IDS)[number];

/** One failed invariant: which, why, and the facts that show it. */
export interface Violation {
  invariant: InvariantId;
  description: string;
  evidence: string[];
}

/** A widening of a subject's standing: new permissions and/or a level of access. */
export interface GrantEffect {
  subject: Did;
  permissions?: string[];
  loa?: string;
}

/**
 * A withdrawal of a subject's standing (token, license, role): `loa` is the level it keeps
 * through its other credentials, absent when it keeps none.
 */
export interface RevokeEffect {
  subject: Did;
  loa?: string;
}

/**
 * What the request would change, as the runtime understands the action: `grants` hand out
 * new credentials or permissions, `raises` lift an existing subject's LOA or permissions,
 * `revokes` withdraw a subject's standing.
 */
export interface RequestEffect {
  grants?: GrantEffect[];
  raises?: GrantEffect[];
  revokes?: RevokeEffect[];
}

/**
 * A request put to the gatekeeper.
 * - `actor`, `actorSigner`: from verified identity (token or license), never from the body;
 * - `action`: dotted verb such as `canon.write`, `token.create`, `kernel.update`;
 * - `target`: the resource path acted on (`canon/user/…`, `kernel/config`, `system/halt`);
 * - `permissions`: what the action requires;
 * - `payload`: the action's arguments (for an MCP tool call, the tool arguments);
 * - `effect`: the standing it would grant, raise or revoke.
 */
export interface GatekeeperRequest {
  actor: Did;
  actorSigner: SignerType;
  action: string;
  target: string;
  permissions: string[];
  payload?: JsonValue;
  effect?: RequestEffect;
}

/** Who is speaking in a provenance claim. Only `human` voices count towards a quorum. */
export type VoiceKind = 'human' | 'synthetic' | 'system';
/** Whether a voice was formed independently. Only `independent` voices count. */
export type Independence = 'independent' | 'coordinated';
/** Whether a voice reviewed the matter itself. Only `first-order` voices count. */
export type ReviewOrder = 'first-order' | 'derivative';

/**
 * Signed statement that `actor` performed the action whose hash is `actionHash` at
 * `timestamp`. `signature` is a typed signature (base64url) by `publicKey` (base64url of the
 * raw 32-byte key) over the canonical provenance body (see provenance.ts).
 */
export interface Provenance {
  actor: Did;
  actionHash: string;
  timestamp: string;
  voiceKind?: VoiceKind;
  independence?: Independence;
  reviewOrder?: ReviewOrder;
  publicKey: string;
  signature: string;
}

/** One delegation step: `grantor` hands `permissions` to `grantee`, signed by the grantor. */
export interface AuthorityLink {
  grantor: Did;
  grantee: Did;
  permissions: string[];
  grantorPublicKey: string;
  signature: string;
}

/** One quorum vote: signed (typed, human) by the same key that signed its provenance. */
export interface QuorumVote {
  voter: Did;
  approved: boolean;
  provenance?: Provenance;
  signature: string;
}

/** Votes gathered for a decision and the number of verified human approvals it needs (set by policy). */
export interface QuorumEvidence {
  threshold: number;
  votes: QuorumVote[];
}

const didSchema = z.string().refine((s) => isDid(s), { message: 'not a DID' });
const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex characters');
const b64url = z.string().regex(/^[A-Za-z0-9_-]*$/, 'expected base64url without padding');

/** Parser for a signer type as carried in requests. */
export const signerTypeSchema: z.ZodType<SignerType> = z.union([
  z.strictObject({ type: z.literal('human') }),
  z.strictObject({ type: z.literal('ai'), delegationId: hex64 }),
]);

const grantEffectSchema = z.strictObject({
  subject: didSchema,
  permissions: z.array(z.string()).optional(),
  loa: z.string().optional(),
});

/** Parser for a request's effect. */
export const requestEffectSchema = z.strictObject({
  grants: z.array(grantEffectSchema).optional(),
  raises: z.array(grantEffectSchema).optional(),
  revokes: z.array(z.strictObject({ subject: didSchema, loa: z.string().optional() })).optional(),
});

/** Parser for a gatekeeper request; rejects unknown keys (no asserted facts can ride along). */
export const gatekeeperRequestSchema = z.strictObject({
  actor: didSchema,
  actorSigner: signerTypeSchema,
  action: z.string().min(1),
  target: z.string(),
  permissions: z.array(z.string()),
  payload: z.json().optional(),
  effect: requestEffectSchema.optional(),
});

/** Parser for provenance in its wire form. */
export const provenanceSchema = z.strictObject({
  actor: didSchema,
  actionHash: hex64,
  timestamp: z.iso.datetime({ offset: true }),
  voiceKind: z.enum(['human', 'synthetic', 'system']).optional(),
  independence: z.enum(['independent', 'coordinated']).optional(),
  reviewOrder: z.enum(['first-order', 'derivative']).optional(),
  publicKey: b64url,
  signature: b64url,
});

/** Parser for one authority link in its wire form. */
export const authorityLinkSchema = z.strictObject({
  grantor: didSchema,
  grantee: didSchema,
  permissions: z.array(z.string()),
  grantorPublicKey: b64url,
  signature: b64url,
});

/** Parser for quorum evidence in its wire form. */
export const quorumEvidenceSchema = z.strictObject({
  threshold: z.number().int(),
  votes: z.array(
    z.strictObject({
      voter: didSchema,
      approved: z.boolean(),
      provenance: provenanceSchema.optional(),
      signature: b64url,
    }),
  ),
});

function parseWith<T>(schema: z.ZodType<T>, value: unknown, code: string, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new SigilError(code, `invalid ${what}: ${z.prettifyError(result.error)}`, {
    issues: result.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
  });
}

const REQUEST_KEYS = new Set([
  'actor',
  'actorSigner',
  'action',
  'target',
  'permissions',
  'payload',
]);
const HEX64 = /^[0-9a-f]{64}$/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function isPlainJson(value: unknown, depth: number): boolean {
  if (depth > 64) return false;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      if (value === null) return true;
      if (Array.isArray(value)) return value.every((v) => isPlainJson(v, depth + 1));
      return isPlainObject(value) && Object.values(value).every((v) => isPlainJson(v, depth + 1));
    default:
      return false;
  }
}

function isSigner(value: unknown): boolean {
  if (!isPlainObject(value)) return false;
  const keys = Object.keys(value).length;
  if (value.type === 'human') return keys === 1;
  return (
    value.type === 'ai' &&
    keys === 2 &&
    typeof value.delegationId === 'string' &&
    HEX64.test(value.delegationId)
  );
}

/**
 * The common, plainly valid request, recognised without the schema (decide() builds one per
 * request). Conservative: anything it does not recognise, including every request with an
 * effect, goes to the schema, which alone reports errors.
 */
function isPlainRequest(value: unknown): value is GatekeeperRequest {
  if (!isPlainObject(value)) return false;
  // for-in, not Object.keys: no array per request (the prototype is Object's or null, checked).
  for (const key in value) if (!REQUEST_KEYS.has(key)) return false;
  const { actor, actorSigner, action, target, permissions } = value;
  return (
    typeof actor === 'string' &&
    isDid(actor) &&
    isSigner(actorSigner) &&
    typeof action === 'string' &&
    action.length > 0 &&
    typeof target === 'string' &&
    Array.isArray(permissions) &&
    permissions.every((p) => typeof p === 'string') &&
    (!('payload' in value) || (value.payload !== undefined && isPlainJson(value.payload, 0)))
  );
}

/** Validates an untrusted request; throws SigilError 'invalid_request'. */
export function parseGatekeeperRequest(value: unknown): GatekeeperRequest {
  if (isPlainRequest(value)) return value;
  return parseWith(gatekeeperRequestSchema, value, 'invalid_request', 'request');
}

/** Validates untrusted provenance; throws SigilError 'invalid_provenance'. */
export function parseProvenance(value: unknown): Provenance {
  return parseWith(provenanceSchema, value, 'invalid_provenance', 'provenance');
}

/** Validates an untrusted authority chain; throws SigilError 'invalid_authority_chain'. */
export function parseAuthorityChain(value: unknown): AuthorityLink[] {
  return parseWith(
    z.array(authorityLinkSchema),
    value,
    'invalid_authority_chain',
    'authority chain',
  );
}

/** Validates untrusted quorum evidence; throws SigilError 'invalid_quorum_evidence'. */
export function parseQuorumEvidence(value: unknown): QuorumEvidence {
  return parseWith(quorumEvidenceSchema, value, 'invalid_quorum_evidence', 'quorum evidence');
}
