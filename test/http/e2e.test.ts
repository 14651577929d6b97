/**
 * The real server, end to end: `node ./bin/sigil serve --port 0` as a child process, driven with
 * fetch over loopback. Walks the tour (every endpoint, each response checked against the served
 * OpenAPI document), every endpoint × every LOA against the permission matrix, CSRF for cookie
 * sessions, rate limiting, graceful shutdown and a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint, verifyConsistency, verifyInclusionProof } from '../../src/canon/index.ts';
import { parseVerifierKey } from '../../src/canon/checkpoint.ts';
import { generateKeyPair, publicKeyToRaw } from '../../src/core/ed25519.ts';
import { toBase64Url } from '../../src/core/encoding.ts';
import { signFindings } from '../../src/gatekeeper/index.ts';
import {
  DEFAULT_TRUST_MODEL,
  LOAS,
  loaAtLeast,
  requiredLoa,
  type Loa,
} from '../../src/policy/index.ts';
import {
  signAttestation,
  signEnrolment,
  type EnrolmentChallenge,
  type Proposal,
} from '../../src/quorum/index.ts';
import { enrolOver, humanToken, passOver, voteOver, type HttpWitness } from './quorum-helpers.ts';
import { wireTrustModel } from '../../src/runtime/wire.ts';
import {
  OpenApiChecker,
  ROOMY_LIMITS,
  auditorToken,
  call,
  problemIssues,
  runCli,
  startServer,
  tempDataDir,
  type Answer,
  type ServerProcess,
} from './helpers.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let dir: ReturnType<typeof tempDataDir>;
let server: ServerProcess;
let api: OpenApiChecker;
let root: string;
const tokens = {} as Record<Loa, string>;
const subjects = {} as Record<Loa, string>;

/**
 * One request, checked against the OpenAPI document (success and problem bodies alike);
 * `template` is the documented path when `path` fills in parameters.
 */
