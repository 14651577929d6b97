/**
 * Generates examples/labelled-decisions.ndjson: realistic labelled decisions for
 * `sigil trust fit`, deterministically (seeded PRNG), so the file can be regenerated and checked.
 *
 *   npx tsx scripts/gen-labelled.ts
 *
 * Each line is a request (action, target, loa, payload?, ratePressure) or, every tenth line,
 * its precomputed feature vector, with a reviewer's label. The "reviewer" is a documented rule
 * of thumb with some disagreement (≈6 % of labels flipped): deny when the weighted risk
 * 1.8·action + 1.2·target + 2.5·rate + 1.0·entropy − 3.2·loa exceeds 1.2. Fitting the file
 * should therefore recover negative risk weights and a positive LOA weight.
 */
import { writeFileSync } from 'node:fs';
import { toBase64 } from '../src/core/encoding.ts';
import { LOAS, type Loa } from '../src/policy/loa.ts';
import { extractFeatures } from '../src/policy/trust.ts';

/** mulberry32: a tiny seeded PRNG, good enough for test data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const REQUESTS: readonly [action: string, targets: readonly string[]][] = [
  [
    'canon.read',
    ['canon/public/faq', 'canon/user/{n}', 'canon/records/{id}', 'canon/system/config'],
  ],
  ['trust.check', ['user_profile', 'user/{n}', 'module/summarise']],
  ['trust.status', ['trust/status']],
  ['diagnostics.read', ['diagnostics/queue', 'metrics']],
  ['module.run', ['module/summarise', 'module/translate', 'module/classify']],
  ['mcp.tools.call', ['mcp/files/read_file', 'mcp/shell/exec', 'mcp/search/query']],
  ['memory.write', ['memory/{n}/notes']],
  ['memory.read', ['memory/{n}/notes']],
  ['canon.user.write', ['canon/user/{n}']],
  ['system.attest', ['canon/system/proposal/{n}']],
  ['system.propose', ['canon/system', 'system/config']],
  ['system.commit', ['canon/system']],
  ['token.create', ['token']],
  ['keys.rotate', ['keys/log']],
  ['delete', ['user/{n}', 'audit/2024', 'system/cache']],
  ['admin.export', ['audit/all', 'canon']],
  ['update', ['settings/theme', 'config/limits']],
];

const SENTENCES = [
  'Summarise the quarterly report for the finance team.',
  'Translate the onboarding guide into French.',
  'What changed in the deployment checklist since last week?',
  'List the open incidents for the payments service.',
  'Draft a reply thanking the reviewer for the detailed notes.',
];

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

function payloadFor(rand: () => number): unknown {
  const kind = rand();
  if (kind < 0.3) return undefined;
  if (kind < 0.6) return { text: pick(rand, SENTENCES), lang: pick(rand, ['en', 'fr', 'de']) };
  if (kind < 0.8) return { key: `note-${Math.floor(rand() * 100)}`, text: pick(rand, SENTENCES) };
  const blob = Uint8Array.from({ length: 48 + Math.floor(rand() * 96) }, () =>
    Math.floor(rand() * 256),
  );
  return { blob: toBase64(blob) }; // opaque, encoded data: high entropy
}

/** The generated NDJSON text (`count` lines, each ending in a newline). */
export function generateLabelledDecisions(count = 200, seed = 0x51613): string {
  const rand = prng(seed);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const [action, targets] = pick(rand, REQUESTS);
    const target = pick(rand, targets)
      .replace('{n}', String(1 + Math.floor(rand() * 500)))
      .replace('{id}', Math.floor(rand() * 2 ** 32).toString(16));
    const loa: Loa = pick(rand, LOAS);
    const payload = payloadFor(rand);
    const ratePressure = Math.round(rand() ** 3 * 100) / 100;
    const { values } = extractFeatures({ action, target, loa, payload, ratePressure });
    const risk =
      1.8 * values.action_risk +
      1.2 * values.target_risk +
      2.5 * values.rate_pressure +
      1.0 * values.input_entropy -
      3.2 * values.loa;
    const reviewerDisagrees = rand() < 0.06;
    const label = risk > 1.2 !== reviewerDisagrees ? 'deny' : 'allow';
    const spelledLoa = rand() < 0.5 ? loa : loa[0]!.toUpperCase() + loa.slice(1);
    const line =
      i % 10 === 9
        ? { features: values, label }
        : {
            action,
            target,
            loa: spelledLoa,
            ...(payload === undefined ? {} : { payload }),
            ratePressure,
            label,
          };
    lines.push(JSON.stringify(line));
  }
  return lines.map((l) => `${l}\n`).join('');
}

export const LABELLED_DECISIONS_PATH = new URL(
  '../examples/labelled-decisions.ndjson',
  import.meta.url,
);

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(LABELLED_DECISIONS_PATH, generateLabelledDecisions());
  console.log(`wrote ${LABELLED_DECISIONS_PATH.pathname}`);
}
