/** `sigil log checkpoint|prove|consistency|verify-proof`: the transparency-log side of the canon. */
import type { Command } from 'commander';
import type { KeyObject } from 'node:crypto';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { openCheckpoint, verifierKey } from '../../canon/checkpoint.ts';
import { parseCosignerKey, verifyWitnessed } from '../../canon/cosignature.ts';
import type { LogReader } from '../../canon/log.ts';
import {
  verifyConsistency,
  verifyInclusionProof,
  type ConsistencyProof,
  type InclusionProof,
  type ProofCheck,
} from '../../canon/verify.ts';
import { publicKeyFromRaw } from '../../core/ed25519.ts';
import { fromBase64, fromBase64Url, toHex } from '../../core/encoding.ts';
import { SigilError } from '../../core/errors.ts';
import { intOption, noteOf, readText, withLog, withLogOptions } from '../context.ts';
import { EXIT, printResult, reportError, type GlobalOptions } from '../output.ts';
import type { MonitorState, TlogCheck } from '../../canon/tlog-client.ts';

interface ProveOptions extends GlobalOptions {
  seq: string;
  size?: string;
}

interface ConsistencyOptions extends GlobalOptions {
  from: string;
  to?: string;
}

interface VerifyOptions extends GlobalOptions {
  proof: string;
  checkpoint?: string;
  oldCheckpoint?: string;
  pubKey: string;
  witness?: string[];
}

/** The size of the newest checkpoint, signing a new one when none covers `atLeast` records. */
async function checkpointSize(
  log: LogReader,
  atLeast: number,
): Promise<{ size: number; note: string }> {
  let note = await log.latestCheckpoint();
  let size = note === undefined ? -1 : openCheckpoint(note, log.keyName, log.publicKey).size;
  if (note === undefined || size < atLeast) {
    note = await log.checkpoint();
    size = openCheckpoint(note, log.keyName, log.publicKey).size;
  }
  return { size, note };
}

function registerCheckpoint(cmd: Command): void {
  withLogOptions(
    cmd.command('checkpoint').description('sign a checkpoint of the log now and print its note'),
  ).action(async (opts: GlobalOptions) => {
    const out = await withLog(opts, async (log) => {
      const note = await log.checkpoint();
      const cp = openCheckpoint(note, log.keyName, log.publicKey);
      return {
        origin: cp.origin,
        size: cp.size,
        root_hash: toHex(cp.rootHash),
        timestamp: cp.timestamp ?? null,
        note,
        verifier_key: log.verifierKey,
      };
    });
    printResult(opts, out.note.trimEnd(), out);
  });
}

function registerProve(cmd: Command): void {
  withLogOptions(
    cmd
      .command('prove')
      .description('inclusion proof of a record (default size: the latest checkpoint covering it)')
      .requiredOption('--seq <n>', 'seq of the record')
      .option('--size <m>', 'tree size to prove against'),
  ).action(async (opts: ProveOptions) => {
    const seq = intOption(opts.seq, '--seq')!;
    const size = intOption(opts.size, '--size');
    const out = await withLog(opts, async (log) => {
      const cp = size === undefined ? await checkpointSize(log, seq + 1) : undefined;
      const proof = await log.proveInclusion(seq, size ?? cp!.size);
      return { proof, checkpoint: cp?.note };
    });
    printResult(opts, JSON.stringify(out.proof, null, 2), out);
  });
}

function registerConsistency(cmd: Command): void {
  withLogOptions(
    cmd
      .command('consistency')
      .description('consistency proof between two tree sizes (default --to: the latest checkpoint)')
      .requiredOption('--from <a>', 'the older tree size')
      .option('--to <b>', 'the newer tree size'),
  ).action(async (opts: ConsistencyOptions) => {
    const from = intOption(opts.from, '--from')!;
    const to = intOption(opts.to, '--to');
    const out = await withLog(opts, async (log) => {
      const cp = to === undefined ? await checkpointSize(log, from) : undefined;
      const proof = await log.proveConsistency(from, to ?? cp!.size);
      return { proof, checkpoint: cp?.note };
    });
    printResult(opts, JSON.stringify(out.proof, null, 2), out);
  });
}

/**
 * Parses a C2SP verifier key `<name>+<hash>+<base64(0x01 || key)>`. The base64 may itself hold
 * '+', so only the first two separate fields; the whole string must then equal the verifier key
 * checkpoint.ts derives for that name and key, which checks the key hash.
 */
