/**
 * Typed view namespaces: each view a service acts on is a name and the zod schema of its rows.
 * `get` and `list` read through the authenticated view reader (the MAC is checked there) and
 * then parse each row's value; a row that does not have its namespace's shape is refused as
 * 'state_invalid', like a row that fails its MAC, so whatever depended on it is denied.
 *
 * The MAC says a row was written by the keys' holder; the schema says it is a row this Sigil
 * can act on (not one of another version's shape, nor a bug's). Top-level objects are loose:
 * the fields a service reads are checked, any others kept as written.
 */
import { z } from 'zod';
import type { JsonValue } from '../core/canonical.ts';
import { isDid } from '../core/did.ts';
import { SigilError } from '../core/errors.ts';
import {
  VIEW_NS,
  attestationsNs,
  type Parsed,
  type ViewEntry,
  type ViewReader,
} from '../canon/views.ts';
import {
  BRANCHES,
  ROLE_BRANCHES,
  bailmentSchema,
  consentGrantSchema,
  parseCombinator,
  type Bailment,
  type CircuitBreaker,
  type ConsentGrant,
  type Holon,
  type RoleName,
} from '../gatekeeper/index.ts';
import { LOAS, type Loa, type TokenRecord } from '../policy/index.ts';
import type {
  EnrolmentChallenge,
  Proposal,
  WitnessAttestation,
  WitnessEntry,
} from '../quorum/index.ts';
import type { RequestViews, RowRefusal } from './core.ts';
import type { ApprovalInfo } from './services/approvals.ts';
import type { DelegationInfo } from './services/delegations.ts';
import type { ScannerInfo } from './services/governance.ts';
import type { MemoryEntry } from './services/memory.ts';
import type { RoleInfo } from './services/roles.ts';
import type { ToolPin } from './services/tool-pins.ts';
import type { GenesisInfo } from './services/witnesses.ts';

/** A view namespace: its name, the schema of its rows, and typed reads. */
export interface ViewNamespace<T> {
  readonly name: string;
  readonly schema: z.ZodType<T>;
  /** Parses a row's value, frozen ('state_invalid' when it is not a row of this namespace). */
  parse(value: JsonValue, key: string): T;
  /** The row at `key`, parsed and frozen, or undefined ('state_invalid': a forged or misshapen row). */
  get(views: ViewReader, key: string): Promise<T | undefined>;
  /** `get`, with the seq of the record that wrote the row (to judge it: core.ts `judgeRow`). */
  read(views: ViewReader, key: string): Promise<Parsed<T> | undefined>;
  /** The row at `key`, parsed, with the seq that wrote it (what an append's `expect` names). */
  entry(views: ViewReader, key: string): Promise<{ value: T; seq: number } | undefined>;
  /** Every row, parsed, by key ('state_invalid' when any row is forged or misshapen). */
  list(views: ViewReader): Promise<Array<{ key: string; value: T; seq: number; hash: string }>>;
  /**
   * Every row that may be served, parsed, and the rows refused by key (a namespace the view
   * mirror loads whole: `RequestViews.listed`), so a reader refuses only what it would have read.
   */
  listed(views: RequestViews): Promise<{
    rows: Array<{ key: string; value: T; seq: number; hash: string }>;
    refused: ReadonlyMap<string, RowRefusal>;
  }>;
  /**
   * `listed`'s rows by `group(value)`, built once per listing the reader serves unchanged (the
   * view mirror's, until a row of the namespace changes), so a reader after one group does not
   * walk every row per request. `group` should be one function per use (the cache keeps one).
   */
  grouped(
    views: RequestViews,
    group: (value: T) => string,
  ): Promise<{
    groups: ReadonlyMap<string, readonly T[]>;
    refused: ReadonlyMap<string, RowRefusal>;
  }>;
}

function parseRow<T>(name: string, schema: z.ZodType<T>, key: string, value: JsonValue): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  // Paths and expectations only: the row's values are not repeated in the error.
  const where = parsed.error.issues[0]?.path.join('.') || '(row)';
  throw new SigilError(
    'state_invalid',
    `view row ${name}/${key} is not a ${name} row (at ${where}); run \`sigil validate\``,
    { ns: name, key },
  );
}

