import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isSigilError } from '../../src/core/errors.ts';
import { loadGatewayConfig, parseGatewayConfig } from '../../src/mcp/index.ts';

const FILE = '/etc/sigil/gateway.toml';

const VALID = `data_dir = ".sigil"

[[upstream]]
name = "notes"
command = "node"
args = ["notes-server.js"]
env = { NOTES_DIR = "/srv/notes" }

[[upstream]]
name = "remote"
url = "http://127.0.0.1:9000/mcp"
headers = { Authorization = "Bearer upstream-secret" }
timeout_ms = 5000

[[policy]]
tool = "notes__delete_*"
min_loa = "mentor"
risk = 0.9
approval = true

[[policy]]
tool = "notes__*"
min_loa = "Operator"
scope = "mcp.notes.read"
`;

function errorOf(text: string): { message: string; details: Record<string, unknown> } {
  try {
    parseGatewayConfig(text, FILE);
  } catch (err) {
    expect(isSigilError(err, 'config_invalid')).toBe(true);
    const e = err as Error & { details: Record<string, unknown> };
    return { message: e.message, details: e.details };
  }
  throw new Error('expected config_invalid');
}

describe('gateway.toml', () => {
  it('parses upstreams and the policy table', () => {
    const c = parseGatewayConfig(VALID, FILE);
    expect(c.dataDir).toBe('/etc/sigil/.sigil');
    expect(c.callTimeoutMs).toBe(30_000);
    expect(c.approvalTimeoutMs).toBe(55_000);
    expect(c.upstreams).toEqual([
      {
        name: 'notes',
        prefix: 'notes',
        pin: 'first',
        transport: 'stdio',
        command: 'node',
        args: ['notes-server.js'],
        env: { NOTES_DIR: '/srv/notes' },
        cwd: '/etc/sigil',
      },
      {
        name: 'remote',
        prefix: 'remote',
        pin: 'first',
        transport: 'http',
        url: 'http://127.0.0.1:9000/mcp',
        headers: { Authorization: 'Bearer upstream-secret' },
        timeoutMs: 5000,
      },
    ]);
    expect(c.policies).toEqual([
      {
        kind: 'tool',
        pattern: 'notes__delete_*',
        minLoa: 'mentor',
        risk: 0.9,
        approval: true,
        index: 1,
      },
      {
        kind: 'tool',
        pattern: 'notes__*',
        minLoa: 'operator',
        scope: 'mcp.notes.read',
        approval: false,
        index: 2,
      },
    ]);
  });

  it('names the line and key of a bad value', () => {
    const { message, details } = errorOf(VALID.replace('min_loa = "mentor"', 'min_loa = "admin"'));
    expect(details).toMatchObject({ key: 'policy[0].min_loa', line: 17 });
    expect(message).toContain(`${FILE}:17: policy[0].min_loa`);
  });

  it('names unknown keys', () => {
    const text = VALID.replace('timeout_ms = 5000', 'timeout_ms = 5000\nretries = 3');
    expect(errorOf(text).details).toMatchObject({ key: 'upstream[1].retries', line: 14 });
  });

  it('needs exactly one transport per upstream', () => {
    const both = VALID.replace('name = "remote"', 'name = "remote"\ncommand = "x"');
    expect(errorOf(both).details).toMatchObject({ key: 'upstream[1].command', line: 11 });
    const none = '[[upstream]]\nname = "a"\n';
    expect(errorOf(none).details).toMatchObject({ key: 'upstream[0].command', line: 1 });
  });

  it('refuses names that would break namespacing, and duplicates', () => {
    expect(errorOf(VALID.replace('name = "notes"', 'name = "my__notes"')).details).toMatchObject({
      key: 'upstream[0].name',
      line: 4,
    });
    expect(errorOf(VALID.replace('name = "remote"', 'name = "notes"')).details).toMatchObject({
      key: 'upstream[1].name',
      line: 10,
    });
  });

  it('needs one of tool, resource or prompt per policy row', () => {
    const text = VALID.replace('tool = "notes__*"', 'tool = "notes__*"\nprompt = "x"');
    expect(errorOf(text).details).toMatchObject({ key: 'policy[1].tool', line: 22 });
  });

  it('reports TOML syntax errors with their line', () => {
    const { message, details } = errorOf('[[upstream]]\nname = "a\n');
    expect(details.line).toBe(2);
    expect(message).toMatch(/not valid TOML/);
  });

  it('needs an upstream and refuses a missing file', () => {
    expect(errorOf('data_dir = "x"\n').details).toMatchObject({ key: 'upstream' });
    const dir = mkdtempSync(join(tmpdir(), 'sigil-gwcfg-'));
    try {
      expect(() => loadGatewayConfig(join(dir, 'nope.toml'))).toThrow(/cannot read/);
      writeFileSync(join(dir, 'g.toml'), VALID);
      expect(loadGatewayConfig(join(dir, 'g.toml')).dataDir).toBe(join(dir, '.sigil'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