function parseVkey(text: string): { keyName: string; publicKey: KeyObject } {
  const first = text.indexOf('+');
  const second = text.indexOf('+', first + 1);
  const bad = new SigilError('bad_request', '--pub-key is not a valid verifier key');
  if (first <= 0 || second < 0) throw bad;
  const keyName = text.slice(0, first);
  let publicKey: KeyObject;
  try {
    const raw = fromBase64(text.slice(second + 1));
    if (raw.length !== 33 || raw[0] !== 0x01) throw bad;
    publicKey = publicKeyFromRaw(raw.subarray(1));
    if (verifierKey(keyName, publicKey) !== text) throw bad;
  } catch {
    throw bad;
  }
  return { keyName, publicKey };
}

/** A verifier key string, a file holding one, or a raw base64url public key (named by the note). */
function verifierOf(spec: string, note: string): { keyName: string; publicKey: KeyObject } {
  const text = existsSync(spec) ? readText(spec, 'public key').trim() : spec.trim();
  if (text.includes('+')) return parseVkey(text);
  let publicKey: KeyObject;
  try {
    publicKey = publicKeyFromRaw(fromBase64Url(text));
  } catch {
    throw new SigilError(
      'bad_request',
      '--pub-key is neither a verifier key nor a base64url Ed25519 key',
    );
  }
  return { keyName: note.slice(0, note.indexOf('\n')), publicKey };
}

/** The proof (and the checkpoint, when `sigil log prove --json` output is given) from a file. */
function proofOf(file: string): { proof: InclusionProof | ConsistencyProof; note?: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readText(file, 'proof'));
  } catch (err) {
    if (err instanceof SigilError) throw err;
    throw new SigilError('bad_request', `the proof file ${file} is not JSON`);
  }
  const obj = (parsed ?? {}) as Record<string, unknown>;
  if (typeof obj.proof === 'object' && obj.proof !== null) {
    const wrapped = obj as { proof: InclusionProof | ConsistencyProof; checkpoint?: unknown };
    return typeof wrapped.checkpoint === 'string'
      ? { proof: wrapped.proof, note: wrapped.checkpoint }
      : { proof: wrapped.proof };
  }
  return { proof: obj as unknown as InclusionProof | ConsistencyProof };
}

function registerVerifyProof(cmd: Command): void {
  cmd
    .command('verify-proof')
    .description(
      'verify an inclusion or consistency proof against a signed checkpoint (no log needed)',
    )
    .requiredOption('--proof <file>', 'proof JSON (from sigil log prove / consistency)')
    .option('--checkpoint <file>', 'the newer checkpoint (default: the one inside the proof file)')
    .option(
      '--old-checkpoint <file>',
      'your own older checkpoint; a consistency proof must join its root to the newer one',
    )
    .requiredOption(
      '--pub-key <key>',
      'verifier key string, a file holding it, or a base64url public key',
    )
    .option(
      '--witness <vkey...>',
      'require a valid cosignature on the checkpoint by each witness (cosigner vkey or a file)',
    )
    .option('--json', 'print the result as JSON')
    .action((opts: VerifyOptions) => {
      // Parsed first: a malformed witness key is a usage error whatever the proof.
      const witnesses = (opts.witness ?? []).map((w) =>
        parseCosignerKey(existsSync(w) ? readText(w, 'witness key') : w),
      );
      const { proof, note: bundled } = proofOf(opts.proof);
      const note = opts.checkpoint !== undefined ? noteOf(opts.checkpoint) : bundled;
      if (note === undefined) throw new SigilError('bad_request', '--checkpoint is required');
      const { keyName, publicKey } = verifierOf(opts.pubKey, note);
      const isInclusion = 'leaf_index' in proof;
      let check: ProofCheck;
      if (isInclusion) {
        if (opts.oldCheckpoint !== undefined) {
          throw new SigilError('bad_request', '--old-checkpoint is for consistency proofs only');
        }
        check = verifyInclusionProof(proof as InclusionProof, note, keyName, publicKey);
      } else {
        if (opts.oldCheckpoint === undefined) {
          throw new SigilError(
            'bad_request',
            '--old-checkpoint is required: a consistency proof is checked against your own older checkpoint',
          );
        }
        const old = noteOf(opts.oldCheckpoint);
        check = verifyConsistency(proof as ConsistencyProof, old, note, { keyName, publicKey });
      }
      if (check.ok && witnesses.length > 0) check = verifyWitnessed(note, witnesses);
      const kind = isInclusion ? 'inclusion' : 'consistency';
      const against = isInclusion ? 'the checkpoint' : 'the old and the new checkpoint';
      if (check.ok) {
        const cosigned =
          witnesses.length > 0 ? `, cosigned by ${witnesses.length} witness(es)` : '';
        printResult(opts, `ok: ${kind} proof verifies against ${against}${cosigned}`, {
          ok: true,
          kind,
          ...(witnesses.length > 0 && { witnesses: witnesses.map((w) => w.name) }),
        });
      } else {
        printResult(opts, `FAILED: ${kind} proof: ${check.code}: ${check.reason}`, {
          ...check,
          kind,
        });
        process.exitCode = EXIT.failed;
      }
    });
}

