/**
 * A module declaring `attestation = "required"` in mmf.toml runs only while the operator's
 * attestation file passes the [tee] platform policy. Each refusal (stale, wrong measurement,
 * simulated outside testing, hardware without a quote-verifier plug-in) is the run's sealed
 * denial with its own code, and the module does not run; a module without the key is not held up.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import { isSigilError } from '../../src/core/errors.ts';
import { signSimulatedAttestation } from '../../src/gatekeeper/index.ts';
import { SigilRuntime, type Caller } from '../../src/runtime/index.ts';

const MEASUREMENT = 'ab'.repeat(32);
const keys = generateKeyPair();
const dirs: string[] = [];
const runtimes: SigilRuntime[] = [];

afterAll(async () => {
  for (const r of runtimes) await r.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function open(
  environment: 'testing' | 'production',
  platforms: string,
): Promise<{ runtime: SigilRuntime; root: Caller; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sigil-module-tee-'));
  dirs.push(dir);
  writeFileSync(
    join(dir, 'mmf.toml'),
    `[tee]
environment = "${environment}"
accepted_platforms = ${platforms}
required_measurements = ["${MEASUREMENT}"]
max_age_ms = 60000
attestation_keys = ["${toBase64Url(publicKeyToRaw(keys.publicKey))}"]

[modules.echo]
attestation = "required"
attestation_file = "echo.attestation.json"
`,
  );
  const env = { PATH: process.env.PATH, SIGIL_MASTER_KEY: randomBytes(32).toString('base64') };
  const config = loadConfig({ env, dataDir: dir, configFile: join(dir, 'mmf.toml') });
  const boot = await SigilRuntime.bootstrap({ config, env });
  runtimes.push(boot.runtime);
  return {
    runtime: boot.runtime,
    root: await boot.runtime.tokens.authenticate(boot.rootToken!),
    dir,
  };
}

function attest(dir: string, value: unknown): void {
  writeFileSync(join(dir, 'echo.attestation.json'), JSON.stringify(value));
}

/** The run is refused with `code`, sealed as the run's denial with that code. */
async function refused(runtime: SigilRuntime, root: Caller, code: string): Promise<void> {
  let err: unknown;
  try {
    await runtime.modules.run(root, 'echo', { n: 1 });
  } catch (e) {
    err = e;
  }
  expect(isSigilError(err) && err.code, String(err)).toBe(code);
  const id = (err as { details?: { decision_id?: string } }).details?.decision_id;
  const record = await runtime.log.get(id!);
  expect(record?.payload).toMatchObject({
    request: { action: 'module.run', target: 'modules/echo' },
    decision: { verdict: 'deny', code },
  });
}

describe('attestation = "required" on a module', () => {
  it('runs only while the attestation passes; stale or wrong measurement is refused', async () => {
    const { runtime, root, dir } = await open('testing', '["simulated"]');
    const now = Date.now();
    attest(dir, signSimulatedAttestation(MEASUREMENT, now - 1000, keys.privateKey));
    expect(await runtime.modules.run(root, 'echo', { n: 1 })).toMatchObject({ output: { n: 1 } });

    attest(dir, signSimulatedAttestation(MEASUREMENT, now - 120_000, keys.privateKey));
    await refused(runtime, root, 'tee_attestation_expired');
    attest(dir, signSimulatedAttestation('cd'.repeat(32), now, keys.privateKey));
    await refused(runtime, root, 'tee_measurement_not_allowed');
    rmSync(join(dir, 'echo.attestation.json'));
    await refused(runtime, root, 'tee_attestation_malformed');
    // A module that declares nothing is not held up.
    expect(await runtime.modules.run(root, 'canon-stats', {})).toMatchObject({
      module: 'canon-stats',
    });
  });

  it('refuses simulated outside testing, and hardware quotes without a quote verifier', async () => {
    const { runtime, root, dir } = await open('production', '["sgx", "simulated"]');
    const now = Date.now();
    attest(dir, signSimulatedAttestation(MEASUREMENT, now - 1000, keys.privateKey));
    await refused(runtime, root, 'tee_simulated_in_production');
    attest(dir, {
      platform: 'sgx',
      measurement: MEASUREMENT,
      timestamp: now - 1000,
      signature: toBase64Url(Buffer.from('genuine quote')),
    });
    await refused(runtime, root, 'quote_verifier_missing');
  });

  it('is refused at load without a [tee] policy or an attestation file, or for no such module', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigil-module-tee-'));
    dirs.push(dir);
    const tee = `[tee]\naccepted_platforms = ["sgx"]\nrequired_measurements = ["${MEASUREMENT}"]\n`;
    for (const toml of [
      `[modules.echo]\nattestation = "required"\nattestation_file = "a.json"\n`,
      `${tee}[modules.echo]\nattestation = "required"\n`,
      `${tee}[modules.echo]\nattestation_file = "a.json"\n`,
    ]) {
      writeFileSync(join(dir, 'mmf.toml'), toml);
      let code = '';
      try {
        loadConfig({ env: {}, dataDir: dir, configFile: join(dir, 'mmf.toml') });
      } catch (err) {
        code = isSigilError(err) ? err.code : 'other';
      }
      expect(code, toml).toBe('config_invalid');
    }
  });

  it('refuses to open when mmf.toml names a module that does not exist', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigil-module-tee-'));
    dirs.push(dir);
    writeFileSync(
      join(dir, 'mmf.toml'),
      `[tee]\naccepted_platforms = ["sgx"]\nrequired_measurements = ["${MEASUREMENT}"]\n` +
        `[modules.nope]\nattestation = "required"\nattestation_file = "a.json"\n`,
    );
    const env = { PATH: process.env.PATH, SIGIL_MASTER_KEY: randomBytes(32).toString('base64') };
    const config = loadConfig({ env, dataDir: dir, configFile: join(dir, 'mmf.toml') });
    await expect(SigilRuntime.bootstrap({ config, env })).rejects.toMatchObject({
      code: 'config_invalid',
    });
  });
});
