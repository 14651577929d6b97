/**
 * Views: the state Sigil acts on (tokens, licenses, witnesses, proposals, attestations, consent,
 * approvals, holons, memory pointers, the breaker), each row a projection of one sealed record.
 *
 * - `projectRecord` is the one definition of what a record means for the views. The log applies
 *   it while sealing, so a record and its view rows commit in one transaction; validation and
 *   `state rebuild` apply it to the whole log.
 * - Every row carries the seq and hash of the record that produced it and an HMAC-SHA256 under
 *   the view key (HKDF of the data key, salted with the log id) over namespace, key, value, seq
 *   and hash. A row without the keys' holder behind it fails the MAC and is refused
 *   ('state_invalid') when read, so whatever depended on it is denied.
 */
import { createHmac } from 'node:crypto';
import { canonicalJson, type JsonValue } from '../core/canonical.ts';
import { constantTimeEqual, utf8Encode } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';
import { hkdfSha256 } from '../core/kdf.ts';
import type { RecordKind } from './record.ts';
import type { ViewRow, ViewTable } from './store/types.ts';

/** The view namespaces. Attestations live in one namespace per proposal (see attestationsNs). */
export const VIEW_NS = {
  tokens: 'tokens',
  proposals: 'proposals',
  witnesses: 'witnesses',
  witnessChallenges: 'witness_challenges',
  witnessKeys: 'witness_keys',
  standing: 'standing',
  quorum: 'quorum',
  consent: 'consent',
  delegations: 'delegations',
  roles: 'roles',
  memory: 'memory',
  holons: 'holons',
  approvals: 'approvals',
  licenses: 'licenses',
  governance: 'governance',
  scanners: 'scanners',
  findingsSeen: 'findings_seen',
  toolPins: 'tool_pins',
  sessions: 'sessions',
  sessionSlots: 'session_slots',
} as const;

/** Each attestation is its own row, so concurrent witnesses never overwrite one another. */
export function attestationsNs(proposalId: string): string {
  return `attestations:${proposalId}`;
}

/** Kinds a user may write: they govern nothing, so they project to no view. */
export const USER_DATA_KINDS: readonly RecordKind[] = ['user_data', 'audit_record', 'rag_doc'];

/**
 * Refuses ('kind_reserved') a draft a user may not write: a governing kind (decision,
 * system_config, token_event, …), which only the runtime's adjudicated paths seal, or the
 * system space, which changes only through a quorum proposal.
 */
export function assertUserDraft(draft: { kind: string; space?: string }): void {
  if (!(USER_DATA_KINDS as readonly string[]).includes(draft.kind)) {
    throw new SigilError(
      'kind_reserved',
      `kind ${draft.kind} is written only by Sigil itself; users write ${USER_DATA_KINDS.join(', ')}`,
      { kind: draft.kind },
    );
  }
  if (draft.space === 'system') {
    throw new SigilError(
      'kind_reserved',
      'the system space changes only through a quorum proposal',
    );
  }
}

/** The kinds whose records project to views; no other record is read to build them. */
export const PROJECTED_KINDS: ReadonlySet<RecordKind> = new Set<RecordKind>([
  'token_event',
  'session_event',
  'license_event',
  'consent_event',
  'delegation_event',
  'role_event',
  'witness_event',
  'quorum_event',
  'system_config',
  'governance_event',
  'holon_event',
  'memory_block',
]);

/** One view row a record produces. */
export interface ViewWrite {
  ns: string;
  key: string;
  value: JsonValue;
}

/** What projecting needs of a record. */
export interface ProjectedRecord {
  kind: RecordKind;
  id: string;
  ts: string;
  payload: JsonValue;
}

type Obj = { [k: string]: JsonValue };

function obj(v: JsonValue | undefined): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
}

function str(v: JsonValue | undefined): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function one(ns: string, key: string | undefined, value: JsonValue | undefined): ViewWrite[] {
  return key === undefined || value === undefined ? [] : [{ ns, key, value }];
}

