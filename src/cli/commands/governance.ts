/** `sigil governance report|status|scanner`: the governance monitor's findings and breaker. */
import type { Command } from 'commander';
import { SigilError } from '../../core/errors.ts';
import { findingsReportFromWire, wireFindingsReceipt } from '../../runtime/wire.ts';
import { readText, withLogOptions } from '../context.ts';
import { printResult } from '../output.ts';
import { callerFor, withRuntime, withTokenOption, type CallerOptions } from '../runtime-context.ts';

/** A report file: {attestation, findings}, as POST /api/governance/findings takes it. */
function readReport(file: string): Parameters<typeof findingsReportFromWire>[0] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readText(file, 'report'));
  } catch (err) {
    if (err instanceof SigilError) throw err;
    throw new SigilError('bad_request', `${file} is not valid JSON`);
  }
  const report = parsed as { attestation?: { signer_type?: unknown } };
  if (
    typeof report?.attestation?.signer_type !== 'object' ||
    report.attestation.signer_type === null
  ) {
    throw new SigilError(
      'findings_attestation_malformed',
      `${file} needs {attestation: {signer_did, signer_type, findings_digest, signature}, findings}`,
    );
  }
  return parsed as Parameters<typeof findingsReportFromWire>[0];
}

export function registerGovernance(program: Command): void {
  const governance = program
    .command('governance')
    .description("scanners' signed findings and the circuit breaker that stops AI actors");

  withTokenOption(
    withLogOptions(
      governance
        .command('report')
        .description("take in a registered scanner's signed findings (each signed report once)")
        .requiredOption('--file <file>', 'the report: {attestation, findings}')
        .addHelpText('after', '\nExample:\n  sigil governance report --file scan.json --json'),
    ),
  ).action(async (opts: CallerOptions & { file: string }) => {
    const report = findingsReportFromWire(readReport(opts.file));
    const receipt = await withRuntime(opts, async (runtime) =>
      runtime.governance.reportFindings(await callerFor(runtime, opts), report),
    );
    const r = wireFindingsReceipt(receipt);
    printResult(
      opts,
      `findings of ${r.signer_did} sealed (${r.record_id}): ${r.counts.critical} critical; ` +
        `breaker ${r.breaker.tripped ? 'tripped' : 'closed'} ` +
        `(${r.breaker.critical_in_window}/${r.breaker.threshold} in window)` +
        (r.tripped_now ? '; tripped by this report' : ''),
      r,
    );
  });

  withTokenOption(
    withLogOptions(
      governance
        .command('status')
        .description("the circuit breaker's window now, and the registered scanners"),
    ),
  ).action(async (opts: CallerOptions) => {
    const s = await withRuntime(opts, async (runtime) =>
      runtime.governance.status(await callerFor(runtime, opts)),
    );
    const lines = [
      `breaker:  ${s.tripped ? 'tripped: AI actors are stopped' : 'closed'}`,
      `window:   ${s.window_start} .. ${s.window_end}: ${s.critical_in_window} critical (trips above ${s.threshold})`,
      ...s.buckets.map((b) => `  ${b.at}  ${b.critical} critical`),
      `scanners: ${s.scanners.length === 0 ? '(none)' : ''}`,
      ...s.scanners.map(
        (x) => `  ${x.did}  ${x.revoked_at === null ? 'registered' : `revoked ${x.revoked_at}`}`,
      ),
    ];
    printResult(opts, lines.join('\n'), s);
  });

  const scanner = governance
    .command('scanner')
    .description('register or revoke a scanner (a human Root)');
  withTokenOption(
    withLogOptions(
      scanner
        .command('add')
        .description("register a scanner's key: its signed findings are then taken in")
        .requiredOption('--did <did>', 'the scanner')
        .requiredOption('--public-key <key>', 'its base64url raw Ed25519 public key'),
    ),
  ).action(async (opts: CallerOptions & { did: string; publicKey: string }) => {
    const info = await withRuntime(opts, async (runtime) =>
      runtime.governance.registerScanner(await callerFor(runtime, opts), {
        did: opts.did,
        public_key: opts.publicKey,
      }),
    );
    printResult(opts, `registered scanner ${info.did}`, info);
  });
  withTokenOption(
    withLogOptions(
      scanner
        .command('revoke')
        .description('revoke a scanner: its findings are refused from now on')
        .argument('<did>', 'the scanner'),
    ),
  ).action(async (did: string, opts: CallerOptions) => {
    const info = await withRuntime(opts, async (runtime) =>
      runtime.governance.revokeScanner(await callerFor(runtime, opts), did),
    );
    printResult(opts, `revoked scanner ${info.did}`, info);
  });
}
