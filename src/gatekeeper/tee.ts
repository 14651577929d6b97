/**
 * TEE attestation: whether a trusted execution environment's report is acceptable under a
 * policy. Pure (`now` is passed in). Hardware quotes (SGX, SEV, TrustZone) are only ever
 * accepted through a plugged-in QuoteVerifier; without one they are refused. `simulated`
 * reports, signed by a registered Ed25519 attestation key, exist for testing environments
 * and are refused in production. Every failure has its own code.
 */
import type { KeyObject } from 'node:crypto';
import { canonicalBytes } from '../core/canonical.ts';
import { sign, verifyWithRawKey } from '../core/ed25519.ts';
import { constantTimeEqual, fromBase64Url, fromHex, toBase64Url } from '../core/encoding.ts';
import { SigilError } from '../core/errors.ts';

export const TEE_PLATFORMS = ['sgx', 'sev', 'trustzone', 'simulated'] as const;
export type TeePlatform = (typeof TEE_PLATFORMS)[number];

export const SIMULATED_ATTESTATION_DOMAIN = 'sigil.tee.simulated.v1';

/**
 * A TEE report. `measurement` is the enclave/VM measurement as lowercase hex (16–64 bytes:
 * SGX MRENCLAVE is 32, SEV-SNP 48); `timestamp` is epoch milliseconds; `signature` is
 * base64url: the Ed25519 signature for `simulated`, the platform quote for hardware.
 */
export interface TeeAttestation {
  readonly platform: TeePlatform;
  readonly measurement: string;
  readonly timestamp: number;
  readonly signature: string;
}

/** What a deployment accepts. `maxAgeMs` 0 means no age limit (future timestamps are always refused). */
export interface TeePolicy {
  readonly acceptedPlatforms: readonly TeePlatform[];
  readonly requiredMeasurements: readonly string[];
  readonly maxAgeMs: number;
  readonly environment: 'production' | 'testing';
}

/**
 * Verifies a hardware quote (the decoded `signature`) for the attestation: it must check
 * the quote's signature chain and that the quote binds `measurement` and `timestamp`.
 * Returns true only for a genuine quote; a throw counts as false.
 */
export type QuoteVerifier = (attestation: TeeAttestation, quote: Uint8Array) => boolean;

export interface TeeVerifyContext {
  readonly now: number;
  /** Raw 32-byte Ed25519 public keys allowed to sign `simulated` reports. */
  readonly attestationKeys: readonly Uint8Array[];
  readonly quoteVerifier?: QuoteVerifier;
}

/** An accepted report. */
export interface VerifiedTee {
  readonly platform: TeePlatform;
  readonly measurement: string;
  readonly timestamp: number;
}

const isTime = (n: unknown): n is number =>
  typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

function measurementBytes(hex: unknown): Uint8Array | null {
  if (typeof hex !== 'string' || hex.length < 32 || hex.length > 128) return null;
  try {
    return fromHex(hex);
  } catch {
    return null;
  }
}

function readAttestation(raw: unknown): {
  attestation: TeeAttestation;
  measurement: Uint8Array;
  evidence: Uint8Array;
} {
  const malformed = (why: string) =>
    new SigilError('tee_attestation_malformed', `TEE attestation: ${why}`);
  if (typeof raw !== 'object' || raw === null) throw malformed('expected an object');
  const { platform, measurement, timestamp, signature } = raw as Record<string, unknown>;
  if (!TEE_PLATFORMS.includes(platform as TeePlatform)) throw malformed('unknown platform');
  const bytes = measurementBytes(measurement);
  if (bytes === null) throw malformed('measurement must be 16–64 bytes of lowercase hex');
  if (!isTime(timestamp)) throw malformed('timestamp must be epoch milliseconds');
  let evidence: Uint8Array;
  try {
    evidence = fromBase64Url(signature as string);
  } catch {
    throw malformed('signature must be base64url');
  }
  return {
    attestation: {
      platform: platform as TeePlatform,
      measurement: measurement as string,
      timestamp,
      signature: signature as string,
    },
    measurement: bytes,
    evidence,
  };
}

