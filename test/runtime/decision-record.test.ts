/**
 * Every reader of a sealed decision (the decision list, the per-minute stats, the counts of
 * `trust status`, replay) goes through one parser: a real decision round-trips, and a record of
 * kind `decision` whose payload is not a decision's (sealed by a bug, or by another version) is
 * refused as 'state_invalid' wherever it is read, never counted or listed with missing fields.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CanonLog, type SealedRecord } from '../../src/canon/log.ts';
import { loadConfig } from '../../src/config/index.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { SigilRuntime, anonymousCaller, type Caller } from '../../src/runtime/index.ts';
import { decisionPayloadOf, decisionPolicyOf } from '../../src/runtime/decision-record.ts';
import { tempDir } from '../canon/helpers/log.ts';

const env: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  SIGIL_MASTER_KEY: randomBytes(32).toString('base64'),
};
const dataDir = tempDir('sigil-decision-record-');
const open = () => SigilRuntime.open({ config: loadConfig({ env, dataDir }), env });

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return isSigilError(e) ? e.code : String(e);
  }
}

async function codeOfAsync(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => (isSigilError(e) ? e.code : String(e)),
  );
}

let runtime: SigilRuntime;
let root: Caller;
let rootToken: string;
let auditorToken: string;
let allowed: SealedRecord;
let denied: SealedRecord;

beforeAll(async () => {
  const boot = await SigilRuntime.bootstrap({ config: loadConfig({ env, dataDir }), env });
  runtime = boot.runtime;
  rootToken = boot.rootToken!;
  root = await runtime.tokens.authenticate(rootToken);
  // Lists every caller's decisions: the explicit audit grant (Root reads only its own).
  auditorToken = (
    await runtime.tokens.create(root, {
      subject: 'did:sigil:auditor',
      loa: 'observer',
      signer: { type: 'human' },
      scopes: ['canon.read', 'canon.audit'],
    })
  ).token;
  const guest = anonymousCaller();
  const yes = await runtime.check(guest, { action: 'canon.read', target: 'canon/records' });
  const no = await runtime.check(guest, { action: 'token.create', target: 'tokens' });
  allowed = (await runtime.log.get(yes.decision_id))!;
  denied = (await runtime.log.get(no.decision_id))!;
});

afterAll(async () => {
  await runtime?.close();
});

describe('decision records', () => {
  it('a sealed decision round-trips through the parser, allowed and denied', () => {
    for (const record of [allowed, denied]) {
      expect(decisionPayloadOf(record)).toEqual(record.payload);
    }
    expect((decisionPayloadOf(denied).decision as { verdict: string }).verdict).toBe('deny');
  });

  it('a payload of the wrong shape, or a record of another kind, is refused', () => {
    const p = allowed.payload as Record<string, Record<string, unknown>>;
    const wrong: unknown[] = [
      [],
      {},
      { ...p, caller: undefined },
      { ...p, caller: { ...p.caller, loa: 'emperor' } },
      { ...p, request: { ...p.request, action: 12 } },
      { ...p, decision: { ...p.decision, verdict: 'maybe' } },
      { ...p, decision: { ...p.decision, mode: undefined } },
      { ...p, state: null },
      { ...p, state: [] },
      { ...p, caller: { ...p.caller, subject: 7 } },
      { ...p, caller: { ...p.caller, signer: null } },
      { ...p, caller: { ...p.caller, signer: { type: 'robot' } } },
      { ...p, request: { action: 'canon.read' } },
      { ...p, request: [] },
      { ...p, decision: { ...p.decision, code: 3 } },
      { ...p, decision: { ...p.decision, reason: undefined } },
      { ...p, decision: [] },
      'decision',
      null,
    ];
    for (const payload of wrong) {
      const record = { ...allowed, payload: JSON.parse(JSON.stringify(payload)) };
      expect(
        codeOf(() => decisionPayloadOf(record)),
        JSON.stringify(payload),
      ).toBe('state_invalid');
    }
    expect(codeOf(() => decisionPayloadOf({ ...allowed, kind: 'user_data' }))).toBe(
      'state_invalid',
    );
  });

  it('the decision policy a version 2 decision names round-trips; a misshapen one is refused', async () => {
    const [policy] = (await runtime.log.list({ kind: 'decision_policy', limit: 10 })).records;
    expect(policy).toBeDefined();
    expect(decisionPolicyOf(policy!)).toEqual(policy!.payload);
    const p = policy!.payload as Record<string, unknown>;
    for (const payload of [
      {},
      { ...p, threshold: 'high' },
      { ...p, flags: {} },
      { ...p, mode: 'lax' },
    ]) {
      const record = { ...policy!, payload: JSON.parse(JSON.stringify(payload)) };
      expect(
        codeOf(() => decisionPolicyOf(record)),
        JSON.stringify(payload),
      ).toBe('state_invalid');
    }
    expect(codeOf(() => decisionPolicyOf({ ...policy!, kind: 'decision' }))).toBe('state_invalid');
  });

  it('a misshapen decision record in the log is refused by every reader', async () => {
    await runtime.close();
    const log = await CanonLog.open({ dataDir, env });
    let id: string;
    try {
      const forged = await log.append({
        kind: 'decision',
        tenant: 'default',
        space: 'user',
        payload: { caller: 'did:sigil:nobody', decision: 'allow' },
      });
      id = forged.id;
    } finally {
      await log.close();
    }
    runtime = await open();
    root = await runtime.tokens.authenticate(rootToken);
    expect(await codeOfAsync(runtime.replay(id))).toBe('state_invalid');
    const auditor = await runtime.tokens.authenticate(auditorToken);
    expect(await codeOfAsync(runtime.decisions.list(auditor, {}))).toBe('state_invalid');
    expect(await codeOfAsync(runtime.decisions.stats(root, 60))).toBe('state_invalid');
    expect(await codeOfAsync(runtime.trustStatus(root))).toBe('state_invalid');
    // The real decisions around it still replay.
    expect((await runtime.replay(allowed.id)).replayed.verdict).toBe('allow');
  });
});
