/**
 * `when` conditions (CEL) on policy rows, through the real gateway with a real SDK client and
 * upstream: arguments that try to escape the rule (unicode look-alikes, traversal, very long
 * strings, deep or mistyped nested objects) are denied before the upstream; the sealed
 * decision names the expression's hash and result, and replay re-evaluates it.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGatewayConfig } from '../../src/mcp/config.ts';
import { DECISION_META_KEY, ERROR_META_KEY, type GatewayDenial } from '../../src/mcp/index.ts';
import { liveGateway, type LiveGateway } from './live-upstream.ts';

const READ_WHEN = 'args.path.startsWith("/shared/") && !args.path.contains("..")';
const LOOKUP_WHEN = 'args.query.user.role == "reader" && caller.signer == "ai"';

let live: LiveGateway;
const call = (name: string, args: Record<string, unknown>) => live.call(name, args);

async function denied(name: string, args: Record<string, unknown>): Promise<GatewayDenial> {
  const r = await call(name, args);
  expect(r.isError).toBe(true);
  return r._meta?.[ERROR_META_KEY] as GatewayDenial;
}

beforeAll(async () => {
  live = await liveGateway(`
[[policy]]
tool = "live__read_file"
min_loa = "operator"
when = '${READ_WHEN}'

[[policy]]
tool = "live__lookup"
min_loa = "operator"
when = '${LOOKUP_WHEN}'

[[policy]]
tool = "live__echo"
min_loa = "operator"
when = 'size(args.text) < 100 && tool.name == "live__echo" && tool.upstream == "live"'
`);
}, 60_000);

afterAll(() => live?.close());

describe('when conditions on policy rows', () => {
  it('passes what the condition allows and seals its hash and result; replay agrees', async () => {
    const r = await call('live__read_file', { path: '/shared/a.txt' });
    expect(r.isError).toBeFalsy();
    expect(r.content).toEqual([{ type: 'text', text: 'contents of /shared/a.txt' }]);
    const id = r._meta?.[DECISION_META_KEY] as string;
    const record = await live.runtime.log.get(id);
    const sealed = (record!.payload as { decision: { condition: Record<string, unknown> } })
      .decision.condition;
    expect(sealed).toMatchObject({
      when_hash: createHash('sha256').update(READ_WHEN).digest('hex'),
      when_result: true,
    });
    const { recorded, replayed, resealed } = await live.runtime.replay(id);
    expect(resealed).toEqual(recorded);
    expect(replayed.steps.find((s) => s.step === 'condition')).toMatchObject({
      verdict: 'pass',
      inputs: sealed,
    });
  });

  it('denies what the condition refuses, before the upstream; replay re-evaluates', async () => {
    const before = live.upstream.calls.length;
    const d = await denied('live__read_file', { path: '/etc/passwd' });
    expect(d.code).toBe('policy_condition_false');
    const { recorded, replayed, resealed } = await live.runtime.replay(d.decision_id!);
    expect(replayed.code).toBe('policy_condition_false');
    expect(resealed).toEqual(recorded);
    expect(live.upstream.calls.length).toBe(before);
  });

  it('is not fooled by unicode look-alikes or traversal', async () => {
    const before = live.upstream.calls.length;
    for (const path of [
      '/shared/../etc/passwd',
      '\uFF0Fshared/x', // fullwidth solidus
      '/\u0455hared/x', // Cyrillic dze for s
      '/SHARED/x',
      '\u202E/shared/x', // right-to-left override first
      ' /shared/x',
      '/shared\u2215x', // division slash
    ]) {
      expect((await denied('live__read_file', { path })).code).toBe('policy_condition_false');
    }
    expect(live.upstream.calls.length).toBe(before);
  });

  it('bounds what it reads: very long strings and deep objects deny as errors', async () => {
    const before = live.upstream.calls.length;
    expect((await denied('live__echo', { text: 'x'.repeat(100) })).code).toBe(
      'policy_condition_false',
    );
    const long = await denied('live__read_file', { path: `/shared/${'a'.repeat(70_000)}` });
    expect(long.code).toBe('policy_condition_error');
    expect(long.reason).toMatch(/over 65536 bytes/);
    let deep: Record<string, unknown> = { role: 'reader' };
    for (let i = 0; i < 40; i++) deep = { user: deep };
    const nested = await denied('live__lookup', { query: deep });
    expect(nested.code).toBe('policy_condition_error');
    expect(live.upstream.calls.length).toBe(before);
  });

  it('denies mistyped or missing nested arguments instead of guessing', async () => {
    const before = live.upstream.calls.length;
    for (const query of [
      { user: 'reader' },
      { user: { role: ['reader'] } },
      { 'user.role': 'reader' },
      { user: { Role: 'reader' } },
      {},
      null,
      ['reader'],
    ]) {
      const d = await denied('live__lookup', { query });
      expect(['policy_condition_false', 'policy_condition_error']).toContain(d.code);
    }
    expect(live.upstream.calls.length).toBe(before);
    const ok = await call('live__lookup', { query: { user: { role: 'reader' } } });
    expect(ok.isError).toBeFalsy();
    expect(live.upstream.calls.length).toBe(before + 1);
  });

  it('stops start-up on a bad expression, naming the row', () => {
    const toml = (when: string) => `
[[upstream]]
name = "x"
command = "node"

[[policy]]
tool = "x__a"
min_loa = "operator"

[[policy]]
tool = "x__b"
min_loa = "operator"
when = '${when}'
`;
    expect(() => parseGatewayConfig(toml('args.path.startsWith('), 'g.toml')).toThrow(
      /g\.toml:\d+: policy\[1\]\.when: row 2: not a valid condition/,
    );
    expect(() => parseGatewayConfig(toml('args.p.matches("(a+)+$")'), 'g.toml')).toThrow(
      /matches\(\) is not allowed/,
    );
    expect(() =>
      parseGatewayConfig(toml('args.l.all(x, args.l.all(y, x == y))'), 'g.toml'),
    ).toThrow(/inside another comprehension/);
    expect(() => parseGatewayConfig(toml('1 + 2'), 'g.toml')).toThrow(/not bool/);
    expect(() => parseGatewayConfig(toml('secrets.x == 1'), 'g.toml')).toThrow(/Unknown variable/);
    expect(() => parseGatewayConfig(toml(`${'true && '.repeat(600)}true`), 'g.toml')).toThrow(
      /not a valid condition/,
    );
  });
});