function readPolicy(policy: TeePolicy): Uint8Array[] {
  const invalid = (why: string) => new SigilError('tee_policy_invalid', `TEE policy: ${why}`);
  if (
    !Array.isArray(policy?.acceptedPlatforms) ||
    !policy.acceptedPlatforms.every((p) => TEE_PLATFORMS.includes(p))
  ) {
    throw invalid('acceptedPlatforms must list known platforms');
  }
  if (!isTime(policy.maxAgeMs)) throw invalid('maxAgeMs must be a non-negative integer');
  if (policy.environment !== 'production' && policy.environment !== 'testing') {
    throw invalid("environment must be 'production' or 'testing'");
  }
  if (!Array.isArray(policy.requiredMeasurements))
    throw invalid('requiredMeasurements must be a list');
  return policy.requiredMeasurements.map((m) => {
    const bytes = measurementBytes(m);
    if (bytes === null) throw invalid('requiredMeasurements must be lowercase hex');
    return bytes;
  });
}

/** Constant-time membership: compares against every allowed value without stopping early. */
function measurementAllowed(measurement: Uint8Array, allowed: readonly Uint8Array[]): boolean {
  let found = false;
  for (const candidate of allowed) found = constantTimeEqual(measurement, candidate) || found;
  return found;
}

/** The bytes a simulated attestation key signs. */
export function simulatedAttestationMessage(measurement: string, timestamp: number): Uint8Array {
  return canonicalBytes({
    domain: SIMULATED_ATTESTATION_DOMAIN,
    platform: 'simulated',
    measurement,
    timestamp,
  });
}

/** A `simulated` attestation signed with a registered attestation key (for tests and testing deployments). */
export function signSimulatedAttestation(
  measurement: string,
  timestamp: number,
  privateKey: KeyObject,
): TeeAttestation {
  const signature = sign(privateKey, simulatedAttestationMessage(measurement, timestamp));
  return { platform: 'simulated', measurement, timestamp, signature: toBase64Url(signature) };
}

/**
 * Accepts `raw` under `policy` or throws, checking in order: policy ('tee_policy_invalid'),
 * shape ('tee_attestation_malformed'), platform ('tee_platform_not_accepted'), simulated
 * outside testing ('tee_simulated_in_production'), timestamp ('tee_timestamp_in_future',
 * 'tee_attestation_expired'), measurement ('tee_measurement_not_allowed'; an empty list
 * allows none), then the evidence: simulated signature ('tee_signature_invalid'), or the
 * hardware quote ('quote_verifier_missing' without a verifier, 'tee_quote_invalid').
 */
export function verifyTeeAttestation(
  raw: unknown,
  policy: TeePolicy,
  ctx: TeeVerifyContext,
): VerifiedTee {
  const allowed = readPolicy(policy);
  if (!isTime(ctx.now)) throw new SigilError('invalid_time', '`now` must be epoch milliseconds');
  const { attestation, measurement, evidence } = readAttestation(raw);
  const { platform, timestamp } = attestation;

  if (!policy.acceptedPlatforms.includes(platform)) {
    throw new SigilError(
      'tee_platform_not_accepted',
      `platform ${platform} is not accepted by the policy`,
    );
  }
  if (platform === 'simulated' && policy.environment !== 'testing') {
    throw new SigilError(
      'tee_simulated_in_production',
      'simulated attestations are accepted only in testing',
    );
  }
  if (timestamp > ctx.now) {
    throw new SigilError('tee_timestamp_in_future', 'attestation timestamp is in the future');
  }
  if (policy.maxAgeMs > 0 && ctx.now - timestamp > policy.maxAgeMs) {
    throw new SigilError(
      'tee_attestation_expired',
      `attestation is older than ${policy.maxAgeMs} ms`,
    );
  }
  if (!measurementAllowed(measurement, allowed)) {
    throw new SigilError(
      'tee_measurement_not_allowed',
      'measurement is not among the required measurements',
    );
  }

  if (platform === 'simulated') {
    const message = simulatedAttestationMessage(attestation.measurement, timestamp);
    if (!ctx.attestationKeys.some((key) => verifyWithRawKey(key, message, evidence))) {
      throw new SigilError(
        'tee_signature_invalid',
        'simulated attestation is not signed by a registered key',
      );
    }
  } else {
    if (typeof ctx.quoteVerifier !== 'function') {
      throw new SigilError(
        'quote_verifier_missing',
        `no quote verifier for ${platform}; hardware quotes are refused`,
      );
    }
    let genuine = false;
    try {
      genuine = ctx.quoteVerifier(attestation, evidence) === true;
    } catch {
      genuine = false;
    }
    if (!genuine) throw new SigilError('tee_quote_invalid', `${platform} quote did not verify`);
  }
  return { platform, measurement: attestation.measurement, timestamp };
}
