/**
 * Core primitives against their physical limits, measured in the same run:
 *   canonicalJson vs JSON.stringify on ~1 KiB records (goal ≥ 25%),
 *   our Ed25519 sign/verify vs raw crypto.sign/crypto.verify on the same keys (goal ≥ 90%),
 *   encodeCbor vs cborg's plain encode (no validation, default options).
 * Each pair is measured interleaved (alternating slices, ~1 s per side) after a warm-up,
 * so load from other processes hits both sides alike.
 */
import { sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { encode as cborgEncode } from 'cborg';
import {
  canonicalBytes,
  canonicalJson,
  encodeCbor,
  generateKeyPair,
  sign,
  verify,
} from '../src/core/index.ts';
import { figure } from './report.ts';

const SLICES = 8;
const SLICE_MS = 125;

/** A decision record shaped like the ones the log stores, ~1 KiB as JSON. */
function makeRecord(i: number): Record<string, unknown> {
  return {
    kind: 'decision',
    schema_version: 1,
    id: `rec_01HZX3K9Q7M2N8P4R6T0V5W${String(i).padStart(3, '0')}`,
    tenant: 'acme-prod',
    ts: '2025-11-23T09:43:12.345Z',
    space: 'system',
    payload: {
      actor: {
        did: 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK',
        loa: 3,
        signer_type: 'ai',
        delegation_id: '9f2c4e1a7b3d5f6e8a0c2b4d6f8e1a3c5b7d9f0e2a4c6b8d0f1e3a5c7b9d2f4e',
      },
      action: 'mcp.tool.call',
      target: { server: 'github', tool: 'create_issue' },
      verdict: 'allow',
      trust_score: 0.8734,
      reasons: ['authenticated', 'loa_ok', 'rate_ok', 'mcp_rules_ok', 'invariants_ok'],
      args: {
        repo: 'acme/widgets',
        title: 'Fix the flaky integration test in CI',
        labels: ['bug', 'ci', 'p2'],
        body: 'Seen 3 times this week on main; fails in the sqlite backend suite.',
      },
      latency_ms: 12.5,
    },
    links: [
      { rel: 'caused_by', id: 'rec_01HZX3K9Q7M2N8P4R6T0V5W1Y2' },
      { rel: 'policy', id: 'pol_0007' },
    ],
    prev: 'a3f1c2d4e5b6a7980112233445566778899aabbccddeeff00112233445566778',
    pub_key: 'fU0Of2FTpptiQrUiq77mhf2kQg-INLEIw72uNp71Sfo',
    witnesses: [],
  };
}

interface Pair {
  ours: number;
  limit: number;
}

/** Runs `ours` and `limit` in alternating slices; returns operations per second of each. */
function measurePair(ours: () => void, limit: () => void): Pair {
  const warm = performance.now();
  while (performance.now() - warm < 200) {
    ours();
    limit();
  }
  const counts = [0, 0];
  const times = [0, 0];
  const fns = [ours, limit];
  for (let s = 0; s < SLICES * 2; s++) {
    const side = s % 2;
    const fn = fns[side]!;
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < SLICE_MS) {
      for (let i = 0; i < 16; i++) fn();
      n += 16;
      t = performance.now();
    }
    counts[side]! += n;
    times[side]! += t - t0;
  }
  return { ours: (counts[0]! / times[0]!) * 1000, limit: (counts[1]! / times[1]!) * 1000 };
}

export async function run(): Promise<void> {
  const records = Array.from({ length: 64 }, (_, i) => makeRecord(i));
  const recordSize = JSON.stringify(records[0]).length;
  let r = 0;
  const next = () => records[r++ & 63]!;
  let sink = 0;

  const canon = measurePair(
    () => (sink += canonicalJson(next()).length),
    () => (sink += JSON.stringify(next()).length),
  );

  const { publicKey, privateKey } = generateKeyPair();
  const message = canonicalBytes(records[0]);
  const signature = sign(privateKey, message);
  const signs = measurePair(
    () => (sink += sign(privateKey, message).length),
    () => (sink += cryptoSign(null, message, privateKey).length),
  );
  const verifies = measurePair(
    () => (sink += verify(publicKey, message, signature) ? 1 : 0),
    () => (sink += cryptoVerify(null, message, publicKey, signature) ? 1 : 0),
  );
  const cbor = measurePair(
    () => (sink += encodeCbor(next()).length),
    () => (sink += cborgEncode(next()).length),
  );

  const rows: [string, number, string, number][] = [
    ['canonicalJson (1 KiB record)', canon.ours, 'JSON.stringify', canon.limit],
    ['sign (1 KiB message)', signs.ours, 'crypto.sign', signs.limit],
    ['verify (1 KiB message)', verifies.ours, 'crypto.verify', verifies.limit],
    ['encodeCbor (1 KiB record)', cbor.ours, 'cborg.encode, no checks', cbor.limit],
  ];
  const goals: Record<string, number> = { canonicalJson: 0.25, sign: 0.9, verify: 0.9 };
  for (const [name, ours, limitName, limit] of rows) {
    const goal = goals[name.split(' ')[0]!];
    figure({
      name,
      value: ours,
      unit: '/s',
      limit: { name: limitName, value: limit },
      goal: goal === undefined ? undefined : { ratioAtLeast: goal },
      note: `record ${recordSize} bytes as JSON`,
    });
  }
  if (sink === -1) console.log(sink);
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
