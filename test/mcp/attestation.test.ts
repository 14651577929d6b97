/**
 * TEE attestation for an upstream with `attestation = "required"`, through the real gateway with
 * a real SDK client and upstream: a call runs only while the operator's attestation file passes
 * the [tee] platform policy. Each refusal (stale, future, wrong measurement, foreign signature,
 * platform not accepted, missing file, simulated outside testing, hardware without a quote
 * verifier, a quote the verifier rejects) is a sealed denial with its own code, and nothing
 * reaches the upstream.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import { signSimulatedAttestation } from '../../src/gatekeeper/index.ts';
import { parseGatewayConfig } from '../../src/mcp/config.ts';
import { ERROR_META_KEY, type GatewayDenial } from '../../src/mcp/index.ts';
import type { SigilRuntime } from '../../src/runtime/index.ts';
import { agentToken, makeEnv, openRuntime, type Env } from './helpers.ts';
import {
  agentClient,
  serveGateway,
  startLiveUpstream,
  type LiveUpstream,
} from './live-upstream.ts';

const MEASUREMENT = 'ab'.repeat(32);
const keys = generateKeyPair();
let e: Env;
let runtime: SigilRuntime;
let token: string;
let upstream: LiveUpstream;
const opened: Array<{ close(): Promise<void> }> = [];
const clients: Client[] = [];

function tomlFor(env: 'testing' | 'production', platforms: string, extra = ''): string {
  return `
[tee]
environment = "${env}"
accepted_platforms = ${platforms}
required_measurements = ["${MEASUREMENT}"]
max_age_ms = 60000
attestation_keys = ["${toBase64Url(publicKeyToRaw(keys.publicKey))}"]
${extra}

[[upstream]]
name = "tee"
url = "${upstream.url}"
attestation = "required"
attestation_file = "attestation-${env}.json"

[[upstream]]
name = "plain"
url = "${upstream.url}"

[[policy]]
tool = "*__echo"
min_loa = "operator"
`;
}

async function gatewayClient(toml: string): Promise<Client> {
  const gw = await serveGateway(runtime, toml, e.dir);
  opened.push(gw);
  const client = await agentClient(gw.url, token);
  clients.push(client);
  return client;
}

function attest(env: string, value: unknown): void {
  writeFileSync(join(e.dir, `attestation-${env}.json`), JSON.stringify(value));
}

async function echo(client: Client, name = 'tee__echo'): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: { text: 'hi' } })) as CallToolResult;
}

/** The call is refused with `code`, sealed as a denial with that code, before the upstream. */
async function refused(client: Client, code: string): Promise<void> {
  const before = upstream.calls.length;
  const r = await echo(client);
  expect(r.isError).toBe(true);
  const d = r._meta?.[ERROR_META_KEY] as GatewayDenial;
  expect(d.code).toBe(code);
  const record = await runtime.log.get(d.decision_id!);
  expect(record?.payload).toMatchObject({ decision: { verdict: 'deny', code } });
  expect(upstream.calls.length).toBe(before);
}

beforeAll(async () => {
  e = makeEnv();
  const o = await openRuntime(e);
  runtime = o.runtime;
  token = await agentToken(runtime, await runtime.tokens.authenticate(o.rootToken!));
  upstream = await startLiveUpstream();
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  for (const g of opened) await g.close();
  await upstream?.close();
  await runtime?.close();
  e?.cleanup();
});

describe('attestation = "required" on an upstream', () => {
  it('runs calls only while the attestation passes the policy; each refusal has its code', async () => {
    const client = await gatewayClient(tomlFor('testing', '["simulated"]'));
    const now = Date.now();
    attest('testing', signSimulatedAttestation(MEASUREMENT, now - 1000, keys.privateKey));
    const before = upstream.calls.length;
    const ok = await echo(client);
    expect(ok.isError, JSON.stringify(ok)).toBeFalsy();
    expect(upstream.calls.length).toBe(before + 1);

    attest('testing', signSimulatedAttestation(MEASUREMENT, now - 120_000, keys.privateKey));
    await refused(client, 'tee_attestation_expired');
    attest('testing', signSimulatedAttestation(MEASUREMENT, now + 600_000, keys.privateKey));
    await refused(client, 'tee_timestamp_in_future');
    attest('testing', signSimulatedAttestation('cd'.repeat(32), now, keys.privateKey));
    await refused(client, 'tee_measurement_not_allowed');
    attest('testing', signSimulatedAttestation(MEASUREMENT, now, generateKeyPair().privateKey));
    await refused(client, 'tee_signature_invalid');
    attest('testing', {
      platform: 'sgx',
      measurement: MEASUREMENT,
      timestamp: now,
      signature: 'AA',
    });
    await refused(client, 'tee_platform_not_accepted');
    attest('testing', { platform: 'simulated' });
    await refused(client, 'tee_attestation_malformed');
    rmSync(join(e.dir, 'attestation-testing.json'));
    await refused(client, 'tee_attestation_malformed');

    // An upstream that does not require attestation is not held up by it.
    expect((await echo(client, 'plain__echo')).isError).toBeFalsy();
  });

  it('refuses simulated outside testing, and hardware quotes without a quote verifier', async () => {
    const client = await gatewayClient(tomlFor('production', '["sgx", "simulated"]'));
    const now = Date.now();
    attest('production', signSimulatedAttestation(MEASUREMENT, now - 1000, keys.privateKey));
    await refused(client, 'tee_simulated_in_production');
    attest('production', {
      platform: 'sgx',
      measurement: MEASUREMENT,
      timestamp: now - 1000,
      signature: toBase64Url(Buffer.from('genuine quote')),
    });
    await refused(client, 'quote_verifier_missing');
  });

  it('accepts hardware quotes only through the quote-verifier plug-in', async () => {
    const plugin = join(e.dir, 'verifier.mjs');
    // A stand-in for a vendor verifier: genuine means the quote binds the measurement.
    writeFileSync(
      plugin,
      'export default (att, quote) => Buffer.from(quote).toString() === `quote for ${att.measurement}`;\n',
    );
    const toml = tomlFor('production', '["sgx"]', `quote_verifier = "${plugin}"`).replace(
      'attestation-production.json',
      'attestation-hw.json',
    );
    const client = await gatewayClient(toml);
    const now = Date.now();
    const hw = (quote: string) =>
      attest('hw', {
        platform: 'sgx',
        measurement: MEASUREMENT,
        timestamp: now - 1000,
        signature: toBase64Url(Buffer.from(quote)),
      });
    hw(`quote for ${MEASUREMENT}`);
    expect((await echo(client)).isError).toBeFalsy();
    hw('a forged quote');
    await refused(client, 'tee_quote_invalid');
  });

  it('is refused at load without a [tee] policy or an attestation file', () => {
    const base = `[[upstream]]\nname = "u"\nurl = "http://127.0.0.1:1/mcp"\n`;
    const bad = [
      `${base}attestation = "required"\nattestation_file = "a.json"\n`,
      `${base}attestation = "required"\n`,
      `[tee]\naccepted_platforms = ["sgx"]\nrequired_measurements = []\n${base}`,
    ];
    for (const toml of bad) {
      let code = '';
      try {
        parseGatewayConfig(toml, 'gateway.toml');
      } catch (err) {
        code = isSigilError(err) ? err.code : 'other';
      }
      expect(code, toml).toBe('config_invalid');
    }
  });
});
