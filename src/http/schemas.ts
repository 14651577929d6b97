/**
 * Every request and response shape of the HTTP API, declared once in zod. fastify validates
 * requests with the JSON Schema generated from these (see json-schema.ts) and /openapi.json is
 * generated from the same objects; a schema made with `named()` appears once under
 * `components.schemas` and is referenced wherever it is used. The wire dialect is snake_case
 * field names and RFC 3339 UTC times; wire.ts maps the runtime's objects onto these shapes.
 *
 * Only what JSON Schema can say is used here (no refinements or transforms), so what fastify
 * checks is exactly what is declared.
 */
import { z } from 'zod';
import type { JsonValue as Json } from '../core/canonical.ts';
import { RECORD_KINDS } from '../canon/record.ts';
import { CONSENT_PURPOSES } from '../gatekeeper/consent.ts';
import { MCP_RULES } from '../gatekeeper/mcp-rules.ts';
import { INVARIANT_IDS } from '../gatekeeper/types.ts';
import { BRANCHES, ROLE_BRANCHES } from '../gatekeeper/roles.ts';

/** Registers `schema` as the OpenAPI component `name`, with an optional description. */
export function named<T extends z.ZodType>(name: string, schema: T, description?: string): T {
  return schema.meta({ id: name, ...(description !== undefined ? { description } : {}) });
}

export const ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const UINT_PATTERN = /^(0|[1-9][0-9]{0,15})$/;
const HEX64 = /^[0-9a-f]{64}$/;
const DID_PATTERN = /^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$/;
const TIME_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

const str = (max: number) => z.string().max(max);
const id = str(128).regex(ID_PATTERN);
const did = str(512).regex(DID_PATTERN);
const hex64 = z.string().regex(HEX64);
const uint = z.number().int().min(0);
/** A count or size sent in a query string: decimal digits, no sign, no leading zero. */
const uintText = (description: string) => str(16).regex(UINT_PATTERN).describe(description);

export const Time = named(
  'Time',
  str(40).regex(TIME_PATTERN),
  'An RFC 3339 time in UTC (`2026-01-31T12:00:00.000Z`).',
);

/** Bodies come from the strict JSON parser, so an unconstrained member is JSON already. */
export const JsonValue = named(
  'JsonValue',
  z.unknown() as z.ZodType<Json>,
  'Any JSON value (canonicalised with RFC 8785 before it is hashed or signed).',
);

/** An object whose members this API does not fix (sealed content, program terms, evidence). */
const OpenObject = z.record(z.string(), z.unknown());

export const Violation = named(
  'Violation',
  z.object({
    invariant: z.enum(INVARIANT_IDS).describe("The invariant's stable id"),
    description: z.string(),
    evidence: z.array(z.string()).describe('The facts that show the violation'),
  }),
  'One invariant the kernel found violated, with its evidence.',
);

export const McpRuleResult = named(
  'McpRuleResult',
  z.object({
    rule: z
      .enum(MCP_RULES.map((r) => r.rule) as [string, ...string[]])
      .describe("The MCP rule's stable id"),
    severity: z.number().int().min(1).max(5),
    description: z.string(),
    passed: z.boolean(),
    exempt: z.boolean(),
    evidence: z.array(z.string()),
  }),
  "One MCP rule's outcome for an AI caller's request.",
);

export const Problem = named(
  'Problem',
  z.object({
    type: str(512),
    title: str(128),
    status: z.number().int().min(400).max(599),
    detail: z.string(),
    code: str(64).regex(/^[a-z0-9_]+$/),
    instance: z.string().optional(),
    request_id: z.string().optional(),
    field: z.string().optional(),
    decision_id: z.string().optional(),
    retry_after: z.number().int().min(1).optional(),
    violations: z
      .array(Violation)
      .optional()
      .describe("A kernel denial's reasons, as sealed in its decision"),
  }),
  'RFC 9457 problem details with a stable `code` (see docs/http.md for every code).',
);

export const Loa = named('Loa', z.enum(['guest', 'observer', 'operator', 'mentor', 'root']));

