/**
 * TEE attestation for what declares `attestation = "required"` (a module in mmf.toml, an
 * upstream MCP server in gateway.toml): before every run or call the operator-supplied
 * attestation file is read again and judged by the [tee] platform policy (gatekeeper/tee.ts).
 * A refusal becomes the sealed denial with the check's own code; nothing runs. Re-reading each
 * time lets the operator's attester refresh the file, and makes an attestation that ages past
 * `max_age_ms` stop runs when it does.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { fromBase64Url } from '../core/encoding.ts';
import { isSigilError, SigilError } from '../core/errors.ts';
import { verifyTeeAttestation, type QuoteVerifier } from '../gatekeeper/tee.ts';
import type { TeeConfig } from '../config/tee.ts';

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

/**
 * Why `what` (e.g. `upstream notes`, `module echo`) may not run now: its attestation file fails
 * the policy; null when it passes or when `attestationFile` is undefined (none required).
 */
export function attestationRefusal(
  what: string,
  attestationFile: string | undefined,
  tee: TeeConfig | undefined,
  quoteVerifier: QuoteVerifier | undefined,
  now: number,
): { code: string; reason: string } | null {
  if (attestationFile === undefined) return null;
  const refused = (code: string, why: string) => ({
    code,
    reason: `${what}: attestation refused: ${why}`,
  });
  // The config parser requires [tee] with a required attestation; refuse if it is ever absent.
  if (tee === undefined) return refused('tee_policy_invalid', 'no [tee] policy');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(attestationFile, 'utf8'));
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
