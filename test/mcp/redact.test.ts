/**
 * Redaction through the real gateway, a real SDK client and a real SDK upstream: secrets in
 * results (one split across content blocks too) never reach the agent, secrets in arguments
 * never reach the upstream, and the log keeps the unredacted content's hash and what was
 * found, never a secret.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DECISION_META_KEY } from '../../src/mcp/index.ts';
import { redactSecrets } from '../../src/mcp/redact.ts';
import { liveGateway, type LiveGateway } from './live-upstream.ts';

const AWS = 'AKIAIOSFODNN7EXAMPLE';
const GH = `ghp_${'a1B2c3D4e5'.repeat(4).slice(0, 36)}`;
const PEM = generateKeyPairSync('ed25519').privateKey.export({
  type: 'pkcs8',
  format: 'pem',
}) as string;
const PEM_BODY = PEM.split('\n')[1]!;

let live: LiveGateway;
const call = (name: string, args: Record<string, unknown>) => live.call(name, args);

async function everyRecord(): Promise<string> {
  return JSON.stringify(
    (await live.runtime.log.list({ limit: 1000 })).records.map((r) => r.payload),
  );
}

beforeAll(async () => {
  live = await liveGateway(`
[[policy]]
tool = "live__blocks"
min_loa = "operator"
redact = ["secrets"]

[[policy]]
tool = "live__leak"
min_loa = "operator"
redact = ["secrets"]

[[policy]]
tool = "live__echo"
min_loa = "operator"
redact = ["secrets"]

[[policy]]
tool = "live__lookup"
min_loa = "operator"
`);
}, 60_000);

afterAll(() => live?.close());

describe('redact = ["secrets"]', () => {
  it('redacts a secret split across content blocks, and seals only its hash and kind', async () => {
    const parts = [`aws key: ${AWS.slice(0, 9)}`, `${AWS.slice(9)} and a `, 'token ', GH];
    const b64 = (list: string[]) => list.map((p) => Buffer.from(p).toString('base64'));
    const r = await call('live__leak', { parts_b64: b64(parts) });
    const text = (r.content as Array<{ text: string }>).map((c) => c.text);
    expect(text.join('')).toBe(
      'aws key: [REDACTED:aws_access_key] and a token [REDACTED:github_token]',
    );
    expect(text).toHaveLength(4);
    expect(JSON.stringify(r)).not.toContain(AWS.slice(9));

    const id = r._meta?.[DECISION_META_KEY] as string;
    const calls = (await live.runtime.log.list({ kind: 'mcp_call', limit: 1000 })).records;
    const sealed = calls.find((c) => c.links.some((l) => l.id === id))!.payload as {
      redaction: { result: { found: unknown; unredacted_hash: string }; arguments: unknown };
    };
    expect(sealed.redaction.result.found).toEqual({ aws_access_key: 1, github_token: 1 });
    expect(sealed.redaction.result.unredacted_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(sealed.redaction.arguments).toBeNull();
    // The same parts as arguments are redacted before the upstream sees them.
    const before = live.upstream.calls.length;
    await call('live__blocks', { parts });
    expect(JSON.stringify(live.upstream.calls[before])).not.toContain(AWS.slice(9));
    expect(JSON.stringify(live.upstream.calls[before])).toContain('[REDACTED:aws_access_key]');
    const log = await everyRecord();
    expect(log).not.toContain(AWS);
    expect(log).not.toContain(AWS.slice(9));
    expect(log).not.toContain(GH);
  });

  it('redacts a private key across blocks and secrets in arguments before the upstream', async () => {
    const lines = PEM.trim().split('\n');
    const parts_b64 = lines.map((l) => Buffer.from(`${l}\n`).toString('base64'));
    const r = await call('live__leak', { parts_b64 });
    const joined = (r.content as Array<{ text: string }>).map((c) => c.text).join('');
    expect(joined).toBe('[REDACTED:private_key]\n');
    expect(await everyRecord()).not.toContain(PEM_BODY);

    const before = live.upstream.calls.length;
    const secret = 'postgres://app:s3cr3t-Pa55w0rd@db.internal:5432/app password=hunter2hunter2';
    const echoed = await call('live__echo', { text: secret });
    expect(live.upstream.calls[before]?.arguments).toEqual({
      text: 'postgres://app:[REDACTED:connection_string_password]@db.internal:5432/app password=[REDACTED:assigned_secret]',
    });
    expect(JSON.stringify(echoed)).not.toContain('hunter2');
    expect(JSON.stringify(echoed)).not.toContain('s3cr3t');
    const log = await everyRecord();
    expect(log).not.toContain('hunter2hunter2');
    expect(log).not.toContain('s3cr3t-Pa55w0rd');
  });

  it('leaves rows without redact alone', async () => {
    const r = await call('live__lookup', { query: { key: AWS } });
    expect(JSON.stringify(r.content)).toContain(AWS);
  });

  it('knows the well-known credential shapes, and leaves ordinary text as it is', () => {
    for (const [secret, kind] of [
      [AWS, 'aws_access_key'],
      [GH, 'github_token'],
      ['xoxb-123456789012-abcdefABCDEF', 'slack_token'],
      [`sk_live_${'x'.repeat(24)}`, 'stripe_key'],
      [`AIza${'B'.repeat(35)}`, 'google_api_key'],
      [`sk-proj-${'Q'.repeat(40)}`, 'api_key'],
      [`sgl_${'Z'.repeat(43)}`, 'sigil_token'],
      ['eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlc2lnbmF0dXJl', 'jwt'],
    ] as const) {
      const { value, redaction } = redactSecrets({ text: `x ${secret} y` });
      expect(value).toEqual({ text: `x [REDACTED:${kind}] y` });
      expect(redaction?.found).toEqual({ [kind]: 1 });
    }
    const plain = { content: [{ type: 'text', text: 'The password policy needs 12 characters.' }] };
    expect(redactSecrets(plain)).toEqual({ value: plain, redaction: null });
  });
});