export const SignerType = named(
  'SignerType',
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('human') }),
    z.strictObject({ type: z.literal('ai'), delegation_id: hex64 }),
  ]),
  'Who signs: a human, or an AI acting under the delegation with this id.',
);

export const Link = named('Link', z.strictObject({ rel: str(64).min(1), id }));

export const Caller = named(
  'Caller',
  z.object({
    subject: z.string(),
    loa: Loa,
    signer: SignerType,
    verified: z.boolean(),
    source: z.enum(['token', 'license', 'anonymous']),
    scopes: z.array(z.string()).optional(),
    token_id: z.string().optional(),
    delegated_by: z.string().optional(),
    expires_at: Time.nullable().optional().describe("When the caller's token expires; null: never"),
  }),
);

export const RuntimeIdentity = named(
  'RuntimeIdentity',
  z.object({
    loa: Loa,
    source: z.enum(['license', 'default']),
    subject: z.string().nullable(),
    expires_at: Time.nullable(),
    reason: z.string(),
  }),
  "The runtime's own level of access and where it came from (never a filesystem path).",
);

export const WhoAmI = named('WhoAmI', z.object({ caller: Caller, runtime: RuntimeIdentity }));

const ReasoningStep = named(
  'ReasoningStep',
  z.object({
    step: z.string(),
    verdict: z.enum(['pass', 'fail', 'skip', 'warn']),
    reason: z.string(),
    inputs: OpenObject,
  }),
);

export const Decision = named(
  'Decision',
  z.object({
    verdict: z.enum(['allow', 'deny']),
    code: z.string().nullable(),
    reason: z.string(),
    mode: z.enum(['active', 'strict', 'passive']),
    threshold: z.number(),
    would_deny: z.boolean(),
    effective_loa: Loa,
    trust: z
      .object({
        score: z.number(),
        logit: z.number(),
        contributions: z.record(
          z.string(),
          z.object({ value: z.number(), weight: z.number(), contribution: z.number() }),
        ),
      })
      .nullable(),
    rules: z.array(McpRuleResult),
    violations: z.array(Violation),
    requires_quorum: z.boolean(),
    retry_after_ms: z.number().optional(),
    steps: z.array(ReasoningStep),
    decision_id: z.string(),
    seq: uint,
    hash: z.string(),
  }),
  'A decision as frozen into the log: `decision_id` is its record id.',
);

export const SealedRecord = named(
  'SealedRecord',
  z.object({
    kind: z.string(),
    schema_version: z.literal(1),
    id: z.string(),
    tenant: z.string(),
    ts: Time,
    space: z.enum(['user', 'system']),
    payload: JsonValue.describe(
      'The sealed payload, verbatim: its field names are what was signed',
    ),
    links: z.array(Link),
    prev: z.string().nullable(),
    hash: z.string(),
    sig: z.string(),
    pub_key: z.string(),
    witnesses: z.array(OpenObject),
    seq: uint,
  }),
);

/**
 * A record as a reader sees it (read-access.ts): the whole record with its leaf hash for those who
 * may read its body, else only the public envelope (seq, id, kind, ts, hash, prev, sig, pub_key,
 * leaf_hash).
 */
export const RecordView = named(
  'RecordView',
  SealedRecord.partial()
    .required({
      seq: true,
      id: true,
      kind: true,
      ts: true,
      hash: true,
      prev: true,
      sig: true,
      pub_key: true,
    })
    .extend({ leaf_hash: z.string() }),
);

export const RecordPage = named(
  'RecordPage',
  z.object({ records: z.array(RecordView), cursor: z.string().optional() }),
);

const QuorumRequirements = z.object({ root: uint, mentors: uint });

export const Attestation = named(
  'Attestation',
  z.object({
    witness_id: z.string(),
    signature: z.string(),
    provenance_signature: z.string(),
    attested_at: Time,
  }),
  "A witness's vote: typed human signatures over its provenance and its approving vote.",
);

export const CountedWitness = named(
  'CountedWitness',
  z.object({
    witness_id: z.string(),
    signature: z.string(),
    provenance_signature: z.string(),
    timestamp: Time,
    authority: z.enum(['root', 'mentor']),
  }),
  'An attestation that counts toward the quorum.',
);

