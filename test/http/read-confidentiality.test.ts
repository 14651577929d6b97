/**
 * Issue 13 §1, as an attacker would try it through the real server: with a token of each level,
 * list and fetch every record and look for bodies that are not yours. Only the readers of the
 * table in src/runtime/read-access.ts see a body (memory by its owner, decisions and MCP calls
 * by their caller, user data by its writer, governing kinds by Root, everything only with the
 * explicit canon.audit scope); everyone else, Root included, gets the public envelope, which
 * still proves inclusion. Every read is a sealed canon.read decision. The MCP call is made by an
 * AI agent through the real `sigil gateway` (SDK client, SDK upstream); the CLI is read too.
 */
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseVerifierKey } from '../../src/canon/checkpoint.ts';
import { verifyInclusionProof } from '../../src/canon/verify.ts';
import { NOTES_POLICY, notesUpstream } from '../mcp/helpers.ts';
import {
  ROOMY_LIMITS,
  auditorToken,
  call,
  runCli,
  sigilGatewayClient,
  startServer,
  tempDataDir,
  type ServerProcess,
} from './helpers.ts';

type Json = Record<string, unknown>;
const LEVELS = ['guest', 'observer', 'operator', 'mentor'] as const;
const ENVELOPE = ['hash', 'id', 'kind', 'leaf_hash', 'prev', 'pub_key', 'seq', 'sig', 'ts'];
const SECRET = 'secret-of-the-mentor';
/** What the agent asks the upstream for: it lives only in the mcp_call body. */
const AGENT_SECRET = 'note-id-only-the-agent-knows';
const AGENT = 'did:sigil:reader-agent';

let dir: ReturnType<typeof tempDataDir>;
let server: ServerProcess;
let root: string;
const tokens: Record<string, string> = {};
const subjects: Record<string, string> = {};
let mentorNote: Json;
let mentorMemory: string;
let mentorDecision: string;
let agentCall: string;
let agentToken: string;
let agent: Client | undefined;

const get = (token: string, path: string) => call(server.url, 'GET', path, { token });

async function listAll(token: string): Promise<Json[]> {
  const page = await get(token, '/api/canon/records?limit=1000');
  expect(page.status, page.text).toBe(200);
  return (page.body as { records: Json[] }).records;
}

beforeAll(async () => {
  dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
  server = await startServer(dir.dataDir, dir.config);
  root = server.rootToken!;
  for (const loa of LEVELS) {
    subjects[loa] = `did:sigil:reader-${loa}`;
    const t = await call(server.url, 'POST', '/api/tokens', {
      token: root,
      body: { subject: subjects[loa], loa },
    });
    expect(t.status, t.text).toBe(201);
    tokens[loa] = (t.body as { token: string }).token;
  }
  tokens.auditor = await auditorToken(server.url, root);
  const auditor_ = tokens.auditor;
  const write = await call(server.url, 'POST', '/api/canon/user/write', {
    token: tokens.mentor!,
    body: { payload: { note: SECRET } },
  });
  expect(write.status, write.text).toBe(201);
  mentorNote = write.body as Json;
  const mem = await call(server.url, 'POST', '/api/memory/write', {
    token: tokens.mentor!,
    body: { key: 'diary', value: { text: SECRET } },
  });
  expect(mem.status, mem.text).toBe(201);
  mentorMemory = (mem.body as { record_id: string }).record_id;
  // The decision that allowed the note (its record links it): the Mentor's to read.
  mentorDecision = (mentorNote.links as Array<{ rel: string; id: string }>).find(
    (l) => l.rel === 'decision',
  )!.id;

  // An AI agent's tool call through the real `sigil gateway` over this data dir.
  const d = await call(server.url, 'POST', '/api/delegations', {
    token: root,
    body: { to: AGENT, actions: ['mcp.tools.call', 'canon.read'] },
  });
  expect(d.status, d.text).toBe(201);
  const t = await call(server.url, 'POST', '/api/tokens', {
    token: root,
    body: {
      subject: AGENT,
      loa: 'operator',
      signer: { type: 'ai', delegation_id: (d.body as { delegation_id: string }).delegation_id },
      scopes: ['mcp.tools.call', 'canon.read'],
    },
  });
  expect(t.status, t.text).toBe(201);
  agentToken = (t.body as { token: string }).token;
  const c = await call(server.url, 'POST', '/api/consent', {
    token: root,
    body: { bailee: AGENT, scope: 'mcp.tools.call, canon.read', purpose: 'retrieval' },
  });
  expect(c.status, c.text).toBe(201);
  agent = await sigilGatewayClient(
    dir,
    notesUpstream(join(dir.dataDir, '..', 'notes.log')) + NOTES_POLICY,
    agentToken,
    'reader-agent',
  );
  const answer = (await agent.callTool({
    name: 'notes__read_note',
    arguments: { id: AGENT_SECRET },
  })) as CallToolResult;
  expect(JSON.stringify(answer.content)).toContain(AGENT_SECRET);
  const calls = (await listAll(auditor_)).filter((r) => r.kind === 'mcp_call');
  expect(calls).toHaveLength(1);
  expect(calls[0]!.payload).toMatchObject({ caller: AGENT, arguments: { id: AGENT_SECRET } });
  agentCall = calls[0]!.id as string;
}, 90_000);
afterAll(async () => {
  await agent?.close().catch(() => undefined);
  await server?.stop();
  dir?.remove();
});

