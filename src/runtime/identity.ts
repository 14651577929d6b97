import { existsSync, readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { publicKeyToRaw } from '../core/ed25519.ts';
import {
  canonFingerprint,
  verifyLicense,
  type Loa,
  type LicenseVerification,
} from '../policy/index.ts';

/** Where the runtime's own level of access came from, and why. */
export interface RuntimeIdentity {
  loa: Loa;
  source: 'license' | 'default';
  subject: string | null;
  expiresAt: string | null;
  reason: string;
  licensePath: string;
}

/** This runtime's license fingerprint: binds licenses to its log key, id and license secret. */
export function runtimeFingerprint(
  secret: string | undefined,
  logPublicKey: KeyObject,
  runtimeId: string,
): string {
  return canonFingerprint(secret, publicKeyToRaw(logPublicKey), runtimeId);
}

/** What a license is checked against: this runtime's Root key, id and fingerprint, and now. */
export interface LicenseCheckOptions {
  rootKey: KeyObject;
  runtimeId: string;
  fingerprint: string;
  now: number;
  defaultLoa: Loa;
}

/** Checks a license object against this runtime; never throws, falls back to the default LOA. */
export function checkLicense(license: unknown, opts: LicenseCheckOptions): LicenseVerification {
  return verifyLicense(license, {
    trustedRootKey: opts.rootKey,
    runtimeId: opts.runtimeId,
    canonFingerprint: opts.fingerprint,
    now: opts.now,
    defaultLoa: opts.defaultLoa,
  });
}

/** A license file's JSON: undefined when there is no file, a marker object when it is not JSON. */
export function readLicenseFile(path: string): unknown {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch {
    return { malformed: true };
  }
}

/**
 * The runtime's LOA from its license file's verdict: the license's level when it holds, else
 * the configured default with the reason (missing, malformed, expired, tampered, revoked, …).
 */
export function identityOf(licensePath: string, result: LicenseVerification): RuntimeIdentity {
  if (result.ok) {
    return {
      loa: result.loa,
      source: 'license',
      subject: result.owner.id,
      expiresAt: result.expiresAt,
      reason: 'license valid',
      licensePath,
    };
  }
  return {
    loa: result.loa,
    source: 'default',
    subject: null,
    expiresAt: null,
    reason: result.reason,
    licensePath,
  };
}
