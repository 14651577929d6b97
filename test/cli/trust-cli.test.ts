/** `sigil trust check|status|fit` end to end: the real CLI as child processes. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTrustModel } from '../../src/policy/index.ts';
import { initDataDir, json, sigil, tempRoot } from './sigil-process.ts';

let tmp: ReturnType<typeof tempRoot>;
let dataDir: string;
let guestToken: string;

beforeAll(async () => {
  tmp = tempRoot();
  dataDir = join(tmp.root, 'data');
  await initDataDir(dataDir);
  const guest = await sigil([
    'token',
    'create',
    '--data-dir',
    dataDir,
    '--subject',
    'did:example:guest',
    '--loa',
    'guest',
    '--signer',
    'human',
    '--json',
  ]);
  guestToken = json<{ token: string }>(guest).token;
});
afterAll(() => tmp.remove());

interface DecisionJson {
  verdict: string;
  code: string | null;
  trust: { score: number; contributions: Record<string, { contribution: number }> } | null;
  steps: Array<{ step: string; verdict: string }>;
  decision_id: string;
  seq: number;
}

describe('sigil trust check', () => {
  it('prints an allowed decision with its score, contributions, steps and record id', async () => {
    const payload = tmp.file('payload.json', JSON.stringify({ text: 'hello', n: 1 }));
    const check = ['trust', 'check', '--data-dir', dataDir];
    const [allowed, human, denied, badPayload, missingAction] = await Promise.all([
      sigil([
        ...check,
        '--action',
        'canon.read',
        '--target',
        'canon/user/1',
        '--payload',
        payload,
        '--json',
      ]),
      sigil([...check, '--action', 'trust.check', '--target', 'user/7']),
      sigil([
        ...check,
        '--action',
        'trust.status',
        '--target',
        'trust/status',
        '--token',
        guestToken,
        '--json',
      ]),
      sigil([
        ...check,
        '--action',
        'canon.read',
        '--target',
        'x',
        '--payload',
        tmp.file('bad.json', '{oops'),
      ]),
      sigil([...check, '--target', 'x']),
    ]);
    expect(allowed.code, allowed.stderr).toBe(0);
    const d = json<DecisionJson>(allowed);
    expect(d.verdict).toBe('allow');
    expect(d.code).toBeNull();
    expect(d.trust!.score).toBeGreaterThanOrEqual(0.4);
    expect(Object.keys(d.trust!.contributions).sort()).toEqual([
      'action_risk',
      'input_entropy',
      'loa',
      'rate_pressure',
      'target_risk',
    ]);
    expect(d.steps.map((s) => s.step)).toContain('trust');
    expect(d.decision_id).toMatch(/^rec_/);

    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^verdict: +allow$/m);
    expect(human.stdout).toMatch(/^trust: +0\.\d{3} \(logit /m);
    expect(human.stdout).toMatch(/^ {2}loa +1\.000 /m);
    expect(human.stdout).toMatch(/^decision: rec_\S+ \(seq \d+\)$/m);

    expect(denied.code).toBe(1);
    const dd = json<DecisionJson>(denied);
    expect(dd).toMatchObject({ verdict: 'deny', code: 'loa_insufficient' });
    expect(dd.steps.find((s) => s.step === 'permission')?.verdict).toBe('fail');

    expect(badPayload.code).toBe(2);
    expect(badPayload.stderr).toMatch(/not valid JSON/);
    expect(missingAction.code).toBe(2);

    // both decisions are records in the log
    const [allowRec, denyRec] = await Promise.all([
      sigil(['canon', 'get', d.decision_id, '--data-dir', dataDir, '--json']),
      sigil(['canon', 'get', dd.decision_id, '--data-dir', dataDir, '--json']),
    ]);
    expect(json(allowRec)).toMatchObject({ kind: 'decision', seq: d.seq });
    expect(json(denyRec)).toMatchObject({ kind: 'decision', seq: dd.seq });
  });

  it('a kernel denial lists its violations: as text, in --json and in the sealed decision', async () => {
    const check = ['trust', 'check', '--data-dir', dataDir, '--action', 'memory.write'];
    const [text, asJson] = await Promise.all([
      sigil([...check, '--target', 'kernel/config']),
      sigil([...check, '--target', 'kernel/config', '--json']),
    ]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^violated: kernel-immutability: /m);
    expect(text.stdout).toMatch(/^ {2}target: kernel\/config$/m);
    const d = json<DecisionJson & { violations: Array<{ invariant: string; evidence: string[] }> }>(
      asJson,
    );
    expect(d).toMatchObject({ verdict: 'deny', code: 'invariant_violated' });
    expect(d.violations.map((v) => v.invariant)).toEqual(['kernel-immutability']);
    const record = json<{ payload: { decision: { violations: unknown } } }>(
      await sigil(['canon', 'get', d.decision_id, '--data-dir', dataDir, '--json']),
    );
    expect(record.payload.decision.violations).toEqual(d.violations);
  });

  it('trust status counts decisions', async () => {
    const status = await sigil(['trust', 'status', '--data-dir', dataDir, '--json']);
    expect(status.code, status.stderr).toBe(0);
    expect(json(status)).toMatchObject({ mode: 'active', threshold: 0.4 });
    expect(json<{ log_size: number }>(status).log_size).toBeGreaterThan(0);
  });
});

describe('sigil trust fit', () => {
  it('fits the shipped examples and writes a loadable model', async () => {
    const output = join(tmp.root, 'model.json');
    const examples = join(process.cwd(), 'examples/labelled-decisions.ndjson');
    const [fit, human, bad, none] = await Promise.all([
      sigil(['trust', 'fit', '--input', examples, '--output', output, '--json']),
      sigil(['trust', 'fit', '--file', examples]),
      sigil([
        'trust',
        'fit',
        '--input',
        tmp.file('bad.ndjson', '{"action":"x","label":"allow"}\n'),
      ]),
      sigil(['trust', 'fit']),
    ]);
    expect(fit.code, fit.stderr).toBe(0);
    const out = json<{ held_out_accuracy: number; n_held_out: number; model: unknown }>(fit);
    expect(out.n_held_out).toBeGreaterThan(0);
    expect(out.held_out_accuracy).toBeGreaterThan(0.5);
    const written = JSON.parse(readFileSync(output, 'utf8')) as unknown;
    expect(written).toEqual(out.model);
    const model = parseTrustModel(written);
    expect(model.weights.loa).toBeGreaterThanOrEqual(0);
    expect(model.weights.action_risk).toBeLessThanOrEqual(0);

    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/held out \d\.\d{3}/);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/line 1/);
    expect(none.code).toBe(2);
  });
});