export const Proposal = named(
  'Proposal',
  z.object({
    id: z.string(),
    change: JsonValue,
    change_hash: z.string(),
    required: QuorumRequirements,
    proposer: z.string(),
    created_at: Time,
    expires_at: Time,
    status: z.enum(['pending', 'committed']),
    attestations: z.array(Attestation),
  }),
);

export const QuorumStatus = named(
  'QuorumStatus',
  z.object({
    root: uint,
    mentors: uint,
    required: QuorumRequirements,
    satisfied: z.boolean(),
    counted: z.array(CountedWitness),
    rejected: z.array(z.object({ witness_id: z.string(), reason: z.string() })),
  }),
);

export const ProposalWithStatus = named(
  'ProposalWithStatus',
  z.object({ proposal: Proposal, status: QuorumStatus }),
);

export const WitnessEntry = named(
  'WitnessEntry',
  z.object({
    witness_id: z.string(),
    did: z.string(),
    role: z.enum(['root', 'mentor']),
    public_key: z.string(),
    registered_at: Time,
    revoked_at: Time.nullable(),
    admitted: z.string().nullable(),
  }),
  'A witness (its DID): in force once `admitted` names genesis or the committed proposal.',
);

export const Genesis = named(
  'Genesis',
  z.object({
    proposal_id: z.string(),
    sealed_at: Time,
    witnesses: z.array(z.string()),
    mentors_required: uint,
  }),
);

export const WitnessList = named(
  'WitnessList',
  z.object({ witnesses: z.array(WitnessEntry), genesis: Genesis.nullable() }),
);

export const EnrolmentChallenge = named(
  'EnrolmentChallenge',
  z.object({
    id: z.string(),
    subject: z.string(),
    role: z.enum(['root', 'mentor']),
    nonce: z.string(),
    issued_at: Time,
    expires_at: Time,
    used_at: Time.nullable(),
  }),
  'Answer within its lifetime with a typed human signature over canonical ' +
    '{domain: "sigil.quorum.enrol.v1", challenge_id, nonce, did, role, public_key}.',
);

export const TokenInfo = named(
  'TokenInfo',
  z.object({
    id: z.string(),
    subject: z.string(),
    loa: Loa,
    signer: SignerType,
    created_at: Time,
    expires_at: Time.nullable(),
    revoked_at: Time.nullable(),
    scopes: z.array(z.string()).optional(),
    issued_by: z.string(),
  }),
  'An API token as described to Root: never the token itself or its hash.',
);

export const CreatedToken = named(
  'CreatedToken',
  z.object({ token: z.string(), info: TokenInfo }),
  'A new token: `token` is shown this once.',
);

const LicenseOwner = z.object({ id: z.string(), name: z.string() });

export const License = named(
  'License',
  z.looseObject({ owner: LicenseOwner, loa: Loa }),
  'A license document exactly as sealed by the Root key (its field names are part of what is ' +
    'signed, so it is passed through verbatim); POST it back to /api/license/validate as is.',
);

export const LicenseInfo = named(
  'LicenseInfo',
  z.object({
    id: hex64.describe("The seal's content hash"),
    owner: z.string(),
    loa: Loa,
    expires_at: Time.nullable(),
    revoked_at: Time.nullable(),
    revoked_by: z.string().nullable(),
  }),
  'A license this runtime minted, as listed to Root (the document itself is not kept).',
);

export const LicenseCheck = named(
  'LicenseCheck',
  z.object({
    ok: z.boolean(),
    loa: Loa,
    owner: LicenseOwner.optional(),
    expires_at: Time.nullable().optional(),
    reason: z.string().optional(),
  }),
);

export const TrustStatus = named(
  'TrustStatus',
  z.object({
    decisions: z.object({
      allow: uint,
      deny: uint,
      by_mode: z.record(z.string(), uint),
    }),
    threshold: z.number(),
    mode: z.string(),
    log_size: uint,
    model: z.string().describe("'default' or the record id of the committed model").optional(),
    breaker: z.object({
      open: z.boolean().describe('true while AI actors are stopped'),
      critical_in_window: uint,
      threshold: z.number(),
    }),
    runtime: RuntimeIdentity.optional(),
  }),
);

