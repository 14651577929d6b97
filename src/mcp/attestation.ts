/**
 * TEE attestation for upstreams that declare `attestation = "required"`: before every call
 * the operator-supplied attestation file is read again and judged by the [tee] platform policy
 * (gatekeeper/tee.ts). A refusal becomes the call's sealed denial with the check's own code;
 * nothing reaches the upstream. Re-reading per call lets the operator's attester refresh the
 * file, and makes an attestation that ages past `max_age_ms` stop calls when it does.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { fromBase64Url } from '../core/encoding.ts';
import { isSigilError, SigilError } from '../core/errors.ts';
import { verifyTeeAttestation, type QuoteVerifier } from '../gatekeeper/tee.ts';
import type { TeeConfig, UpstreamConfig } from './config.ts';

/** Loads the quote-verifier plug-in: a module whose default export is a QuoteVerifier. */
export async function loadQuoteVerifier(path: string): Promise<QuoteVerifier> {
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (err) {
    throw new SigilError('config_invalid', `tee.quote_verifier ${path} cannot be loaded`, {
      key: 'tee.quote_verifier',
      cause: err instanceof Error ? err.message : String(err),
    });
  }
  if (typeof mod.default !== 'function') {
    throw new SigilError(
      'config_invalid',
      `tee.quote_verifier ${path} must export a function by default`,
      { key: 'tee.quote_verifier' },
    );
  }
  return mod.default as QuoteVerifier;
}

/** Why an upstream may not be called now (its attestation fails the policy), or null. */
export function attestationRefusal(
  upstream: UpstreamConfig,
  tee: TeeConfig | undefined,
  quoteVerifier: QuoteVerifier | undefined,
  now: number,
): { code: string; reason: string } | null {
  if (upstream.attestationFile === undefined) return null;
  const refused = (code: string, why: string) => ({
    code,
    reason: `upstream ${upstream.name}: attestation refused: ${why}`,
  });
  // The config parser requires [tee] with a required attestation; refuse if it is ever absent.
  if (tee === undefined) return refused('tee_policy_invalid', 'no [tee] policy');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(upstream.attestationFile, 'utf8'));
  } catch {
    return refused('tee_attestation_malformed', 'the attestation file is missing or not JSON');
  }
  try {
    verifyTeeAttestation(raw, tee.policy, {
      now,
      attestationKeys: tee.attestationKeys.map((k) => fromBase64Url(k)),
      ...(quoteVerifier ? { quoteVerifier } : {}),
    });
    return null;
  } catch (err) {
    return isSigilError(err)
      ? refused(err.code, err.message)
      : refused('tee_attestation_malformed', 'the attestation could not be checked');
  }
}