async function req(
  method: string,
  path: string,
  opts: {
    token?: string;
    body?: unknown;
    template?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer & { json: Json }> {
  const a = await call(server.url, method, path, opts);
  const template = opts.template ?? path.split('?')[0]!;
  api.check(method, template, a);
  if (a.status >= 400) expect(problemIssues(a), `${method} ${path}: ${a.text}`).toEqual([]);
  return { ...a, json: a.body as Json };
}

beforeAll(async () => {
  dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
  server = await startServer(dir.dataDir, dir.config);
  expect(server.rootToken).toMatch(/^sgl_/);
  root = server.rootToken!;
  const doc = await call(server.url, 'GET', '/openapi.json');
  expect(doc.status).toBe(200);
  api = new OpenApiChecker(doc.body);
  for (const loa of LOAS) {
    subjects[loa] = `did:sigil:e2e-${loa}`;
    const created = await req('POST', '/api/tokens', {
      token: root,
      body: { subject: subjects[loa], loa },
    });
    expect(created.status).toBe(201);
    tokens[loa] = created.json.token;
  }
}, 60_000);

afterAll(async () => {
  await server?.stop();
  dir?.remove();
});

describe('the tour', () => {
  it('answers health, readiness, metrics and the OpenAPI document', async () => {
    expect((await req('GET', '/healthz')).json).toEqual({ status: 'ok' });
    const ready = await req('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json.ready).toBe(true);
    const metrics = await call(server.url, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(
      /sigil_http_requests_total\{method="POST",route="\/api\/tokens",status="201"\} 5/,
    );
    expect(metrics.text).toMatch(/sigil_decisions_total\{verdict="allow",mode="active"\} \d+/);
    expect(metrics.text).toMatch(/sigil_log_size \d+/);
    expect(metrics.text).toMatch(/sigil_log_append_duration_seconds_count [1-9]/);
    api.check('GET', '/metrics', metrics);
    expect(api.doc.paths['/api/trust/check']?.post).toBeDefined();
  });

  it('says who is calling', async () => {
    const me = await req('GET', '/api/whoami', { token: tokens.operator });
    expect(me.json.caller).toMatchObject({
      subject: subjects.operator,
      loa: 'operator',
      verified: true,
    });
    const anon = await req('GET', '/api/whoami');
    expect(anon.json.caller).toMatchObject({ subject: 'did:sigil:anonymous', loa: 'guest' });
    const bad = await req('GET', '/api/whoami', { token: 'sgl_nope' });
    expect(bad.status).toBe(401);
    expect(bad.json.code).toBe('token_invalid');
  });

  it('checks trust and freezes each decision into the log', async () => {
    const allow = await req('POST', '/api/trust/check', {
      token: tokens.observer,
      body: { action: 'canon.read', target: 'canon/records', payload: { q: 1 } },
    });
    expect(allow.status).toBe(200);
    expect(allow.json).toMatchObject({ verdict: 'allow', code: null });
    expect(Object.keys(allow.json.trust.contributions).length).toBeGreaterThan(0);
    const record = await req('GET', `/api/canon/records/${allow.json.decision_id}`, {
      token: root,
      template: '/api/canon/records/{id}',
    });
    expect(record.json.kind).toBe('decision');
    expect(record.json.hash).toBe(allow.json.hash);

    const deny = await req('POST', '/api/trust/check', {
      token: tokens.observer,
      body: { action: 'system.propose', target: 'system/proposals' },
    });
    expect(deny.status).toBe(200);
    expect(deny.json).toMatchObject({ verdict: 'deny', code: 'loa_insufficient' });

    const status = await req('GET', '/api/trust/status', { token: tokens.observer });
    expect(status.json.decisions.allow).toBeGreaterThan(0);
    expect(status.json.decisions.deny).toBeGreaterThan(0);
    expect(status.json.log_size).toBeGreaterThan(0);
  });

  it('writes a record, reads it back, pages the log and proves inclusion and consistency', async () => {
    const before = await req('GET', '/api/log/checkpoint');
    const write = await req('POST', '/api/canon/user/write', {
      token: tokens.mentor,
      body: { id: 'tour-note-1', payload: { note: 'hello', n: 1 }, links: [] },
    });
    expect(write.status).toBe(201);
    expect(write.json).toMatchObject({ id: 'tour-note-1', kind: 'user_data', space: 'user' });
    // Only user-data kinds: a governing record (a forged "allow" decision, a config, a token
    // event) is refused even for Root, and nothing of it is written.
    for (const kind of ['decision', 'system_config', 'token_event', 'consent_event']) {
      const forged = await req('POST', '/api/canon/user/write', {
        token: tokens.root,
        body: { id: `forged-${kind}`, kind, payload: { verdict: 'allow' } },
      });
      expect(forged.status, kind).toBe(403);
      expect(forged.json.code).toBe('kind_reserved');
      const none = await req('GET', `/api/canon/records/forged-${kind}`, {
        token: tokens.guest,
        template: '/api/canon/records/{id}',
      });
      expect(none.status).toBe(404);
    }
    const rag = await req('POST', '/api/canon/user/write', {
      token: tokens.mentor,
      body: { kind: 'rag_doc', payload: { text: 'doc' } },
    });
    expect(rag.status).toBe(201);
    expect(rag.json.kind).toBe('rag_doc');
    const again = await req('GET', '/api/canon/records/tour-note-1', {
      token: tokens.guest,
      template: '/api/canon/records/{id}',
    });
    expect(again.json.hash).toBe(write.json.hash);
    const missing = await req('GET', '/api/canon/records/no-such-record', {
      token: tokens.guest,
      template: '/api/canon/records/{id}',
    });
    expect(missing.status).toBe(404);
    expect(missing.json.code).toBe('record_not_found');

    const page1 = await req('GET', '/api/canon/records?limit=2', { token: tokens.guest });
    expect(page1.json.records).toHaveLength(2);
    expect(page1.json.cursor).toBe(String(page1.json.records[1].seq));
    const page2 = await req('GET', `/api/canon/records?limit=2&cursor=${page1.json.cursor}`, {
      token: tokens.guest,
    });
    expect(page2.json.records[0].seq).toBe(page1.json.records[1].seq + 1);
    const users = await req('GET', '/api/canon/records?kind=user_data&since=2000-01-01T00:00:00Z', {
      token: tokens.guest,
    });
    expect(users.json.records.map((r: Json) => r.id)).toContain('tour-note-1');

    // The server signs a checkpoint on demand at most once a second.
    await new Promise((r) => setTimeout(r, 1100));
    const cp = await req('GET', '/api/log/checkpoint');
    expect(cp.json.size).toBeGreaterThan(write.json.seq);
    const { keyName, publicKey } = parseVerifierKey(cp.json.verifier_key);
    expect(openCheckpoint(cp.json.note, keyName, publicKey).size).toBe(cp.json.size);
    const inclusion = await req(
      'GET',
      `/api/log/proof/inclusion?seq=${write.json.seq}&size=${cp.json.size}`,
    );
    expect(verifyInclusionProof(inclusion.json as never, cp.json.note, keyName, publicKey)).toEqual(
      { ok: true },
    );
    const consistency = await req(
      'GET',
      `/api/log/proof/consistency?from=${before.json.size}&to=${cp.json.size}`,
    );
    expect(
      verifyConsistency(consistency.json as never, before.json.note, cp.json.note, {
        keyName,
        publicKey,
      }),
    ).toEqual({ ok: true });
    const outside = await req('GET', `/api/log/proof/inclusion?seq=${cp.json.size + 1000}`);
    expect(outside.status).toBe(416);
    const badSeq = await req('GET', '/api/log/proof/inclusion?seq=-1');
    expect(badSeq.status).toBe(400);
    expect(badSeq.json.field).toBe('querystring.seq');
  });

  it('mints and validates licenses, proposes and refreshes the model', async () => {
    const lic = await req('POST', '/api/license/create', {
      token: root,
      body: { subject: 'did:sigil:alice', loa: 'mentor', expires_at: null, name: 'Alice' },
    });
    expect(lic.status).toBe(201);
    const valid = await req('POST', '/api/license/validate', { body: lic.json });
    expect(valid.json).toMatchObject({ ok: true, loa: 'mentor', owner: { id: 'did:sigil:alice' } });
    const tampered = await req('POST', '/api/license/validate', {
      body: { ...lic.json, loa: 'root' },
    });
    expect(tampered.json.ok).toBe(false);
    const secondRoot = await req('POST', '/api/license/create', {
      token: root,
      body: { subject: 'did:sigil:mallory', loa: 'root' },
    });
    expect(secondRoot.status).toBe(403);
    expect(secondRoot.json.code).toBe('single_root_violation');

    const upload = await req('POST', '/api/model/upload', {
      token: root,
      body: JSON.parse(JSON.stringify(wireTrustModel(DEFAULT_TRUST_MODEL))),
    });
    expect(upload.status, upload.text).toBe(202);
    expect(upload.json.change.model).toBeDefined();
    const refresh = await req('POST', '/api/model/refresh', { token: root });
    expect(refresh.json.source).toBe('default');
    const badModel = await req('POST', '/api/model/upload', { token: root, body: { weights: 1 } });
    expect(badModel.status).toBe(400);
  });

  it('keeps memory blocks private to their owner (and an auditor; not Root by its level)', async () => {
    const write = await req('POST', '/api/memory/write', {
      token: tokens.operator,
      body: { key: 'notes/today', value: { text: 'remember the milk' } },
    });
    expect(write.status).toBe(201);
    const read = await req('GET', '/api/memory/read/notes%2Ftoday', {
      token: tokens.operator,
      template: '/api/memory/read/{key}',
    });
    expect(read.json.value).toEqual({ text: 'remember the milk' });
    const list = await req('GET', '/api/memory/list', { token: tokens.operator });
    expect(list.json.blocks.map((b: Json) => b.key)).toContain('notes/today');
    const other = await req('GET', '/api/memory/read/notes%2Ftoday', {
      token: tokens.mentor,
      template: '/api/memory/read/{key}',
    });
    expect(other.status).toBe(404);
    const peek = await req('GET', `/api/memory/read/notes%2Ftoday?owner=${subjects.operator}`, {
      token: tokens.mentor,
      template: '/api/memory/read/{key}',
    });
    expect(peek.status).toBe(403);
    const rootRead = await req('GET', `/api/memory/read/notes%2Ftoday?owner=${subjects.operator}`, {
      token: root,
      template: '/api/memory/read/{key}',
    });
    expect(rootRead.status).toBe(403);
    expect(rootRead.json.code).toBe('forbidden');
    const rootList = await req('GET', '/api/memory/list', { token: root });
    expect(rootList.json.blocks.map((b: Json) => b.owner)).not.toContain(subjects.operator);
    const auditor = await auditorToken(server.url, root, {
      subject: 'did:sigil:e2e-auditor',
      loa: 'operator',
      scopes: ['memory.read'],
    });
    const audited = await req('GET', `/api/memory/read/notes%2Ftoday?owner=${subjects.operator}`, {
      token: auditor,
      template: '/api/memory/read/{key}',
    });
    expect(audited.json).toMatchObject({
      owner: subjects.operator,
      value: { text: 'remember the milk' },
    });
    const big = await req('POST', '/api/memory/write', {
      token: tokens.operator,
      body: { key: 'big', value: 'x'.repeat(17 * 1024) },
    });
    expect(big.status).toBe(413);
  });

  it('runs modules, grants and revokes consent, halts holons, manages tokens and approvals', async () => {
    expect((await req('GET', '/api/modules')).json.modules).toEqual(
      expect.arrayContaining(['canon-stats', 'echo']),
    );
    const echo = await req('POST', '/api/module/echo/run', {
      token: tokens.operator,
      body: { input: { ping: [1, 'two'] } },
      template: '/api/module/{name}/run',
    });
    expect(echo.json.output).toEqual({ ping: [1, 'two'] });
    const stats = await req('POST', '/api/module/canon-stats/run', {
      token: tokens.operator,
      template: '/api/module/{name}/run',
    });
    expect(stats.json.output.log_size).toBeGreaterThan(0);
    const unknown = await req('POST', '/api/module/nope/run', {
      token: tokens.operator,
      body: {},
      template: '/api/module/{name}/run',
    });
    expect(unknown.status).toBe(404);
    expect(unknown.json.code).toBe('module_not_found');

    const consent = await req('POST', '/api/consent', {
      token: tokens.operator,
      body: { bailee: 'did:sigil:bailee', scope: 'canon', purpose: 'retrieval' },
    });
    expect(consent.status).toBe(201);
    const revoke = await req('DELETE', `/api/consent/${consent.json.id}`, {
      token: tokens.operator,
      template: '/api/consent/{id}',
    });
    expect(revoke.json.revoked_at).toMatch(/Z$/);
    const gone = await req('DELETE', '/api/consent/no-such-consent', {
      token: tokens.operator,
      template: '/api/consent/{id}',
    });
    expect(gone.status).toBe(404);

    const holon = await req('POST', '/api/holons', {
      token: tokens.operator,
      body: {
        id: 'did:sigil:holon-tour',
        capabilities: ['module.run'],
        program: { type: 'identity' },
      },
    });
    expect(holon.status, holon.text).toBe(201);
    const delegation = await req('POST', '/api/delegations', {
      token: root,
      body: { to: 'did:sigil:agent-root', actions: ['holon.halt'] },
    });
    expect(delegation.status, delegation.text).toBe(201);
    const ai = await req('POST', '/api/tokens', {
      token: root,
      body: {
        subject: 'did:sigil:agent-root',
        loa: 'root',
        signer: { type: 'ai', delegation_id: delegation.json.delegation_id },
      },
    });
    expect(ai.status, ai.text).toBe(201);
    const aiHalt = await req('POST', '/api/holons/did:sigil:holon-tour/halt', {
      token: ai.json.token,
      body: { mode: 'suspend' },
      template: '/api/holons/{id}/halt',
    });
    expect(aiHalt.status).toBe(403);
    const shown = await req('GET', `/api/delegations/${delegation.json.delegation_id}`, {
      token: root,
      template: '/api/delegations/{id}',
    });
    expect(shown.json.chain).toHaveLength(1);
    const withdrawn = await req('DELETE', `/api/delegations/${delegation.json.delegation_id}`, {
      token: root,
      template: '/api/delegations/{id}',
    });
    expect(withdrawn.json.revoked_at).not.toBeNull();
    const halt = await req('POST', '/api/holons/did:sigil:holon-tour/halt', {
      token: root,
      body: { mode: 'suspend', reason: 'tour' },
      template: '/api/holons/{id}/halt',
    });
    expect(halt.json.state).toBe('suspended');

    const list = await req('GET', '/api/tokens', { token: root });
    const mine = list.json.tokens.find((t: Json) => t.subject === subjects.guest);
    expect(mine).toBeDefined();
    expect(JSON.stringify(list.json)).not.toContain('sgl_');
    const revoked = await req('DELETE', `/api/tokens/${mine.id}`, {
      token: root,
      template: '/api/tokens/{id}',
    });
    expect(revoked.json.revoked_at).not.toBeNull();
    const refused = await req('GET', '/api/whoami', { token: tokens.guest });
    expect(refused.status).toBe(401);
    const fresh = await req('POST', '/api/tokens', {
      token: root,
      body: { subject: subjects.guest, loa: 'guest' },
    });
    tokens.guest = fresh.json.token;

    const approvals = await req('GET', '/api/approvals', { token: tokens.mentor });
    expect(approvals.json.approvals).toEqual([]);
    const decide = await req('POST', '/api/approvals/nope', {
      token: tokens.mentor,
      body: { verdict: 'approved', signature: 'AAAA' },
      template: '/api/approvals/{id}',
    });
    expect(decide.status).toBe(404);
  });
  it('registers a scanner, takes its signed findings, shows the breaker and revokes the scanner', async () => {
    const scanner = 'did:sigil:e2e-scanner';
    const keys = generateKeyPair();
    const registered = await req('POST', '/api/governance/scanners', {
      token: root,
      body: { did: scanner, public_key: toBase64Url(publicKeyToRaw(keys.publicKey)) },
    });
    expect(registered.status, registered.text).toBe(201);
    const findings = [{ finding_id: 'e2e-0', severity: 'low' as const, title: 'an e2e finding' }];
    const attestation = signFindings(findings, scanner, { type: 'human' }, keys.privateKey);
    const reported = await req('POST', '/api/governance/findings', {
      token: tokens.operator,
      body: { attestation: { ...attestation, signer_type: { type: 'human' } }, findings },
    });
    expect(reported.status, reported.text).toBe(201);
    expect(reported.json.breaker.tripped).toBe(false);
    const status = await req('GET', '/api/governance/status', { token: tokens.observer });
    expect(status.status, status.text).toBe(200);
    expect(status.json.scanners.map((s: Json) => s.did)).toContain(scanner);
    const revoked = await req('DELETE', `/api/governance/scanners/${scanner}`, {
      token: root,
      template: '/api/governance/scanners/{did}',
    });
    expect(revoked.status, revoked.text).toBe(200);
    const again = await req('POST', '/api/governance/findings', {
      token: tokens.operator,
      body: { attestation: { ...attestation, signer_type: { type: 'human' } }, findings },
    });
    expect(again.status).toBe(403);
  });

  it('changes the system only through the witness quorum', async () => {
    const propose = await req('POST', '/api/canon/system/propose', {
      token: root,
      body: { change: { setting: 'quorum.proposal_ttl_seconds', value: 1209600 } },
    });
    expect(propose.status).toBe(201);
    const proposal = propose.json as Proposal;
    const commitIt = (id: string) =>
      req('POST', '/api/canon/system/commit', { token: root, body: { proposal_id: id } });
    const beforeGenesis = await commitIt(proposal.id);
    expect([beforeGenesis.status, beforeGenesis.json.code]).toEqual([409, 'genesis_required']);

    // Each witness enrols its own key (Root's here, each Mentor's with its own token); genesis
    // seals Root and three Mentors once every one of them has voted for it.
    const challenge = await req('POST', '/api/canon/system/witnesses/challenge', { token: root });
    expect(challenge.status, challenge.text).toBe(201);
    const rootKeys = generateKeyPair();
    const rootKey = toBase64Url(publicKeyToRaw(rootKeys.publicKey));
    const enrolled = await req('POST', '/api/canon/system/witnesses', {
      token: root,
      body: {
        challenge_id: challenge.json.id,
        public_key: rootKey,
        proof: signEnrolment(challenge.json as EnrolmentChallenge, rootKey, rootKeys.privateKey),
      },
    });
    expect(enrolled.status, enrolled.text).toBe(201);
    const witnesses: HttpWitness[] = [{ did: 'did:sigil:root', token: root, keys: rootKeys }];
    for (const did of ['did:sigil:e2e-m1', 'did:sigil:e2e-m2', 'did:sigil:e2e-m3']) {
      const token = await humanToken(server.url, root, did, 'mentor');
      const { answer, keys } = await enrolOver(server.url, token);
      expect(answer.status, answer.text).toBe(201);
      witnesses.push({ did, token, keys });
    }
    const genesis = await req('POST', '/api/canon/system/genesis', { token: root });
    expect(genesis.status, genesis.text).toBe(201);
    const sealed = await passOver(server.url, root, genesis.json as Proposal, witnesses);
    expect(sealed.status, sealed.text).toBe(200);
    const listed = await req('GET', '/api/canon/system/witnesses', { token: tokens.observer });
    expect(listed.status, listed.text).toBe(200);
    expect(listed.json.genesis).toMatchObject({ mentors_required: 3 });

    const early = await commitIt(proposal.id);
    expect([early.status, early.json.code]).toEqual([409, 'quorum_required']);
    for (const w of witnesses) {
      const r = await req('POST', '/api/canon/system/attest', {
        token: w.token,
        body: {
          proposal_id: proposal.id,
          ...signAttestation(proposal, w.did, w.keys.privateKey),
        },
      });
      expect(r.status, r.text).toBe(200);
    }
    const dup = await req('POST', '/api/canon/system/attest', {
      token: witnesses[1]!.token,
      body: {
        proposal_id: proposal.id,
        ...signAttestation(proposal, witnesses[1]!.did, witnesses[1]!.keys.privateKey),
      },
    });
    expect(dup.status).toBe(409);
    expect(dup.json.code).toBe('duplicate_attestation');

    const status = await req('GET', `/api/canon/system/proposals/${proposal.id}`, {
      token: tokens.observer,
      template: '/api/canon/system/proposals/{id}',
    });
    expect(status.json.status.satisfied, status.text).toBe(true);
    // A governed role is granted the same way, then revoked at once.
    const grant = await req('POST', '/api/roles', {
      token: root,
      body: { subject: 'did:sigil:e2e-judge', role: 'judge' },
    });
    expect(grant.status, grant.text).toBe(202);
    for (const w of witnesses) {
      const r = await voteOver(server.url, grant.json as Proposal, w);
      expect(r.status, r.text).toBe(200);
    }
    const granted = await req('POST', '/api/canon/system/commit', {
      token: root,
      body: { proposal_id: grant.json.id },
    });
    expect(granted.status, granted.text).toBe(200);
    const roles = await req('GET', '/api/roles', { token: tokens.guest });
    expect(roles.json.roles.map((r: Json) => r.subject)).toContain('did:sigil:e2e-judge');
    const unrole = await req('POST', '/api/roles/revoke', {
      token: root,
      body: { subject: 'did:sigil:e2e-judge', role: 'judge' },
    });
    expect(unrole.status, unrole.text).toBe(200);
    const list = await req('GET', '/api/canon/system/proposals', { token: tokens.observer });
    expect(list.json.proposals.map((p: Json) => p.id)).toContain(proposal.id);
    const commit = await req('POST', '/api/canon/system/commit', {
      token: root,
      body: { proposal_id: proposal.id },
    });
    expect(commit.status, commit.text).toBe(200);
    expect(commit.json.record).toMatchObject({ kind: 'system_config', space: 'system' });
    expect(commit.json.proposal.status).toBe('committed');

    const systemWrite = await req('POST', '/api/canon/user/write', {
      token: root,
      body: { payload: { flag: true }, space: 'system' },
    });
    expect(systemWrite.status).toBe(202);
    expect(systemWrite.json.proposal.status).toBe('pending');
  });
});

describe('cookie sessions', () => {
  it('sets an HttpOnly SameSite=Strict cookie and demands X-CSRF-Token on state changes', async () => {
    const login = await req('POST', '/api/session', { body: { token: tokens.operator } });
    expect(login.status).toBe(201);
    const setCookie = login.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^sigil_session=sgs_[A-Za-z0-9_-]{43};/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(JSON.stringify(login.json)).not.toContain(tokens.operator);
    const cookie = setCookie.split(';')[0]!;
    const csrf = login.json.csrf_token as string;
    const body = { key: 'session-note', value: 1 };

    const read = await req('GET', '/api/memory/list', { headers: { cookie } });
    expect(read.status).toBe(200);
    const noCsrf = await req('POST', '/api/memory/write', { headers: { cookie }, body });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.json.code).toBe('csrf_invalid');
    const forged = await req('POST', '/api/memory/write', {
      headers: { cookie, 'x-csrf-token': `${Date.now() + 60_000}.${'A'.repeat(43)}` },
      body,
    });
    expect(forged.json.code).toBe('csrf_invalid');
    const ok = await req('POST', '/api/memory/write', {
      headers: { cookie, 'x-csrf-token': csrf },
      body,
    });
    expect(ok.status).toBe(201);
    expect(ok.json.owner).toBe(subjects.operator);

    const other = await req('POST', '/api/session', { body: { token: tokens.mentor } });
    const otherCookie = (other.headers.get('set-cookie') ?? '').split(';')[0]!;
    const crossed = await req('POST', '/api/memory/write', {
      headers: { cookie: otherCookie, 'x-csrf-token': csrf },
      body,
    });
    expect(crossed.json.code).toBe('csrf_invalid');

    const minted = await req('POST', '/api/csrf/token', { headers: { cookie } });
    expect(minted.status).toBe(200);
    const viaMinted = await req('POST', '/api/module/echo/run', {
      headers: { cookie, 'x-csrf-token': minted.json.csrf_token },
      body: { input: 1 },
      template: '/api/module/{name}/run',
    });
    expect(viaMinted.status).toBe(200);
    const bearerCsrf = await req('POST', '/api/csrf/token', { token: tokens.operator });
    expect(bearerCsrf.status).toBe(400);

    const noCsrfLogout = await req('DELETE', '/api/session', { headers: { cookie } });
    expect(noCsrfLogout.status).toBe(403);
    const logout = await req('DELETE', '/api/session', {
      headers: { cookie, 'x-csrf-token': minted.json.csrf_token },
    });
    expect(logout.status).toBe(204);
    const after = await req('GET', '/api/memory/list', { headers: { cookie } });
    expect(after.status).toBe(401);
    const badLogin = await req('POST', '/api/session', {
      body: { token: 'sgl_' + 'x'.repeat(43) },
    });
    expect(badLogin.status).toBe(401);
  });
});

/** One endpoint of the matrix: the action it adjudicates and what an allowed caller gets. */
interface MatrixCase {
  method: string;
  template: string;
  action: string;
  /** Status an allowed caller gets (a domain answer such as 409 counts as allowed). */
  allowed: number;
  /** What the anonymous Guest gets instead of `allowed`, when it differs ("status code"). */
  anonymous?: string;
  path: (loa: Loa) => string;
  body?: (loa: Loa) => unknown;
}

describe('every endpoint × every LOA', () => {
  const fixtures = {} as {
    record: string;
    /** A decision of each level's own caller: only its caller (or Root, an auditor) replays it. */
    mine: Record<Loa, string>;
    pending: string;
    holon: string;
    consent: string;
    revoke: Record<Loa, string>;
    license: Record<Loa, string>;
  };

  beforeAll(async () => {
    const w = await req('POST', '/api/canon/user/write', {
      token: root,
      body: { payload: { fixture: true } },
    });
    fixtures.record = w.json.id;
    const p = await req('POST', '/api/canon/system/propose', {
      token: root,
      body: { change: { setting: 'irl.threshold', value: 0.4 } },
    });
    fixtures.pending = p.json.id;
    const h = await req('POST', '/api/holons', {
      token: root,
      body: { id: 'did:sigil:holon-matrix', capabilities: [], program: { type: 'identity' } },
    });
    fixtures.holon = h.json.id;
    const c = await req('POST', '/api/consent', {
      token: root,
      body: { bailee: 'did:sigil:bailee', scope: 'canon', purpose: 'retrieval' },
    });
    fixtures.consent = c.json.id;
    fixtures.revoke = {} as Record<Loa, string>;
    for (const loa of LOAS) {
      const t = await req('POST', '/api/tokens', {
        token: root,
        body: { subject: `did:sigil:throwaway-${loa}`, loa: 'guest' },
      });
      fixtures.revoke[loa] = t.json.info.id;
    }
    fixtures.license = {} as Record<Loa, string>;
    for (const loa of LOAS) {
      const l = await req('POST', '/api/license/create', {
        token: root,
        body: { subject: `did:sigil:throwaway-lic-${loa}`, loa: 'guest' },
      });
      fixtures.license[loa] = l.json.seal.contentHash;
    }
    fixtures.mine = {} as Record<Loa, string>;
    for (const loa of LOAS) {
      const d = await req('POST', '/api/trust/check', {
        token: tokens[loa],
        body: { action: 'canon.read', target: 'canon/records' },
      });
      fixtures.mine[loa] = d.json.decision_id;
    }
  }, 60_000);

  const own = {} as Record<Loa, string | undefined>;
  const cases: MatrixCase[] = [
    {
      method: 'POST',
      template: '/api/trust/check',
      action: 'trust.check',
      allowed: 200,
      path: () => '/api/trust/check',
      body: () => ({ action: 'canon.read', target: 'canon/records' }),
    },
    {
      method: 'GET',
      template: '/api/trust/status',
      action: 'trust.status',
      allowed: 200,
      path: () => '/api/trust/status',
    },
    {
      method: 'POST',
      template: '/api/canon/user/write',
      action: 'canon.user.write',
      allowed: 201,
      path: () => '/api/canon/user/write',
      body: (l) => ({ payload: { by: l } }),
    },
    {
      method: 'GET',
      template: '/api/canon/records/{id}',
      action: 'canon.read',
      allowed: 200,
      path: () => `/api/canon/records/${fixtures.record}`,
    },
    {
      method: 'GET',
      template: '/api/canon/records',
      action: 'canon.read',
      allowed: 200,
      path: () => '/api/canon/records?limit=1',
    },
    {
      method: 'GET',
      template: '/api/decisions',
      action: 'canon.read',
      allowed: 200,
      path: () => '/api/decisions?limit=2&verdict=deny',
    },
    {
      method: 'GET',
      template: '/api/decisions/stats',
      action: 'trust.status',
      allowed: 200,
      path: () => '/api/decisions/stats?minutes=10',
    },
    {
      method: 'GET',
      template: '/api/gateway/stats',
      action: 'trust.status',
      allowed: 200,
      path: () => '/api/gateway/stats?minutes=10',
    },
    {
      method: 'POST',
      template: '/api/decisions/{id}/replay',
      action: 'canon.read',
      allowed: 200,
      // An unverified caller reads no decision body, so it replays none, not even the Guest's.
      anonymous: '403 forbidden',
      path: (l) => `/api/decisions/${fixtures.mine[l]}/replay`,
    },
    {
      method: 'GET',
      template: '/api/canon/system/proposals',
      action: 'canon.read',
      allowed: 200,
      path: () => '/api/canon/system/proposals',
    },
    {
      method: 'GET',
      template: '/api/canon/system/proposals/{id}',
      action: 'canon.read',
      allowed: 200,
      path: () => `/api/canon/system/proposals/${fixtures.pending}`,
    },
    {
      method: 'POST',
      template: '/api/canon/system/propose',
      action: 'system.propose',
      allowed: 201,
      path: () => '/api/canon/system/propose',
      body: () => ({ change: { setting: 'irl.threshold', value: 0.4 } }),
    },
    {
      method: 'POST',
      template: '/api/canon/system/attest',
      action: 'system.attest',
      allowed: 409,
      path: () => '/api/canon/system/attest',
      body: () => ({
        proposal_id: fixtures.pending,
        signature: 'AAAA',
        provenance_signature: 'AAAA',
      }),
    },
    {
      method: 'POST',
      template: '/api/canon/system/commit',
      action: 'system.commit',
      allowed: 409,
      path: () => '/api/canon/system/commit',
      body: () => ({ proposal_id: fixtures.pending }),
    },
    {
      method: 'POST',
      template: '/api/canon/system/witnesses/challenge',
      action: 'witness.enrol',
      allowed: 201,
      path: () => '/api/canon/system/witnesses/challenge',
    },
    {
      method: 'POST',
      template: '/api/canon/system/witnesses',
      action: 'witness.enrol',
      allowed: 409,
      path: () => '/api/canon/system/witnesses',
      body: () => ({
        challenge_id: 'no-such-challenge',
        public_key: toBase64Url(publicKeyToRaw(generateKeyPair().publicKey)),
        proof: 'AAAA',
      }),
    },
    {
      method: 'GET',
      template: '/api/canon/system/witnesses',
      action: 'canon.read',
      allowed: 200,
      path: () => '/api/canon/system/witnesses',
    },
    {
      method: 'POST',
      template: '/api/canon/system/genesis',
      action: 'system.propose',
      allowed: 409,
      path: () => '/api/canon/system/genesis',
    },
    {
      method: 'POST',
      template: '/api/license/create',
      action: 'license.generate',
      allowed: 201,
      path: () => '/api/license/create',
      body: (l) => ({ subject: `did:sigil:lic-${l}`, loa: 'observer' }),
    },
    {
      method: 'POST',
      template: '/api/model/upload',
      action: 'model.upload',
      allowed: 202,
      path: () => '/api/model/upload',
      body: () => JSON.parse(JSON.stringify(wireTrustModel(DEFAULT_TRUST_MODEL))),
    },
    {
      method: 'POST',
      template: '/api/model/refresh',
      action: 'model.upload',
      allowed: 200,
      path: () => '/api/model/refresh',
    },
    {
      method: 'POST',
      template: '/api/memory/write',
      action: 'memory.write',
      allowed: 201,
      path: () => '/api/memory/write',
      body: () => ({ key: 'matrix', value: 1 }),
    },
    {
      method: 'GET',
      template: '/api/memory/list',
      action: 'memory.read',
      allowed: 200,
      path: () => '/api/memory/list',
    },
    {
      method: 'GET',
      template: '/api/memory/read/{key}',
      action: 'memory.read',
      allowed: 200,
      path: () => '/api/memory/read/matrix',
    },
    {
      method: 'POST',
      template: '/api/module/{name}/run',
      action: 'module.run',
      allowed: 200,
      path: () => '/api/module/echo/run',
      body: () => ({ input: 'hi' }),
    },
    {
      method: 'POST',
      template: '/api/consent',
      action: 'consent.grant',
      allowed: 201,
      path: () => '/api/consent',
      body: () => ({ bailee: 'did:sigil:bailee', scope: 'canon', purpose: 'retrieval' }),
    },
    {
      method: 'GET',
      template: '/api/consent',
      action: 'consent.list',
      allowed: 200,
      path: () => '/api/consent',
    },
    {
      method: 'GET',
      template: '/api/delegations',
      action: 'delegation.list',
      allowed: 200,
      path: () => '/api/delegations',
    },
    {
      method: 'DELETE',
      template: '/api/consent/{id}',
      action: 'consent.revoke',
      allowed: 200,
      path: (l) => `/api/consent/${own[l] ?? fixtures.consent}`,
    },
    {
      method: 'POST',
      template: '/api/holons',
      action: 'module.run',
      allowed: 201,
      path: () => '/api/holons',
      body: (l) => ({
        id: `did:sigil:holon-${l}`,
        capabilities: [],
        program: { type: 'identity' },
      }),
    },
    {
      method: 'POST',
      template: '/api/holons/{id}/halt',
      action: 'holon.halt',
      allowed: 200,
      path: () => `/api/holons/${fixtures.holon}/halt`,
      body: () => ({ mode: 'suspend' }),
    },
    {
      method: 'POST',
      template: '/api/tokens',
      action: 'token.create',
      allowed: 201,
      path: () => '/api/tokens',
      body: (l) => ({ subject: `did:sigil:minted-by-${l}`, loa: 'guest' }),
    },
    {
      method: 'GET',
      template: '/api/tokens',
      action: 'token.list',
      allowed: 200,
      path: () => '/api/tokens',
    },
    {
      method: 'DELETE',
      template: '/api/tokens/{id}',
      action: 'token.revoke',
      allowed: 200,
      path: (l) => `/api/tokens/${fixtures.revoke[l]}`,
    },
    {
      method: 'GET',
      template: '/api/licenses',
      action: 'license.list',
      allowed: 200,
      path: () => '/api/licenses',
    },
    {
      method: 'DELETE',
      template: '/api/licenses/{id}',
      action: 'license.revoke',
      allowed: 200,
      path: (l) => `/api/licenses/${fixtures.license[l]}`,
    },
  ];
  const PUBLIC: Array<[string, string, string?]> = [
    ['GET', '/healthz'],
    ['GET', '/readyz'],
    ['GET', '/openapi.json'],
    ['GET', '/api/log/checkpoint'],
    ['GET', '/api/log/witnesses'],
    ['GET', '/api/log/proof/inclusion?seq=0'],
    ['GET', '/api/log/proof/consistency?from=1&to=2'],
    ['GET', '/api/modules'],
    ['GET', '/log/checkpoint'],
    ['GET', '/log/tile/0/000.p/1', '/log/tile/*'],
    ['GET', '/log/tile/entries/000.p/1', '/log/tile/*'],
  ];

  it.each(LOAS.map((l) => [l]))(
    '%s gets exactly what the permission matrix grants',
    async (loa) => {
      for (const c of cases) {
        const a = await req(c.method, c.path(loa), {
          token: tokens[loa],
          template: c.template,
          ...(c.body ? { body: c.body(loa) } : {}),
        });
        if (c.template === '/api/consent' && a.status === 201) own[loa] = a.json.id;
        const need = requiredLoa(c.action)!;
        const key = `${loa} ${c.method} ${c.template}`;
        if (!loaAtLeast(loa, need)) {
          expect(`${key}: ${a.status} ${a.json.code}`).toBe(`${key}: 403 loa_insufficient`);
        } else {
          expect(`${key}: ${a.status}`, a.text).toBe(`${key}: ${c.allowed}`);
        }
      }
      for (const [method, path, template] of PUBLIC) {
        const a = await req(method, path, {
          token: tokens[loa],
          ...(template !== undefined && { template }),
        });
        expect(a.status, `${loa} ${method} ${path}`).toBe(200);
      }
      const approvals = await req('GET', '/api/approvals', { token: tokens[loa] });
      expect(approvals.status).toBe(loaAtLeast(loa, 'mentor') ? 200 : 403);
      const validate = await req('POST', '/api/license/validate', { token: tokens[loa], body: {} });
      expect(validate.json.ok).toBe(false);
    },
    60_000,
  );

  it('answers no credentials as the anonymous Guest on every route, and a bad token 401', async () => {
    for (const c of cases) {
      // Anonymous callers share one bucket per address, refilled at a Guest's 2 per second.
      await new Promise((r) => setTimeout(r, 550));
      const a = await req(c.method, c.path('guest'), {
        template: c.template,
        ...(c.body ? { body: c.body('guest') } : {}),
      });
      const key = `anonymous ${c.method} ${c.template}`;
      if (!loaAtLeast('guest', requiredLoa(c.action)!)) {
        expect(`${key}: ${a.status} ${a.json.code}`).toBe(`${key}: 403 loa_insufficient`);
      } else if (c.anonymous !== undefined) {
        expect(`${key}: ${a.status} ${a.json.code}`).toBe(`${key}: ${c.anonymous}`);
      } else {
        expect(`${key}: ${a.status}`, a.text).toBe(`${key}: ${c.allowed}`);
      }
    }
    const whoami = await req('GET', '/api/whoami');
    expect(whoami.json.caller).toMatchObject({ loa: 'guest', verified: false });
    const minted = await req('POST', '/api/tokens', {
      token: root,
      body: { subject: 'did:sigil:soon-revoked', loa: 'guest' },
    });
    const gone = await req('DELETE', `/api/tokens/${minted.json.info.id}`, {
      token: root,
      template: '/api/tokens/{id}',
    });
    expect(gone.status).toBe(200);
    for (const token of ['sgl_not-a-token', `sgl_${'A'.repeat(43)}`, minted.json.token]) {
      const a = await req('GET', '/api/canon/records', { token });
      expect(a.status, token).toBe(401);
      expect(a.json.code).toBe('token_invalid');
    }
  }, 120_000);

  it('every documented operation was answered successfully at least once', () => {
    const ok = new Set(
      [...api.seen].filter((k) => /\s[23]\d\d$/.test(k)).map((k) => k.replace(/\s\d+$/, '')),
    );
    const documented = Object.entries(api.doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    // Approval requests come from the MCP gateway only, so deciding one is exercised as a 404.
    const missing = documented.filter((op) => !ok.has(op) && op !== 'POST /api/approvals/{id}');
    expect(missing).toEqual([]);
  });
});

describe('rate limiting', () => {
  it("a Guest's burst of plain reads is allowed, then 429, never a trust denial", async () => {
    const t = await req('POST', '/api/tokens', {
      token: root,
      body: { subject: 'did:sigil:eager-guest', loa: 'guest' },
    });
    const answers: string[] = [];
    const started = Date.now();
    for (let i = 0; i < 14; i++) {
      const a = await req('GET', '/api/canon/records?limit=1', { token: t.json.token });
      answers.push(a.status === 200 ? '200' : `${a.status} ${a.json.code}`);
    }
    expect(Date.now() - started).toBeLessThan(3000);
    // A Guest's bucket holds 10; the reads beyond it wait for the limiter, never for trust.
    expect(answers.slice(0, 10)).toEqual(Array(10).fill('200'));
    for (const a of answers.slice(10)) expect(['200', '429 rate_limited']).toContain(a);
  });

  it('answers 429 rate_limited with Retry-After once a caller exceeds its bucket', async () => {
    const tiny = tempDataDir('[rate_limit]\nobserver = { rate = 0.2, burst = 3 }\n');
    const s = await startServer(tiny.dataDir, tiny.config);
    try {
      const t = await call(s.url, 'POST', '/api/tokens', {
        token: s.rootToken!,
        body: { subject: 'did:sigil:busy', loa: 'observer' },
      });
      const token = (t.body as Json).token as string;
      const statuses: number[] = [];
      let limited: Answer | undefined;
      for (let i = 0; i < 6; i++) {
        const a = await call(s.url, 'POST', '/api/trust/check', {
          token,
          body: { action: 'canon.read', target: 'canon/records' },
        });
        statuses.push(a.status);
        if (a.status === 429) limited ??= a;
      }
      expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
      expect(statuses.slice(3)).toEqual([429, 429, 429]);
      expect(problemIssues(limited!)).toEqual([]);
      expect((limited!.body as Json).code).toBe('rate_limited');
      expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const status = await call(s.url, 'GET', '/api/trust/status', { token });
      expect(status.status).toBe(429);
      const root = await call(s.url, 'GET', '/api/trust/status', { token: s.rootToken! });
      expect(root.status).toBe(200);
      const metrics = await call(s.url, 'GET', '/metrics');
      expect(metrics.text).toMatch(/sigil_rate_limited_total [1-9]/);
    } finally {
      expect(await s.stop()).toBe(0);
      tiny.remove();
    }
  }, 60_000);
});

describe('shutdown and restart', () => {
  it('stops on SIGTERM without losing an acknowledged write; the log validates; a restart prints no token', async () => {
    const writes = Array.from({ length: 24 }, (_, i) =>
      call(server.url, 'POST', '/api/canon/user/write', {
        token: root,
        body: { id: `shutdown-${i}`, payload: { i } },
      }).catch(() => undefined),
    );
    await new Promise((r) => setTimeout(r, 15));
    const stopped = server.stop();
    const answers = await Promise.all(writes);
    expect(await stopped, server.stderr()).toBe(0);
    expect(server.lines).toContain('sigil stopped');
    const acknowledged = answers.filter((a) => a?.status === 201).map((a) => (a!.body as Json).id);
    for (const a of answers) {
      if (a !== undefined && a.status !== 201) expect(problemIssues(a)).toEqual([]);
    }
    const validate = await runCli(['validate', '--data-dir', dir.dataDir, '--json']);
    expect(validate.code, validate.stderr).toBe(0);

    server = await startServer(dir.dataDir, dir.config);
    expect(server.rootToken).toBeUndefined();
    expect(server.lines.join('\n')).not.toMatch(/sgl_/);
    const me = await call(server.url, 'GET', '/api/whoami', { token: root });
    expect((me.body as Json).caller.loa).toBe('root');
    for (const id of acknowledged) {
      const r = await call(server.url, 'GET', `/api/canon/records/${id}`, { token: root });
      expect(r.status, id).toBe(200);
    }
    // the final checkpoint covered the whole log: nothing new to sign on the first request
    const size = (await call(server.url, 'GET', '/api/trust/status', { token: root })).body as Json;
    const cp = (await call(server.url, 'GET', '/api/log/checkpoint')).body as Json;
    expect(cp.size).toBeLessThanOrEqual(size.log_size);
    expect(cp.size).toBeGreaterThan(0);
  }, 60_000);
});

describe('one dialect on the wire', () => {
  /** Every `properties` map in a schema tree, with where it is. */
  function propertyMaps(node: unknown, at: string, out: Array<[string, Json]>): void {
    if (Array.isArray(node)) node.forEach((n, i) => propertyMaps(n, `${at}[${i}]`, out));
    if (typeof node !== 'object' || node === null) return;
    for (const [k, v] of Object.entries(node)) {
      if (k === 'properties' && typeof v === 'object' && v !== null) out.push([at, v as Json]);
      propertyMaps(v, `${at}.${k}`, out);
    }
  }
  const isTime = (s: Json): boolean =>
    s.$ref === '#/components/schemas/Time' ||
    (Array.isArray(s.anyOf) && s.anyOf.some((a: Json) => isTime(a)));

  it('names every field in snake_case and types every *_at field as an RFC 3339 time', () => {
    const maps: Array<[string, Json]> = [];
    propertyMaps(api.doc, '', maps);
    expect(maps.length).toBeGreaterThan(50);
    const camel: string[] = [];
    const untimed: string[] = [];
    for (const [at, props] of maps) {
      for (const [name, schema] of Object.entries(props)) {
        if (!/^[a-z][a-z0-9_]*$/.test(name)) camel.push(`${at}.${name}`);
        if (name.endsWith('_at') && !isTime(schema)) untimed.push(`${at}.${name}`);
      }
    }
    expect(camel).toEqual([]);
    expect(untimed).toEqual([]);
    // The shapes the issue named: TokenInfo's times and the Caller's expiry.
    const schemas = (api.doc.components as Json).schemas;
    expect(Object.keys(schemas.TokenInfo.properties)).toEqual(
      expect.arrayContaining(['created_at', 'expires_at', 'revoked_at', 'issued_by']),
    );
    expect(schemas.Caller.properties.expires_at).toBeDefined();
  });

  it('answers with those names: a token, the caller and a consent', async () => {
    const made = await req('POST', '/api/tokens', {
      token: root,
      body: { subject: 'did:sigil:dialect', loa: 'guest', ttl_ms: 60_000 },
    });
    const info = made.json.info;
    expect(Date.parse(info.created_at)).toBeGreaterThan(Date.now() - 600_000);
    expect(Date.parse(info.expires_at) - Date.parse(info.created_at)).toBe(60_000);
    expect(info.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const me = await req('GET', '/api/whoami', { token: made.json.token });
    expect(me.json.caller).toMatchObject({ token_id: info.id, expires_at: info.expires_at });
    const consent = await req('POST', '/api/consent', {
      token: tokens.operator,
      body: {
        bailee: 'did:sigil:dialect',
        scope: 'canon',
        purpose: 'retrieval',
        expires_at: '2099-01-01T00:00:00Z',
      },
    });
    expect(consent.status, consent.text).toBe(201);
    expect(consent.json.grant).toMatchObject({
      expires_at: '2099-01-01T00:00:00Z',
      revoked_at: null,
    });
    // The runtime's own spellings are not accepted on the wire.
    const camel = await req('POST', '/api/consent', {
      token: tokens.operator,
      body: { bailee: 'did:sigil:dialect', scope: 'canon', purpose: 'retrieval', expiresAt: null },
    });
    expect(camel.status).toBe(400);
    expect(camel.json.field).toBe('body.expiresAt');
  });
});