export const Holon = named(
  'Holon',
  z.object({
    id: z.string(),
    capabilities: z.array(z.string()),
    program: OpenObject,
    state: z.enum(['idle', 'executing', 'suspended', 'terminated']),
    last_output: OpenObject.nullable(),
  }),
);

export const Checkpoint = named(
  'Checkpoint',
  z.object({
    origin: z.string(),
    size: uint,
    root_hash: z.string(),
    timestamp: z.string().nullable(),
    note: z.string().describe('The C2SP signed note, verbatim.'),
    verifier_key: z.string(),
  }),
);

export const LogWitnessList = named(
  'LogWitnessList',
  z.object({
    witnessed: z.boolean().describe('Whether [log] witnesses names any.'),
    quorum: uint
      .nullable()
      .describe(
        '[log] witness_quorum: cosignatures a served checkpoint needs, and unproven claims that stop writes.',
      ),
    rolled_back: z
      .string()
      .nullable()
      .describe('The log_rolled_back message when this instance refuses writes, else null.'),
    checkpoint: z
      .object({
        size: uint,
        cosigned_by: z.array(z.string()),
        quorum_met: z.boolean(),
      })
      .nullable()
      .describe('The cosigned checkpoint /log/checkpoint serves now, null before any cosignature.'),
    witnesses: z.array(
      z.object({
        name: z.string(),
        url: z.string(),
        key: z.string().describe('The cosigner vkey as configured.'),
        cosigned_size: uint.nullable().describe('The newest checkpoint it cosigned (verified).'),
        cosigned_at: Time.nullable().describe("That cosignature's time (the witness's clock)."),
        last_push_at: Time.nullable().describe('When this instance last sent it a checkpoint.'),
        last_error: z.string().nullable().describe('The last problem, cleared by a cosignature.'),
        claim: z
          .object({ size: uint, reason: z.string() })
          .nullable()
          .describe('A standing unproven claim that the tree does not extend what it cosigned.'),
      }),
    ),
  }),
);

export const InclusionProof = named(
  'InclusionProof',
  z.object({
    leaf_index: uint,
    tree_size: uint,
    leaf_hash: z.string(),
    hashes: z.array(z.string()),
    root_hash: z.string(),
  }),
);

export const ConsistencyProof = named(
  'ConsistencyProof',
  z.object({
    size1: uint,
    size2: uint,
    hashes: z.array(z.string()),
    root1: z.string(),
    root2: z.string(),
  }),
);

export const Readiness = named(
  'Readiness',
  z.object({
    ready: z.boolean(),
    checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string() })),
  }),
);

export const Approval = named(
  'Approval',
  z.object({
    id: z.string(),
    status: z.enum(['pending', 'approved', 'rejected']),
    action: z.string(),
    target: z.string(),
    tool: z.string().describe('The gated tool (or resource) as the gateway policy names it'),
    arguments_hash: z.string().describe('Hex SHA-256 of the canonical arguments'),
    arguments: JsonValue.nullable().describe(
      "The call's arguments, decrypted for the approver (null for a request that sealed none)",
    ),
    summary: z.string(),
    decision_id: z.string(),
    requested_by: z.string(),
    created_at: Time,
    request_record_id: z.string(),
    decided_by: z.string().optional(),
    decided_at: Time.optional(),
    verdict_decision_id: z.string().optional(),
    signature: z.string().optional(),
    witness_id: z.string().optional(),
  }),
);

export const ApprovalOutcome = named(
  'ApprovalOutcome',
  z.object({
    id: z.string(),
    status: z.enum(['approved', 'rejected']),
    decision_id: z.string(),
  }),
);

const consentShape = {
  id: z.string(),
  bailor: z.string(),
  bailee: z.string(),
  scope: z.string(),
  purpose: z.enum(CONSENT_PURPOSES),
  created_at: Time,
  expires_at: Time.nullable(),
  revoked_at: Time.nullable(),
};

export const Bailment = named(
  'Bailment',
  z.object({ kind: z.literal('bailment'), ...consentShape }),
  'The bailor entrusts data within `scope` to the bailee for `purpose`.',
);