function projectQuorum(p: Obj): ViewWrite[] {
  if (p.event === 'proposed') {
    const proposal = obj(p.proposal);
    return one(VIEW_NS.proposals, str(proposal?.id), proposal && { ...proposal, attestations: [] });
  }
  if (p.event === 'attested') {
    const pid = str(p.proposal_id);
    const attestation = obj(p.attestation);
    if (pid === undefined) return [];
    return one(attestationsNs(pid), str(attestation?.witness_id), attestation);
  }
  return [];
}

/** The witness set, standing and genesis rows a committed change produces. */
function projectCommittedChange(change: Obj, proposalId: string, ts: string): ViewWrite[] {
  const genesis = obj(change.genesis);
  if (genesis !== undefined) {
    const named = Array.isArray(genesis.witnesses) ? genesis.witnesses.map(obj) : [];
    const rows = named.flatMap((w) =>
      one(
        VIEW_NS.witnesses,
        str(w?.did),
        w && { ...w, witness_id: w.did ?? null, revoked_at: null, admitted: 'genesis' },
      ),
    );
    return [
      ...rows,
      ...one(VIEW_NS.quorum, 'genesis', {
        proposal_id: proposalId,
        sealed_at: ts,
        witnesses: named.map((w) => w?.did ?? null),
        mentors_required: genesis.mentors_required ?? null,
      }),
    ];
  }
  const added = obj(change.witness_add);
  if (added !== undefined) {
    return one(VIEW_NS.witnesses, str(added.did), { ...added, admitted: proposalId });
  }
  const removed = obj(change.witness_remove);
  if (removed !== undefined) {
    return one(VIEW_NS.witnesses, str(removed.did), { ...removed, revoked_at: ts });
  }
  const raised = obj(change.standing_grant);
  if (raised !== undefined) {
    return one(VIEW_NS.standing, str(raised.subject), { ...raised, proposal_id: proposalId });
  }
  return [];
}

function projectSystemConfig(p: Obj, ts: string): ViewWrite[] {
  const { attestations: _attestations, proposal_id, ...rest } = p;
  const id = str(proposal_id);
  const change = obj(p.change);
  return [
    ...one(VIEW_NS.proposals, id, {
      id: id ?? null,
      ...rest,
      status: 'committed',
      attestations: [],
    }),
    ...(change && id !== undefined ? projectCommittedChange(change, id, ts) : []),
  ];
}

function projectGovernance(p: Obj): ViewWrite[] {
  if (p.event === 'findings') {
    // The report is spent by the record that took it in (a replay finds this row).
    return [
      ...one(VIEW_NS.governance, 'breaker', p.breaker_state),
      ...one(
        VIEW_NS.findingsSeen,
        str(p.seen_key),
        p.seen_key === undefined
          ? undefined
          : {
              signer_did: p.signer_did ?? null,
              findings_digest: p.findings_digest ?? null,
            },
      ),
    ];
  }
  if (p.event === 'breaker_reset') return one(VIEW_NS.governance, 'breaker', p.breaker_state);
  if (p.event === 'scanner_registered' || p.event === 'scanner_revoked') {
    const scanner = obj(p.scanner);
    return one(VIEW_NS.scanners, str(scanner?.did), scanner);
  }
  if (p.event === 'tool_pinned') {
    const pin = obj(p.pin);
    return one(VIEW_NS.toolPins, str(pin?.key), pin);
  }
  if (typeof p.event === 'string' && p.event.startsWith('approval_')) {
    const approval = obj(p.approval);
    return one(VIEW_NS.approvals, str(approval?.id), approval);
  }
  return [];
}

