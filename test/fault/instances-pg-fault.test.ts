/**
 * Many instances, faults survived (issue 17 item 5): 4 `sigil serve` processes on one PostgreSQL
 * (its own throwaway cluster, so restarting it disturbs no other test), 32 clients each deciding
 * requests (`POST /api/trust/check`, every one a sealed decision) through them, round robin;
 * meanwhile one instance is SIGKILLed and restarted and PostgreSQL itself is restarted.
 * Afterwards every acknowledged decision is in the log, the log is one chain that validates, and
 * every instance serves (and decides) again. Then the four behave as one system: a token minted
 * on one works on another and, revoked on a third, is refused on all; a session opened on one
 * works on another and, signed out on a third, ends on all; four verdicts on one approval sent to
 * the four at once seal exactly one; a caller's decision rate limit and the sign-in throttles
 * (per token, per address) allow across the four what one instance allows, not four times
 * it. The run length is SIGIL_FAULT_SECONDS (default 15) so it
 * stays within CI's budget; it prints the throughput, the longest time no decision was
 * acknowledged, and how long revocation and sign-out took to reach every instance.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CanonLog } from '../../src/canon/log.ts';
import { loadConfig } from '../../src/config/index.ts';
import { SigilRuntime } from '../../src/runtime/index.ts';
import { PG_BIN, runPg, startCluster } from '../global-setup.ts';
import type { ServerProcess } from '../http/helpers.ts';
import { toHex } from '../../src/core/encoding.ts';
import { randomBytes } from '../../src/core/random.ts';
import { MASTER_KEY, ROOMY_LIMITS, signInFrom, startServer } from '../http/helpers.ts';
import { humanApprover, verdictSignature } from '../mcp/helpers.ts';

const SECONDS = Number(process.env.SIGIL_FAULT_SECONDS ?? 15);
const INSTANCES = 4;
const CLIENTS = 32;
const hasPg = existsSync(join(PG_BIN, 'initdb'));
const ENV = { SIGIL_MASTER_KEY: MASTER_KEY };
/** Observers get a tight decision bucket (none refills during the test); every other level is roomy. */
const OBSERVER_BURST = 8;
const LIMITS = ROOMY_LIMITS.replace(
  /^observer = .*$/m,
  `observer = { rate = 0.001, burst = ${OBSERVER_BURST} }`,
);
/** The sign-in throttle's defaults (src/http/sessions.ts): per token 10, per address 30 at once. */
const TOKEN_BURST = 10;
const ADDRESS_BURST = 30;

let root: string;
let pgDir: string;
let pgData: string;
let databaseUrl: string;
let dataDir: string;
let config: string;
let rootToken: string;
const clientTokens: string[] = [];
const instances: Array<ServerProcess | undefined> = [];

let lastRefusal = '';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function call(
  s: ServerProcess,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: {
      ...(opts.token !== undefined && { authorization: `Bearer ${opts.token}` }),
      ...(opts.body !== undefined && { 'content-type': 'application/json' }),
      ...opts.headers,
    },
    ...(opts.body !== undefined && { body: JSON.stringify(opts.body) }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    body = { text };
  }
  return { status: res.status, body, headers: res.headers };
}

/** One decision through `s`: its sealed decision's id, or undefined when refused. */
async function decide(s: ServerProcess, token: string, i: number): Promise<string | undefined> {
  const a = await call(s, 'POST', '/api/trust/check', {
    token,
    body: { action: 'canon.read', target: `fault/${i}` },
  });
  if (a.status !== 200) {
    lastRefusal = `${a.status} ${JSON.stringify(a.body)}`;
    return undefined;
  }
  return a.body.decision_id as string;
}

function live(i: number): ServerProcess {
  return instances[i]!;
}

