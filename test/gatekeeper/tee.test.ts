import { describe, expect, it } from 'vitest';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import { sha256Hex } from '../../src/core/hash.ts';
import {
  signSimulatedAttestation,
  verifyTeeAttestation,
  type QuoteVerifier,
  type TeeAttestation,
  type TeePolicy,
} from '../../src/gatekeeper/tee.ts';

const NOW = Date.UTC(2025, 2, 3, 12);
const MEASUREMENT = sha256Hex('enclave build 42');
const OTHER_MEASUREMENT = sha256Hex('enclave build 41');

const attestationKey = generateKeyPair();
const strangerKey = generateKeyPair();
const keys = [publicKeyToRaw(attestationKey.publicKey)];

const testing: TeePolicy = {
  acceptedPlatforms: ['simulated', 'sgx', 'sev', 'trustzone'],
  requiredMeasurements: [OTHER_MEASUREMENT, MEASUREMENT],
  maxAgeMs: 60_000,
  environment: 'testing',
};
const production: TeePolicy = { ...testing, environment: 'production' };

const simulated = (overrides: Partial<TeeAttestation> = {}): TeeAttestation => ({
  ...signSimulatedAttestation(MEASUREMENT, NOW - 1_000, attestationKey.privateKey),
  ...overrides,
});
const sgxQuote: TeeAttestation = {
  platform: 'sgx',
  measurement: MEASUREMENT,
  timestamp: NOW - 1_000,
  signature: toBase64Url(new Uint8Array([1, 2, 3, 4])),
};