/** The view rows a record produces (none for kinds that govern nothing). */
export function projectRecord(record: ProjectedRecord): ViewWrite[] {
  const p = obj(record.payload);
  if (p === undefined) return [];
  switch (record.kind) {
    case 'token_event': {
      const token = obj(p.token);
      const hash = str(p.token_hash);
      return one(VIEW_NS.tokens, hash, token && { ...token, hash: hash ?? null });
    }
    case 'session_event': {
      // The session opened, those it closed (signed out, or the subject's oldest evicted), and
      // the subject's live sessions after it.
      const session = obj(p.session);
      const closed = Array.isArray(p.closed) ? p.closed.map(obj) : [];
      const slots = obj(p.slots);
      return [
        ...one(VIEW_NS.sessions, str(session?.id), session),
        ...closed.flatMap((c) => one(VIEW_NS.sessions, str(c?.id), c)),
        ...one(VIEW_NS.sessionSlots, str(slots?.subject), slots),
      ];
    }
    case 'license_event': {
      // A revocation carries the whole row it leaves (the issued row plus revokedAt/revokedBy).
      if (p.event === 'revoked') return one(VIEW_NS.licenses, str(p.license_hash), obj(p.row));
      const license = obj(p.license);
      const owner = obj(license?.owner);
      if (p.event !== 'issued' || !license) return [];
      return one(VIEW_NS.licenses, str(obj(license.seal)?.contentHash), {
        owner: owner?.id ?? null,
        loa: license.loa ?? null,
        expiresAt: license.expiresAt ?? null,
      });
    }
    case 'consent_event': {
      const bailment = obj(p.bailment);
      const grant = obj(p.grant);
      return one(VIEW_NS.consent, str(bailment?.id), bailment && grant && { bailment, grant });
    }
    case 'delegation_event': {
      const delegation = obj(p.delegation);
      return one(VIEW_NS.delegations, str(delegation?.delegation_id), delegation);
    }
    case 'role_event': {
      const role = obj(p.role);
      const subject = str(role?.subject);
      const name = str(role?.name);
      return one(VIEW_NS.roles, subject && name && `${subject} ${name}`, role);
    }
    case 'witness_event': {
      const challenge = obj(p.challenge);
      if (p.type === 'enrolment_challenge') {
        return one(VIEW_NS.witnessChallenges, str(challenge?.id), challenge);
      }
      if (p.type !== 'witness_enrolled') return [];
      const entry = obj(p.entry);
      return [
        ...one(VIEW_NS.witnesses, str(entry?.did), entry),
        // The DID the key serves, for good: a second DID's enrolment of it expects no row.
        ...one(VIEW_NS.witnessKeys, str(entry?.public_key), entry && { did: entry.did ?? null }),
        // The challenge is spent by the record that answered it.
        ...one(
          VIEW_NS.witnessChallenges,
          str(challenge?.id),
          challenge && { ...challenge, used_at: record.ts },
        ),
      ];
    }
    case 'quorum_event':
      return projectQuorum(p);
    case 'system_config':
      return projectSystemConfig(p, record.ts);
    case 'governance_event':
      return projectGovernance(p);
    case 'holon_event': {
      const holon = obj(p.holon_state);
      return one(VIEW_NS.holons, str(holon?.id), holon);
    }
    case 'memory_block': {
      const owner = str(p.owner);
      const key = str(p.key);
      if (owner === undefined || key === undefined) return [];
      return one(VIEW_NS.memory, `${owner} ${key}`, {
        owner,
        key,
        record_id: record.id,
        updated_at: record.ts,
      });
    }
    default:
      return [];
  }
}

const VIEW_KEY_INFO = utf8Encode('sigil/view-mac/v1');

/** The view MAC key: HKDF-SHA256 of the data key, salted with the log id. */
export function deriveViewKey(dataKey: Uint8Array, logId: string): Uint8Array {
  return hkdfSha256(dataKey, utf8Encode(logId), VIEW_KEY_INFO, 32);
}

/** HMAC-SHA256 over the row's namespace, key, value text, seq and record hash (a JSON array). */
export function viewMac(
  viewKey: Uint8Array,
  row: { ns: string; key: string; value: string; seq: number; hash: string },
): Uint8Array {
  const message = JSON.stringify([row.ns, row.key, row.value, row.seq, row.hash]);
  return new Uint8Array(createHmac('sha256', viewKey).update(message).digest());
}

/** A view row for a projected write of the record at `seq` with hash `hash`. */
export function sealViewRow(
  viewKey: Uint8Array,
  write: ViewWrite,
  seq: number,
  hash: string,
): ViewRow {
  // Canonical text, so a row written on append equals the one a rebuild projects.
  const row = { ns: write.ns, key: write.key, value: canonicalJson(write.value), seq, hash };
  return { ...row, mac: viewMac(viewKey, row) };
}

