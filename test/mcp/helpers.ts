/** Shared setup for the gateway tests: a bootstrapped runtime, agent tokens, configs, logs. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { loadConfig } from '../../src/config/index.ts';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import { signApproval } from '../../src/gatekeeper/index.ts';
import { signEnrolment } from '../../src/quorum/index.ts';
import type { Loa } from '../../src/policy/index.ts';
import { SigilRuntime, type ApprovalInfo, type Caller } from '../../src/runtime/index.ts';

export const FIXTURE = resolve('test/fixtures/mcp/notes-server.mjs');
export const FS_SERVER = resolve(
  'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js',
);
/** The CLI entry the e2e tests spawn (SIGIL_CLI lets a run point at a built copy). */
export const CLI = process.env.SIGIL_CLI ?? resolve('bin/sigil');
export const AGENT = 'did:sigil:agent-1';

export interface Env {
  dir: string;
  dataDir: string;
  env: NodeJS.ProcessEnv;
  cleanup(): void;
}

/** A temp dir with a data dir and the environment (master key) to open it. */
export function makeEnv(mmfToml?: string): Env {
  const dir = mkdtempSync(join(tmpdir(), 'sigil-mcp-'));
  const dataDir = join(dir, 'data');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SIGIL_DATA_DIR: dataDir,
    SIGIL_MASTER_KEY: randomBytes(32).toString('base64'),
    SIGIL_TOKEN: '',
    LOG_LEVEL: 'silent',
  };
  if (mmfToml !== undefined) {
    env.SIGIL_CONFIG = join(dir, 'mmf.toml');
    writeFileSync(env.SIGIL_CONFIG, mmfToml);
  }
  return { dir, dataDir, env, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Opens (bootstrapping when new) the runtime of `e`. */
export async function openRuntime(e: Env): Promise<{ runtime: SigilRuntime; rootToken?: string }> {
  const config = loadConfig({ env: e.env, dataDir: e.dataDir });
  const boot = await SigilRuntime.bootstrap({ config, env: e.env });
  return { runtime: boot.runtime, ...(boot.rootToken ? { rootToken: boot.rootToken } : {}) };
}

/**
 * Mints an agent token as Root on a delegation from Root of `delegated` (default
 * mcp.tools.call) and (unless `consent: false`) the consent the MCP rules demand: Root, the
 * delegation's grantor, grants the agent 'retrieval' over mcp.tools.call.
 */
export async function agentToken(
  runtime: SigilRuntime,
  root: Caller,
  opts: {
    subject?: string;
    loa?: Loa;
    ai?: boolean;
    scopes?: string[] | null;
    consent?: boolean;
    delegated?: string[];
  } = {},
): Promise<string> {
  const subject = opts.subject ?? AGENT;
  const signer =
    opts.ai === false
      ? { type: 'human' as const }
      : {
          type: 'ai' as const,
          delegationId: (
            await runtime.delegations.create(root, {
              to: subject,
              actions: opts.delegated ?? ['mcp.tools.call'],
            })
          ).delegation_id,
        };
  const { token } = await runtime.tokens.create(root, {
    subject,
    loa: opts.loa ?? 'operator',
    signer,
    ...(opts.scopes === null ? {} : { scopes: opts.scopes ?? ['mcp.tools.call'] }),
  });
  if (opts.consent !== false) {
    await runtime.consent.grant(root, {
      bailee: subject,
      scope: 'mcp.tools.call',
      purpose: 'retrieval',
    });
  }
  return token;
}

/** A human approver: a Mentor token for `subject`, and the witness key it enrolled itself. */
export async function humanApprover(
  runtime: SigilRuntime,
  root: Caller,
  subject = 'did:sigil:approver',
): Promise<{
  token: string;
  caller: Caller;
  keys: ReturnType<typeof generateKeyPair>;
  privateKey: KeyObject;
  witnessId: string;
}> {
  const { token } = await runtime.tokens.create(root, {
    subject,
    loa: 'mentor',
    signer: { type: 'human' },
  });
  const caller = await runtime.tokens.authenticate(token);
  const keys = generateKeyPair();
  const publicKey = toBase64Url(publicKeyToRaw(keys.publicKey));
  const challenge = await runtime.quorum.enrolmentChallenge(caller);
  const { witness_id: witnessId } = await runtime.quorum.enrol(caller, {
    challenge_id: challenge.id,
    public_key: publicKey,
    proof: signEnrolment(challenge, publicKey, keys.privateKey),
  });
  return {
    token,
    caller,
    keys,
    privateKey: keys.privateKey,
    witnessId,
  };
}

/** The approver's typed human signature of `verdict` on `approval`. */
export function verdictSignature(
  approval: Pick<ApprovalInfo, 'id' | 'tool' | 'arguments_hash'>,
  verdict: 'approved' | 'rejected',
  privateKey: KeyObject,
): string {
  return signApproval(
    { approval_id: approval.id, tool: approval.tool, arguments_hash: approval.arguments_hash },
    verdict,
    { type: 'human' },
    privateKey,
  );
}

/** The tools/calls the fixture upstream logged, in order. */
export function upstreamCalls(
  logFile: string,
): Array<{ tool: string; arguments: Record<string, unknown>; pid: number; sigil_env: string[] }> {
  if (!existsSync(logFile)) return [];
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(
      (l) =>
        JSON.parse(l) as {
          tool: string;
          arguments: Record<string, unknown>;
          pid: number;
          sigil_env: string[];
        },
    );
}

/** TOML for the fixture upstream over stdio, logging to `logFile`. */
export function notesUpstream(logFile: string, name = 'notes'): string {
  return [
    '[[upstream]]',
    `name = "${name}"`,
    'command = "node"',
    `args = [${JSON.stringify(FIXTURE)}, "--log", ${JSON.stringify(logFile)}]`,
    '',
  ].join('\n');
}

/** The policy rows most tests use. */
export const NOTES_POLICY = `
[[policy]]
tool = "notes__read_note"
min_loa = "operator"
risk = 0.1

[[policy]]
tool = "notes__delete_*"
min_loa = "mentor"
risk = 0.9

[[policy]]
tool = "notes__slow"
min_loa = "operator"
scope = "mcp.notes.slow"

[[policy]]
tool = "notes__crash"
min_loa = "operator"

[[policy]]
tool = "notes__garble"
min_loa = "operator"

[[policy]]
resource = "notes__notes://*"
min_loa = "operator"

[[policy]]
prompt = "notes__summarize"
min_loa = "operator"
`;

/** Starts the fixture as a Streamable HTTP server on a free port; resolves its URL. */
export async function startHttpNotes(
  logFile: string,
): Promise<{ url: string; child: ChildProcess; stop(): void }> {
  const child = spawn('node', [FIXTURE, '--http', '0', '--log', logFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const port = await new Promise<number>((resolvePort, reject) => {
    let buf = '';
    child.stderr?.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /listening (\d+)/.exec(buf);
      if (m) resolvePort(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`fixture exited ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/mcp`, child, stop: () => child.kill() };
}

/**
 * The real `sigil gateway --listen 127.0.0.1:0` as its own process on `e`'s data dir, with
 * `gatewayToml` as its config; resolves the MCP URL it serves (each agent sends its bearer).
 */
export async function spawnGateway(
  e: Env,
  gatewayToml: string,
): Promise<{ url: string; child: ChildProcess; stop(): void }> {
  const configFile = join(e.dir, `gateway-${randomBytes(4).toString('hex')}.toml`);
  writeFileSync(configFile, gatewayToml);
  const child = spawn('node', [CLI, 'gateway', '--config', configFile, '--listen', '127.0.0.1:0'], {
    env: e.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    let buf = '';
    child.stderr?.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /serving MCP at (\S+)/.exec(buf);
      if (m?.[1]) resolveUrl(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${buf}`)));
  });
  return {
    url,
    child,
    stop: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** Runs the sigil CLI to completion. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn('node', [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** Resolves when `predicate` holds, polling; rejects after `ms`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  ms = 5000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}