/** A stand-in verifier that accepts exactly the quote bytes 1,2,3,4 for the expected measurement. */
const fakeVerifier: QuoteVerifier = (att, quote) =>
  att.measurement === MEASUREMENT && quote.length === 4 && quote[0] === 1 && quote[3] === 4;

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('TEE attestation', () => {
  it('accepts a fresh simulated attestation signed by a registered key in testing', () => {
    expect(verifyTeeAttestation(simulated(), testing, { now: NOW, attestationKeys: keys })).toEqual(
      {
        platform: 'simulated',
        measurement: MEASUREMENT,
        timestamp: NOW - 1_000,
      },
    );
  });

  it('refuses simulated attestations in production', () => {
    expect(
      code(() =>
        verifyTeeAttestation(simulated(), production, { now: NOW, attestationKeys: keys }),
      ),
    ).toBe('tee_simulated_in_production');
  });

  it('refuses platforms the policy does not accept', () => {
    const onlySev: TeePolicy = { ...testing, acceptedPlatforms: ['sev'] };
    expect(
      code(() => verifyTeeAttestation(simulated(), onlySev, { now: NOW, attestationKeys: keys })),
    ).toBe('tee_platform_not_accepted');
  });

  it('refuses future timestamps even without an age limit, and stale ones when limited', () => {
    const future = signSimulatedAttestation(MEASUREMENT, NOW + 1, attestationKey.privateKey);
    const noLimit = { ...testing, maxAgeMs: 0 };
    expect(
      code(() => verifyTeeAttestation(future, noLimit, { now: NOW, attestationKeys: keys })),
    ).toBe('tee_timestamp_in_future');
    const old = signSimulatedAttestation(MEASUREMENT, NOW - 60_001, attestationKey.privateKey);
    expect(
      code(() => verifyTeeAttestation(old, testing, { now: NOW, attestationKeys: keys })),
    ).toBe('tee_attestation_expired');
    const edge = signSimulatedAttestation(MEASUREMENT, NOW - 60_000, attestationKey.privateKey);
    expect(verifyTeeAttestation(edge, testing, { now: NOW, attestationKeys: keys }).timestamp).toBe(
      NOW - 60_000,
    );
    const ancient = signSimulatedAttestation(MEASUREMENT, 0, attestationKey.privateKey);
    expect(
      verifyTeeAttestation(ancient, noLimit, { now: NOW, attestationKeys: keys }).timestamp,
    ).toBe(0);
  });

  it('refuses measurements outside the required list (and an empty list allows none)', () => {
    const unknown = signSimulatedAttestation(sha256Hex('evil'), NOW, attestationKey.privateKey);
    expect(
      code(() => verifyTeeAttestation(unknown, testing, { now: NOW, attestationKeys: keys })),
    ).toBe('tee_measurement_not_allowed');
    const none = { ...testing, requiredMeasurements: [] };
    expect(
      code(() => verifyTeeAttestation(simulated(), none, { now: NOW, attestationKeys: keys })),
    ).toBe('tee_measurement_not_allowed');
  });

  it('refuses simulated attestations not signed by a registered key, or altered after signing', () => {
    const stranger = signSimulatedAttestation(MEASUREMENT, NOW, strangerKey.privateKey);
    expect(
      code(() => verifyTeeAttestation(stranger, testing, { now: NOW, attestationKeys: keys })),
    ).toBe('tee_signature_invalid');
    const moved = simulated({ timestamp: NOW - 2_000 });
    expect(
      code(() => verifyTeeAttestation(moved, testing, { now: NOW, attestationKeys: keys })),
    ).toBe('tee_signature_invalid');
    const swapped = simulated({ measurement: OTHER_MEASUREMENT });
    expect(
      code(() => verifyTeeAttestation(swapped, testing, { now: NOW, attestationKeys: keys })),
    ).toBe('tee_signature_invalid');
    expect(
      code(() => verifyTeeAttestation(simulated(), testing, { now: NOW, attestationKeys: [] })),
    ).toBe('tee_signature_invalid');
  });

  it('never accepts a hardware quote without a quote verifier', () => {
    for (const platform of ['sgx', 'sev', 'trustzone'] as const) {
      const att = { ...sgxQuote, platform };
      expect(
        code(() => verifyTeeAttestation(att, production, { now: NOW, attestationKeys: keys })),
      ).toBe('quote_verifier_missing');
    }
  });

  it('accepts a hardware quote only when the plugged-in verifier does', () => {
    const ctx = { now: NOW, attestationKeys: keys, quoteVerifier: fakeVerifier };
    expect(verifyTeeAttestation(sgxQuote, production, ctx).platform).toBe('sgx');
    const bad = { ...sgxQuote, signature: toBase64Url(new Uint8Array([9])) };
    expect(code(() => verifyTeeAttestation(bad, production, ctx))).toBe('tee_quote_invalid');
    const throwing: QuoteVerifier = () => {
      throw new Error('collateral unavailable');
    };
    expect(
      code(() => verifyTeeAttestation(sgxQuote, production, { ...ctx, quoteVerifier: throwing })),
    ).toBe('tee_quote_invalid');
    const truthy = (() => 1) as unknown as QuoteVerifier;
    expect(
      code(() => verifyTeeAttestation(sgxQuote, production, { ...ctx, quoteVerifier: truthy })),
    ).toBe('tee_quote_invalid');
  });

  it('rejects malformed attestations and policies with their own codes', () => {
    const ctx = { now: NOW, attestationKeys: keys };
    for (const bad of [
      null,
      { ...simulated(), platform: 'tdx' },
      { ...simulated(), measurement: MEASUREMENT.toUpperCase() },
      { ...simulated(), measurement: 'abcd' },
      { ...simulated(), timestamp: -1 },
      { ...simulated(), timestamp: '2025-01-01' },
      { ...simulated(), signature: 'not base64url!' },
    ]) {
      expect(code(() => verifyTeeAttestation(bad, testing, ctx))).toBe('tee_attestation_malformed');
    }
    for (const bad of [
      { ...testing, environment: 'staging' },
      { ...testing, maxAgeMs: -5 },
      { ...testing, acceptedPlatforms: ['tdx'] },
      { ...testing, requiredMeasurements: ['XYZ'] },
    ]) {
      expect(code(() => verifyTeeAttestation(simulated(), bad as TeePolicy, ctx))).toBe(
        'tee_policy_invalid',
      );
    }
  });
});
