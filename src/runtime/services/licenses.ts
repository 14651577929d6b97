/** Licenses sealed by the runtime's Root key, under the single-root policy. */
import type { Ed25519KeyPair } from '../../core/ed25519.ts';
import { isSigilError, SigilError } from '../../core/errors.ts';
import {
  assertCanMint,
  createLicense,
  parseLoa,
  type License,
  type LicenseVerification,
  type Loa,
} from '../../policy/index.ts';
import { asJson, forEachRecordOfKind, isJsonObject, refuseRow, type RuntimeCore } from '../core.ts';
import { VIEWS, type LicenseRow } from '../view-ns.ts';
import type { Caller } from '../decide.ts';
import { checkLicense, readLicenseFile, type LicenseCheckOptions } from '../identity.ts';
import { liveLicenseRows } from './live-rows.ts';
import { requireStandingFor } from './witnesses.ts';

/** What binds a license to this runtime: the Root key that seals it, the runtime id and fingerprint. */
export interface LicenseAuthority {
  rootKey: Ed25519KeyPair;
  runtimeId: string;
  fingerprint: string;
}

/** Seals a license without adjudication (the bootstrap's Root license) and records it. */
export async function issueLicense(
  core: RuntimeCore,
  authority: LicenseAuthority,
  by: string,
  input: { subject: string; name: string; loa: Loa; expiresAt: number | null },
): Promise<License> {
  const roots = (await liveLicenseRows(core)).filter((l) => l.value.loa === 'root').length;
  assertCanMint(input.loa, roots);
  const license = createLicense(
    {
      owner: { id: input.subject, name: input.name },
      loa: input.loa,
      issuedAt: core.now(),
      expiresAt: input.expiresAt,
      runtimeId: authority.runtimeId,
      canonFingerprint: authority.fingerprint,
    },
    authority.rootKey,
  );
  await core.append('license_event', { event: 'issued', by, license: asJson(license) });
  return license;
}

/**
 * Generates a license (Root); a second Root license is refused ('single_root_violation'), and
 * after genesis one at Mentor or Root only for a subject already holding that standing.
 */
export async function generateLicense(
  core: RuntimeCore,
  authority: LicenseAuthority,
  caller: Caller,
  input: { subject: string; loa: string; expiresAt: string | null; name?: string },
): Promise<License> {
  await core.require(caller, {
    action: 'license.generate',
    target: `licenses/${input.subject}`,
    payload: { subject: input.subject, loa: input.loa },
  });
  let loa: Loa;
  try {
    loa = parseLoa(input.loa);
  } catch {
    throw new SigilError('bad_request', `not a level of access: ${String(input.loa)}`);
  }
  const expires = input.expiresAt === null ? null : Date.parse(input.expiresAt);
  if (expires !== null && !Number.isFinite(expires)) {
    throw new SigilError('bad_request', `not a date: ${input.expiresAt}`);
  }
  await requireStandingFor(core, input.subject, loa);
  return issueLicense(core, authority, caller.subject, {
    subject: input.subject,
    name: input.name ?? input.subject,
    loa,
    expiresAt: expires,
  });
}

/** A minted license as listed: its id (the seal's content hash), owner, level and lifetime. */
export interface LicenseInfo extends LicenseRow {
  id: string;
}

/**
 * The log's word on a license whose seal holds: a license this runtime never recorded issuing
 * ('license_unknown') or one it revoked ('license_revoked') yields only the default level.
 */
async function standingOf(
  core: RuntimeCore,
  v: LicenseVerification,
  defaultLoa: Loa,
): Promise<LicenseVerification> {
  if (!v.ok) return v;
  const hash = v.license.seal.contentHash;
  const read = await VIEWS.licenses.read(core.log.views, hash);
  // Rolled back past its revocation (its old MAC still good): refused, never valid again.
  await refuseRow(core, 'license_event', VIEWS.licenses.name, hash, read);
  const row = read?.value;
  const state =
    row === undefined ? await stateInLog(core, hash) : row.revokedAt ? 'revoked' : 'issued';
  if (state === 'unknown') return { ok: false, loa: defaultLoa, reason: 'license_unknown' };
  if (state === 'revoked') return { ok: false, loa: defaultLoa, reason: 'license_revoked' };
  return v;
}