describe('reads are confidential', () => {
  it('a Guest listing everything sees no body but its own decisions', async () => {
    const records = await listAll(tokens.guest!);
    expect(records.length).toBeGreaterThan(10);
    expect(JSON.stringify(records)).not.toContain(SECRET);
    for (const r of records) {
      if ('payload' in r) {
        expect(r.kind).toBe('decision');
        expect((r.payload as { caller: { subject: string } }).caller.subject).toBe(subjects.guest);
      } else {
        expect(Object.keys(r).sort()).toEqual(ENVELOPE);
      }
    }
    // The token inventory only Root may list is not readable record by record either.
    expect(records.some((r) => r.kind === 'token_event' && 'payload' in r)).toBe(false);
  });

  it('no level below Root reads another subject’s memory, note or decisions, by list or by id', async () => {
    for (const loa of ['guest', 'observer', 'operator'] as const) {
      const records = await listAll(tokens[loa]!);
      expect(JSON.stringify(records), loa).not.toContain(SECRET);
      for (const id of [mentorNote.id as string, mentorMemory]) {
        const one = await get(tokens[loa]!, `/api/canon/records/${id}`);
        expect(one.status, one.text).toBe(200);
        expect(Object.keys(one.body as Json).sort()).toEqual(ENVELOPE);
      }
      const decisions = await get(tokens[loa]!, '/api/decisions?limit=200');
      if (decisions.status === 200) {
        for (const d of (decisions.body as { decisions: Array<{ subject: string }> }).decisions) {
          expect(d.subject).toBe(subjects[loa]);
        }
      }
    }
  });

  it('the writer, the owner and an auditor read the bodies; Root reads the governing kinds', async () => {
    const note = await get(tokens.mentor!, `/api/canon/records/${mentorNote.id as string}`);
    expect(note.body).toMatchObject({ payload: { note: SECRET } });
    const memory = await get(tokens.mentor!, `/api/canon/records/${mentorMemory}`);
    expect(memory.body).toMatchObject({ payload: { owner: subjects.mentor } });
    const own = await get(agentToken, `/api/canon/records/${agentCall}`);
    expect(own.status, own.text).toBe(200);
    expect(own.body).toMatchObject({ payload: { caller: AGENT, arguments: { id: AGENT_SECRET } } });
    const audited = await listAll(tokens.auditor!);
    expect(audited.every((r) => 'payload' in r)).toBe(true);
    expect(JSON.stringify(audited)).toContain(SECRET);
    expect(JSON.stringify(audited)).toContain(AGENT_SECRET);

    const asRoot = await listAll(root);
    for (const kind of ['token_event', 'consent_event', 'delegation_event', 'decision_policy']) {
      const governing = asRoot.filter((r) => r.kind === kind);
      if (kind !== 'consent_event') expect(governing.length, kind).toBeGreaterThan(0);
      expect(
        governing.every((r) => 'payload' in r),
        kind,
      ).toBe(true);
    }
  });

  it('Root without canon.audit gets the envelope of another’s memory, decision and MCP call', async () => {
    const asRoot = await listAll(root);
    const text = JSON.stringify(asRoot);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(AGENT_SECRET);
    for (const r of asRoot) {
      if (r.kind === 'memory_block' || r.kind === 'mcp_call' || r.kind === 'user_data') {
        expect(Object.keys(r).sort(), r.kind as string).toEqual(ENVELOPE);
      }
      if (r.kind === 'decision' && 'payload' in r) {
        expect((r.payload as { caller: { subject: string } }).caller.subject).toBe(
          'did:sigil:root',
        );
      }
    }
    for (const id of [mentorMemory, mentorDecision, agentCall, mentorNote.id as string]) {
      const one = await get(root, `/api/canon/records/${id}`);
      expect(one.status, one.text).toBe(200);
      expect(Object.keys(one.body as Json).sort(), id).toEqual(ENVELOPE);
    }
    const memory = await get(root, `/api/memory/read/diary?owner=${subjects.mentor}`);
    expect(memory.status).toBe(403);
    expect((memory.body as Json).code).toBe('forbidden');
    expect(memory.text).not.toContain(SECRET);
    const decisions = await get(root, '/api/decisions?limit=200');
    expect(decisions.status).toBe(200);
    for (const d of (decisions.body as { decisions: Array<{ subject: string }> }).decisions) {
      expect(d.subject).toBe('did:sigil:root');
    }
  });

  it('the CLI holds the same line: the licensed operator and a Root --token see envelopes', async () => {
    const cli = (args: string[], token?: string) =>
      runCli([...args, '--data-dir', dir.dataDir, '--json'], {
        SIGIL_CONFIG: dir.config,
        ...(token !== undefined && { SIGIL_TOKEN: token }),
      });
    for (const token of [undefined, root]) {
      for (const id of [mentorMemory, mentorDecision, agentCall]) {
        const got = await cli(['canon', 'get', id], token);
        expect(got.code, got.stderr).toBe(0);
        expect(Object.keys(JSON.parse(got.stdout) as Json).sort(), id).toEqual(ENVELOPE);
      }
      const listed = await cli(['canon', 'list', '--limit', '1000'], token);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).not.toContain(SECRET);
      expect(listed.stdout).not.toContain(AGENT_SECRET);
    }
    const audited = await cli(['canon', 'get', agentCall], tokens.auditor!);
    expect(audited.code, audited.stderr).toBe(0);
    expect(JSON.parse(audited.stdout)).toMatchObject({
      payload: { arguments: { id: AGENT_SECRET } },
    });
  });

  it('an envelope is enough to prove inclusion', async () => {
    const one = await get(tokens.guest!, `/api/canon/records/${mentorNote.id as string}`);
    const envelope = one.body as { seq: number; leaf_hash: string };
    await new Promise((r) => setTimeout(r, 1100));
    const cp = (await call(server.url, 'GET', '/api/log/checkpoint')).body as Json;
    const proof = (
      await call(
        server.url,
        'GET',
        `/api/log/proof/inclusion?seq=${envelope.seq}&size=${cp.size as number}`,
      )
    ).body as { leaf_hash: string };
    expect(proof.leaf_hash).toBe(envelope.leaf_hash);
    const { keyName, publicKey } = parseVerifierKey(cp.verifier_key as string);
    expect(verifyInclusionProof(proof as never, cp.note as string, keyName, publicKey)).toEqual({
      ok: true,
    });
  });

  it('every read is a sealed canon.read decision naming the record', async () => {
    const id = mentorNote.id as string;
    const read = await get(tokens.observer!, `/api/canon/records/${id}`);
    expect(read.status).toBe(200);
    const mine = await listAll(tokens.observer!);
    const reads = mine.filter(
      (r) =>
        r.kind === 'decision' &&
        'payload' in r &&
        (r.payload as { request: { action: string; target: string } }).request.target ===
          `canon/records/${id}`,
    );
    expect(reads.length).toBeGreaterThan(0);
    expect(reads[0]!.payload).toMatchObject({
      caller: { subject: subjects.observer },
      request: { action: 'canon.read' },
      decision: { verdict: 'allow' },
    });
  });

  it('no one without canon.audit replays another caller’s decision, and everyone replays its own', async () => {
    const post = (token: string, id: string) =>
      call(server.url, 'POST', `/api/decisions/${id}/replay`, { token });
    const idOf = async (token: string) =>
      (
        (
          await call(server.url, 'POST', '/api/trust/check', {
            token,
            body: { action: 'canon.read', target: 'canon/records' },
          })
        ).body as { decision_id: string }
      ).decision_id;
    const theirs = { root: await idOf(root), mentor: await idOf(tokens.mentor!) };
    for (const loa of ['guest', 'operator'] as const) {
      for (const [whose, id] of Object.entries(theirs)) {
        const a = await post(tokens[loa]!, id);
        expect(a.status, `${loa} replays ${whose}'s`).toBe(403);
        expect((a.body as Json).code).toBe('forbidden');
        expect(a.text).not.toContain(whose === 'root' ? 'did:sigil:root' : subjects.mentor);
      }
      const mine = await post(tokens[loa]!, await idOf(tokens[loa]!));
      expect(mine.status, mine.text).toBe(200);
      expect(mine.body).toMatchObject({ matches: true });
    }
    // Root without the audit grant replays only its own; an auditor replays anyone's.
    const asRoot = await post(root, theirs.mentor);
    expect(asRoot.status).toBe(403);
    expect((asRoot.body as Json).code).toBe('forbidden');
    expect((await post(root, theirs.root)).status).toBe(200);
    expect((await post(tokens.auditor!, theirs.mentor)).status).toBe(200);
  });

  it('decision stats show a caller without canon.audit, Root included, only its own decisions', async () => {
    // Denials by others in the window: the Guest and the Operator may not mint tokens.
    for (const loa of ['guest', 'operator'] as const) {
      const d = await call(server.url, 'POST', '/api/tokens', {
        token: tokens[loa]!,
        body: { subject: 'did:sigil:nobody', loa: 'guest' },
      });
      expect(d.status).toBe(403);
    }
    const stats = async (token: string) => {
      const a = await get(token, '/api/decisions/stats?minutes=60');
      expect(a.status, a.text).toBe(200);
      return a.body as {
        totals: { allow: number; deny: number };
        top_denied_callers: Array<{ subject: string }>;
      };
    };
    // An auditor who may read the counts sees everyone's.
    const counter = await auditorToken(server.url, root, {
      subject: 'did:sigil:counter',
      scopes: ['trust.status'],
    });
    const all = await stats(counter);
    const denied = all.top_denied_callers.map((c) => c.subject);
    expect(denied).toEqual(expect.arrayContaining([subjects.guest, subjects.operator]));

    // The Observer is denied something itself, and sees its own denial and nobody else's.
    const own = await call(server.url, 'POST', '/api/tokens', {
      token: tokens.observer!,
      body: { subject: 'did:sigil:nobody', loa: 'guest' },
    });
    expect(own.status).toBe(403);
    const mine = await stats(tokens.observer!);
    expect(mine.top_denied_callers.map((c) => c.subject)).toEqual([subjects.observer]);
    const listed = await get(tokens.observer!, '/api/decisions?limit=200');
    const count = (listed.body as { decisions: unknown[] }).decisions.length;
    // Its own decisions only (the list itself is sealed after the stats were read).
    expect(mine.totals.allow + mine.totals.deny).toBeGreaterThan(0);
    expect(mine.totals.allow + mine.totals.deny).toBeLessThanOrEqual(count);
    expect(mine.totals.allow + mine.totals.deny).toBeLessThan(all.totals.allow + all.totals.deny);
    expect(mine.totals.deny).toBe(1);
    // A Guest is not shown the counts at all (observer and above).
    const guest = await get(tokens.guest!, '/api/decisions/stats');
    expect(guest.status).toBe(403);
    const root_ = await stats(root);
    expect(root_.top_denied_callers.map((c) => c.subject)).not.toEqual(
      expect.arrayContaining([subjects.guest]),
    );
    expect(root_.totals.allow + root_.totals.deny).toBeLessThan(all.totals.allow + all.totals.deny);
  });
});
