/**
 * The `[tee]` platform policy, one schema for both files that may carry it: mmf.toml (modules
 * with `attestation = "required"`) and gateway.toml (upstreams with it).
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { TEE_PLATFORMS, type TeePolicy } from '../gatekeeper/tee.ts';

export const teeSchema = z
  .object({
    /** "testing" is the only environment where the `simulated` platform is accepted. */
    environment: z.enum(['production', 'testing']).default('production'),
    accepted_platforms: z.array(z.enum(TEE_PLATFORMS)).min(1),
    required_measurements: z
      .array(z.string().regex(/^(?:[0-9a-f]{2}){16,64}$/, '16-64 bytes of lowercase hex'))
      .min(1),
    /** Oldest attestation accepted, in ms; 0: no limit (a future timestamp is always refused). */
    max_age_ms: z.number().int().min(0).default(86_400_000),
    /** Base64url raw Ed25519 keys that sign `simulated` attestations. */
    attestation_keys: z.array(z.string().regex(/^[A-Za-z0-9_-]{43}$/)).default([]),
    /** A module whose default export verifies hardware quotes; without it they are refused. */
    quote_verifier: z.string().min(1).optional(),
  })
  .strict();

/** `attestation = "required"` and the attestation file the operator supplies, as a table's keys. */
export const attestationKeys = {
  /** "required": every run or call waits for a TEE attestation that passes [tee] (read each time). */
  attestation: z.enum(['required', 'none']).default('none'),
  /** The attestation the operator supplies: JSON {platform, measurement, timestamp, signature}. */
  attestation_file: z.string().min(1).optional(),
};

/** The platform policy attestations are judged by ([tee]). */
export interface TeeConfig {
  policy: TeePolicy;
  /** Base64url raw Ed25519 keys that sign `simulated` attestations. */
  attestationKeys: string[];
  /** Absolute path of the quote-verifier plug-in module. */
  quoteVerifier?: string;
}

/** The parsed `[tee]` table, paths resolved against `base` (the file's directory). */
export function teeConfig(t: z.infer<typeof teeSchema>, base: string): TeeConfig {
  return {
    policy: {
      acceptedPlatforms: t.accepted_platforms,
      requiredMeasurements: t.required_measurements,
      maxAgeMs: t.max_age_ms,
      environment: t.environment,
    },
    attestationKeys: t.attestation_keys,
    ...(t.quote_verifier === undefined ? {} : { quoteVerifier: resolve(base, t.quote_verifier) }),
  };
}