export const ConsentGrant = named(
  'ConsentGrant',
  z.object({ kind: z.literal('consent'), ...consentShape }),
  'The bailor consents to the bailee using entrusted data within `scope` for `purpose`.',
);

export const Consent = named(
  'Consent',
  z.object({ id: z.string(), bailment: Bailment, grant: ConsentGrant }),
);

export const ConsentRevoked = named(
  'ConsentRevoked',
  z.object({ id: z.string(), revoked_at: Time }),
);

export const TrustModel = named(
  'TrustModel',
  z.object({
    version: z.string(),
    bias: z.number(),
    weights: z.record(z.string(), z.number()),
    threshold: z.number(),
    action_risk: z.record(z.string(), z.number()),
    target_risk: z.array(OpenObject),
  }),
);

export const ModelInForce = named(
  'ModelInForce',
  z.object({ model: TrustModel, source: z.string() }),
);

export const MemoryBlock = named(
  'MemoryBlock',
  z.object({ key: z.string(), owner: z.string(), updated_at: Time, record_id: z.string() }),
);

export const MemoryWritten = named(
  'MemoryWritten',
  z.object({ key: z.string(), owner: z.string(), record_id: z.string(), seq: uint }),
);

export const MemoryValue = named(
  'MemoryValue',
  z.object({ key: z.string(), owner: z.string(), value: JsonValue, record_id: z.string() }),
);

export const ModuleOutput = named(
  'ModuleOutput',
  z.object({ module: z.string(), output: JsonValue, decision_id: z.string() }),
);

export const Session = named(
  'Session',
  z.object({ subject: z.string(), loa: Loa, csrf_token: z.string(), expires_at: Time }),
);

export const CsrfToken = named('CsrfToken', z.object({ csrf_token: z.string(), expires_at: Time }));

export const Health = named('Health', z.object({ status: z.literal('ok') }));

export const DecisionSummary = named(
  'DecisionSummary',
  z.object({
    decision_id: z.string(),
    seq: uint,
    ts: Time,
    verdict: z.enum(['allow', 'deny']),
    code: z.string().nullable(),
    reason: z.string(),
    mode: z.string(),
    subject: z.string(),
    loa: Loa,
    signer_type: z.string(),
    action: z.string(),
    target: z.string(),
    score: z.number().nullable(),
  }),
);

export const DecisionPage = named(
  'DecisionPage',
  z.object({
    decisions: z.array(DecisionSummary),
    before: z.string().describe('pass as `before` for the next, older page').optional(),
    scanned: uint,
  }),
);

const counts = <K extends string>(key: K) =>
  z.array(z.object({ [key]: z.string(), count: uint } as Record<K | 'count', z.ZodType>));

export const DecisionStats = named(
  'DecisionStats',
  z.object({
    minutes: uint,
    since: Time,
    per_minute: z.array(z.object({ minute: Time, allow: uint, deny: z.record(z.string(), uint) })),
    totals: z.object({ allow: uint, deny: uint }),
    top_denied_actions: counts('action'),
    top_denied_callers: counts('subject'),
    log_size: uint,
  }),
);

/** A decision as decide() returns it, before it is sealed (so without its record fields). */
const UnsealedDecision = named(
  'UnsealedDecision',
  Decision.omit({ decision_id: true, seq: true, hash: true }),
);

/**
 * What a version 2 decision record keeps of its decision: the outcome, the score, the MCP rule
 * results, the kernel's violations and a `when` condition's hash and result. The reasoning steps
 * and the score's per-feature breakdown are derived, so replay recomputes them.
 */
const RecordedDecision = named(
  'RecordedDecision',
  Decision.pick({
    verdict: true,
    code: true,
    reason: true,
    mode: true,
    effective_loa: true,
    would_deny: true,
    requires_quorum: true,
    rules: true,
    violations: true,
    retry_after_ms: true,
  }).extend({ score: z.number().nullable(), condition: OpenObject.optional() }),
);

