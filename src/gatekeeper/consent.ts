/**
 * Bailments and consent grants: a bailor entrusts data to a bailee (the bailment) and
 * consents to its use for a purpose within a scope (the grant). The runtime keeps both as
 * sealed log records; this module parses them and evaluates them purely, against `now`.
 * A revoked record is inactive at once; an expired or not-yet-valid one is no consent.
 */
import { z } from 'zod';
import { isDid } from '../core/did.ts';
import { SigilError } from '../core/errors.ts';
import { scopeCoversAll } from './consent-scope.ts';
import { memoizeString } from './memo.ts';
import type { Did } from './types.ts';

/** What a bailee may use entrusted data for. */
export const CONSENT_PURPOSES = [
  'retrieval',
  'validation',
  'writeback',
  'import',
  'export',
  'benchmark',
  'trust_check',
] as const;

/** A consent purpose. */
export type ConsentPurpose = (typeof CONSENT_PURPOSES)[number];

const rfc3339 = z.iso.datetime({ offset: true });
const did = z.string().refine((s) => isDid(s), { message: 'not a DID' });

const recordShape = {
  id: z.string().min(1),
  bailor: did,
  bailee: did,
  scope: z.string(),
  purpose: z.enum(CONSENT_PURPOSES),
  createdAt: rfc3339,
  expiresAt: rfc3339.nullable(),
  revokedAt: rfc3339.nullable(),
};

/** Parser for a bailment record. */
export const bailmentSchema = z.strictObject({ kind: z.literal('bailment'), ...recordShape });
/** Parser for a consent grant record. */
export const consentGrantSchema = z.strictObject({ kind: z.literal('consent'), ...recordShape });

/** The bailor entrusts data within `scope` to the bailee for `purpose`. */
export type Bailment = z.infer<typeof bailmentSchema>;
/** The bailor consents to the bailee using entrusted data within `scope` for `purpose`. */
export type ConsentGrant = z.infer<typeof consentGrantSchema>;
/** Either kind of record; both share the same lifecycle fields. */
export type ConsentRecord = Bailment | ConsentGrant;

function parseRecord<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new SigilError('invalid_consent', `invalid ${what}: ${z.prettifyError(result.error)}`);
  }
  const record = result.data as ConsentRecord;
  const created = Date.parse(record.createdAt);
  if (record.expiresAt !== null && Date.parse(record.expiresAt) <= created) {
    throw new SigilError('invalid_consent', `${what} expires before it is created`, {
      id: record.id,
    });
  }
  return result.data;
}

/** Validates an untrusted bailment; throws SigilError 'invalid_consent'. */
export function parseBailment(value: unknown): Bailment {
  return parseRecord(bailmentSchema, value, 'bailment');
}

/** Validates an untrusted consent grant; throws SigilError 'invalid_consent'. */
export function parseConsentGrant(value: unknown): ConsentGrant {
  return parseRecord(consentGrantSchema, value, 'consent grant');
}

// A record's times, parsed once per distinct text: each decision on someone's data checks the
// same few records twice (the MCP consent rule and the invariant).
const parseTime = memoizeString(Date.parse);

/** True when the record is in force at `now` (ms since epoch): created, not expired, never revoked. */
export function isActive(record: ConsentRecord, now: number): boolean {
  if (record.revokedAt !== null) return false;
  const created = parseTime(record.createdAt);
  if (!Number.isFinite(created) || created > now) return false;
  if (record.expiresAt === null) return true;
  const expires = parseTime(record.expiresAt);
  return Number.isFinite(expires) && now < expires;
}

/** The grants in force at `now`. */
export function activeConsents(grants: readonly ConsentGrant[], now: number): ConsentGrant[] {
  return grants.filter((g) => isActive(g, now));
}

/** The bailments in force at `now`. */
export function activeBailments(bailments: readonly Bailment[], now: number): Bailment[] {
  return bailments.filter((b) => isActive(b, now));
}

