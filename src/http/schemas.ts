/**
 * The JSON schemas of the HTTP API. Routes validate requests with them and the OpenAPI document
 * is built from the very same objects: a schema made with `named()` appears once under
 * `components.schemas` and is referenced everywhere it is used.
 */
import { CONSENT_PURPOSES } from '../gatekeeper/consent.ts';
import { RECORD_KINDS } from '../canon/record.ts';

/** A JSON schema as a plain object (draft 2020-12 / OpenAPI 3.1 subset that Ajv also checks). */
export type JsonSchema = Record<string, unknown>;

const names = new Map<JsonSchema, string>();

/** Registers `schema` as the OpenAPI component `name` and returns it unchanged. */
export function named<T extends JsonSchema>(name: string, schema: T): T {
  names.set(schema, name);
  return schema;
}

/** The component name of a schema made by `named()`, if any. */
export function schemaName(schema: unknown): string | undefined {
  return typeof schema === 'object' && schema !== null
    ? names.get(schema as JsonSchema)
    : undefined;
}

const str = (maxLength: number, extra: JsonSchema = {}): JsonSchema => ({
  type: 'string',
  maxLength,
  ...extra,
});
const nullable = (schema: JsonSchema): JsonSchema => ({ anyOf: [schema, { type: 'null' }] });
const obj = (properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema => ({
  type: 'object',
  properties,
  required,
});
/** A request body: only the listed fields, nothing else. */
const strict = (properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema => ({
  ...obj(properties, required),
  additionalProperties: false,
});
const array = (items: JsonSchema, maxItems?: number): JsonSchema => ({
  type: 'array',
  items,
  ...(maxItems !== undefined ? { maxItems } : {}),
});

export const ID_PATTERN = '^[A-Za-z0-9._:-]{1,128}$';
export const HEX64_PATTERN = '^[0-9a-f]{64}$';
export const UINT_PATTERN = '^(0|[1-9][0-9]{0,15})$';
const DID_PATTERN = '^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$';
export const TIME_PATTERN = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?Z$';

const id = str(128, { pattern: ID_PATTERN });
const did = str(512, { pattern: DID_PATTERN });
const time = str(40, { pattern: TIME_PATTERN });
const hex64 = str(64, { pattern: HEX64_PATTERN });
const uint = { type: 'integer', minimum: 0 };

export const JsonValue = named('JsonValue', {
  description: 'Any JSON value (canonicalised with RFC 8785 before it is hashed or signed).',
});

export const Problem = named('Problem', {
  ...obj(
    {
      type: str(512),
      title: str(128),
      status: { type: 'integer', minimum: 400, maximum: 599 },
      detail: { type: 'string' },
      code: str(64, { pattern: '^[a-z0-9_]+$' }),
      instance: { type: 'string' },
      request_id: { type: 'string' },
      field: { type: 'string' },
      decision_id: { type: 'string' },
      retry_after: { type: 'integer', minimum: 1 },
    },
    ['type', 'title', 'status', 'detail', 'code'],
  ),
  description: 'RFC 9457 problem details with a stable `code`.',
});

export const Loa = named('Loa', {
  type: 'string',
  enum: ['guest', 'observer', 'operator', 'mentor', 'root'],
});

export const SignerType = named('SignerType', {
  oneOf: [
    strict({ type: { const: 'human' } }, ['type']),
    strict({ type: { const: 'ai' }, delegationId: hex64 }, ['type', 'delegationId']),
  ],
});

export const Link = named('Link', strict({ rel: str(64, { minLength: 1 }), id }, ['rel', 'id']));

export const Caller = named(
  'Caller',
  obj(
    {
      subject: { type: 'string' },
      loa: Loa,
      signer: SignerType,
      verified: { type: 'boolean' },
      source: { type: 'string', enum: ['token', 'license', 'anonymous'] },
      scopes: array({ type: 'string' }),
      tokenId: { type: 'string' },
      delegatedBy: { type: 'string' },
    },
    ['subject', 'loa', 'signer', 'verified', 'source'],
  ),
);

const ReasoningStep = named(
  'ReasoningStep',
  obj(
    {
      step: { type: 'string' },
      verdict: { type: 'string', enum: ['pass', 'fail', 'skip', 'warn'] },
      reason: { type: 'string' },
      inputs: { type: 'object' },
    },
    ['step', 'verdict', 'reason', 'inputs'],
  ),
);

export const Decision = named('Decision', {
  ...obj(
    {
      verdict: { type: 'string', enum: ['allow', 'deny'] },
      code: nullable({ type: 'string' }),
      reason: { type: 'string' },
      mode: { type: 'string', enum: ['active', 'strict', 'passive'] },
      threshold: { type: 'number' },
      would_deny: { type: 'boolean' },
      effective_loa: Loa,
      trust: nullable(
        obj(
          {
            score: { type: 'number' },
            logit: { type: 'number' },
            contributions: { type: 'object' },
          },
          ['score', 'logit', 'contributions'],
        ),
      ),
      rules: array({ type: 'object' }),
      violations: array({ type: 'object' }),
      requires_quorum: { type: 'boolean' },
      retry_after_ms: { type: 'number' },
      steps: array(ReasoningStep),
      decision_id: { type: 'string' },
      seq: uint,
      hash: { type: 'string' },
    },
    [
      'verdict',
      'code',
      'reason',
      'mode',
      'threshold',
      'would_deny',
      'effective_loa',
      'trust',
      'rules',
      'violations',
      'requires_quorum',
      'steps',
      'decision_id',
      'seq',
      'hash',
    ],
  ),
  description: 'A decision as frozen into the log: `decision_id` is its record id.',
});

export const SealedRecord = named(
  'SealedRecord',
  obj(
    {
      kind: { type: 'string' },
      schema_version: { const: 1 },
      id: { type: 'string' },
      tenant: { type: 'string' },
      ts: { type: 'string' },
      space: { type: 'string', enum: ['user', 'system'] },
      payload: JsonValue,
      links: array(Link),
      prev: nullable({ type: 'string' }),
      hash: { type: 'string' },
      sig: { type: 'string' },
      pub_key: { type: 'string' },
      witnesses: array({ type: 'object' }),
      seq: uint,
    },
    [
      'kind',
      'schema_version',
      'id',
      'tenant',
      'ts',
      'space',
      'payload',
      'links',
      'prev',
      'hash',
      'sig',
      'pub_key',
      'witnesses',
      'seq',
    ],
  ),
);

export const RecordPage = named(
  'RecordPage',
  obj({ records: array(SealedRecord), cursor: { type: 'string' } }, ['records']),
);

export const Proposal = named(
  'Proposal',
  obj(
    {
      id: { type: 'string' },
      change: JsonValue,
      change_hash: { type: 'string' },
      required: obj({ root: uint, mentors: uint }, ['root', 'mentors']),
      proposer: { type: 'string' },
      created_at: { type: 'string' },
      expires_at: { type: 'string' },
      status: { type: 'string', enum: ['pending', 'committed'] },
      attestations: array({ type: 'object' }),
    },
    [
      'id',
      'change',
      'change_hash',
      'required',
      'proposer',
      'created_at',
      'expires_at',
      'status',
      'attestations',
    ],
  ),
);

export const QuorumStatus = named(
  'QuorumStatus',
  obj(
    {
      root: uint,
      mentors: uint,
      required: { type: 'object' },
      satisfied: { type: 'boolean' },
      counted: array({ type: 'object' }),
      rejected: array({ type: 'object' }),
    },
    ['root', 'mentors', 'required', 'satisfied', 'counted', 'rejected'],
  ),
);

export const ProposalWithStatus = named(
  'ProposalWithStatus',
  obj({ proposal: Proposal, status: QuorumStatus }, ['proposal', 'status']),
);

export const WitnessEntry = named(
  'WitnessEntry',
  obj(
    {
      witness_id: { type: 'string' },
      did: { type: 'string' },
      role: { type: 'string', enum: ['root', 'mentor'] },
      public_key: { type: 'string' },
      registered_at: { type: 'string' },
      revoked_at: nullable({ type: 'string' }),
    },
    ['witness_id', 'did', 'role', 'public_key', 'registered_at', 'revoked_at'],
  ),
);

export const TokenInfo = named(
  'TokenInfo',
  obj(
    {
      id: { type: 'string' },
      subject: { type: 'string' },
      loa: Loa,
      signer: SignerType,
      createdAt: { type: 'integer' },
      expiresAt: nullable({ type: 'integer' }),
      revokedAt: nullable({ type: 'integer' }),
      scopes: array({ type: 'string' }),
      issuedBy: { type: 'string' },
    },
    ['id', 'subject', 'loa', 'signer', 'createdAt', 'expiresAt', 'revokedAt', 'issuedBy'],
  ),
);

export const License = named(
  'License',
  obj(
    {
      owner: obj({ id: { type: 'string' }, name: { type: 'string' } }, ['id', 'name']),
      loa: Loa,
      issuedAt: { type: 'string' },
      expiresAt: nullable({ type: 'string' }),
      bindings: { type: 'object' },
      seal: { type: 'object' },
    },
    ['owner', 'loa', 'issuedAt', 'expiresAt', 'bindings', 'seal'],
  ),
);

export const LicenseCheck = named(
  'LicenseCheck',
  obj(
    {
      ok: { type: 'boolean' },
      loa: Loa,
      owner: obj({ id: { type: 'string' }, name: { type: 'string' } }, ['id', 'name']),
      expiresAt: nullable({ type: 'string' }),
      reason: { type: 'string' },
    },
    ['ok', 'loa'],
  ),
);

export const TrustStatus = named(
  'TrustStatus',
  obj(
    {
      decisions: obj({ allow: uint, deny: uint, by_mode: { type: 'object' } }, [
        'allow',
        'deny',
        'by_mode',
      ]),
      threshold: { type: 'number' },
      mode: { type: 'string' },
      log_size: uint,
      model: { type: 'string', description: "'default' or the record id of the committed model" },
      breaker: obj(
        {
          open: { type: 'boolean', description: 'true while AI actors are stopped' },
          critical_in_window: uint,
          threshold: { type: 'number' },
        },
        ['open', 'critical_in_window', 'threshold'],
      ),
      runtime: { type: 'object' },
    },
    ['decisions', 'threshold', 'mode', 'log_size', 'breaker'],
  ),
);

export const Holon = named(
  'Holon',
  obj(
    {
      id: { type: 'string' },
      capabilities: array({ type: 'string' }),
      program: { type: 'object' },
      state: { type: 'string', enum: ['idle', 'executing', 'suspended', 'terminated'] },
      last_output: nullable({ type: 'object' }),
    },
    ['id', 'capabilities', 'program', 'state', 'last_output'],
  ),
);

export const Checkpoint = named(
  'Checkpoint',
  obj(
    {
      origin: { type: 'string' },
      size: uint,
      root_hash: { type: 'string' },
      timestamp: nullable({ type: 'string' }),
      note: { type: 'string', description: 'The C2SP signed note, verbatim.' },
      verifier_key: { type: 'string' },
    },
    ['origin', 'size', 'root_hash', 'timestamp', 'note', 'verifier_key'],
  ),
);

export const InclusionProof = named(
  'InclusionProof',
  obj(
    {
      leaf_index: uint,
      tree_size: uint,
      leaf_hash: { type: 'string' },
      hashes: array({ type: 'string' }),
      root_hash: { type: 'string' },
    },
    ['leaf_index', 'tree_size', 'leaf_hash', 'hashes', 'root_hash'],
  ),
);

export const ConsistencyProof = named(
  'ConsistencyProof',
  obj(
    {
      size1: uint,
      size2: uint,
      hashes: array({ type: 'string' }),
      root1: { type: 'string' },
      root2: { type: 'string' },
    },
    ['size1', 'size2', 'hashes', 'root1', 'root2'],
  ),
);

export const Readiness = named(
  'Readiness',
  obj(
    {
      ready: { type: 'boolean' },
      checks: {
        type: 'object',
        additionalProperties: obj({ ok: { type: 'boolean' }, detail: { type: 'string' } }, [
          'ok',
          'detail',
        ]),
      },
    },
    ['ready', 'checks'],
  ),
);

export const Approval = named(
  'Approval',
  obj(
    {
      id: { type: 'string' },
      status: { type: 'string', enum: ['pending', 'approved', 'rejected'] },
      action: { type: 'string' },
      target: { type: 'string' },
      summary: { type: 'string' },
      decision_id: { type: 'string' },
      requested_by: { type: 'string' },
      created_at: { type: 'string' },
      decided_by: { type: 'string' },
      decided_at: { type: 'string' },
    },
    ['id', 'status', 'action', 'target', 'summary', 'requested_by', 'created_at'],
  ),
);

// ── request bodies ────────────────────────────────────────────────────────────

export const TrustCheckRequest = named(
  'TrustCheckRequest',
  strict(
    {
      action: str(128, { minLength: 1 }),
      target: str(512, { minLength: 1 }),
      payload: JsonValue,
      context: strict({
        subject: str(512),
        signer_type: str(16),
        delegation_id: str(64),
        data_subject: nullable(did),
      }),
    },
    ['action', 'target'],
  ),
);

export const WriteRequest = named(
  'WriteRequest',
  strict(
    {
      id: str(256, { pattern: '^[A-Za-z0-9._:-]{1,256}$' }),
      // Any record kind parses; the runtime refuses the governing ones ('kind_reserved').
      kind: { type: 'string', enum: [...RECORD_KINDS] },
      payload: JsonValue,
      links: array(Link, 64),
      space: { type: 'string', enum: ['user', 'system'] },
    },
    ['payload'],
  ),
);

export const ProposeRequest = named('ProposeRequest', strict({ change: JsonValue }, ['change']));

export const AttestRequest = named(
  'AttestRequest',
  strict({ proposal_id: id, witness_id: id, signature: str(256, { minLength: 1 }) }, [
    'proposal_id',
    'witness_id',
    'signature',
  ]),
);

export const CommitRequest = named('CommitRequest', strict({ proposal_id: id }, ['proposal_id']));

export const WitnessRequest = named(
  'WitnessRequest',
  strict(
    {
      witness_id: id,
      did,
      role: { type: 'string', enum: ['root', 'mentor'] },
      public_key: str(64, { pattern: '^[A-Za-z0-9_-]{43}$' }),
    },
    ['witness_id', 'did', 'role', 'public_key'],
  ),
);

export const LicenseCreateRequest = named(
  'LicenseCreateRequest',
  strict(
    {
      subject: did,
      loa: str(16, { minLength: 1 }),
      expiresAt: nullable(time),
      name: str(256),
    },
    ['subject', 'loa'],
  ),
);

export const MemoryWriteRequest = named(
  'MemoryWriteRequest',
  strict({ key: str(128, { minLength: 1 }), value: JsonValue }, ['key', 'value']),
);

export const ModuleRunRequest = named('ModuleRunRequest', strict({ input: JsonValue }));

export const ConsentRequest = named(
  'ConsentRequest',
  strict(
    {
      bailee: did,
      scope: str(1024),
      purpose: {
        type: 'string',
        enum: [...CONSENT_PURPOSES],
      },
      expiresAt: nullable(time),
    },
    ['bailee', 'scope', 'purpose'],
  ),
);

export const HaltRequest = named(
  'HaltRequest',
  strict({ mode: { type: 'string', enum: ['suspend', 'terminate'] }, reason: str(1024) }, ['mode']),
);

export const HolonSpawnRequest = named(
  'HolonSpawnRequest',
  strict(
    {
      id,
      capabilities: array(str(128), 64),
      program: { type: 'object', description: 'A combinator term, e.g. {"type":"identity"}.' },
    },
    ['id', 'capabilities', 'program'],
  ),
);

export const TokenCreateRequest = named(
  'TokenCreateRequest',
  strict(
    {
      subject: did,
      loa: str(16, { minLength: 1 }),
      signer: SignerType,
      ttl_ms: nullable({ type: 'integer', minimum: 1, maximum: 9_007_199_254_740_991 }),
      scopes: array(str(128), 64),
    },
    ['subject', 'loa'],
  ),
);

export const SessionRequest = named(
  'SessionRequest',
  strict({ token: str(128, { minLength: 1 }) }, ['token']),
);

export const Session = named(
  'Session',
  obj(
    {
      subject: { type: 'string' },
      loa: Loa,
      csrf_token: { type: 'string' },
      expires_at: { type: 'string' },
    },
    ['subject', 'loa', 'csrf_token', 'expires_at'],
  ),
);

export const CsrfToken = named(
  'CsrfToken',
  obj({ csrf_token: { type: 'string' }, expires_at: { type: 'string' } }, [
    'csrf_token',
    'expires_at',
  ]),
);

export const ApprovalRequest = named(
  'ApprovalRequest',
  strict({ approved: { type: 'boolean' } }, ['approved']),
);

// ── shared parameter shapes ───────────────────────────────────────────────────

/** `:id` path parameter: a record, proposal, consent or holon id. */
export const IdParams = strict({ id: str(256, { minLength: 1 }) }, ['id']);
export const Hex64Params = strict({ id: hex64 }, ['id']);

export const DelegationRequest = named(
  'DelegationRequest',
  strict(
    {
      to: did,
      actions: { ...array(str(128, { minLength: 1 }), 64), minItems: 1 },
      ttl_ms: nullable({ type: 'integer', minimum: 1, maximum: 9_007_199_254_740_991 }),
    },
    ['to', 'actions'],
  ),
);

const AuthorityLink = named(
  'AuthorityLink',
  obj(
    {
      grantor: { type: 'string' },
      grantee: { type: 'string' },
      permissions: array({ type: 'string' }),
      grantor_public_key: { type: 'string' },
      signature: { type: 'string' },
    },
    ['grantor', 'grantee', 'permissions', 'grantor_public_key', 'signature'],
  ),
);

export const DelegationInfo = named(
  'DelegationInfo',
  obj(
    {
      delegation_id: hex64,
      nonce: { type: 'string' },
      parent: nullable(hex64),
      principal: { type: 'string' },
      grantee: { type: 'string' },
      permissions: array({ type: 'string' }),
      chain: array(AuthorityLink),
      created_by: { type: 'string' },
      created_at: { type: 'string' },
      expires_at: nullable({ type: 'string' }),
      revoked_at: nullable({ type: 'string' }),
    },
    [
      'delegation_id',
      'nonce',
      'parent',
      'principal',
      'grantee',
      'permissions',
      'chain',
      'created_by',
      'created_at',
      'expires_at',
      'revoked_at',
    ],
  ),
);
export { obj, strict, array, str, nullable, id as idSchema, uint as uintSchema };
