/**
 * Consent: a bailor entrusts data to a bailee for a purpose (a bailment and a consent grant,
 * one id). Revocation takes effect on the next decision; expired consent is no consent.
 */
import { SigilError } from '../../core/errors.ts';
import {
  parseBailment,
  parseConsentGrant,
  type Bailment,
  type ConsentGrant,
  type ConsentPurpose,
} from '../../gatekeeper/index.ts';
import {
  asJson,
  checkId,
  iso,
  newId,
  refuseMissingRow,
  refusedRows,
  type RuntimeCore,
} from '../core.ts';
import { VIEWS, type ConsentPair } from '../view-ns.ts';
import type { Caller } from '../decide.ts';

/** The caller (as bailor) grants `bailee` consent within `scope` for `purpose`. */
export async function grantConsent(
  core: RuntimeCore,
  caller: Caller,
  input: { bailee: string; scope: string; purpose: ConsentPurpose; expiresAt?: string | null },
): Promise<{ id: string } & ConsentPair> {
  await core.require(caller, {
    action: 'consent.grant',
    target: `consent/${input.bailee}`,
    payload: {
      bailor: caller.subject,
      bailee: input.bailee,
      scope: input.scope,
      purpose: input.purpose,
    },
  });
  const id = newId();
  const shape = {
    id,
    bailor: caller.subject,
    bailee: input.bailee,
    scope: input.scope,
    purpose: input.purpose,
    createdAt: iso(core.now()),
    expiresAt: input.expiresAt ?? null,
    revokedAt: null,
  };
  const bailment = parseBailment({ kind: 'bailment', ...shape });
  const grant = parseConsentGrant({ kind: 'consent', ...shape });
  await core.append('consent_event', { event: 'granted', bailment, grant });
  return { id, bailment, grant };
}

/** Revokes a consent at once (its bailor or Root; 'consent_not_found'). */
export async function revokeConsent(
  core: RuntimeCore,
  caller: Caller,
  id: string,
): Promise<{ id: string; revokedAt: string }> {
  await core.require(caller, { action: 'consent.revoke', target: `consent/${id}` });
  const pair = await VIEWS.consent.get(core.log.views, checkId(id, 'consent id'));
  if (!pair) {
    // A consent whose row was deleted is not "not found": put back, it would be in force.
    await refuseMissingRow(core, 'consent_event', VIEWS.consent.name, id);
    throw new SigilError('consent_not_found', `no consent with id ${id}`);
  }
  if (pair.bailment.bailor !== caller.subject && caller.loa !== 'root') {
    throw new SigilError('forbidden', 'only the bailor or Root may revoke a consent');
  }
  const revokedAt = pair.grant.revokedAt ?? iso(core.now());
  const revoked: ConsentPair = {
    bailment: { ...pair.bailment, revokedAt },
    grant: { ...pair.grant, revokedAt },
  };
  await core.append('consent_event', {
    event: 'revoked',
    id,
    by: caller.subject,
    revokedAt,
    bailment: asJson(revoked.bailment),
    grant: asJson(revoked.grant),
  });
  return { id, revokedAt };
}

/**
 * The consents the caller may read, newest first: Root sees every one, anyone else those it
 * gave (as bailor) or was given (as bailee).
 */
export async function listConsent(
  core: RuntimeCore,
  caller: Caller,
): Promise<Array<{ id: string } & ConsentPair>> {
  await core.require(caller, { action: 'consent.list', target: 'consent' });
  const out: Array<{ id: string } & ConsentPair> = [];
  const rows = await VIEWS.consent.list(core.log.views);
  const refused = await refusedRows(
    core,
    'consent_event',
    VIEWS.consent.name,
    new Map(rows.map((e) => [e.key, e])),
    { absentIsNone: true },
  );
  for (const { key, value: pair } of rows) {
    const { bailor, bailee } = pair.bailment;
    if (caller.loa !== 'root' && bailor !== caller.subject && bailee !== caller.subject) continue;
    // Rolled back past its revocation: listed, it would read as in force.
    const refusal = refused.get(key);
    if (refusal !== undefined) throw refusal.error;
    out.push({ id: pair.bailment.id, ...pair });
  }
  return out.sort((a, b) => b.bailment.createdAt.localeCompare(a.bailment.createdAt));
}

/** The key of a consent row's bailor and bailee (JSON: no pair of DIDs shares one). */
const pairKey = (bailor: string, bailee: string): string => JSON.stringify([bailor, bailee]);
const pairOf = (pair: ConsentPair): string => pairKey(pair.bailment.bailor, pair.bailment.bailee);

/** The bailments and grants from `bailor` to `bailee` that a decision may rely on. */
export async function consentBetween(
  core: RuntimeCore,
  bailee: string,
  bailor: string | null,
): Promise<{ bailments: Bailment[]; grants: ConsentGrant[] }> {
  if (bailor === null) return { bailments: [], grants: [] };
  // From memory the log keeps current (view-mirror.ts), indexed by bailor and bailee: not a
  // listing of the store, nor a walk of every consent row, per request.
  const { groups, refused } = await VIEWS.consent.grouped(core.views, pairOf);
  for (const { error, entry } of refused.values()) {
    // A row rolled back past its revocation (a deleted one is no consent): refused where it
    // would have been relied on, and only there.
    const was = entry && VIEWS.consent.parse(entry.value, entry.key);
    if (was === undefined || (was.bailment.bailor === bailor && was.bailment.bailee === bailee)) {
      throw error;
    }
  }
  const pairs = groups.get(pairKey(bailor, bailee)) ?? [];
  return { bailments: pairs.map((p) => p.bailment), grants: pairs.map((p) => p.grant) };
}

/** The consent room (`runtime.consent`): bailments and the grants that let an agent act on data. */
export function consentService(core: RuntimeCore) {
  return {
    grant: (
      caller: Caller,
      input: { bailee: string; scope: string; purpose: ConsentPurpose; expiresAt?: string | null },
    ): Promise<{ id: string } & ConsentPair> => grantConsent(core, caller, input),
    revoke: (caller: Caller, id: string): Promise<{ id: string; revokedAt: string }> =>
      revokeConsent(core, caller, id),
    /** The consents the caller gave or was given (every one for Root). */
    list: (caller: Caller): Promise<Array<{ id: string } & ConsentPair>> =>
      listConsent(core, caller),
  };
}
export type ConsentService = ReturnType<typeof consentService>;
