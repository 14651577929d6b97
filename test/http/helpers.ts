/**
 * Shared by the HTTP tests: the real server as a child process (`node ./bin/sigil serve`),
 * fetch with a deadline, and a validator that checks responses against /openapi.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Ajv, type ValidateFunction } from 'ajv';
import { afterAll, beforeAll, expect } from 'vitest';

/** The CLI under test (SIGIL_TEST_CLI runs the tests against another build of it). */
export const CLI = process.env.SIGIL_TEST_CLI ?? join(process.cwd(), 'bin/sigil');
export const MASTER_KEY = Buffer.alloc(32, 0x6b).toString('base64');
const START_LIMIT_MS = 30_000;

export interface ServerProcess {
  url: string;
  dataDir: string;
  /** Set on the first start of a data dir only. */
  rootToken: string | undefined;
  child: ChildProcess;
  /** Every stdout line so far (logs included). */
  lines: string[];
  /** Everything written to stderr so far. */
  stderr: () => string;
  /** SIGTERM, then the exit code (SIGKILL after `limitMs`). */
  stop: (limitMs?: number) => Promise<number | null>;
}

/** A temp dir holding a data dir and an mmf.toml with `toml` (passed as SIGIL_CONFIG). */
export function tempDataDir(toml: string): { dataDir: string; config: string; remove: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'sigil-http-'));
  const config = join(root, 'mmf.toml');
  writeFileSync(config, toml);
  return {
    dataDir: join(root, 'data'),
    config,
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Rate limits generous enough that only the rate-limit test ever meets one. */
export const ROOMY_LIMITS = ['guest', 'observer', 'operator', 'mentor', 'root']
  .map((l) => `${l} = { rate = 10000, burst = 10000 }`)
  .join('\n');

/** A test file's real server and its data dir; a test may restart it (assign `server`). */
export interface LiveServer {
  dir: ReturnType<typeof tempDataDir>;
  server: ServerProcess;
  /** The Root token of the first start. */
  root: string;
}

/**
 * Registers the hooks that start a server on a fresh data dir (`toml` as its config; roomy rate
 * limits by default) before the file's tests, and stop it and remove the dir after them. Read
 * the fields inside hooks and tests: they are set once the server is up.
 */
export function liveServer(toml = `[rate_limit]\n${ROOMY_LIMITS}\n`): LiveServer {
  const live = {} as LiveServer;
  beforeAll(async () => {
    live.dir = tempDataDir(toml);
    live.server = await startServer(live.dir.dataDir, live.dir.config);
    live.root = live.server.rootToken!;
  }, 60_000);
  afterAll(async () => {
    await live.server?.stop();
    live.dir?.remove();
  });
  return live;
}

/** A JSON body as the tests read it. */
export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
export const json = (a: Answer): Json => a.body as Json;

/**
 * `req(method, path, token?, body?)` against the live server; every error answer must be
 * problem JSON with a stable code (problemIssues).
 */
export function requester(
  live: Pick<LiveServer, 'server'>,
): (method: string, path: string, token?: string, body?: unknown) => Promise<Answer> {
  return async (method, path, token, body) => {
    const a = await call(live.server.url, method, path, {
      ...(token !== undefined ? { token } : {}),
      ...(body !== undefined ? { body } : {}),
    });
    if (a.status >= 400) expect(problemIssues(a), a.text).toEqual([]);
    return a;
  };
}

/** Starts `sigil serve --port 0` and waits for its "sigil listening on" line. */
export function startServer(dataDir: string, config: string): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', dataDir], {
    env: {
      PATH: process.env.PATH,
      SIGIL_MASTER_KEY: MASTER_KEY,
      SIGIL_CONFIG: config,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return new Promise((resolve, reject) => {
    let rootToken: string | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start in time:\n${lines.join('\n')}\n${stderr}`));
    }, START_LIMIT_MS);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(
        new Error(`server exited (${code}) before listening:\n${lines.join('\n')}\n${stderr}`),
      );
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      const token = /Root token \(shown once; keep it secret\): (sgl_\S+)/.exec(line);
      if (token) rootToken = token[1];
      const listening = /^sigil listening on (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      if (!listening) return;
      clearTimeout(timer);
      resolve({
        url: listening[1]!,
        dataDir,
        rootToken,
        child,
        lines,
        stderr: () => stderr,
        stop: async (limitMs = 20_000) => {
          if (child.exitCode !== null) return child.exitCode;
          child.kill('SIGTERM');
          const kill = setTimeout(() => child.kill('SIGKILL'), limitMs);
          const code = await exited;
          clearTimeout(kill);
          return code;
        },
      });
    });
  });
}

/** Runs `sigil args…` to completion with the test master key. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, SIGIL_MASTER_KEY: MASTER_KEY, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Answer {
  status: number;
  headers: Headers;
  type: string;
  /** Parsed JSON, or the text when the body is not JSON. */
  body: unknown;
  text: string;
}

/** One request with a deadline; JSON bodies are sent as JSON, strings and bytes as given. */
export async function call(
  base: string,
  method: string,
  path: string,
  opts: {
    token?: string;
    body?: unknown;
    raw?: string | Uint8Array;
    headers?: Record<string, string>;
    timeoutMs?: number;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  let body: string | Uint8Array | undefined = opts.raw;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return {
    status: res.status,
    headers: res.headers,
    type: res.headers.get('content-type') ?? '',
    body: parsed,
    text,
  };
}

/** Checks that an answer is RFC 9457 problem JSON with a consistent status and a stable code. */
export function problemIssues(a: Answer): string[] {
  const issues: string[] = [];
  if (!a.type.startsWith('application/problem+json')) issues.push(`content-type ${a.type}`);
  const p = a.body as Record<string, unknown> | null;
  if (typeof p !== 'object' || p === null)
    return [...issues, `body not JSON: ${a.text.slice(0, 80)}`];
  if (p.status !== a.status) issues.push(`status ${String(p.status)} ≠ ${a.status}`);
  if (typeof p.code !== 'string' || !/^[a-z0-9_]+$/.test(p.code)) issues.push('no code');
  if (typeof p.type !== 'string' || typeof p.title !== 'string' || typeof p.detail !== 'string') {
    issues.push('missing type/title/detail');
  }
  if (/\bat .+:\d+:\d+\)?/.test(a.text)) issues.push('stack trace in body');
  return issues;
}

/** A call as `token` (none: the anonymous Guest) whose every error answer must be problem JSON. */
export async function checkedCall(
  base: string,
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<Answer> {
  const a = await call(base, method, path, {
    ...(token !== undefined ? { token } : {}),
    ...(body !== undefined ? { body } : {}),
  });
  const issues = a.status >= 400 ? problemIssues(a) : [];
  if (issues.length > 0) throw new Error(`${method} ${path}: ${issues.join(', ')}: ${a.text}`);
  return a;
}

/** A human token for `subject` at `loa`, made by Root. */
export async function humanToken(
  base: string,
  rootToken: string,
  subject: string,
  loa: string,
): Promise<string> {
  const a = await checkedCall(base, 'POST', '/api/tokens', rootToken, {
    subject,
    loa,
    signer: { type: 'human' },
  });
  if (a.status !== 201) throw new Error(`token for ${subject}: ${a.text}`);
  return (a.body as { token: string }).token;
}

/** An AI token for `subject` at Operator on a delegation of `actions` from Root, made by Root. */
export async function agentToken(
  base: string,
  rootToken: string,
  subject: string,
  actions: string[],
): Promise<{ token: string; delegation_id: string }> {
  const d = await checkedCall(base, 'POST', '/api/delegations', rootToken, {
    to: subject,
    actions,
  });
  if (d.status !== 201) throw new Error(`delegation to ${subject}: ${d.text}`);
  const delegation_id = (d.body as { delegation_id: string }).delegation_id;
  const t = await checkedCall(base, 'POST', '/api/tokens', rootToken, {
    subject,
    loa: 'operator',
    signer: { type: 'ai', delegation_id },
  });
  if (t.status !== 201) throw new Error(`token for ${subject}: ${t.text}`);
  return { token: (t.body as { token: string }).token, delegation_id };
}

/**
 * An SDK client of the real `sigil gateway` (over stdio) on `dir`'s data dir and config, with
 * `gatewayToml` as its gateway config, presenting `token`.
 */
export async function sigilGatewayClient(
  dir: { dataDir: string; config: string },
  gatewayToml: string,
  token: string,
  name = 'test-agent',
): Promise<Client> {
  const gatewayConfig = join(dir.dataDir, '..', `gateway-${name}.toml`);
  writeFileSync(gatewayConfig, gatewayToml);
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: 'node',
      args: [CLI, 'gateway', '--config', gatewayConfig],
      env: {
        PATH: process.env.PATH!,
        SIGIL_MASTER_KEY: MASTER_KEY,
        SIGIL_CONFIG: dir.config,
        SIGIL_DATA_DIR: dir.dataDir,
        SIGIL_TOKEN: token,
        LOG_LEVEL: 'silent',
      },
      stderr: 'ignore',
    }),
  );
  return client;
}

/**
 * An auditor's token, made by Root: Observer (or `loa`) with `canon.read` and `trust.status`
 * (decision stats), or `scopes`, plus the explicit `canon.audit` grant: the one credential that
 * reads every record body (Root reads only the governing kinds).
 */
export async function auditorToken(
  base: string,
  rootToken: string,
  opts: { subject?: string; loa?: string; scopes?: string[] } = {},
): Promise<string> {
  const subject = opts.subject ?? 'did:sigil:auditor';
  const a = await checkedCall(base, 'POST', '/api/tokens', rootToken, {
    subject,
    loa: opts.loa ?? 'observer',
    signer: { type: 'human' },
    scopes: [...(opts.scopes ?? ['canon.read', 'trust.status']), 'canon.audit'],
  });
  if (a.status !== 201) throw new Error(`auditor token for ${subject}: ${a.text}`);
  return (a.body as { token: string }).token;
}

/**
 * Validates responses against the OpenAPI document the server serves: the schema of the
 * operation (path template + method) for the answer's status.
 */
interface OpenApiDoc {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>
  >;
  components: unknown;
}

export class OpenApiChecker {
  readonly doc: OpenApiDoc;
  readonly #ajv = new Ajv({ strict: false, allErrors: false });
  readonly #cache = new Map<string, ValidateFunction>();
  /** Operations seen with a validated response, as "METHOD /template status". */
  readonly seen = new Set<string>();

  constructor(doc: unknown) {
    this.doc = doc as OpenApiDoc;
  }

  /** Throws when `answer` does not match the documented response of `method template`. */
  check(method: string, template: string, answer: Answer): void {
    const op = this.doc.paths[template]?.[method.toLowerCase()];
    if (!op) throw new Error(`undocumented operation ${method} ${template}`);
    const response = op.responses[String(answer.status)];
    if (!response)
      throw new Error(
        `${method} ${template}: status ${answer.status} is not documented: ${answer.text.slice(0, 300)}`,
      );
    const content = response.content ? Object.values(response.content)[0] : undefined;
    const key = `${method} ${template} ${answer.status}`;
    if (!content) {
      this.seen.add(key);
      return;
    }
    let validate = this.#cache.get(key);
    if (!validate) {
      validate = this.#ajv.compile({
        ...(content.schema as object),
        components: this.doc.components,
      });
      this.#cache.set(key, validate);
    }
    if (!validate(answer.body)) {
      throw new Error(
        `${key}: response does not match its schema: ${this.#ajv.errorsText(validate.errors)}\n${answer.text.slice(0, 500)}`,
      );
    }
    this.seen.add(key);
  }
}

/**
 * POST /api/session with `token` from the loopback source address `from` (127.x.y.z all reach a
 * server on 127.0.0.1), so a test chooses which per-address sign-in bucket it spends: the
 * status and the problem code, if any.
 */
export function signInFrom(
  base: string,
  token: string,
  from: string,
): Promise<{ status: number; code?: string }> {
  const url = new URL('/api/session', base);
  const body = JSON.stringify({ token });
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        localAddress: from,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: 15_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let code: string | undefined;
          try {
            code = (JSON.parse(text) as { code?: string }).code;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, ...(code !== undefined && { code }) });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('sign-in timed out')));
    req.on('error', reject);
    req.end(body);
  });
}