export const Replay = named(
  'Replay',
  z.object({
    decision_id: z.string(),
    recorded: z
      .union([RecordedDecision, UnsealedDecision])
      .describe('the decision as its record sealed it (version 1 records sealed it whole)'),
    replayed: UnsealedDecision,
    matches: z.boolean().describe('same verdict and code'),
    identical: z.boolean().describe('every sealed field of the decision is the same'),
  }),
);

// ── request bodies ────────────────────────────────────────────────────────────

const b64url = (max: number) => str(max).regex(/^[A-Za-z0-9_-]*$/);

export const ProvenanceClaim = named(
  'ProvenanceClaim',
  z.strictObject({
    actor: did,
    action_hash: hex64,
    timestamp: Time,
    voice_kind: z.enum(['human', 'synthetic', 'system']).optional(),
    independence: z.enum(['independent', 'coordinated']).optional(),
    review_order: z.enum(['first-order', 'derivative']).optional(),
    public_key: b64url(64),
    signature: b64url(128),
  }),
  'Provenance a request presents for itself: a typed signature by `public_key` over ' +
    '{domain, schema_version, actor, action_hash, timestamp, voice_kind, independence, review_order}.',
);

export const TrustCheckRequest = named(
  'TrustCheckRequest',
  z.strictObject({
    action: str(128).min(1),
    target: str(512).min(1),
    payload: JsonValue.optional(),
    context: z
      .strictObject({
        subject: str(512).optional(),
        signer_type: str(16).optional(),
        delegation_id: str(64).optional(),
        data_subject: did.nullable().optional(),
        provenance: ProvenanceClaim.optional().describe(
          "The checked request's own provenance, judged as presented (mcp-003, " +
            'provenance-verifiable); absent, Sigil signs it for the caller it authenticated',
        ),
        output_marked: z
          .boolean()
          .optional()
          .describe(
            'Whether whoever serves the checked request marks its output as AI-mediated ' +
              '(mcp-005); default true',
          ),
      })
      .optional(),
  }),
);

export const WriteRequest = named(
  'WriteRequest',
  z.strictObject({
    id: str(256)
      .regex(/^[A-Za-z0-9._:-]{1,256}$/)
      .optional(),
    // Any record kind parses; the runtime refuses the governing ones ('kind_reserved').
    kind: z.enum(RECORD_KINDS).optional(),
    payload: JsonValue,
    links: z.array(Link).max(64).optional(),
    space: z.enum(['user', 'system']).optional(),
  }),
);

export const ProposeRequest = named('ProposeRequest', z.strictObject({ change: JsonValue }));

export const AttestRequest = named(
  'AttestRequest',
  z.strictObject({
    proposal_id: id,
    signature: str(256).min(1),
    provenance_signature: str(256).min(1),
  }),
);

export const CommitRequest = named('CommitRequest', z.strictObject({ proposal_id: id }));

export const EnrolRequest = named(
  'EnrolRequest',
  z.strictObject({
    challenge_id: id,
    public_key: str(64).regex(/^[A-Za-z0-9_-]{43}$/),
    proof: str(256).min(1),
  }),
);

export const LicenseCreateRequest = named(
  'LicenseCreateRequest',
  z.strictObject({
    subject: did,
    loa: str(16).min(1),
    expires_at: Time.nullable().optional(),
    name: str(256).optional(),
  }),
);

/** A license to check: any JSON object (the verdict says what is wrong with it). */
export const LicenseValidateRequest = named(
  'LicenseValidateRequest',
  z.record(z.string(), z.unknown()).describe('The license JSON, as issued'),
);

export const TrustModelUpload = named(
  'TrustModelUpload',
  z
    .record(z.string(), z.unknown())
    .describe('A trust model: {version, bias, weights, threshold, …}'),
);

export const MemoryWriteRequest = named(
  'MemoryWriteRequest',
  z.strictObject({ key: str(128).min(1), value: JsonValue }),
);

export const ModuleRunRequest = named(
  'ModuleRunRequest',
  z.strictObject({ input: JsonValue.optional() }),
);

export const ConsentRequest = named(
  'ConsentRequest',
  z.strictObject({
    bailee: did,
    scope: str(1024),
    purpose: z.enum(CONSENT_PURPOSES),
    expires_at: Time.nullable().optional(),
  }),
);