/** True when the row's MAC is the one the view key gives it. */
export function viewRowAuthentic(viewKey: Uint8Array, row: ViewRow): boolean {
  return constantTimeEqual(viewMac(viewKey, row), row.mac);
}

function refuse(row: ViewRow): SigilError {
  return new SigilError(
    'state_invalid',
    `view row ${row.ns}/${row.key} fails authentication; run \`sigil validate\``,
    { ns: row.ns, key: row.key },
  );
}

/** An authenticated view row: its value and the record that produced it. */
export interface ViewEntry {
  key: string;
  value: JsonValue;
  seq: number;
  hash: string;
}

/** Read-only access to the views; every row is authenticated before it is returned. */
export interface ViewReader {
  /** The value at (ns, key), or undefined; 'state_invalid' when the row fails its MAC. */
  get(ns: string, key: string): Promise<JsonValue | undefined>;
  /**
   * The value at (ns, key) as `parse` makes it, with the seq of the record that wrote it, or
   * undefined. What `parse` returns is kept with the verified row and returned again while the
   * row is unchanged in every byte, so a hot row is parsed once: `parse` must return a value
   * nobody mutates (frozen).
   */
  parsed<T>(
    ns: string,
    key: string,
    parse: (value: JsonValue, key: string) => T,
  ): Promise<Parsed<T> | undefined>;
  /** The entry at (ns, key) with the seq of the record that wrote it (for an append's `expect`). */
  entry(ns: string, key: string): Promise<ViewEntry | undefined>;
  /** Every entry of a namespace by key; 'state_invalid' when any row fails its MAC. */
  list(ns: string): Promise<ViewEntry[]>;
}

/** A row's value as a parser made it, and the seq of the record that wrote the row. */
export interface Parsed<T> {
  readonly value: T;
  readonly seq: number;
}

/** Rows whose MAC this process has checked, most recent last; bounded. */
const VERIFIED_ROWS = 16_384;

/** A row whose MAC was checked, and the value a parser last made of it. */
interface Verified {
  readonly row: ViewRow;
  parse?: (value: JsonValue, key: string) => unknown;
  parsed?: Parsed<unknown>;
}

/**
 * A reader over a store's view table that checks every row it returns. A row identical in
 * every byte (value, seq, hash, MAC) to one already checked is known authentic without a new
 * HMAC, so a hot token costs one indexed read and a comparison; any edit misses the cache.
 */
export function viewReader(table: ViewTable, viewKey: Uint8Array): ViewReader {
  const verified = new Map<string, Verified>();
  const check = (row: ViewRow): Verified => {
    const id = `${row.ns}\u0000${row.key}`;
    const known = verified.get(id);
    if (
      known !== undefined &&
      known.row.value === row.value &&
      known.row.seq === row.seq &&
      known.row.hash === row.hash &&
      constantTimeEqual(known.row.mac, row.mac)
    ) {
      return known;
    }
    if (!viewRowAuthentic(viewKey, row)) throw refuse(row);
    verified.delete(id);
    if (verified.size >= VERIFIED_ROWS) verified.delete(verified.keys().next().value!);
    const fresh: Verified = { row };
    verified.set(id, fresh);
    return fresh;
  };
  const open = (row: ViewRow): ViewEntry => {
    check(row);
    return {
      key: row.key,
      value: JSON.parse(row.value) as JsonValue,
      seq: row.seq,
      hash: row.hash,
    };
  };
  return {
    get: async (ns, key) => {
      const row = await table.get(ns, key);
      return row && open(row).value;
    },
    parsed: async <T>(ns: string, key: string, parse: (value: JsonValue, key: string) => T) => {
      const row = await table.get(ns, key);
      if (row === undefined) return undefined;
      const entry = check(row);
      if (entry.parse !== parse) {
        // Parsed before it is kept: a value `parse` refuses is refused again on the next read.
        const value = parse(JSON.parse(row.value) as JsonValue, key);
        entry.parse = parse;
        entry.parsed = { value, seq: row.seq };
      }
      return entry.parsed as Parsed<T>;
    },
    entry: async (ns, key) => {
      const row = await table.get(ns, key);
      return row && open(row);
    },
    list: async (ns) => (await table.list(ns)).map(open),
  };
}
