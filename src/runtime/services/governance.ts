/**
 * The governance monitor: registered scanners' signed findings feed a circuit breaker that,
 * once tripped, stops AI actors until the critical findings age out of its window.
 *
 * - Scanners are registered and revoked by a human Root, each a sealed `governance_event`
 *   (`scanner_registered`, `scanner_revoked`). Root alone suffices because a scanner can only
 *   stop AI actors, never widen anyone's standing; a quorum would slow the brake, not guard it.
 * - A report is verified (digest, then signature under the scanner's registered key, never a key
 *   from the request) before anything is counted; the same signed report is taken in once.
 * - The breaker Sigil acts on is the `governance/breaker` view, projected from these records in
 *   the same transaction and MAC-checked on every read. A trip is sealed (`breaker_tripped`) with
 *   the findings that caused it; a reset (`breaker_reset`) is sealed at the first read after the
 *   window no longer holds more than the threshold.
 */
import type { JsonValue } from '../../core/canonical.ts';
import { isDid } from '../../core/did.ts';
import { publicKeyFromRaw } from '../../core/ed25519.ts';
import { fromBase64Url } from '../../core/encoding.ts';
import { isSigilError, SigilError } from '../../core/errors.ts';
import type { AppendOptions } from '../../canon/log.ts';
import {
  checkCircuitBreaker,
  createCircuitBreaker,
  evictExpired,
  ingestScan,
  parseCircuitBreaker,
  type BreakerStatus,
  type CircuitBreaker,
  type FindingsAttestation,
  type ScanIntake,
} from '../../gatekeeper/index.ts';
import { asJson, iso, refuseRow, refusedRows, type RuntimeCore } from '../core.ts';
import { VIEWS } from '../view-ns.ts';
import type { Caller } from '../decide.ts';

/** A registered scanner, as its records left it. */
export interface ScannerInfo {
  did: string;
  /** Base64url raw Ed25519 public key its findings are verified under. */
  public_key: string;
  registered_at: string;
  registered_by: string;
  revoked_at: string | null;
}

/** The breaker as sealed: its counts and whether the last sealed transition tripped it. */
type SealedBreaker = CircuitBreaker & { tripped: boolean };

/** The breaker as sealed, and the seq of the record that wrote its row (-1: none yet). */
async function loadBreaker(core: RuntimeCore): Promise<{ breaker: SealedBreaker; seq: number }> {
  const stored = await VIEWS.governance.entry(core.log.views, 'breaker');
  // Deleted, or rolled back to closed past the record that tripped it: refused, never read as
  // the breaker before that record (refusedRows reads the row again, so a record another
  // instance sealed between the two reads is no refusal).
  const refused = await refusedRows(
    core,
    'governance_event',
    VIEWS.governance.name,
    new Map(stored === undefined ? [] : [['breaker', stored]]),
    { only: 'breaker' },
  );
  for (const { error } of refused.values()) throw error;
  if (stored === undefined) {
    return { breaker: { ...createCircuitBreaker(), tripped: false }, seq: -1 };
  }
  return {
    breaker: { ...parseCircuitBreaker(stored.value), tripped: stored.value.tripped === true },
    seq: stored.seq,
  };
}

/** How many times an update of the breaker is tried on a row that keeps moving under it. */
const BREAKER_ATTEMPTS = 32;

/**
 * Runs `update` on the breaker as sealed; what it appends with `expect` commits only while the
 * breaker row is still the one it read (the store's compare-and-set, on one instance or many over
 * one database). A report or reset that moved the row meanwhile sends it round again on the new
 * row, so two reports at the same moment both count. After BREAKER_ATTEMPTS, 'conflict'.
 */
async function withBreaker<T>(
  core: RuntimeCore,
  update: (breaker: SealedBreaker, expect: AppendOptions) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const { breaker, seq } = await loadBreaker(core);
    try {
      return await update(breaker, {
        expect: [{ ns: VIEWS.governance.name, key: 'breaker', seq }],
      });
    } catch (err) {
      if (!isSigilError(err) || err.code !== 'conflict' || attempt >= BREAKER_ATTEMPTS) throw err;
    }
  }
}

const breakerJson = (b: CircuitBreaker, tripped: boolean): JsonValue =>
  asJson({ threshold: b.threshold, window_ms: b.window_ms, buckets: b.buckets, tripped });

/**
 * The breaker at `now`, from the sealed view. A breaker sealed as tripped whose window no longer
 * holds more than the threshold is reset here, and the reset is sealed before it is acted on.
 */
