/**
 * Issue 13 §6: every call's outcome is in the log before the agent sees it. The real
 * `sigil gateway --listen` process, an SDK client and the SDK notes upstream, with a store that
 * fails at the worst moment: a trigger, added to the live SQLite file through a second
 * connection, makes the insert of one record kind fail. When the `mcp_call` record of an
 * allowed call cannot be written, the upstream has already acted, and the agent gets
 * `record_failed`, never the result. When the decision cannot be written, nothing reaches the
 * upstream. A denial whose outcome cannot be sealed does not leave as that denial either.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_META_KEY, type GatewayDenial } from '../../src/mcp/index.ts';
import type { SigilRuntime } from '../../src/runtime/index.ts';
import {
  agentToken,
  makeEnv,
  NOTES_POLICY,
  notesUpstream,
  openRuntime,
  spawnGateway,
  upstreamCalls,
  type Env,
} from './helpers.ts';

let e: Env;
let runtime: SigilRuntime;
let gateway: Awaited<ReturnType<typeof spawnGateway>>;
let client: Client;
let logFile: string;
let db: Database.Database;

/** Makes every insert of `kind` into the live log fail, until `heal()`. */
function breakStore(kind: string): void {
  db.exec(
    `CREATE TRIGGER fail_${kind} BEFORE INSERT ON records WHEN NEW.kind = '${kind}'
     BEGIN SELECT RAISE(ABORT, 'injected write failure'); END;`,
  );
}
function heal(): void {
  for (const { name } of db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    .all() as { name: string }[]) {
    db.exec(`DROP TRIGGER ${name}`);
  }
}
const storedCount = (kind: string): number =>
  (db.prepare('SELECT count(*) AS n FROM records WHERE kind = ?').get(kind) as { n: number }).n;

async function call(name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

function denial(r: CallToolResult): GatewayDenial {
  expect(r.isError).toBe(true);
  return r._meta?.[ERROR_META_KEY] as GatewayDenial;
}

/** The mcp_call records linked to a decision. */
async function outcomesOf(decisionId: string) {
  const page = await runtime.log.list({ kind: 'mcp_call', limit: 1000 });
  return page.records.filter((r) => r.links.some((l) => l.id === decisionId));
}

beforeAll(async () => {
  e = makeEnv();
  logFile = join(e.dir, 'upstream.log');
  const opened = await openRuntime(e);
  runtime = opened.runtime;
  const root = await runtime.tokens.authenticate(opened.rootToken);
  const token = await agentToken(runtime, root);
  gateway = await spawnGateway(e, notesUpstream(logFile) + NOTES_POLICY);
  client = new Client({ name: 'agent', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  db = new Database(join(e.dataDir, 'canon.db'));
  db.pragma('busy_timeout = 10000');
}, 60_000);

afterAll(async () => {
  db?.close();
  await client?.close().catch(() => undefined);
  gateway?.stop();
  await runtime?.close();
  e?.cleanup();
});

describe('the outcome is sealed before the agent sees it', () => {
  it('has the mcp_call record durable, in the store, when the result arrives', async () => {
    for (let i = 0; i < 3; i++) {
      const before = storedCount('mcp_call');
      const r = await call('notes__read_note', { id: 'n1' });
      // Read through another connection at the instant the agent has the result.
      expect(storedCount('mcp_call')).toBe(before + 1);
      expect(r.isError).toBeFalsy();
    }
  });

  it('withholds the result when its record cannot be written after the upstream acted', async () => {
    const upstreamBefore = upstreamCalls(logFile).length;
    breakStore('mcp_call');
    try {
      const r = await call('notes__read_note', { id: 'n2' });
      const d = denial(r);
      expect(d.code).toBe('record_failed');
      expect(JSON.stringify(r)).not.toContain('second note');
      // The upstream did act: this is the worst moment, and the agent still learns nothing.
      expect(upstreamCalls(logFile).length).toBe(upstreamBefore + 1);
      // The allow decision is sealed; no outcome claims the call completed.
      const decision = await runtime.log.get(d.decision_id!);
      expect((decision?.payload as { decision: { verdict: string } }).decision.verdict).toBe(
        'allow',
      );
      expect(await outcomesOf(d.decision_id!)).toEqual([]);

      const resource = await client.readResource({ uri: 'sigil://notes/notes://n2' }).then(
        () => null,
        (x: unknown) => x,
      );
      expect(resource).toBeInstanceOf(McpError);
      expect((resource as McpError).data).toMatchObject({ code: 'record_failed' });
      expect(JSON.stringify((resource as McpError).data)).not.toContain('second note');
    } finally {
      heal();
    }
  });

  it('does not let a denial out as that denial when its outcome cannot be sealed', async () => {
    breakStore('mcp_call');
    try {
      const d = denial(await call('notes__delete_note', { id: 'n1' }));
      expect(d.code).toBe('record_failed');
      const decision = await runtime.log.get(d.decision_id!);
      expect((decision?.payload as { decision: { code: string } }).decision.code).toBe(
        'loa_insufficient',
      );
    } finally {
      heal();
    }
  });

  it('calls nothing upstream when the decision cannot be sealed', async () => {
    const upstreamBefore = upstreamCalls(logFile).length;
    const decisionsBefore = storedCount('decision');
    breakStore('decision');
    try {
      for (const [tool, args] of [
        ['notes__read_note', { id: 'n1' }],
        ['notes__delete_note', { id: 'n1' }],
        ['notes__unknown', {}],
      ] as const) {
        const d = denial(await call(tool, args));
        expect(d).toMatchObject({ code: 'record_failed', decision_id: null });
      }
    } finally {
      heal();
    }
    expect(upstreamCalls(logFile).length).toBe(upstreamBefore);
    expect(storedCount('decision')).toBe(decisionsBefore);
  });

  it('recovers once the store does, with a log that validates', async () => {
    const r = await call('notes__read_note', { id: 'n2' });
    expect(r.isError).toBeFalsy();
    expect(r.content).toEqual([{ type: 'text', text: 'second note' }]);
    await runtime.log.checkpoint();
    expect((await runtime.log.validate({ workers: 0 })).ok).toBe(true);
  });
});
