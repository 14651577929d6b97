/**
 * Canon log benchmark. One run prints, each beside the limit measured in the same run:
 * - durable appends/s on SQLite with 64 concurrent appenders (1 KiB payloads) and the p99 of
 *   their acknowledgements, vs the CPU bound of the same records without storage on one core
 *   (canonicalJson + Ed25519 sign + AES-256-GCM);
 * - the same appends as records that each carry a view row (memory_block: projected, MACed and
 *   upserted in the same transaction) vs the plain records measured back to back;
 * - p50/p99 latency of a single sequential append (each waits for its own fsync);
 * - validate records/s (best of two runs) vs raw Ed25519 verify/s on one thread, the highest of
 *   samples taken before, between and after them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { encryptBody } from '../src/canon/envelope.ts';
import { CanonLog } from '../src/canon/log.ts';
import { recordSigningMessage } from '../src/canon/record-json.ts';
import type { RecordDraft } from '../src/canon/record.ts';
import { canonicalJson } from '../src/core/canonical.ts';
import { generateKeyPair, sign, verify } from '../src/core/ed25519.ts';
import { utf8Encode } from '../src/core/encoding.ts';
import { sha256Hex } from '../src/core/hash.ts';
import { randomBytes } from '../src/core/random.ts';
import { figure, quantile, say } from './report.ts';

const APPENDERS = 64;
const APPENDS = 8000;
/** Appends before the measured ones: JIT, and the sealing and writer threads started. */
const WARM_APPENDS = 2000;
const LATENCY_SAMPLES = 300;
const VALIDATE_RECORDS = 20_000;
/** Validations, each followed by a sample of one-thread verify (one more sample before them). */
const VALIDATE_RUNS = 2;
const BOUND_RECORDS = 4000;
const ENV = { SIGIL_MASTER_KEY: Buffer.alloc(32, 0x17).toString('base64') };

/** A draft with a 1 KiB canonical payload: 16 fields of short text. */
function draft(i: number): RecordDraft {
  const payload: Record<string, string | number> = { i };
  for (let f = 0; f < 16; f++) payload[`field_${f}`] = `${'v'.repeat(48)}-${i}-${f}`;
  return { kind: 'user_data', tenant: 'bench', space: 'user', payload };
}

/** The same record as a memory block: it projects to one view row (a new key each). */
function viewDraft(i: number): RecordDraft {
  const d = draft(i);
  return {
    ...d,
    kind: 'memory_block',
    payload: { owner: 'did:sigil:bench', key: `k${i}`, value: d.payload },
  };
}

const rate = (n: number, ms: number): number => (n * 1000) / ms;

/** The CPU bound of an append: canonical JSON, hash + sign, AES-GCM — no storage, one thread. */
function measureBound(): { rate: number; cpuUs: number } {
  const signer = generateKeyPair();
  const dataKey = randomBytes(32);
  const drafts = Array.from({ length: BOUND_RECORDS }, (_, i) => draft(i));
  const started = performance.now();
  const cpu = process.cpuUsage();
  drafts.forEach((d, seq) => {
    const text = canonicalJson({ ...d, id: `rec_${seq}`, ts: new Date().toISOString() });
    sign(signer.privateKey, recordSigningMessage(sha256Hex(text)));
    encryptBody(dataKey, seq, `rec_${seq}`, utf8Encode(text));
  });
  return {
    rate: rate(BOUND_RECORDS, performance.now() - started),
    cpuUs: cpuSince(cpu) / BOUND_RECORDS,
  };
}

/** CPU time of this process (every thread) since `from`, in µs. */
function cpuSince(from: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(from);
  return used.user + used.system;
}

/** Raw Ed25519 verifications per second on one thread, over record-shaped messages. */
function measureVerify(): { rate: number; cpuUs: number } {
  const signer = generateKeyPair();
  const items = Array.from({ length: BOUND_RECORDS }, (_, i) => {
    const message = recordSigningMessage(sha256Hex(`record ${i}`));
    return { message, sig: sign(signer.privateKey, message) };
  });
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (const { message, sig } of items) verify(signer.publicKey, message, sig);
  return {
    rate: rate(items.length, performance.now() - started),
    cpuUs: cpuSince(cpu) / items.length,
  };
}

/**
 * Appends/s with APPENDERS concurrent appenders, the p99 time to each acknowledgement, and the
 * CPU time (every thread) per append.
 */
async function measureAppends(
  log: CanonLog,
  make = draft,
  count = APPENDS,
): Promise<{ rate: number; ackP99: number; cpuUs: number }> {
  let next = 0;
  const acks: number[] = [];
  const appender = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      const t = performance.now();
      await log.append(make(next));
      acks.push(performance.now() - t);
    }
  };
  const started = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(Array.from({ length: APPENDERS }, appender));
  return {
    rate: rate(count, performance.now() - started),
    ackP99: quantile(acks, 0.99),
    cpuUs: cpuSince(cpu) / count,
  };
}