export async function breakerStatus(core: RuntimeCore, now: number): Promise<BreakerStatus> {
  return withBreaker(core, async (breaker, expect) => {
    const status = checkCircuitBreaker(breaker, now);
    if (breaker.tripped && !status.tripped) {
      const next = evictExpired(breaker, now);
      await core.append(
        'governance_event',
        {
          event: 'breaker_reset',
          critical_in_window: status.critical_in_window,
          threshold: status.threshold,
          breaker_state: breakerJson(next, false),
        },
        { space: 'system' },
        expect,
      );
    }
    return status;
  });
}

/**
 * Whether the breaker stops AI actors now, as a decision reads it: from memory the log keeps
 * current (view-mirror.ts; a row known absent there means no record made one), within its
 * staleness bound across instances. A reset to seal, or memory that cannot say, takes
 * `breakerStatus`'s path through the store.
 */
export async function breakerOpen(core: RuntimeCore, now: number): Promise<boolean> {
  const row = await VIEWS.governance.get(core.views, 'breaker');
  if (row !== undefined || core.views.knownAbsent(VIEWS.governance.name, 'breaker')) {
    const seen = checkCircuitBreaker(
      row === undefined ? createCircuitBreaker() : parseCircuitBreaker(row),
      now,
    );
    if (!(row?.tripped === true && !seen.tripped)) return seen.tripped;
  }
  return (await breakerStatus(core, now)).tripped;
}

async function scanner(core: RuntimeCore, did: string): Promise<ScannerInfo | undefined> {
  const read = await VIEWS.scanners.read(core.log.views, did);
  // Rolled back past its revocation (its old MAC still good): refused, its findings not taken.
  await refuseRow(core, 'governance_event', VIEWS.scanners.name, did, read);
  return read?.value;
}

/** Registers a scanner's key (Root, a human): its signed findings are then taken in. */
export async function registerScanner(
  core: RuntimeCore,
  caller: Caller,
  input: { did: string; public_key: string },
): Promise<ScannerInfo> {
  await core.require(caller, {
    action: 'governance.scanner.register',
    target: `governance/scanners/${input.did}`,
    payload: { did: input.did, public_key: input.public_key },
  });
  if (!isDid(input.did)) throw new SigilError('invalid_did', 'did must be a DID');
  try {
    publicKeyFromRaw(fromBase64Url(input.public_key));
  } catch {
    throw new SigilError('invalid_key', 'public_key must be a base64url raw Ed25519 public key');
  }
  const existing = await scanner(core, input.did);
  if (existing !== undefined && existing.revoked_at === null) {
    throw new SigilError('scanner_exists', `${input.did} is a registered scanner already`);
  }
  const info: ScannerInfo = {
    did: input.did,
    public_key: input.public_key,
    registered_at: iso(core.now()),
    registered_by: caller.subject,
    revoked_at: null,
  };
  await core.append(
    'governance_event',
    { event: 'scanner_registered', scanner: asJson(info) },
    { space: 'system' },
  );
  return info;
}

/** Revokes a scanner (Root): its findings are refused from now on ('scanner_not_found'). */
export async function revokeScanner(
  core: RuntimeCore,
  caller: Caller,
  did: string,
): Promise<ScannerInfo> {
  await core.require(caller, {
    action: 'governance.scanner.revoke',
    target: `governance/scanners/${did}`,
  });
  const existing = await scanner(core, did);
  if (existing === undefined || existing.revoked_at !== null) {
    throw new SigilError('scanner_not_found', `${did} is not a registered scanner`);
  }
  const revoked: ScannerInfo = { ...existing, revoked_at: iso(core.now()) };
  await core.append(
    'governance_event',
    { event: 'scanner_revoked', by: caller.subject, scanner: asJson(revoked) },
    { space: 'system' },
  );
  return revoked;
}

/** The outcome of one report, as the surfaces show it. */
export interface FindingsReceipt {
  intake: ScanIntake;
  record_id: string;
  tripped_now: boolean;
}

/**
 * Takes in a registered scanner's signed findings: the digest and signature are checked under
 * its registered key before anything is counted; a report already taken in is refused
 * ('findings_replayed'). The findings, and a trip they cause, seal in one transaction.
 */