interface VerifyTilesOptions extends GlobalOptions {
  url: string;
  checkpoint: string;
  pubKey: string;
}

interface MonitorOptions extends GlobalOptions {
  url: string;
  pubKey?: string;
  state: string;
}

/** A verifier key given as the string or a file holding it. */
function verifierKeyText(spec: string): string {
  const text = existsSync(spec) ? readText(spec, 'public key').trim() : spec.trim();
  return parseVkey(text) && text;
}

function entries(n: number, adjective = ''): string {
  return `${n} ${adjective}${n === 1 ? 'entry' : 'entries'}`;
}

function reportCheck(opts: GlobalOptions, check: TlogCheck<unknown>, ok: string): void {
  if (check.ok) {
    printResult(opts, ok, check);
    return;
  }
  const at = check.seq === undefined ? '' : ` (seq ${check.seq})`;
  printResult(opts, `FAILED: ${check.code}${at}: ${check.reason}`, check);
  process.exitCode = EXIT.failed;
}

function registerVerifyTiles(cmd: Command): void {
  cmd
    .command('verify-tiles')
    .description(
      'fetch every tile and entry bundle of a tlog-tiles log and check each hash against a checkpoint',
    )
    .requiredOption('--url <prefix>', 'the log prefix, e.g. https://sigil.example/log')
    .requiredOption('--checkpoint <file>', 'the signed checkpoint to check the tiles against')
    .requiredOption('--pub-key <key>', 'verifier key string, or a file holding it')
    .option('--json', 'print the result as JSON')
    .action(async (opts: VerifyTilesOptions) => {
      const { verifyTiles } = await import('../../canon/tlog-client.ts');
      const check = await verifyTiles({
        url: opts.url,
        checkpoint: noteOf(opts.checkpoint),
        verifierKey: verifierKeyText(opts.pubKey),
      });
      reportCheck(
        opts,
        check,
        check.ok ? `ok: ${entries(check.to)} and every tile verify against the checkpoint` : '',
      );
    });
}

function registerMonitor(cmd: Command): void {
  cmd
    .command('monitor')
    .description(
      'follow a tlog-tiles log from the last checkpoint verified: consistency, every envelope signature; keeps its state',
    )
    .requiredOption('--url <prefix>', 'the log prefix, e.g. https://sigil.example/log')
    .option('--pub-key <key>', 'verifier key string or file (needed on the first run)')
    .option('--state <file>', 'where the monitor keeps what it verified', 'sigil-monitor.json')
    .option('--json', 'print the result as JSON')
    .action(async (opts: MonitorOptions) => {
      const { monitorLog } = await import('../../canon/tlog-client.ts');
      const state = existsSync(opts.state) ? readMonitorState(opts.state, opts.url) : undefined;
      const check = await monitorLog({
        url: opts.url,
        ...(state !== undefined && { state }),
        ...(opts.pubKey !== undefined && { verifierKey: verifierKeyText(opts.pubKey) }),
      });
      if (check.ok) writePrivateFile(opts.state, `${JSON.stringify(check.state, null, 2)}\n`);
      reportCheck(
        opts,
        check,
        check.ok
          ? `ok: ${check.origin} at ${check.to}: ${entries(check.entries, 'new ')} verified, consistent with ${check.from}`
          : '',
      );
    });
}

function readMonitorState(file: string, url: string): MonitorState {
  let state: MonitorState;
  try {
    state = JSON.parse(readText(file, 'monitor state')) as MonitorState;
  } catch (err) {
    if (err instanceof SigilError) throw err;
    throw new SigilError('bad_request', `the monitor state ${file} is not JSON`);
  }
  if (state === null || typeof state !== 'object' || !Array.isArray(state.edge)) {
    throw new SigilError('bad_request', `the monitor state ${file} is malformed`);
  }
  if (state.url !== url) {
    throw new SigilError(
      'bad_request',
      `the monitor state ${file} follows ${state.url}, not ${url}`,
    );
  }
  return state;
}

