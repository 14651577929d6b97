/**
 * GET /api/decisions, GET /api/decisions/stats and POST /api/decisions/:id/replay through the
 * real server: filters, newest-first paging, counts that agree with the log, replay agreeing
 * with what was sealed, and each endpoint's permission (with a token of each level).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  OpenApiChecker,
  ROOMY_LIMITS,
  call,
  problemIssues,
  startServer,
  tempDataDir,
  type ServerProcess,
} from './helpers.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let dir: ReturnType<typeof tempDataDir>;
let server: ServerProcess;
let api: OpenApiChecker;
const tokens: Record<string, string> = {};

async function get(path: string, token: string, template = path.split('?')[0]!) {
  const a = await call(server.url, 'GET', path, { token });
  api.check('GET', template, a);
  return a;
}

async function check(token: string, action: string, target: string): Promise<Json> {
  const a = await call(server.url, 'POST', '/api/trust/check', {
    token,
    body: { action, target },
  });
  expect(a.status).toBe(200);
  return a.body as Json;
}

beforeAll(async () => {
  dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
  server = await startServer(dir.dataDir, dir.config);
  api = new OpenApiChecker((await call(server.url, 'GET', '/openapi.json')).body);
  tokens.root = server.rootToken!;
  for (const loa of ['guest', 'observer', 'mentor']) {
    const a = await call(server.url, 'POST', '/api/tokens', {
      token: tokens.root,
      body: { subject: `did:sigil:dec-${loa}`, loa },
    });
    tokens[loa] = (a.body as Json).token as string;
  }
  // Others' decisions are read with the explicit audit grant (read confidentiality, issue 13 §1).
  const auditor = await call(server.url, 'POST', '/api/tokens', {
    token: tokens.root,
    body: {
      subject: 'did:sigil:dec-auditor',
      loa: 'observer',
      scopes: ['canon.read', 'trust.status', 'canon.audit'],
    },
  });
  tokens.auditor = (auditor.body as Json).token as string;
  // three denials (mentor may not create tokens) and two allowed reads, interleaved
  for (let i = 0; i < 3; i++) {
    await check(tokens.mentor!, 'token.create', `tokens/${i}`);
    if (i < 2) await check(tokens.mentor!, 'memory.read', `memory/k${i}`);
  }
});

afterAll(async () => {
  await server?.stop();
  dir?.remove();
});

describe('GET /api/decisions', () => {
  it('lists decisions newest first, filtered by verdict, code, caller, action and target', async () => {
    const denied = await get(
      '/api/decisions?verdict=deny&subject=did:sigil:dec-mentor&action=token.create',
      tokens.auditor!,
    );
    expect(denied.status).toBe(200);
    const list = (denied.body as Json).decisions as Json[];
    expect(list.map((d) => d.target)).toEqual(['tokens/2', 'tokens/1', 'tokens/0']);
    for (const d of list) {
      expect(d).toMatchObject({ verdict: 'deny', code: 'loa_insufficient', loa: 'mentor' });
    }
    const seqs = list.map((d) => d.seq as number);
    expect([...seqs].sort((a, b) => b - a)).toEqual(seqs);

    const byCode = await get(
      '/api/decisions?code=loa_insufficient&target=tokens/1',
      tokens.auditor!,
    );
    expect(((byCode.body as Json).decisions as Json[]).map((d) => d.target)).toEqual(['tokens/1']);

    const prefix = await get(
      '/api/decisions?action=memory.*&verdict=allow&subject=did:sigil:dec-mentor',
      tokens.auditor!,
    );
    expect(((prefix.body as Json).decisions as Json[]).map((d) => d.target)).toEqual([
      'memory/k1',
      'memory/k0',
    ]);

    const future = await get('/api/decisions?since=2999-01-01T00:00:00Z', tokens.auditor!);
    expect((future.body as Json).decisions).toEqual([]);
    expect((future.body as Json).before).toBeUndefined();
    const past = await get(
      '/api/decisions?until=2000-01-01T00:00:00Z&action=token.create',
      tokens.auditor!,
    );
    expect((past.body as Json).decisions).toEqual([]);
  });

  it('pages with before: one decision per page, no repeats, then the end', async () => {
    const seen: string[] = [];
    let before: string | undefined;
    for (let i = 0; i < 5; i++) {
      const q = `/api/decisions?action=token.create&subject=did:sigil:dec-mentor&limit=1${
        before ? `&before=${before}` : ''
      }`;
      const page = (await get(q, tokens.auditor!)).body as Json;
      seen.push(...(page.decisions as Json[]).map((d) => d.target as string));
      before = page.before as string | undefined;
      if (before === undefined) break;
    }
    expect(seen).toEqual(['tokens/2', 'tokens/1', 'tokens/0']);
  });

  it('shows a caller without the audit grant only its own decisions', async () => {
    const theirs = await get('/api/decisions?subject=did:sigil:dec-mentor', tokens.observer!);
    expect(theirs.status).toBe(200);
    expect((theirs.body as Json).decisions).toEqual([]);
    const mine = (await get('/api/decisions', tokens.mentor!)).body as Json;
    const subjects = new Set((mine.decisions as Json[]).map((d) => d.subject));
    expect([...subjects]).toEqual(['did:sigil:dec-mentor']);
  });

  it('refuses bad filters and bad credentials; no credentials is the anonymous Guest', async () => {
    for (const q of ['verdict=maybe', 'limit=0', 'limit=201', 'since=yesterday', 'extra=1']) {
      const a = await call(server.url, 'GET', `/api/decisions?${q}`, { token: tokens.guest! });
      expect(a.status, q).toBe(400);
      expect(problemIssues(a)).toEqual([]);
    }
    const anon = await call(server.url, 'GET', '/api/decisions');
    expect(anon.status).toBe(200);
    const bad = await call(server.url, 'GET', '/api/decisions', { token: 'sgl_not-a-token' });
    expect(bad.status).toBe(401);
    expect((bad.body as Json).code).toBe('token_invalid');
  });
});

describe('GET /api/decisions/stats', () => {
  it('counts allowed and denied decisions per minute by code, and the top denied', async () => {
    // Everyone's counts: an auditor's (Root without canon.audit is shown its own only).
    const a = await get('/api/decisions/stats?minutes=5', tokens.auditor!);
    expect(a.status).toBe(200);
    const s = a.body as Json;
    expect(s.minutes).toBe(5);
    expect(s.per_minute).toHaveLength(5);
    let allow = 0;
    let deny = 0;
    for (const m of s.per_minute as Json[]) {
      allow += m.allow as number;
      for (const n of Object.values(m.deny as Record<string, number>)) deny += n;
    }
    expect({ allow, deny }).toEqual(s.totals);
    expect(s.totals.deny).toBeGreaterThanOrEqual(3);
    expect(s.top_denied_actions[0]).toEqual({ action: 'token.create', count: 3 });
    expect(s.top_denied_callers[0]).toEqual({ subject: 'did:sigil:dec-mentor', count: 3 });

    // new decisions show up on the next read (incrementally)
    await check(tokens.mentor!, 'token.create', 'tokens/late');
    const again = (await get('/api/decisions/stats?minutes=5', tokens.auditor!)).body as Json;
    expect(again.top_denied_actions[0]).toEqual({ action: 'token.create', count: 4 });
    expect(again.log_size).toBeGreaterThan(s.log_size as number);
  });

  it('is for observers and above, and bounds the window', async () => {
    const guest = await call(server.url, 'GET', '/api/decisions/stats', { token: tokens.guest! });
    expect(guest.status).toBe(403);
    expect((guest.body as Json).code).toBe('loa_insufficient');
    expect((guest.body as Json).decision_id).toMatch(/./);
    for (const q of ['minutes=0', 'minutes=1441', 'minutes=x']) {
      const a = await call(server.url, 'GET', `/api/decisions/stats?${q}`, {
        token: tokens.observer!,
      });
      expect(a.status, q).toBe(400);
    }
  });
});

describe('POST /api/decisions/:id/replay', () => {
  it('re-runs allowed and denied decisions and agrees with what was sealed', async () => {
    const allowed = await check(tokens.mentor!, 'memory.read', 'memory/replay');
    const denied = await check(tokens.mentor!, 'token.create', 'tokens/replay');
    for (const d of [allowed, denied]) {
      const a = await call(server.url, 'POST', `/api/decisions/${d.decision_id}/replay`, {
        token: tokens.mentor!,
      });
      api.check('POST', '/api/decisions/{id}/replay', a);
      expect(a.status).toBe(200);
      expect(a.body).toMatchObject({
        decision_id: d.decision_id,
        matches: true,
        identical: true,
        recorded: { verdict: d.verdict, code: d.code },
        replayed: { verdict: d.verdict, code: d.code },
      });
    }
  });

  it('answers 404 for an id that is not a decision', async () => {
    // (checked before read access: no decision, nothing to withhold)
    const rec = await call(server.url, 'POST', '/api/canon/user/write', {
      token: tokens.mentor!,
      body: { payload: { note: 'not a decision' } },
    });
    expect(rec.status).toBe(201);
    for (const id of [(rec.body as Json).id as string, 'rec_missing']) {
      const a = await call(server.url, 'POST', `/api/decisions/${id}/replay`, {
        token: tokens.guest!,
      });
      expect(a.status).toBe(404);
      expect((a.body as Json).code).toBe('record_not_found');
    }
  });
});