export const HaltRequest = named(
  'HaltRequest',
  z.strictObject({ mode: z.enum(['suspend', 'terminate']), reason: str(1024).optional() }),
);

export const HolonSpawnRequest = named(
  'HolonSpawnRequest',
  z.strictObject({
    id,
    capabilities: z.array(str(128)).max(64),
    program: OpenObject.describe('A combinator term, e.g. {"type":"identity"}.'),
  }),
);

export const TokenCreateRequest = named(
  'TokenCreateRequest',
  z.strictObject({
    subject: did,
    loa: str(16).min(1),
    signer: SignerType.optional(),
    ttl_ms: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
    scopes: z.array(str(128)).max(64).optional(),
  }),
);

export const SessionRequest = named('SessionRequest', z.strictObject({ token: str(128).min(1) }));

export const ApprovalRequest = named(
  'ApprovalRequest',
  z.strictObject({
    verdict: z.enum(['approved', 'rejected']),
    signature: z
      .string()
      .min(1)
      .max(200)
      .describe(
        'Base64url typed human Ed25519 signature over the canonical {domain: "sigil.approval.v1", ' +
          'approval_id, tool, arguments_hash, verdict}, by a witness key the approver enrolled',
      ),
  }),
);

export const RoleRequest = named(
  'RoleRequest',
  z.strictObject({
    subject: did,
    role: z.enum(Object.keys(ROLE_BRANCHES) as [string, ...string[]]),
  }),
);

export const RoleInfo = named(
  'RoleInfo',
  z.object({
    subject: z.string(),
    name: z.string(),
    branch: z.enum(BRANCHES),
    granted_at: Time,
    proposal_id: z.string(),
    revoked_at: Time.nullable(),
  }),
);

export const DelegationRequest = named(
  'DelegationRequest',
  z.strictObject({
    to: did,
    actions: z.array(str(128).min(1)).min(1).max(64),
    ttl_ms: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
  }),
);

const AuthorityLink = named(
  'AuthorityLink',
  z.object({
    grantor: z.string(),
    grantee: z.string(),
    permissions: z.array(z.string()),
    grantor_public_key: z.string(),
    signature: z.string(),
  }),
);

export const DelegationInfo = named(
  'DelegationInfo',
  z.object({
    delegation_id: hex64,
    nonce: z.string(),
    parent: hex64.nullable(),
    principal: z.string(),
    grantee: z.string(),
    permissions: z.array(z.string()),
    chain: z.array(AuthorityLink),
    created_by: z.string(),
    created_at: Time,
    expires_at: Time.nullable(),
    revoked_at: Time.nullable(),
  }),
);

// ── parameters and query strings ──────────────────────────────────────────────

/** `:id` path parameter: a record, proposal, consent, token or holon id. */
export const IdParams = z.strictObject({ id: str(256).min(1) });

/** `:id` path parameter that is a 64-hex-digit id (a delegation). */
export const Hex64Params = z.strictObject({ id: hex64 });

export const MemoryKeyParams = z.strictObject({ key: str(128).regex(/^[A-Za-z0-9._:/-]{1,128}$/) });

export const MemoryOwnerQuery = z.strictObject({ owner: str(512).min(1).optional() });

export const ModuleParams = z.strictObject({ name: str(64).regex(/^[a-z0-9][a-z0-9._-]{0,63}$/) });

export const RecordListQuery = z.strictObject({
  kind: z.enum(RECORD_KINDS).optional(),
  since: Time.describe('RFC 3339 UTC: records with ts ≥ since').optional(),
  limit: str(4)
    .regex(/^[1-9][0-9]{0,3}$/)
    .describe('1–1000 (default 100)')
    .optional(),
  cursor: uintText('from the previous page').optional(),
});

export const InclusionQuery = z.strictObject({
  seq: uintText('the record seq'),
  size: uintText('tree size (default: the whole log)').optional(),
});

export const ConsistencyQuery = z.strictObject({
  from: uintText('older tree size'),
  to: uintText('newer tree size'),
});