export async function reportFindings(
  core: RuntimeCore,
  caller: Caller,
  input: { attestation: FindingsAttestation; findings: unknown },
): Promise<FindingsReceipt> {
  await core.require(caller, { action: 'governance.report', target: 'governance/findings' });
  const signerDid = (input.attestation as { signer_did?: unknown } | undefined)?.signer_did;
  const signer = typeof signerDid === 'string' ? await scanner(core, signerDid) : undefined;
  if (signer === undefined || signer.revoked_at !== null) {
    throw new SigilError('scanner_unknown', 'the findings signer is not a registered scanner');
  }
  const now = core.now();
  await breakerStatus(core, now);
  // Read, count and seal under the compare-and-set: a concurrent report (or a replay of this
  // one) that moved the breaker first is seen on the next round, never overwritten.
  return withBreaker(core, async (before, expect) => {
    const intake = ingestScan(
      before,
      input.attestation,
      input.findings,
      fromBase64Url(signer.public_key),
      now,
    );
    const seenKey = `${intake.verified.signer_did} ${input.attestation.findings_digest}`;
    if ((await VIEWS.findingsSeen.get(core.log.views, seenKey)) !== undefined) {
      throw new SigilError('findings_replayed', 'these signed findings were taken in already');
    }
    const trippedNow = intake.status.tripped && !before.tripped;
    const tripped = before.tripped || intake.status.tripped;
    const [findingsRecord] = await core.appendMany(
      [
        {
          kind: 'governance_event',
          payload: {
            event: 'findings',
            signer_did: intake.verified.signer_did,
            findings_digest: input.attestation.findings_digest,
            seen_key: seenKey,
            counts: asJson(intake.verified.counts),
            findings: asJson(intake.verified.findings),
            breaker: asJson(intake.status),
            approval_required: intake.approval_required,
            breaker_state: breakerJson(intake.breaker, tripped),
          },
          extra: { space: 'system' },
        },
        ...(trippedNow
          ? [
              {
                kind: 'governance_event' as const,
                payload: {
                  event: 'breaker_tripped',
                  signer_did: intake.verified.signer_did,
                  findings_digest: input.attestation.findings_digest,
                  critical_in_window: intake.status.critical_in_window,
                  threshold: intake.status.threshold,
                },
                extra: { space: 'system' as const },
              },
            ]
          : []),
      ],
      expect,
    );
    return { intake, record_id: findingsRecord!.id, tripped_now: trippedNow };
  });
}

/** The breaker's window and the registered scanners, as `governance status` shows them. */
export interface GovernanceStatus {
  tripped: boolean;
  critical_in_window: number;
  threshold: number;
  window_ms: number;
  window_start: string;
  window_end: string;
  buckets: { at: string; critical: number }[];
  scanners: ScannerInfo[];
}

/** The breaker's window now and the scanners (Observer+, adjudicated as `governance.status`). */
export async function governanceStatus(
  core: RuntimeCore,
  caller: Caller,
): Promise<GovernanceStatus> {
  await core.require(caller, { action: 'governance.status', target: 'governance/status' });
  const now = core.now();
  const status = await breakerStatus(core, now);
  const breaker = evictExpired((await loadBreaker(core)).breaker, now);
  return {
    tripped: status.tripped,
    critical_in_window: status.critical_in_window,
    threshold: status.threshold,
    window_ms: breaker.window_ms,
    window_start: iso(now - breaker.window_ms),
    window_end: iso(now),
    buckets: breaker.buckets.map((b) => ({ at: iso(b.at_ms), critical: b.critical })),
    scanners: (await VIEWS.scanners.list(core.log.views))
      .map((e) => ({ ...e.value }))
      .sort((a, b) => a.did.localeCompare(b.did)),
  };
}

/** The governance room (`runtime.governance`): scanners, their findings and the breaker. */
export function governanceService(core: RuntimeCore) {
  return {
    /** Signed findings of a registered scanner; critical ones feed the breaker. */
    reportFindings: (
      caller: Caller,
      input: { attestation: FindingsAttestation; findings: unknown },
    ): Promise<FindingsReceipt> => reportFindings(core, caller, input),
    registerScanner: (
      caller: Caller,
      input: { did: string; public_key: string },
    ): Promise<ScannerInfo> => registerScanner(core, caller, input),
    revokeScanner: (caller: Caller, did: string): Promise<ScannerInfo> =>
      revokeScanner(core, caller, did),
    status: (caller: Caller): Promise<GovernanceStatus> => governanceStatus(core, caller),
  };
}
export type GovernanceService = ReturnType<typeof governanceService>;
