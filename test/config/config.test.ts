import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { isSigilError } from '../../src/core/errors.ts';

function tomlFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sigil-config-'));
  const path = join(dir, 'mmf.toml');
  writeFileSync(path, text);
  return path;
}

function errorKey(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    if (isSigilError(err, 'config_invalid')) return err.details?.key;
    throw err;
  }
  throw new Error('expected config_invalid');
}

describe('loadConfig', () => {
  it('gives the reference defaults with no file and no environment', () => {
    const cfg = loadConfig({ env: {}, dataDir: mkdtempSync(join(tmpdir(), 'sigil-d-')) });
    expect(cfg.irl).toEqual({ enforcementMode: 'active', threshold: 0.4, telemetryEnabled: false });
    expect(cfg.trust).toEqual({
      defaultLoa: 'observer',
      allowOperatorCanonWrite: false,
      allowAdminExport: false,
    });
    expect(cfg.dbBackend).toBe('sqlite');
  });

  it('reads mmf.toml and lets the environment win', () => {
    const file = tomlFile(
      '[irl]\nthreshold = 0.7\nenforcement_mode = "strict"\n[trust]\ndefault_loa = "Guest"\nallow_operator_canon_write = true\n',
    );
    const cfg = loadConfig({ env: { MMF_IRL_THRESHOLD: '0.5' }, configFile: file });
    expect(cfg.irl.threshold).toBe(0.5);
    expect(cfg.irl.enforcementMode).toBe('strict');
    expect(cfg.trust.defaultLoa).toBe('guest');
    expect(cfg.trust.allowOperatorCanonWrite).toBe(true);
  });

  it('stops on invalid values, naming the key', () => {
    expect(errorKey(() => loadConfig({ env: { MMF_IRL_THRESHOLD: '1.5' } }))).toBe(
      'MMF_IRL_THRESHOLD',
    );
    expect(errorKey(() => loadConfig({ env: { MMF_IRL_ENFORCEMENT_MODE: 'lenient' } }))).toBe(
      'MMF_IRL_ENFORCEMENT_MODE',
    );
    expect(errorKey(() => loadConfig({ env: { MMF_TRUST_DEFAULT_LOA: 'god' } }))).toBe(
      'MMF_TRUST_DEFAULT_LOA',
    );
    expect(errorKey(() => loadConfig({ env: { MMF_DB_BACKEND: 'postgres' } }))).toBe(
      'MMF_DATABASE_URL',
    );
    expect(
      errorKey(() => loadConfig({ env: {}, configFile: tomlFile('[irl]\nthreshold = "high"\n') })),
    ).toBe('irl.threshold');
    expect(
      errorKey(() => loadConfig({ env: {}, configFile: tomlFile('unknown_key = 1\n') })),
    ).toBeDefined();
    expect(
      errorKey(() => loadConfig({ env: {}, configFile: tomlFile('this is not toml') })),
    ).toMatch(/mmf\.toml$/);
  });
});
