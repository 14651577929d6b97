/**
 * End to end over stdio: `sigil gateway` as its own process (as a desktop AI client launches
 * it, token in SIGIL_TOKEN), the real SDK Client as the agent, the fixture upstream and the
 * published filesystem server confined to a temp dir. Approval from another process through
 * `sigil approve`; afterwards `sigil validate` passes over every sealed call.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AI_OUTPUT_MARKER, AI_OUTPUT_META_KEY } from '../../src/gatekeeper/index.ts';
import { ERROR_META_KEY, type GatewayDenial } from '../../src/mcp/index.ts';
import { openKeyStore } from '../../src/runtime/keys.ts';
import {
  agentToken,
  CLI,
  FIXTURE,
  FS_SERVER,
  humanApprover,
  makeEnv,
  notesUpstream,
  openRuntime,
  runCli,
  upstreamCalls,
  type Env,
} from './helpers.ts';

let e: Env;
let rootToken: string;
let approverToken: string;
let agentOp: string;
let configFile: string;
let logFile: string;
let files: string;
let agent: Client;
let calls = 0;

function gatewayTransport(token: string, config = configFile): StdioClientTransport {
  return new StdioClientTransport({
    command: 'node',
    args: [CLI, 'gateway', '--config', config],
    env: { ...(e.env as Record<string, string>), SIGIL_TOKEN: token },
    stderr: 'pipe',
  });
}

async function direct(command: string[], name: string, args: Record<string, unknown>) {
  const c = new Client({ name: 'direct', version: '1' });
  await c.connect(new StdioClientTransport({ command: 'node', args: command, stderr: 'ignore' }));
  try {
    return (await c.callTool({ name, arguments: args })) as CallToolResult;
  } finally {
    await c.close();
  }
}

async function call(name: string, args: Record<string, unknown>, meta?: Record<string, unknown>) {
  calls += 1;
  return (await agent.callTool(
    { name, arguments: args, ...(meta ? { _meta: meta } : {}) },
    undefined,
    { timeout: 20_000 },
  )) as CallToolResult;
}

function denial(r: CallToolResult): GatewayDenial {
  expect(r.isError).toBe(true);
  return r._meta?.[ERROR_META_KEY] as GatewayDenial;
}

function strip(r: CallToolResult): Omit<CallToolResult, '_meta'> {
  const { _meta, ...rest } = r;
  expect(_meta?.[AI_OUTPUT_META_KEY]).toBe(AI_OUTPUT_MARKER);
  return rest;
}

beforeAll(async () => {
  e = makeEnv();
  const opened = await openRuntime(e);
  rootToken = opened.rootToken ?? '';
  const root = await opened.runtime.tokens.authenticate(rootToken);
  agentOp = await agentToken(opened.runtime, root);
  const approver = await humanApprover(opened.runtime, root);
  approverToken = approver.token;
  openKeyStore(e.dataDir, e.env).save('approver', approver.keys);
  await opened.runtime.close();

  logFile = join(e.dir, 'notes.log');
  files = join(e.dir, 'files');
  mkdirSync(files);
  writeFileSync(join(files, 'hello.txt'), 'hello from the confined dir\n');
  configFile = join(e.dir, 'gateway.toml');
  writeFileSync(
    configFile,
    `call_timeout_ms = 10000
approval_timeout_ms = 15000

${notesUpstream(logFile)}
[[upstream]]
name = "fs"
command = "node"
args = [${JSON.stringify(FS_SERVER)}, ${JSON.stringify(files)}]

[[policy]]
tool = "notes__read_note"
min_loa = "operator"
risk = 0.1

[[policy]]
tool = "notes__delete_note"
min_loa = "operator"
approval = true

[[policy]]
tool = "fs__read_text_file"
min_loa = "operator"

[[policy]]
tool = "fs__list_directory"
min_loa = "operator"

[[policy]]
tool = "fs__write_file"
min_loa = "mentor"
`,
  );
  agent = new Client({ name: 'desktop-agent', version: '1.0.0' });
  await agent.connect(gatewayTransport(agentOp));
}, 60_000);

afterAll(async () => {
  await agent?.close().catch(() => undefined);
  e?.cleanup();
});

describe('sigil gateway over stdio', () => {
  it('lists only the tools the AI token may call', async () => {
    const names = (await agent.listTools()).tools.map((t) => t.name).sort();
    expect(names).toEqual([
      'fs__list_directory',
      'fs__read_text_file',
      'notes__delete_note',
      'notes__read_note',
    ]);
  });

  it('passes allowed calls through unchanged apart from _meta', async () => {
    expect(strip(await call('notes__read_note', { id: 'n2' }))).toEqual(
      await direct([FIXTURE], 'read_note', { id: 'n2' }),
    );
    const path = join(files, 'hello.txt');
    expect(strip(await call('fs__read_text_file', { path }))).toEqual(
      await direct([FS_SERVER, files], 'read_text_file', { path }),
    );
    expect(upstreamCalls(logFile).map((c) => c.tool)).toEqual(['read_note']);
    // The gateway holds SIGIL_TOKEN and SIGIL_MASTER_KEY; its upstreams get neither.
    expect(upstreamCalls(logFile)[0]?.sigil_env).toEqual([]);
  });

  it('refuses tools above the LOA or outside the policy, before any upstream sees them', async () => {
    const target = join(files, 'written.txt');
    expect(denial(await call('fs__write_file', { path: target, content: 'x' })).code).toBe(
      'loa_insufficient',
    );
    expect(
      denial(await call('fs__edit_file', { path: join(files, 'hello.txt'), edits: [] })).code,
    ).toBe('tool_not_allowed');
    expect(existsSync(target)).toBe(false);
    expect(readFileSync(join(files, 'hello.txt'), 'utf8')).toBe('hello from the confined dir\n');
  });

  it('keeps the filesystem server confined to its directory', async () => {
    const r = await call('fs__read_text_file', { path: '/etc/hostname' });
    expect(r.isError).toBe(true);
    expect(r._meta?.[ERROR_META_KEY]).toBeUndefined();
  });

  it('treats a claimed human signer in _meta as forgery', async () => {
    const d = denial(
      await call('notes__read_note', { id: 'n1' }, { 'sigil/signer_type': 'human' }),
    );
    expect(d.code).toBe('mcp_rule_violated');
    expect(upstreamCalls(logFile)).toHaveLength(1);
  });

  it('waits for `sigil approve` from another process', async () => {
    const pending = call('notes__delete_note', { id: 'n1' });
    let id = '';
    let listedArgs: unknown;
    for (let i = 0; i < 100 && id === ''; i++) {
      const listed = await runCli(['approvals', '--json', '--token', approverToken], e.env);
      expect(listed.code).toBe(0);
      const [first] = JSON.parse(listed.stdout) as Array<{ id: string; arguments: unknown }>;
      id = first?.id ?? '';
      listedArgs = first?.arguments;
      if (id === '') await new Promise((r) => setTimeout(r, 100));
    }
    // the approver reads the arguments it signs for
    expect(listedArgs).toEqual({ id: 'n1' });
    expect(upstreamCalls(logFile).map((c) => c.tool)).toEqual(['read_note']);
    // Root holds no enrolled key: refused, nothing decided
    const unsigned = await runCli(
      ['approve', id, '--key-id', 'approver', '--token', rootToken],
      e.env,
    );
    expect(unsigned.code).not.toBe(0);
    expect(unsigned.stderr).toMatch(/approval_signature_invalid|approver_not_enrolled/);
    const signed = await runCli(
      ['approve', id, '--key-id', 'approver', '--sign-only', '--token', approverToken],
      e.env,
    );
    expect(signed.code, signed.stderr).toBe(0);
    const approved = await runCli(
      ['approve', id, '--signature', signed.stdout.trim(), '--token', approverToken],
      e.env,
    );
    expect(approved.stdout).toContain(`approved: ${id}`);
    const r = await pending;
    expect(r.isError).toBeFalsy();
    expect(upstreamCalls(logFile).map((c) => c.tool)).toEqual(['read_note', 'delete_note']);
  });

  it('refuses to start without a valid token or with an invalid config', async () => {
    const broken = join(e.dir, 'broken.toml');
    writeFileSync(broken, '[[upstream]]\nname = "x"\ncommand = "node"\ntimeout_ms = -1\n');
    const [noToken, bad, invalid] = await Promise.all([
      runCli(['gateway', '--config', configFile], { ...e.env, SIGIL_TOKEN: '' }),
      runCli(['gateway', '--config', configFile], {
        ...e.env,
        SIGIL_TOKEN: `sgl_${'A'.repeat(43)}`,
      }),
      runCli(['gateway', '--config', broken], { ...e.env, SIGIL_TOKEN: agentOp }),
    ]);
    expect(noToken.code).not.toBe(0);
    expect(noToken.stderr).toContain('unauthenticated');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('token_invalid');
    expect(invalid.stderr).toContain(`config_invalid: ${broken}:4: upstream[0].timeout_ms`);
  });

  it('sealed every call, and the log validates', async () => {
    await agent.close();
    // The gateway drains and writes its final checkpoint when the agent hangs up.
    let size = -1;
    for (let i = 0; i < 100; i++) {
      const opened = await openRuntime(e);
      const records = (await opened.runtime.log.list({ kind: 'mcp_call', limit: 1000 })).records;
      size = records.length;
      await opened.runtime.close();
      if (size === calls) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(size).toBe(calls);
    const validated = await runCli(['validate', '--json', '--workers', '0'], e.env);
    expect(validated.code).toBe(0);
    expect(JSON.parse(validated.stdout)).toMatchObject({ ok: true });
  });
});