/** Writes a file 0600 through a temporary name, so a crash leaves the old state or the new one. */
function writePrivateFile(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}

/** What GET /api/log/witnesses serves (src/http/schemas.ts LogWitnessList), as far as read here. */
interface WitnessStatus {
  witnessed: boolean;
  quorum: number | null;
  rolled_back: string | null;
  checkpoint: { size: number; cosigned_by: string[]; quorum_met: boolean } | null;
  witnesses: Array<{
    name: string;
    url: string;
    cosigned_size: number | null;
    cosigned_at: string | null;
    last_push_at: string | null;
    last_error: string | null;
    claim: unknown;
  }>;
}

function isWitnessStatus(v: unknown): v is WitnessStatus {
  const o = v as WitnessStatus;
  return (
    o !== null &&
    typeof o === 'object' &&
    typeof o.witnessed === 'boolean' &&
    (o.rolled_back === null || typeof o.rolled_back === 'string') &&
    Array.isArray(o.witnesses) &&
    o.witnesses.every((w) => w !== null && typeof w === 'object' && typeof w.name === 'string')
  );
}

/** The status of `base`'s witnesses from its public route; upstream_* when it cannot be had. */
async function fetchWitnessStatus(base: string): Promise<WitnessStatus> {
  let res: Response;
  try {
    res = await fetch(new URL('/api/log/witnesses', base), { signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    throw new SigilError(
      'upstream_unavailable',
      `${base}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  if (res.status !== 200) throw new SigilError('upstream_error', `${base}: HTTP ${res.status}`);
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new SigilError('upstream_error', `${base}: the witness status is not JSON`);
  }
  if (!isWitnessStatus(body))
    throw new SigilError('upstream_error', `${base}: not a witness status`);
  return body;
}

function witnessStatusText(s: WitnessStatus): string {
  if (!s.witnessed) return 'no witnesses configured ([log] witnesses)';
  const cp = s.checkpoint;
  const lines = [
    s.rolled_back === null ? 'writes: served' : `WRITES STOPPED: ${s.rolled_back}`,
    `quorum: ${s.quorum ?? '-'}`,
    cp === null
      ? 'checkpoint: none cosigned yet'
      : `checkpoint: size ${cp.size}, cosigned by ${cp.cosigned_by.join(', ') || 'none'}` +
        (cp.quorum_met ? ' (quorum met)' : ' (quorum NOT met)'),
  ];
  for (const w of s.witnesses) {
    const cosigned =
      w.cosigned_size === null
        ? 'nothing cosigned'
        : `cosigned ${w.cosigned_size} at ${w.cosigned_at}`;
    const state = w.last_error === null ? 'ok' : `error: ${w.last_error}`;
    const claim = w.claim === null ? '' : `, claims ${JSON.stringify(w.claim)}`;
    lines.push(
      `${w.name} ${w.url}: ${cosigned}, last push ${w.last_push_at ?? 'never'}, ${state}${claim}`,
    );
  }
  return lines.join('\n');
}

function registerWitnesses(cmd: Command): void {
  cmd
    .command('witnesses')
    .description(
      "a running log's witnesses: each one's last cosigned size, errors, the quorum, and whether writes are stopped",
    )
    .requiredOption('--url <base>', 'the Sigil server, e.g. https://sigil.example')
    .option('--json', 'print the status as JSON')
    .action(async (opts: GlobalOptions & { url: string }) => {
      const status = await fetchWitnessStatus(opts.url);
      printResult(opts, witnessStatusText(status), status);
      // Stopped writes are what a monitor of this command looks for: a failure exit.
      if (status.rolled_back !== null) {
        const why = status.rolled_back.replace(/^log_rolled_back: /, '');
        reportError(new SigilError('log_rolled_back', why));
      }
    });
}

export function registerLog(program: Command): void {
  const log = program
    .command('log')
    .description('checkpoints, proofs and witness status of the transparency log');
  registerCheckpoint(log);
  registerProve(log);
  registerConsistency(log);
  registerVerifyProof(log);
  registerVerifyTiles(log);
  registerMonitor(log);
  registerWitnesses(log);
}