/** Freezes `value` and everything in it: a parsed row is shared by every read of it. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

/** A namespace called `name` whose rows `schema` parses. */
export function viewNamespace<T>(name: string, schema: z.ZodType<T>): ViewNamespace<T> {
  // One parser per namespace, so the reader keeps a hot row parsed (frozen) with its MAC check.
  const parse = (value: JsonValue, key: string): T =>
    deepFreeze(parseRow(name, schema, key, value));
  // A listed entry that cannot change (the view mirror's, frozen) is parsed once while it is
  // served; any other is parsed on each listing, as it was read.
  const listed = new WeakMap<ViewEntry, T>();
  const listedValue = (e: ViewEntry): T => {
    if (!Object.isFrozen(e)) return parseRow(name, schema, e.key, e.value);
    let value = listed.get(e);
    if (value === undefined) {
      value = parse(e.value, e.key);
      listed.set(e, value);
    }
    return value;
  };
  // Per listing object: the view mirror replaces its listing whenever a row changes, and the
  // store's is new on every read, so a listing's groups never outlive its rows.
  const groupedOf = new WeakMap<
    object,
    { group: (value: T) => string; groups: Map<string, T[]> }
  >();
  return {
    name,
    schema,
    parse,
    get: async (views, key) => (await views.parsed(name, key, parse))?.value,
    read: (views, key) => views.parsed(name, key, parse),
    entry: async (views, key) => {
      const e = await views.entry(name, key);
      return e && { value: parseRow(name, schema, key, e.value), seq: e.seq };
    },
    list: async (views) => (await views.list(name)).map((e) => ({ ...e, value: listedValue(e) })),
    listed: async (views) => {
      const { rows, refused } = await views.listed(name);
      return { rows: rows.map((e) => ({ ...e, value: listedValue(e) })), refused };
    },
    grouped: async (views, group) => {
      const listed = await views.listed(name);
      let hit = groupedOf.get(listed);
      if (hit === undefined || hit.group !== group) {
        const groups = new Map<string, T[]>();
        for (const e of listed.rows) {
          const value = listedValue(e);
          const key = group(value);
          const members = groups.get(key);
          if (members === undefined) groups.set(key, [value]);
          else members.push(value);
        }
        hit = { group, groups };
        groupedOf.set(listed, hit);
      }
      return { groups: hit.groups, refused: listed.refused };
    },
  };
}

const text = z.string().min(1);
const time = z.string().min(1);
const epochMs = z.number().int().nonnegative();
const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const did = z.string().refine((s) => isDid(s), { message: 'not a DID' });
const loa = z.enum(LOAS);
const witnessRole = z.enum(['root', 'mentor']);
// Came from JSON.parse of an authenticated row: any JSON is JSON.
const json = z.custom<JsonValue>(() => true);

const signer = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('human') }),
  z.strictObject({ type: z.literal('ai'), delegationId: hex64 }),
]);

/** A token row: the token's record (its hash, never the token) and who issued it. */
export type StoredToken = TokenRecord & { issuedBy: string };
const tokenRow: z.ZodType<StoredToken> = z.looseObject({
  id: text,
  hash: hex64,
  subject: text,
  loa,
  signer,
  createdAt: epochMs,
  expiresAt: epochMs.nullable(),
  revokedAt: epochMs.nullable(),
  scopes: z.array(z.string()).optional(),
  issuedBy: text,
});

/** A session row: the SHA-256 of the cookie and of the token that opened it, never either. */
export interface SessionRow {
  id: string;
  subject: string;
  token_hash: string;
  opened_at: string;
  expires_at: number;
  closed_at: string | null;
}
const sessionRow: z.ZodType<SessionRow> = z.looseObject({
  id: hex64,
  subject: text,
  token_hash: hex64,
  opened_at: time,
  expires_at: epochMs,
  closed_at: time.nullable(),
});