/**
 * A license's state from its sealed events, for when its view row is missing (a store restored
 * without its views, a deleted row). The log is the authority: a deleted row neither loses a
 * revocation nor locks Root out of `sigil state rebuild`, which needs Root's own license.
 */
async function stateInLog(
  core: RuntimeCore,
  hash: string,
): Promise<'issued' | 'revoked' | 'unknown'> {
  let state: 'issued' | 'revoked' | 'unknown' = 'unknown';
  await forEachRecordOfKind(core, 'license_event', (record) => {
    const p = record.payload;
    if (!isJsonObject(p)) return;
    if (p.event === 'revoked' && p.license_hash === hash) state = 'revoked';
    const license = p.license;
    if (
      p.event === 'issued' &&
      state === 'unknown' &&
      isJsonObject(license) &&
      isJsonObject(license.seal) &&
      license.seal.contentHash === hash
    ) {
      state = 'issued';
    }
  });
  return state;
}

/** Every license this runtime minted, oldest record first (Root). */
export async function listLicenses(core: RuntimeCore, caller: Caller): Promise<LicenseInfo[]> {
  await core.require(caller, { action: 'license.list', target: 'licenses' });
  return (await liveLicenseRows(core, true))
    .sort((a, b) => a.seq - b.seq)
    .map((r) => ({ id: r.key, ...r.value }));
}

/**
 * Revokes a license (Root): from the sealed revocation on, it validates as 'license_revoked'
 * and no longer makes its holder a caller. The single Root license is never revoked
 * ('single_root_violation'): no second one can be minted, so nothing would replace it.
 */
export async function revokeLicense(
  core: RuntimeCore,
  caller: Caller,
  id: string,
): Promise<LicenseInfo> {
  await core.require(caller, { action: 'license.revoke', target: `licenses/${id}` });
  const found = (await liveLicenseRows(core, true)).find((r) => r.key === id);
  if (found === undefined) throw new SigilError('license_not_found', `no license with id ${id}`);
  if (found.value.revokedAt !== undefined) return { id, ...found.value };
  if (found.value.loa === 'root') {
    throw new SigilError('single_root_violation', 'the Root license cannot be revoked');
  }
  const row: LicenseRow = {
    ...found.value,
    revokedAt: new Date(core.now()).toISOString(),
    revokedBy: caller.subject,
  };
  try {
    // Compare-and-set on the row: of two revocations racing, the store seals only the first.
    await core.append(
      'license_event',
      { event: 'revoked', by: caller.subject, license_hash: id, row: asJson(row) },
      {},
      { expect: [{ ns: VIEWS.licenses.name, key: id, seq: found.seq }] },
    );
  } catch (err) {
    if (!isSigilError(err, 'conflict')) throw err;
    const now = await VIEWS.licenses.get(core.log.views, id);
    if (now?.revokedAt === undefined) throw err;
    return { id, ...now };
  }
  return { id, ...row };
}

/** The licenses room (`runtime.licenses`): issuing licenses and checking them against this runtime. */
export function licensesService(
  core: RuntimeCore,
  authority: LicenseAuthority,
  checkOptions: () => LicenseCheckOptions,
  /** Called after a revocation: the runtime re-checks its own license. */
  revoked: () => Promise<void>,
) {
  /** Checks a license against this runtime: its seal, then the log (revoked or never issued). */
  const validate = async (license: unknown): Promise<LicenseVerification> => {
    const opts = checkOptions();
    return standingOf(core, checkLicense(license, opts), opts.defaultLoa);
  };
  return {
    generate: (
      caller: Caller,
      input: { subject: string; loa: string; expiresAt: string | null; name?: string },
    ): Promise<License> => generateLicense(core, authority, caller, input),
    validate,
    /** Reads a license file and checks it (for `whoami --license` and the runtime's own). */
    validateFile: (path: string): Promise<LicenseVerification> => validate(readLicenseFile(path)),
    list: (caller: Caller): Promise<LicenseInfo[]> => listLicenses(core, caller),
    revoke: async (caller: Caller, id: string): Promise<LicenseInfo> => {
      const info = await revokeLicense(core, caller, id);
      await revoked();
      return info;
    },
  };
}
export type LicensesService = ReturnType<typeof licensesService>;