async function withRuntime<T>(fn: (rt: SigilRuntime) => Promise<T>): Promise<T> {
  const rt = await SigilRuntime.open({
    config: loadConfig({ env: { ...ENV, SIGIL_CONFIG: config }, dataDir }),
    env: ENV,
  });
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

/** Ms until `refused(i)` holds on every instance in `on` (polled), or throws after `limitMs`. */
async function untilEverywhere(
  on: number[],
  refused: (s: ServerProcess) => Promise<boolean>,
  limitMs: number,
): Promise<number> {
  const started = performance.now();
  for (const i of on) {
    while (!(await refused(live(i)))) {
      if (performance.now() - started > limitMs) throw new Error(`instance ${i} still accepts`);
      await sleep(25);
    }
  }
  return performance.now() - started;
}

beforeAll(async () => {
  if (!hasPg) return;
  root = mkdtempSync(join(tmpdir(), 'sigil-fault-'));
  // Its own cluster: restarting it disturbs no other test.
  const cluster = await startCluster('sigil-fault-pg-');
  pgDir = cluster.dir;
  pgData = cluster.data;
  databaseUrl = `postgres://postgres@127.0.0.1:${cluster.port}/postgres`;
  dataDir = join(root, 'data');
  config = join(root, 'mmf.toml');
  writeFileSync(
    config,
    `db_backend = "postgres"\ndatabase_url = "${databaseUrl}"\n[rate_limit]\n${LIMITS}\n`,
  );
  const first = await startServer(dataDir, config);
  rootToken = first.rootToken!;
  instances.push(first);
  instances.push(
    ...(await Promise.all(
      Array.from({ length: INSTANCES - 1 }, () => startServer(dataDir, config)),
    )),
  );
  // Each client decides as its own caller (a human Operator), minted on any instance.
  for (let c = 0; c < CLIENTS; c += 1) {
    const t = await call(live(c % INSTANCES), 'POST', '/api/tokens', {
      token: rootToken,
      body: { subject: `did:sigil:fault-client-${c}`, loa: 'operator', signer: { type: 'human' } },
    });
    expect(t.status, JSON.stringify(t.body)).toBe(201);
    clientTokens.push(t.body.token as string);
  }
}, 180_000);

afterAll(async () => {
  await Promise.all(instances.map((s) => s?.stop(5000)));
  if (pgData) {
    try {
      runPg('pg_ctl', ['-D', pgData, '-m', 'immediate', '-w', 'stop']);
    } catch {
      // already stopped
    }
  }
  for (const d of [root, pgDir]) if (d) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(!hasPg)('4 instances on one PostgreSQL, 32 clients, faults', () => {
  it('keeps every acknowledged decision through a SIGKILL and a PostgreSQL restart', async () => {
    const acked: string[] = [];
    let failed = 0;
    let stop = false;
    const started = performance.now();
    let lastAck = started;
    let longestPause = 0;
    const client = async (c: number) => {
      for (let i = 0; !stop; i += 1) {
        const s = instances[(c + i) % INSTANCES];
        if (s === undefined) {
          await sleep(20);
          continue;
        }
        try {
          const id = await decide(s, clientTokens[c]!, c * 1_000_000 + i);
          if (id === undefined) {
            failed += 1;
            await sleep(50);
            continue;
          }
          acked.push(id);
          const now = performance.now();
          longestPause = Math.max(longestPause, now - lastAck);
          lastAck = now;
        } catch {
          failed += 1;
          await sleep(50);
        }
      }
    };
    const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));

    await sleep((SECONDS * 1000) / 3);
    // SIGKILL one instance mid-decision, and bring it back.
    const victim = instances[1]!;
    instances[1] = undefined;
    victim.child.kill('SIGKILL');
    await new Promise((r) => victim.child.once('exit', r));
    instances[1] = await startServer(dataDir, config);
    const killedAt = acked.length;

    await sleep((SECONDS * 1000) / 3);
    // Restart PostgreSQL under all four.
    // -l: without a log file the server would hold pg_ctl's stdout, and execFileSync would wait.
    runPg('pg_ctl', ['-D', pgData, '-l', join(pgDir, 'server.log'), '-m', 'fast', '-w', 'restart']);
    const restartedAt = acked.length;

    await sleep((SECONDS * 1000) / 3);
    stop = true;
    await Promise.all(clients);
    const elapsed = (performance.now() - started) / 1000;
    longestPause = Math.max(longestPause, performance.now() - lastAck);

    // Decisions went on after each fault.
    expect(acked.length).toBeGreaterThan(restartedAt);
    expect(restartedAt).toBeGreaterThan(killedAt);

    // Every instance serves again: it decides, and serves its checkpoint.
    for (const [n, s] of instances.entries()) {
      let id: string | undefined;
      for (let attempt = 0; attempt < 50 && id === undefined; attempt += 1) {
        id = await decide(s!, clientTokens[n]!, -1).catch((err: unknown) => {
          lastRefusal = String(err);
          return undefined;
        });
        if (id === undefined) await sleep(200);
      }
      expect(
        id,
        `instance ${s!.url} decides again (last: ${lastRefusal}; exit ${s!.child.exitCode}; ${s!.stderr().slice(-3000)})`,
      ).toBeDefined();
      acked.push(id!);
      expect((await fetch(`${s!.url}/log/checkpoint`)).status).toBe(200);
    }

    // Every acknowledged decision is in the log, sealed as a decision, and the log is one chain
    // that validates.
    const log = await CanonLog.open({ dataDir, backend: 'postgres', databaseUrl, env: ENV });
    try {
      const missing: string[] = [];
      const kinds = new Set<string>();
      for (const id of acked) {
        const r = await log.get(id);
        if (r === undefined) missing.push(id);
        else kinds.add(r.kind);
      }
      expect(missing).toEqual([]);
      expect([...kinds]).toEqual(['decision']);
      expect(new Set(acked).size).toBe(acked.length);
      const result = await log.validate();
      expect(result.ok, JSON.stringify(result)).toBe(true);
      expect(await log.size()).toBeGreaterThanOrEqual(acked.length);
    } finally {
      await log.close();
    }
    console.log(
      `[fault] ${INSTANCES} instances, ${CLIENTS} clients, ${elapsed.toFixed(1)} s: ` +
        `${acked.length} acknowledged decisions (${(acked.length / elapsed).toFixed(0)}/s), ` +
        `${failed} refused or failed during faults, longest pause ${(longestPause / 1000).toFixed(2)} s`,
    );
  }, 240_000);

  it('a token minted on one instance works on another; revoked on a third, all refuse it', async () => {
    const minted = await call(live(0), 'POST', '/api/tokens', {
      token: rootToken,
      body: { subject: 'did:sigil:fault-revoked', loa: 'operator', signer: { type: 'human' } },
    });
    expect(minted.status).toBe(201);
    const token = minted.body.token as string;
    const id = (minted.body.info as { id: string }).id;
    for (let i = 0; i < INSTANCES; i += 1) expect(await decide(live(i), token, i)).toBeDefined();
    expect((await call(live(2), 'DELETE', `/api/tokens/${id}`, { token: rootToken })).status).toBe(
      200,
    );
    const refused = async (s: ServerProcess) => {
      const a = await call(s, 'POST', '/api/trust/check', {
        token,
        body: { action: 'canon.read', target: 'fault/revoked' },
      });
      return a.status === 401;
    };
    const ms = await untilEverywhere([0, 1, 2, 3], refused, 5000);
    console.log(`[fault] revocation on one instance refused on all four after ${ms.toFixed(0)} ms`);
  }, 60_000);

  it('a session opened on one instance works on another; signed out on a third, it ends on all', async () => {
    const opened = await call(live(0), 'POST', '/api/session', {
      body: { token: clientTokens[0] },
    });
    expect(opened.status).toBe(201);
    const cookie = /sigil_session=[^;]+/.exec(opened.headers.get('set-cookie') ?? '')![0];
    const csrf = opened.body.csrf_token as string;
    const whoami = (s: ServerProcess) => call(s, 'GET', '/api/whoami', { headers: { cookie } });
    for (let i = 0; i < INSTANCES; i += 1) {
      const a = await whoami(live(i));
      expect(a.status).toBe(200);
      expect((a.body.caller as { subject: string }).subject).toBe('did:sigil:fault-client-0');
    }
    // Without the CSRF token another instance refuses the sign-out, and the session stands.
    const forged = await call(live(1), 'DELETE', '/api/session', { headers: { cookie } });
    expect(forged.status).toBe(403);
    expect((await whoami(live(3))).status).toBe(200);
    const out = await call(live(2), 'DELETE', '/api/session', {
      headers: { cookie, 'x-csrf-token': csrf },
    });
    expect(out.status).toBe(204);
    const ms = await untilEverywhere(
      [0, 1, 2, 3],
      async (s) => (await whoami(s)).status === 401,
      5000,
    );
    console.log(
      `[fault] sign-out on one instance ended the session on all four after ${ms.toFixed(0)} ms`,
    );
  }, 60_000);

  it('four verdicts on one approval, sent to the four instances at once: exactly one is sealed', async () => {
    const { approver, approvalId } = await withRuntime(async (rt) => {
      const rootCaller = await rt.tokens.authenticate(rootToken);
      const approver = await humanApprover(rt, rootCaller, 'did:sigil:fault-approver');
      const { id } = await rt.approvals.request(rootCaller, {
        decision_id: 'fault-approval',
        action: 'mcp.tools.call',
        target: 'fault/approval',
        tool: 'up__write_file',
        arguments: { path: '/etc/hosts' },
        summary: 'fault test',
      });
      return { approver, approvalId: id };
    });
    // The approver reads it on one instance, then signs each verdict.
    const listed = await call(live(3), 'GET', '/api/approvals', { token: approver.token });
    expect(listed.status).toBe(200);
    const pending = (
      listed.body.approvals as Array<{
        id: string;
        tool: string;
        arguments_hash: string;
        status: string;
      }>
    ).find((a) => a.id === approvalId)!;
    expect(pending.status).toBe('pending');
    const verdicts = ['approved', 'rejected', 'approved', 'rejected'] as const;
    const answers = await Promise.all(
      verdicts.map((verdict, i) =>
        call(live(i), 'POST', `/api/approvals/${approvalId}`, {
          token: approver.token,
          body: { verdict, signature: verdictSignature(pending, verdict, approver.privateKey) },
        }),
      ),
    );
    const won = answers.filter((a) => a.status === 200);
    expect(won).toHaveLength(1);
    expect(answers.filter((a) => a.status === 409).map((a) => a.body.code)).toEqual(
      Array(3).fill('approval_not_pending'),
    );
    const status = (won[0]!.body as { status: string }).status;
    // Every instance now shows the one verdict, and a late one is refused everywhere.
    for (let i = 0; i < INSTANCES; i += 1) {
      const seen = await call(live(i), 'GET', '/api/approvals', { token: approver.token });
      const a = (seen.body.approvals as Array<{ id: string; status: string }>).find(
        (x) => x.id === approvalId,
      )!;
      expect(a.status).toBe(status);
      const late = await call(live(i), 'POST', `/api/approvals/${approvalId}`, {
        token: approver.token,
        body: {
          verdict: 'approved',
          signature: verdictSignature(pending, 'approved', approver.privateKey),
        },
      });
      expect(late.status).toBe(409);
    }
  }, 60_000);

  it('a rate limit and the sign-in throttles allow across the four what one instance allows', async () => {
    const minted = await call(live(0), 'POST', '/api/tokens', {
      token: rootToken,
      body: { subject: 'did:sigil:fault-limited', loa: 'observer', signer: { type: 'human' } },
    });
    expect(minted.status).toBe(201);
    const observer = minted.body.token as string;
    // Four times the burst, round robin, at once: one bucket in the database, not four.
    const checks = await Promise.all(
      Array.from({ length: INSTANCES * OBSERVER_BURST }, (_, i) =>
        call(live(i % INSTANCES), 'POST', '/api/trust/check', {
          token: observer,
          body: { action: 'canon.read', target: `fault/limited/${i}` },
        }),
      ),
    );
    const decided = checks.filter((a) => a.status === 200).length;
    expect(checks.filter((a) => a.status !== 200).map((a) => a.body.code)).toEqual(
      Array(checks.length - decided).fill('rate_limited'),
    );
    expect(decided).toBe(OBSERVER_BURST);

    // One guessed token tried on all four: only its burst reaches the lookup (401), the rest 429.
    const guess = () => `sgl_${toHex(randomBytes(24))}`;
    const token = guess();
    const byToken = await Promise.all(
      Array.from({ length: INSTANCES * TOKEN_BURST }, (_, i) =>
        signInFrom(live(i % INSTANCES).url, token, '127.0.0.2'),
      ),
    );
    const tokenTried = byToken.filter((r) => r.status !== 429);
    expect(tokenTried.map((r) => r.status)).toEqual(Array(TOKEN_BURST).fill(401));
    // Many guessed tokens from one address: its burst, and at most its refill (1/s) meanwhile.
    const started = performance.now();
    const byAddress = await Promise.all(
      Array.from({ length: INSTANCES * ADDRESS_BURST }, (_, i) =>
        signInFrom(live(i % INSTANCES).url, guess(), '127.0.0.3'),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const addressTried = byAddress.filter((r) => r.status !== 429).length;
    expect(addressTried).toBeGreaterThanOrEqual(ADDRESS_BURST);
    expect(addressTried).toBeLessThanOrEqual(ADDRESS_BURST + Math.ceil(seconds));
    console.log(
      `[fault] across ${INSTANCES} instances: ${decided} of ${checks.length} decisions (burst ${OBSERVER_BURST}), ` +
        `${tokenTried.length} of ${byToken.length} sign-ins of one token (burst ${TOKEN_BURST}), ` +
        `${addressTried} of ${byAddress.length} from one address in ${seconds.toFixed(1)} s (burst ${ADDRESS_BURST})`,
    );
  }, 60_000);
});