/** A subject's live sessions, oldest first: the cap evicts from the front. */
export interface SessionSlots {
  subject: string;
  sessions: Array<{ id: string; expires_at: number }>;
}
const sessionSlotsRow: z.ZodType<SessionSlots> = z.looseObject({
  subject: text,
  sessions: z.array(z.looseObject({ id: hex64, expires_at: epochMs })),
});

/**
 * A license row, keyed by the seal's content hash: whose license, at which level, until when,
 * and once revoked when and by whom (absent on a license never revoked).
 */
export interface LicenseRow {
  owner: string;
  loa: Loa;
  expiresAt: string | null;
  revokedAt?: string;
  revokedBy?: string;
}
const licenseRow: z.ZodType<LicenseRow> = z.looseObject({
  owner: text,
  loa,
  expiresAt: time.nullable(),
  revokedAt: time.optional(),
  revokedBy: text.optional(),
});

/** A standing the quorum committed (`standing_grant`). */
export interface StandingRow {
  subject: string;
  loa: Loa;
  proposal_id: string;
}
const standingRow: z.ZodType<StandingRow> = z.looseObject({
  subject: text,
  loa,
  proposal_id: text,
});

const witnessRow: z.ZodType<WitnessEntry> = z.looseObject({
  witness_id: did,
  did,
  role: witnessRole,
  public_key: text,
  registered_at: time,
  revoked_at: time.nullable(),
  admitted: text.nullable(),
});

const challengeRow: z.ZodType<EnrolmentChallenge> = z.looseObject({
  id: text,
  subject: text,
  role: witnessRole,
  nonce: text,
  issued_at: time,
  expires_at: time,
  used_at: time.nullable(),
});

const genesisRow: z.ZodType<GenesisInfo> = z.looseObject({
  proposal_id: text,
  sealed_at: time,
  witnesses: z.array(text),
  mentors_required: z.number().int().nonnegative(),
});

const attestationRow: z.ZodType<WitnessAttestation> = z.looseObject({
  witness_id: text,
  signature: text,
  provenance_signature: text,
  attested_at: time,
});

const count = z.number().int().nonnegative();
const proposalRow: z.ZodType<Proposal> = z.looseObject({
  id: text,
  change: json,
  change_hash: hex64,
  required: z.looseObject({ root: count, mentors: count }),
  proposer: text,
  created_at: time,
  expires_at: time,
  status: z.enum(['pending', 'committed']),
  attestations: z.array(attestationRow),
});

/** A consent row: the bailment and the grant made together. */
export interface ConsentPair {
  bailment: Bailment;
  grant: ConsentGrant;
}
const consentRow: z.ZodType<ConsentPair> = z.looseObject({
  bailment: bailmentSchema,
  grant: consentGrantSchema,
});

const delegationRow: z.ZodType<DelegationInfo> = z.looseObject({
  delegation_id: hex64,
  nonce: text,
  parent: hex64.nullable(),
  principal: text,
  grantee: text,
  permissions: z.array(z.string()),
  chain: z.array(
    z.looseObject({
      grantor: text,
      grantee: text,
      permissions: z.array(z.string()),
      grantor_public_key: text,
      signature: text,
    }),
  ),
  created_by: text,
  created_at: time,
  expires_at: time.nullable(),
  revoked_at: time.nullable(),
});

const roleRow: z.ZodType<RoleInfo> = z.looseObject({
  subject: did,
  name: z.enum(Object.keys(ROLE_BRANCHES) as [RoleName, ...RoleName[]]),
  branch: z.enum(BRANCHES),
  granted_at: time,
  proposal_id: text,
  revoked_at: time.nullable(),
});

const memoryRow: z.ZodType<MemoryEntry> = z.looseObject({
  key: text,
  owner: text,
  updated_at: time,
  record_id: text,
});