export const DecisionListQuery = z.strictObject({
  verdict: z.enum(['allow', 'deny']).optional(),
  code: str(64)
    .regex(/^[a-z0-9_]{1,64}$/)
    .optional(),
  subject: str(256).min(1).describe('the caller DID, exactly').optional(),
  action: str(128).min(1).describe('exact, or a prefix ending in *').optional(),
  target: str(256).min(1).describe('a substring of the target').optional(),
  since: Time.describe('RFC 3339 UTC: decisions at or after').optional(),
  until: Time.describe('RFC 3339 UTC: decisions before').optional(),
  before: uintText('from the previous page').optional(),
  limit: str(3)
    .regex(/^[1-9][0-9]{0,2}$/)
    .describe('1–200 (default 50)')
    .optional(),
});

export const GatewayStats = named(
  'GatewayStats',
  z.object({
    minutes: uint,
    since: Time,
    tools: z.array(
      z.object({
        upstream: z.string(),
        tool: z.string(),
        calls: uint,
        timed: uint.describe("calls whose record carries the upstream's own time"),
        median_added_ms: z
          .number()
          .nullable()
          .describe('median of latency_ms − upstream_ms − approval_ms'),
        median_upstream_ms: z.number().nullable(),
      }),
    ),
    scanned: uint,
    complete: z.boolean().describe('false: the window held more calls than one request reads'),
  }),
);

export const DecisionStatsQuery = z.strictObject({
  minutes: str(4)
    .regex(/^[1-9][0-9]{0,3}$/)
    .describe('1–1440 (default 60)')
    .optional(),
});

export const EmptyRequest = z.strictObject({});

/** What a route's request parts parse to. */
export type Infer<T extends z.ZodType> = z.output<T>;

export const FindingsAttestation = named(
  'FindingsAttestation',
  z.strictObject({
    signer_did: did,
    signer_type: SignerType,
    findings_digest: hex64.describe('Hex SHA-256 of the RFC 8785 canonical findings'),
    signature: str(200).describe(
      'Base64url typed signature over {domain: "sigil.findings.v1", signer_did, findings_digest}',
    ),
  }),
  "A registered scanner's signed statement that it produced exactly these findings.",
);

export const FindingsReport = named(
  'FindingsReport',
  z.strictObject({
    attestation: FindingsAttestation,
    findings: z
      .array(
        z
          .object({
            finding_id: str(256),
            severity: z.enum(['critical', 'high', 'medium', 'low', 'info']),
            title: str(1024),
          })
          .catchall(z.unknown()),
      )
      .max(10_000)
      .describe('Every field, including extra ones, is covered by the digest'),
  }),
);

const BreakerState = z.object({
  tripped: z.boolean(),
  critical_in_window: uint,
  threshold: uint,
});

export const FindingsReceipt = named(
  'FindingsReceipt',
  z.object({
    record_id: z.string().describe('The sealed findings record'),
    signer_did: z.string(),
    counts: z.record(z.string(), uint),
    approval_required: z.boolean().describe('Any critical or high finding'),
    tripped_now: z.boolean().describe('This report tripped the breaker (a breaker_tripped record)'),
    breaker: BreakerState,
  }),
);

export const ScannerInfo = named(
  'ScannerInfo',
  z.object({
    did: z.string(),
    public_key: z.string().describe('Base64url raw Ed25519 public key'),
    registered_at: Time,
    registered_by: z.string(),
    revoked_at: Time.nullable(),
  }),
  'A scanner whose signed findings Sigil takes in (registered by a human Root).',
);

export const ScannerRequest = named(
  'ScannerRequest',
  z.strictObject({ did, public_key: str(64).regex(/^[A-Za-z0-9_-]{43}$/) }),
);

export const DidParams = z.strictObject({ did });

export const GovernanceStatus = named(
  'GovernanceStatus',
  BreakerState.extend({
    window_ms: uint,
    window_start: Time,
    window_end: Time,
    buckets: z
      .array(z.object({ at: Time, critical: uint }))
      .describe('Critical findings taken in within the window, by time'),
    scanners: z.array(ScannerInfo),
  }),
  "The circuit breaker's window now and the registered scanners.",
);
