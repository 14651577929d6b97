/** Licenses sealed by the runtime's Root key, under the single-root policy. */
import type { Ed25519KeyPair } from '../../core/ed25519.ts';
import { SigilError } from '../../core/errors.ts';
import {
  assertCanMint,
  createLicense,
  parseLoa,
  type License,
  type LicenseVerification,
  type Loa,
} from '../../policy/index.ts';
import { asJson, type RuntimeCore } from '../core.ts';
import { VIEWS } from '../view-ns.ts';
import type { Caller } from '../decide.ts';
import { checkLicense, readLicenseFile, type LicenseCheckOptions } from '../identity.ts';
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
  const roots = (await VIEWS.licenses.list(core.log.views)).filter(
    (l) => l.value.loa === 'root',
  ).length;
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

/** The licenses room (`runtime.licenses`): issuing licenses and checking them against this runtime. */
export function licensesService(
  core: RuntimeCore,
  authority: LicenseAuthority,
  checkOptions: () => LicenseCheckOptions,
) {
  const validate = (license: unknown): LicenseVerification => checkLicense(license, checkOptions());
  return {
    generate: (
      caller: Caller,
      input: { subject: string; loa: string; expiresAt: string | null; name?: string },
    ): Promise<License> => generateLicense(core, authority, caller, input),
    /** Checks a license against this runtime; never throws. */
    validate,
    /** Reads a license file and checks it (for `whoami --license`). */
    validateFile: (path: string): LicenseVerification => validate(readLicenseFile(path)),
  };
}
export type LicensesService = ReturnType<typeof licensesService>;