/** Returns a copy of the record revoked at `at` (an RFC 3339 time); an earlier revocation stands. */
export function revokeRecord<T extends ConsentRecord>(record: T, at: string): T {
  if (!rfc3339.safeParse(at).success) {
    throw new SigilError('invalid_consent', `revocation time is not RFC 3339: ${at}`);
  }
  return record.revokedAt !== null ? record : { ...record, revokedAt: at };
}

/** What to look for: the bailor's data used by `bailee` for `permissions` (and `purpose`, if given). */
export interface ConsentQuery {
  bailments: readonly Bailment[];
  grants: readonly ConsentGrant[];
  bailor: Did;
  bailee: Did;
  permissions: readonly string[];
  purpose?: ConsentPurpose;
  now: number;
}

/** The bailment and grant that together authorise a use. */
export interface CoveringConsent {
  bailment: Bailment;
  grant: ConsentGrant;
}

/** Why no consent covers a use: a stable reason plus evidence lines. */
export interface ConsentShortfall {
  reason:
    'no_active_bailment' | 'bailment_not_to_actor' | 'no_matching_consent' | 'scope_not_covered';
  description: string;
  evidence: string[];
}

/**
 * Finds an active bailment (bailor → bailee, purpose) with an active grant from the same
 * bailor to the same bailee for the same scope and purpose, whose scope covers every
 * requested permission; or explains the closest miss.
 */
export function evaluateConsent(
  query: ConsentQuery,
): { ok: true; consent: CoveringConsent } | ({ ok: false } & ConsentShortfall) {
  const { bailor, bailee, purpose, now } = query;
  const fromBailor = activeBailments(query.bailments, now).filter(
    (b) => b.bailor === bailor && (purpose === undefined || b.purpose === purpose),
  );
  const base = [`actor: ${bailee}`, `bailor: ${bailor}`, `purpose: ${purpose ?? 'any'}`];
  if (fromBailor.length === 0) {
    return {
      ok: false,
      reason: 'no_active_bailment',
      description: 'No active bailment for this action',
      evidence: [...base, `bailments: ${query.bailments.length}`],
    };
  }
  const toActor = fromBailor.filter((b) => b.bailee === bailee);
  if (toActor.length === 0) {
    return {
      ok: false,
      reason: 'bailment_not_to_actor',
      description: 'Active bailment is not granted to actor',
      evidence: [
        ...base,
        `bailment_bailees: ${[...new Set(fromBailor.map((b) => b.bailee))].sort().join(',')}`,
      ],
    };
  }
  const grants = activeConsents(query.grants, now);
  const paired: CoveringConsent[] = [];
  for (const bailment of toActor) {
    for (const grant of grants) {
      if (
        grant.bailor === bailment.bailor &&
        grant.bailee === bailee &&
        grant.scope === bailment.scope &&
        grant.purpose === bailment.purpose
      ) {
        paired.push({ bailment, grant });
      }
    }
  }
  if (paired.length === 0) {
    return {
      ok: false,
      reason: 'no_matching_consent',
      description: 'No active consent record matching actor, bailor, and scope',
      evidence: [
        ...base,
        `scopes: ${[...new Set(toActor.map((b) => b.scope))].sort().join(',')}`,
        `records: ${query.grants.length}`,
      ],
    };
  }
  const covering = paired.find((p) => scopeCoversAll(p.bailment.scope, query.permissions));
  if (covering === undefined) {
    return {
      ok: false,
      reason: 'scope_not_covered',
      description: 'Active consent scope does not cover requested permission',
      evidence: [
        ...base,
        `scopes: ${[...new Set(paired.map((p) => p.bailment.scope))].sort().join(',')}`,
        `requested_permissions: ${permissionLabel(query.permissions)}`,
      ],
    };
  }
  return { ok: true, consent: covering };
}

/** The covering bailment and grant, or null when none authorises the use. */
export function findCoveringConsent(query: ConsentQuery): CoveringConsent | null {
  const result = evaluateConsent(query);
  return result.ok ? result.consent : null;
}

/** Sorted, de-duplicated permissions for evidence lines ("none" when empty). */
export function permissionLabel(permissions: readonly string[]): string {
  const labels = [...new Set(permissions)].sort();
  return labels.length === 0 ? 'none' : labels.join(',');
}