async function measureLatency(log: CanonLog): Promise<{ p50: number; p99: number }> {
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const started = performance.now();
    await log.append(draft(i));
    samples.push(performance.now() - started);
  }
  return { p50: quantile(samples, 0.5), p99: quantile(samples, 0.99) };
}

export async function run(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sigil-bench-canon-'));
  try {
    await CanonLog.init({ dataDir, env: ENV });
    const log = await CanonLog.open({ dataDir, env: ENV });
    try {
      // Both sides warm before either is measured, as the other figures are.
      measureBound();
      await measureAppends(log, draft, WARM_APPENDS);
      const bound = measureBound();
      const appends = await measureAppends(log);
      // Back to back, twice each, best of each: plain records, then records with a view row.
      let plain = 0;
      let withViews = 0;
      let plainCpu = Infinity;
      let withViewsCpu = Infinity;
      for (let r = 0; r < 2; r++) {
        const p = await measureAppends(log);
        const v = await measureAppends(log, viewDraft);
        plain = Math.max(plain, p.rate);
        withViews = Math.max(withViews, v.rate);
        plainCpu = Math.min(plainCpu, p.cpuUs);
        withViewsCpu = Math.min(withViewsCpu, v.cpuUs);
      }
      const latency = await measureLatency(log);
      const have = await log.size();
      for (let n = have; n < VALIDATE_RECORDS; n += 2000) {
        await log.appendMany(
          Array.from({ length: Math.min(2000, VALIDATE_RECORDS - n) }, (_, i) => draft(n + i)),
        );
      }
      await log.checkpoint();
      // One-thread verify swings by half from one sample to the next on a shared host, so it is
      // sampled before, between and after two validations and the highest taken: the strictest
      // ratio. Validate is the better of its two runs, as the limit is the best of its samples.
      const verified = measureVerify();
      let validateRate = 0;
      let validateCpuUs = Infinity;
      let count = 0;
      for (let r = 0; r < VALIDATE_RUNS; r++) {
        const validateCpu = process.cpuUsage();
        const result = await log.validate();
        if (!result.ok) throw new Error(`validate failed: ${result.reason}`);
        count = result.count;
        validateRate = Math.max(validateRate, rate(result.count, result.ms));
        validateCpuUs = Math.min(validateCpuUs, cpuSince(validateCpu) / result.count);
        const v = measureVerify();
        verified.rate = Math.max(verified.rate, v.rate);
        verified.cpuUs = Math.min(verified.cpuUs, v.cpuUs);
      }

      say(`canon log (sqlite, ${availableParallelism()} cores)`);
      figure({
        name: `durable appends, ${APPENDERS} appenders, 1 KiB`,
        value: appends.rate,
        unit: '/s',
        limit: { name: 'canonicalise + sign + AES-GCM on one core, no storage', value: bound.rate },
        goal: { ratioAtLeast: 1.5 },
        // As for validate: CPU per record follows the load much less than the rates do. Both
        // cores idle and busy would give 2 × bound CPU ÷ append CPU of the bound's rate.
        note: `CPU per append ${appends.cpuUs.toFixed(0)} µs (all threads) vs ${bound.cpuUs.toFixed(0)} µs per record in the bound: ${((200 * bound.cpuUs) / appends.cpuUs).toFixed(0)}% on two idle cores`,
      });
      figure({
        name: `durable append acknowledgement p99, ${APPENDERS} appenders`,
        value: appends.ackP99,
        unit: 'ms',
        goal: { atMost: 10 },
      });
      figure({
        name: 'durable appends carrying a view row (memory_block)',
        value: withViews,
        unit: '/s',
        limit: { name: 'the same appends without views, back to back', value: plain },
        goal: { ratioAtLeast: 0.9 },
        note: `CPU per append ${withViewsCpu.toFixed(0)} µs vs ${plainCpu.toFixed(0)} µs without views (least of each)`,
      });
      figure({
        name: 'single append latency p50 (sequential, fsync each)',
        value: latency.p50,
        unit: 'ms',
        note: `p99 ${latency.p99.toFixed(2)} ms`,
      });
      figure({
        name: `validate (${count} records, best of ${VALIDATE_RUNS} runs)`,
        value: validateRate,
        unit: '/s',
        limit: {
          name: `raw Ed25519 verify, one thread, best of ${VALIDATE_RUNS + 1} samples around it`,
          value: verified.rate,
        },
        goal: { ratioAtLeast: 1.5 },
        // On a shared machine the rates follow the load; CPU time per record much less so. Both
        // cores idle would give 2 × verify CPU ÷ validate CPU of the raw verify rate (the least
        // CPU of each: again the strictest for the verify side).
        note: `CPU per record ${validateCpuUs.toFixed(1)} µs (all threads) vs ${verified.cpuUs.toFixed(1)} µs per raw verify: ${((200 * verified.cpuUs) / validateCpuUs).toFixed(0)}% on two idle cores`,
      });
    } finally {
      await log.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
