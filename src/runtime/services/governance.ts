/**
 * The governance monitor: scanners' signed findings feed a circuit breaker that, once tripped,
 * stops AI actors until the critical findings age out of its window.
 */
import { fromBase64Url } from '../../core/encoding.ts';
import { SigilError } from '../../core/errors.ts';
import {
  checkCircuitBreaker,
  createCircuitBreaker,
  ingestScan,
  parseCircuitBreaker,
  type BreakerStatus,
  type CircuitBreaker,
  type FindingsAttestation,
  type ScanIntake,
} from '../../gatekeeper/index.ts';
import { asJson, type RuntimeCore } from '../core.ts';
import { VIEWS } from '../view-ns.ts';
import type { Caller } from '../decide.ts';
import { activeWitnesses } from '../../quorum/index.ts';
import { witnessRegistry } from './witnesses.ts';

async function loadBreaker(core: RuntimeCore): Promise<CircuitBreaker> {
  const stored = await VIEWS.governance.get(core.log.views, 'breaker');
  return stored === undefined ? createCircuitBreaker() : parseCircuitBreaker(stored);
}

/** The breaker at `now`. */
export async function breakerStatus(core: RuntimeCore, now: number): Promise<BreakerStatus> {
  return checkCircuitBreaker(await loadBreaker(core), now);
}

/**
 * Takes in a scanner's signed findings. The signer must be a witness in force (its key
 * comes from the registry, never the request); the digest and signature are checked before
 * anything is counted.
 */
export async function reportFindings(
  core: RuntimeCore,
  caller: Caller,
  input: { attestation: FindingsAttestation; findings: unknown },
): Promise<ScanIntake> {
  await core.require(caller, { action: 'governance.report', target: 'governance/findings' });
  const signer = activeWitnesses(await witnessRegistry(core)).find(
    (w) => w.did === input.attestation?.signer_did,
  );
  if (!signer) {
    throw new SigilError('witness_unknown', 'the findings signer is not a registered witness');
  }
  const intake = ingestScan(
    await loadBreaker(core),
    input.attestation,
    input.findings,
    fromBase64Url(signer.public_key),
    core.now(),
  );
  await core.append(
    'governance_event',
    {
      event: 'findings',
      signer_did: intake.verified.signer_did,
      counts: asJson(intake.verified.counts),
      findings: asJson(intake.verified.findings),
      breaker: asJson(intake.status),
      approval_required: intake.approval_required,
      breaker_state: asJson(intake.breaker),
    },
    { space: 'system' },
  );
  return intake;
}

/** The governance room (`runtime.governance`): scanner findings and the breaker they feed. */
export function governanceService(core: RuntimeCore) {
  return {
    /** Signed scanner findings; critical ones feed the breaker that stops AI actors. */
    reportFindings: (
      caller: Caller,
      input: { attestation: FindingsAttestation; findings: unknown },
    ): Promise<ScanIntake> => reportFindings(core, caller, input),
  };
}
export type GovernanceService = ReturnType<typeof governanceService>;