const holonRow: z.ZodType<Holon> = z.looseObject({
  id: text,
  capabilities: z.array(z.string()),
  program: z.unknown().transform((term, ctx) => {
    try {
      return parseCombinator(term);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not a combinator term' });
      return z.NEVER;
    }
  }),
  state: z.enum(['idle', 'executing', 'suspended', 'terminated']),
  last_output: z
    .strictObject({ fields: z.record(z.string(), z.string()), checkpoint: z.string().nullable() })
    .nullable(),
});

const approvalRow: z.ZodType<ApprovalInfo> = z.looseObject({
  id: text,
  status: z.enum(['pending', 'approved', 'rejected']),
  action: text,
  target: z.string(),
  tool: text,
  arguments_hash: hex64,
  summary: z.string(),
  decision_id: text,
  requested_by: text,
  created_at: time,
  request_record_id: text,
  decided_by: text.optional(),
  decided_at: time.optional(),
  verdict_decision_id: text.optional(),
  signature: text.optional(),
  witness_id: text.optional(),
});

/** `tripped`: the last sealed transition (findings or a reset); absent in rows of older stores. */
const breakerRow: z.ZodType<CircuitBreaker & { tripped?: boolean }> = z.looseObject({
  threshold: count,
  window_ms: count,
  buckets: z.array(z.looseObject({ at_ms: count, critical: count })),
  tripped: z.boolean().optional(),
});

const scannerRow: z.ZodType<ScannerInfo> = z.looseObject({
  did,
  public_key: text,
  registered_at: time,
  registered_by: text,
  revoked_at: time.nullable(),
});

const findingsSeenRow = z.looseObject({ signer_did: text, findings_digest: hex64 });

const toolPinRow: z.ZodType<ToolPin> = z.looseObject({
  key: text,
  upstream: text,
  tool: text,
  hash: hex64,
  approval_id: text.nullable(),
});

/** Every view namespace the runtime reads, typed (canon/views.ts says which record makes which). */
export const VIEWS = {
  tokens: viewNamespace(VIEW_NS.tokens, tokenRow),
  sessions: viewNamespace(VIEW_NS.sessions, sessionRow),
  /** A subject's live sessions, keyed by subject. */
  sessionSlots: viewNamespace(VIEW_NS.sessionSlots, sessionSlotsRow),
  licenses: viewNamespace(VIEW_NS.licenses, licenseRow),
  standing: viewNamespace(VIEW_NS.standing, standingRow),
  witnesses: viewNamespace(VIEW_NS.witnesses, witnessRow),
  witnessChallenges: viewNamespace(VIEW_NS.witnessChallenges, challengeRow),
  /** The DID each enrolled witness key serves, keyed by the key (base64url). */
  witnessKeys: viewNamespace(VIEW_NS.witnessKeys, z.looseObject({ did: text })),
  /** One row, `genesis`: the sealed genesis. */
  quorum: viewNamespace(VIEW_NS.quorum, genesisRow),
  proposals: viewNamespace(VIEW_NS.proposals, proposalRow),
  consent: viewNamespace(VIEW_NS.consent, consentRow),
  delegations: viewNamespace(VIEW_NS.delegations, delegationRow),
  roles: viewNamespace(VIEW_NS.roles, roleRow),
  memory: viewNamespace(VIEW_NS.memory, memoryRow),
  holons: viewNamespace(VIEW_NS.holons, holonRow),
  approvals: viewNamespace(VIEW_NS.approvals, approvalRow),
  /** One row, `breaker`: the circuit breaker. */
  governance: viewNamespace(VIEW_NS.governance, breakerRow),
  scanners: viewNamespace(VIEW_NS.scanners, scannerRow),
  /** A findings report taken in, keyed `<signer> <digest>`: a replay finds it. */
  findingsSeen: viewNamespace(VIEW_NS.findingsSeen, findingsSeenRow),
  toolPins: viewNamespace(VIEW_NS.toolPins, toolPinRow),
} as const;

/** The attestations of one proposal (a namespace per proposal, so witnesses never collide). */
export function attestationViews(proposalId: string): ViewNamespace<WitnessAttestation> {
  return viewNamespace(attestationsNs(proposalId), attestationRow);
}
