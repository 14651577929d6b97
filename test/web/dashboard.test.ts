/**
 * The dashboard end to end: a real `sigil serve` on a free port with a temp data dir, driven in
 * headless Chromium. Signs in with a real token, checks each page shows the server's data, that
 * the CSP holds (no violations, no console errors), that nothing secret lands in Web Storage or
 * in script-readable cookies, and that signing out ends the server session.
 */
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROOMY_LIMITS,
  auditorToken,
  call,
  problemIssues,
  sigilGatewayClient,
  startServer,
  tempDataDir,
  type ServerProcess,
} from '../http/helpers.ts';
import type { Ed25519KeyPair } from '../../src/core/ed25519.ts';
import { signApproval } from '../../src/gatekeeper/index.ts';
import { ERROR_META_KEY } from '../../src/mcp/index.ts';
import { signAttestation, type Proposal } from '../../src/quorum/index.ts';
import { notesUpstream, upstreamCalls } from '../mcp/helpers.ts';
import {
  enrolOver,
  humanToken,
  passOver,
  voteOver,
  type HttpWitness,
} from '../http/quorum-helpers.ts';
import {
  accessibilityProblems,
  ensureDashboardBuilt,
  launchBrowser,
  screenshot,
  watchedPage,
  webStorage,
  type Watched,
} from './browser.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let dir: ReturnType<typeof tempDataDir>;
let server: ServerProcess;
let browser: Browser;
let root: string;
let mentor: string;

beforeAll(async () => {
  ensureDashboardBuilt();
  dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
  server = await startServer(dir.dataDir, dir.config);
  root = server.rootToken!;
  const created = await call(server.url, 'POST', '/api/tokens', {
    token: root,
    body: { subject: 'did:sigil:dash-mentor', loa: 'mentor' },
  });
  mentor = (created.body as Json).token as string;
  // one allowed and one denied decision for the pages to show
  for (const action of ['canon.read', 'token.create']) {
    const a = await call(server.url, 'POST', '/api/trust/check', {
      token: mentor,
      body: { action, target: 'dash/test' },
    });
    expect(a.status).toBe(200);
  }
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  dir?.remove();
});

/** Signs in through the form and waits for the overview. */
async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(server.url + '/');
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
}

/** Problems other than the HTTP errors a test provoked on purpose (Chromium logs those too). */
function unexpected(w: Watched): string[] {
  return w.problems.filter((p) => !/Failed to load resource: the server responded/.test(p));
}

describe('serving the dashboard', () => {
  it('serves index.html at / with a strict CSP and never caches it', async () => {
    const a = await call(server.url, 'GET', '/');
    expect(a.status).toBe(200);
    expect(a.type).toMatch(/^text\/html/);
    expect(a.headers.get('cache-control')).toMatch(/no-store/);
    const csp = a.headers.get('content-security-policy') ?? '';
    for (const directive of [
      "script-src 'self'",
      "style-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "object-src 'none'",
      "default-src 'self'",
    ]) {
      expect(csp).toContain(directive);
    }
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    expect(a.headers.get('x-content-type-options')).toBe('nosniff');
    expect(a.headers.get('referrer-policy')).toBe('no-referrer');
    // plain HTTP, secure cookies off: no HSTS
    expect(a.headers.get('strict-transport-security')).toBeNull();
    // no inline script or style at all in the page
    expect(a.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=/i);
  });

  it('serves hashed assets with a year-long cache, and unknown assets as problem JSON', async () => {
    const page = await call(server.url, 'GET', '/');
    const names = [...page.text.matchAll(/\/assets\/([A-Za-z0-9._-]+)/g)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThanOrEqual(3);
    for (const name of names) {
      expect(name).toMatch(/-[A-Za-z0-9]{8}\.(js|css|svg)$/);
      const a = await call(server.url, 'GET', `/assets/${name}`);
      expect(a.status, name).toBe(200);
      expect(a.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(a.headers.get('content-security-policy')).toBeTruthy();
    }
    const missing = await call(server.url, 'GET', '/assets/main-XXXXXXXX.js');
    expect(missing.status).toBe(404);
    expect(problemIssues(missing)).toEqual([]);
    // the API answers carry the same headers
    const api = await call(server.url, 'GET', '/healthz');
    expect(api.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });
});

describe('the CSP in the browser', () => {
  it('blocks an injected inline script and style, and the watcher sees the violation', async () => {
    const w = await watchedPage(browser);
    try {
      await w.page.goto(server.url + '/');
      await w.page.getByLabel('API token').waitFor();
      const ran = await w.page.evaluate(`(async () => {
        window.__ran = false;
        const s = document.createElement('script');
        s.textContent = 'window.__ran = true';
        document.body.appendChild(s);
        const st = document.createElement('style');
        st.textContent = 'body { background: red }';
        document.head.appendChild(st);
        await new Promise((r) => setTimeout(r, 200));
        return window.__ran;
      })()`);
      expect(ran).toBe(false);
      await expect
        .poll(() => w.problems.filter((p) => p.startsWith('csp:')).length)
        .toBeGreaterThanOrEqual(2);
    } finally {
      await w.context.close();
    }
  });
});

describe('signing in and out', () => {
  it('refuses a bad token in words and keeps nothing', async () => {
    const w = await watchedPage(browser);
    try {
      await w.page.goto(server.url + '/');
      await screenshot(w.page, 'sign-in');
      await w.page.getByLabel('API token').fill('sgl_' + 'A'.repeat(43));
      await w.page.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(() => w.page.getByRole('alert').textContent()).toMatch(/token_invalid/);
      expect(await w.context.cookies()).toEqual([]);
      expect(await webStorage(w.page)).toBe('');
      expect(unexpected(w)).toEqual([]);
    } finally {
      await w.context.close();
    }
  });

  it('signs in with a real token, shows live data, keeps no secret script-readable, signs out', async () => {
    const w = await watchedPage(browser);
    try {
      const status = (await call(server.url, 'GET', '/api/trust/status', { token: root }))
        .body as Json;
      await signIn(w.page, mentor);
      await expect
        .poll(() => w.page.getByTestId('who').textContent())
        .toContain('did:sigil:dash-mentor');
      await expect.poll(() => w.page.getByTestId('who').textContent()).toContain('mentor');

      // the overview shows what the server reports
      await expect
        .poll(async () => Number(await w.page.getByTestId('denied').textContent()))
        .toBeGreaterThanOrEqual(1);
      await expect
        .poll(async () => Number(await w.page.getByTestId('log-size').textContent()))
        .toBeGreaterThanOrEqual(status.log_size as number);
      await expect.poll(() => w.page.getByTestId('breaker').textContent()).toMatch(/Closed/);
      // This log has no witnesses configured, so its checkpoint carries no cosignature.
      await expect.poll(() => w.page.getByTestId('cosignatures').textContent()).toBe('none');
      await expect
        .poll(async () => Number(await w.page.getByTestId('rate-limited').textContent()))
        .toBeGreaterThanOrEqual(0);
      await screenshot(w.page, 'overview');

      // the cookie is HttpOnly, SameSite=Strict; neither it, the token nor the CSRF token is
      // anywhere script can read
      const cookies = await w.context.cookies();
      expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([
        ['sigil_session', true, 'Strict'],
      ]);
      const cookie = cookies[0]!.value;
      const visible = await w.page.evaluate('document.cookie');
      expect(visible).toBe('');
      const storage = await webStorage(w.page);
      expect(storage).not.toContain(mentor);
      expect(storage).not.toContain(cookie);
      expect(storage).not.toMatch(/csrf|sgl_/i);

      // a reload keeps the session (the cookie) and mints a fresh CSRF token in memory
      await w.page.reload();
      await w.page.getByRole('heading', { name: 'Overview' }).waitFor();

      // sign out ends the server session, not just the page
      await w.page.getByRole('button', { name: 'Sign out' }).click();
      await w.page.getByLabel('API token').waitFor();
      const after = await call(server.url, 'GET', '/api/trust/status', {
        headers: { cookie: `sigil_session=${cookie}` },
      });
      expect(after.status).toBe(401);
      expect((after.body as Json).code).toBe('unauthenticated');
      expect(await w.context.cookies()).toEqual([]);
      expect(unexpected(w)).toEqual([]);
    } finally {
      await w.context.close();
    }
  });

  it('the session cannot change state without the CSRF token it holds in memory', async () => {
    const w = await watchedPage(browser);
    try {
      await signIn(w.page, root);
      // a request made with the cookie but without the header, as a forged one would be
      const forged = await w.page.evaluate(async () => {
        const res = await fetch('/api/tokens', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ subject: 'did:sigil:forged', loa: 'root' }),
        });
        return { status: res.status, body: (await res.json()) as { code: string } };
      });
      expect(forged).toEqual({
        status: 403,
        body: expect.objectContaining({ code: 'csrf_invalid' }),
      });
      const tokens = (await call(server.url, 'GET', '/api/tokens', { token: root })).body as Json;
      expect(JSON.stringify(tokens)).not.toContain('did:sigil:forged');
      expect(unexpected(w)).toEqual([]);
    } finally {
      await w.context.close();
    }
  });
});

describe('the pages, with real data', () => {
  let w: Watched;

  beforeAll(async () => {
    w = await watchedPage(browser);
    // Everyone's decisions and records: an auditor's view (Root alone sees its own decisions).
    await signIn(w.page, await auditorToken(server.url, root));
  });

  afterAll(async () => {
    expect(unexpected(w)).toEqual([]);
    await w.context.close();
  });

  it('overview: the chart, the top denied action and caller, accessible', async () => {
    await w.page.goto(server.url + '/#/overview');
    await w.page.locator('.uplot canvas').first().waitFor();
    const actions = w.page.getByRole('region', { name: 'Top denied actions' });
    await expect.poll(() => actions.textContent()).toContain('token.create');
    const callers = w.page.getByRole('region', { name: 'Top denied callers' });
    await expect.poll(() => callers.textContent()).toContain('did:sigil:dash-mentor');
    expect(await accessibilityProblems(w.page)).toEqual([]);
    await screenshot(w.page, 'overview-chart');
  });

  it('decisions: filters to the denied one, explains it, and replays it', async () => {
    await w.page.goto(server.url + '/#/decisions');
    await w.page.getByLabel('Verdict').selectOption('deny');
    await w.page.getByLabel('Caller').fill('did:sigil:dash-mentor');
    await w.page.getByRole('button', { name: 'Filter' }).click();
    const table = w.page.getByRole('table', { name: 'Decisions' });
    await expect.poll(() => table.locator('tbody tr').count()).toBe(1);
    expect(await table.textContent()).toContain('loa_insufficient');
    expect(await table.textContent()).toContain('token.create');
    expect(await accessibilityProblems(w.page)).toEqual([]);
    await screenshot(w.page, 'decisions');

    await table.locator('tbody tr a').first().click();
    await expect
      .poll(() => w.page.getByTestId('verdict').textContent())
      .toMatch(/denied.*loa_insufficient/);
    const chain = w.page.getByRole('region', { name: 'Reasoning chain' });
    expect(await chain.locator('li').count()).toBeGreaterThan(1);
    await w.page.getByRole('button', { name: 'Replay' }).click();
    await expect
      .poll(() => w.page.getByTestId('replay').textContent())
      .toMatch(/^Replay matches: deny \(loa_insufficient\)/);
    expect(await accessibilityProblems(w.page)).toEqual([]);
    await screenshot(w.page, 'decision');
  });

  it('a decision with a trust score shows each feature as a bar', async () => {
    const page = (
      await call(server.url, 'GET', '/api/decisions?verdict=allow&action=canon.read', {
        token: root,
      })
    ).body as Json;
    const withScore = (page.decisions as Json[]).find((d) => d.score !== null)!;
    await w.page.goto(`${server.url}/#/decisions/${withScore.decision_id}`);
    await expect
      .poll(() => w.page.getByTestId('score').textContent())
      .toContain((withScore.score as number).toFixed(3));
    const bars = w.page.getByRole('list', { name: /contribution/ }).getByRole('listitem');
    expect(await bars.count()).toBeGreaterThan(1);
  });

  it('log: verifies a record in the browser, and shows a tampered proof or checkpoint as failed', async () => {
    const records = (await call(server.url, 'GET', '/api/canon/records?limit=5', { token: root }))
      .body as Json;
    const record = (records.records as Json[])[2]!;
    await w.page.goto(`${server.url}/#/log`);
    await w.page.getByRole('table', { name: 'Records' }).waitFor();
    expect(await accessibilityProblems(w.page)).toEqual([]);
    await screenshot(w.page, 'log');

    await w.page.goto(`${server.url}/#/log/${record.id}`);
    const verify = w.page.getByRole('button', { name: 'Verify in my browser' });
    await verify.click();
    await expect
      .poll(() => w.page.getByTestId('inclusion').textContent())
      .toMatch(new RegExp(`^✔ Verified: record ${record.seq} is in the signed tree`));
    expect(await accessibilityProblems(w.page)).toEqual([]);
    await screenshot(w.page, 'record');

    // a proof with one hash flipped
    await w.page.route('**/api/log/proof/inclusion*', async (r) => {
      const res = await r.fetch();
      const proof = (await res.json()) as Json;
      const h = proof.hashes[0] as string;
      proof.hashes[0] = (h[0] === '0' ? '1' : '0') + h.slice(1);
      await r.fulfill({ response: res, json: proof });
    });
    await verify.click();
    await expect
      .poll(() => w.page.getByTestId('inclusion').textContent())
      .toBe('✘ Not verified: the audit path does not lead to the signed root');
    await w.page.unroute('**/api/log/proof/inclusion*');

    // a checkpoint whose size was edited (the signature no longer covers it)
    await w.page.route('**/api/log/checkpoint', async (r) => {
      const res = await r.fetch();
      const cp = (await res.json()) as Json;
      cp.note = (cp.note as string).replace(/\n(\d+)\n/, (_m, n) => `\n${Number(n) + 1}\n`);
      await r.fulfill({ response: res, json: cp });
    });
    await verify.click();
    await expect
      .poll(() => w.page.getByTestId('inclusion').textContent())
      .toBe('✘ Not verified: the checkpoint signature does not verify');
    await w.page.unroute('**/api/log/checkpoint');
  });

  it('log: since my last visit proves the log only grew, and catches a rewritten one', async () => {
    await w.page.goto(`${server.url}/#/log`);
    const button = w.page.getByRole('button', { name: 'Check since my last visit' });
    const result = w.page.getByTestId('consistency');
    await button.click();
    await expect.poll(() => result.textContent()).toMatch(/^✔ Verified: /);
    // the log grows; the next visit proves consistency from the saved checkpoint
    for (let i = 0; i < 3; i++) {
      await call(server.url, 'POST', '/api/canon/user/write', {
        token: root,
        body: { payload: { visit: i } },
      });
    }
    await w.page.waitForTimeout(1100); // the server signs a fresh checkpoint at most once a second
    await w.page.reload();
    await button.click();
    await expect
      .poll(() => result.textContent())
      .toMatch(/^✔ Verified: the log grew from \d+ to \d+ records without rewriting any/);
    // a consistency proof that does not join the two
    await call(server.url, 'POST', '/api/canon/user/write', { token: root, body: { payload: {} } });
    await w.page.waitForTimeout(1100);
    await w.page.route('**/api/log/proof/consistency*', async (r) => {
      const res = await r.fetch();
      const proof = (await res.json()) as Json;
      const h = proof.hashes[proof.hashes.length - 1] as string;
      proof.hashes[proof.hashes.length - 1] = (h[0] === '0' ? '1' : '0') + h.slice(1);
      await r.fulfill({ response: res, json: proof });
    });
    await button.click();
    await expect
      .poll(() => result.textContent())
      .toMatch(/^✘ Not verified: the log is not an extension/);
    await w.page.unroute('**/api/log/proof/consistency*');
    // nothing but public checkpoints is kept in the browser
    const saved = await w.page.evaluate(`new Promise((resolve) => {
      const req = indexedDB.open('sigil-dashboard');
      req.onsuccess = () => {
        const all = req.result.transaction('checkpoints').objectStore('checkpoints').getAll();
        all.onsuccess = () => resolve(JSON.stringify(all.result));
      };
    })`);
    expect(saved).not.toMatch(/sgl_|csrf|sigil_session/);
    expect(await webStorage(w.page)).toBe('');
  });
});

describe('quorum and approvals in the browser', () => {
  let w: Watched;
  // A genesis Mentor: a human with an enrolled key, who approves in the approvals test.
  let approverWitness: HttpWitness;

  beforeAll(async () => {
    w = await watchedPage(browser);
    await signIn(w.page, root);
  });

  afterAll(async () => {
    expect(unexpected(w)).toEqual([]);
    await w.context.close();
  });

  it('votes with keys loaded for one signature, pasted signatures, then commits', async () => {
    // Root and three Mentors each enrol their own key and seal genesis (over the API).
    const pem = (k: Ed25519KeyPair) =>
      k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const witnesses: HttpWitness[] = [
      { did: 'did:sigil:root', token: root, keys: (await enrolOver(server.url, root)).keys },
    ];
    for (let i = 1; i <= 3; i++) {
      const did = `did:sigil:dash-witness-${i}`;
      const token = await humanToken(server.url, root, did, 'mentor');
      witnesses.push({ did, token, keys: (await enrolOver(server.url, token)).keys });
    }
    const genesis = await call(server.url, 'POST', '/api/canon/system/genesis', { token: root });
    expect(genesis.status, genesis.text).toBe(201);
    const sealed = await passOver(server.url, root, genesis.body as Proposal, witnesses);
    expect(sealed.status, sealed.text).toBe(200);
    approverWitness = witnesses[1]!;
    const proposed = await call(server.url, 'POST', '/api/canon/system/propose', {
      token: root,
      body: { change: { setting: 'quorum.proposal_ttl_seconds', value: 1209600 } },
    });
    expect(proposed.status).toBe(201);
    const proposal = proposed.body as Proposal;

    await w.page.goto(`${server.url}/#/quorum`);
    await w.page.getByRole('table', { name: 'Proposals' }).waitFor();
    expect(await accessibilityProblems(w.page)).toEqual([]);
    await screenshot(w.page, 'quorum');
    await w.page.goto(`${server.url}/#/quorum/${proposal.id}`);
    const progress = w.page.getByTestId('quorum-progress');
    await expect.poll(() => progress.textContent()).toBe('Root 0 of 1 · Mentors 0 of 3');

    // a wrong key (a Mentor's, not Root's own) is refused by the server, in words
    await w.page.getByLabel(/Private key/i).fill(pem(witnesses[1]!.keys));
    await w.page.getByRole('button', { name: 'Attest' }).click();
    await expect.poll(() => w.page.getByRole('alert').textContent()).toMatch(/signature_invalid/);
    // Root votes with its own key, loaded for this one signature
    await w.page.getByLabel(/Private key/i).fill(pem(witnesses[0]!.keys));
    await w.page.getByRole('button', { name: 'Attest' }).click();
    await expect.poll(() => progress.textContent()).toContain('Root 1');
    // the key left the page with the form
    expect(await w.page.getByLabel(/Private key/i).inputValue()).toBe('');

    // each Mentor votes in a session of their own: one loading a key, one pasting signatures
    for (const [i, how] of [
      [1, 'key'],
      [2, 'pasted'],
    ] as const) {
      const m = await watchedPage(browser);
      try {
        await signIn(m.page, witnesses[i]!.token);
        await m.page.goto(`${server.url}/#/quorum/${proposal.id}`);
        const theirs = m.page.getByTestId('quorum-progress');
        await theirs.waitFor();
        if (how === 'key') {
          await m.page.getByLabel(/Private key/i).fill(pem(witnesses[i]!.keys));
        } else {
          const offline = signAttestation(
            proposal,
            witnesses[i]!.did,
            witnesses[i]!.keys.privateKey,
          );
          await m.page.getByLabel(/vote signature made offline/).fill(offline.signature);
          await m.page.getByLabel(/provenance signature/).fill(offline.provenance_signature);
        }
        await m.page.getByRole('button', { name: 'Attest' }).click();
        await expect.poll(() => theirs.textContent()).toContain(`Mentors ${i} of 3`);
        expect(unexpected(m)).toEqual([]);
      } finally {
        await m.context.close();
      }
    }
    const third = await voteOver(server.url, proposal, witnesses[3]!);
    expect(third.status, third.text).toBe(200);
    await w.page.reload();
    await expect
      .poll(() => w.page.getByTestId('quorum-progress').textContent())
      .toBe('Root 1 of 1 · Mentors 3 of 3 · quorum reached');

    await w.page.getByRole('button', { name: 'Commit', exact: true }).click();
    await w.page.getByRole('button', { name: 'Confirm commit' }).click();
    await expect
      .poll(() => w.page.getByTestId('proposal-status').textContent())
      .toBe('Status: committed');
    const after = (
      await call(server.url, 'GET', `/api/canon/system/proposals/${proposal.id}`, {
        token: root,
      })
    ).body as Json;
    expect(after.proposal.status).toBe('committed');
    expect(await webStorage(w.page)).toBe('');
    expect(await accessibilityProblems(w.page)).toEqual([]);
    await screenshot(w.page, 'proposal');
  });

  it('approvals: the empty queue, and a Mentor-only page for lower levels', async () => {
    await w.page.goto(`${server.url}/#/approvals`);
    await expect
      .poll(() => w.page.getByRole('region', { name: 'Waiting' }).textContent())
      .toContain('No tool call is waiting for approval.');
    expect(await accessibilityProblems(w.page)).toEqual([]);
    await screenshot(w.page, 'approvals');

    const observer = (
      await call(server.url, 'POST', '/api/tokens', {
        token: root,
        body: { subject: 'did:sigil:dash-observer', loa: 'observer' },
      })
    ).body as Json;
    const o = await watchedPage(browser);
    try {
      await signIn(o.page, observer.token as string);
      await o.page.goto(`${server.url}/#/approvals`);
      await expect
        .poll(() => o.page.getByRole('alert').textContent())
        .toMatch(/^loa_insufficient: approval\.read needs mentor/);
      // a denied action shows its decision, linked
      await o.page.goto(`${server.url}/#/quorum`);
      const enrol = o.page.getByRole('form', { name: 'Enrol a witness' });
      await enrol.getByLabel(/Public key/).fill('A'.repeat(43));
      await enrol.getByLabel(/Private key/).fill('A'.repeat(43));
      await enrol.getByRole('button', { name: 'Enrol' }).click();
      const alert = o.page
        .getByRole('region', { name: 'Enrol your witness key' })
        .getByRole('alert');
      await expect.poll(() => alert.textContent()).toMatch(/^loa_insufficient: .*\(decision rec_/);
      await alert.getByRole('link').click();
      await expect.poll(() => o.page.getByTestId('verdict').textContent()).toMatch(/denied/);
      await screenshot(o.page, 'denied-decision');
      expect(unexpected(o)).toEqual([]);
    } finally {
      await o.context.close();
    }
  });

  it('approvals: reads the arguments, signs a verdict in the browser or pastes one', async () => {
    // an agent calls a gated tool through a real gateway process on the server's data dir
    const delegation = await call(server.url, 'POST', '/api/delegations', {
      token: root,
      body: { to: 'did:sigil:dash-agent', actions: ['mcp.tools.call'] },
    });
    expect(delegation.status, delegation.text).toBe(201);
    const agentToken = (
      await call(server.url, 'POST', '/api/tokens', {
        token: root,
        body: {
          subject: 'did:sigil:dash-agent',
          loa: 'operator',
          signer: { type: 'ai', delegation_id: (delegation.body as Json).delegation_id },
          scopes: ['mcp.tools.call'],
        },
      })
    ).body as Json;
    expect(
      (
        await call(server.url, 'POST', '/api/consent', {
          token: root,
          body: { bailee: 'did:sigil:dash-agent', scope: 'mcp.tools.call', purpose: 'retrieval' },
        })
      ).status,
    ).toBe(201);
    // the approver: a genesis Mentor, signing with the witness key it enrolled
    const approverKey = approverWitness.keys;
    const approverToken = approverWitness.token;
    const notesLog = join(dir.dataDir, '..', 'notes.log');
    const agent = await sigilGatewayClient(
      dir,
      `approval_timeout_ms = 60000\n${notesUpstream(notesLog)}
[[policy]]
tool = "notes__delete_note"
min_loa = "operator"
approval = true
`,
      agentToken.token as string,
      'dash-agent',
    );
    const a = await watchedPage(browser);
    try {
      const deletes = () => upstreamCalls(notesLog).filter((c) => c.tool === 'delete_note');
      const gated = (id: string) =>
        agent.callTool({ name: 'notes__delete_note', arguments: { id } }, undefined, {
          timeout: 90_000,
        }) as Promise<CallToolResult>;
      const first = gated('secret-note-1');
      await signIn(a.page, approverToken);
      await a.page.goto(`${server.url}/#/approvals`);
      const waiting = a.page.getByRole('table', { name: 'Waiting approvals' });
      await expect
        .poll(() => waiting.getByTestId('approval-arguments').textContent(), { timeout: 20_000 })
        .toContain('"id": "secret-note-1"');
      // the call waits: nothing has reached the upstream yet
      expect(deletes()).toEqual([]);
      expect(await accessibilityProblems(a.page)).toEqual([]);
      await screenshot(a.page, 'approval-pending');
      // a key that is not the approver's is refused by the server, in words
      await waiting.getByRole('button', { name: 'Approve' }).click();
      const form = a.page.getByRole('form', { name: 'Sign: approve' });
      await form.getByLabel(/Private key/).fill(
        generateKeyPairSync('ed25519').privateKey.export({
          type: 'pkcs8',
          format: 'pem',
        }) as string,
      );
      await form.getByRole('button', { name: 'Sign and approve' }).click();
      await expect
        .poll(() => form.getByRole('alert').textContent())
        .toMatch(/approval_signature_invalid/);
      await form
        .getByLabel(/Private key/)
        .fill(approverKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
      await form.getByRole('button', { name: 'Sign and approve' }).click();
      // approved: the waiting call completes with what the upstream itself answered
      const done = await first;
      expect(done.isError).toBeFalsy();
      expect(done.content).toEqual([{ type: 'text', text: 'no note secret-note-1' }]);
      expect(deletes().map((c) => c.arguments)).toEqual([{ id: 'secret-note-1' }]);
      const decided = a.page.getByRole('table', { name: 'Decided approvals' });
      await expect
        .poll(() => decided.textContent())
        .toContain(`${approverWitness.did} (key ${approverWitness.did})`);

      // the second as a rejection signed offline (`sigil approve --reject --sign-only`) and pasted
      const second = gated('secret-note-2');
      await expect
        .poll(() => waiting.getByTestId('approval-arguments').textContent(), { timeout: 20_000 })
        .toContain('"id": "secret-note-2"');
      const listed = (
        (await call(server.url, 'GET', '/api/approvals', { token: approverToken })).body as {
          approvals: Array<Json & { id: string; tool: string; arguments_hash: string }>;
        }
      ).approvals.find((x) => x.status === 'pending')!;
      await waiting.getByRole('button', { name: 'Reject' }).click();
      const reject = a.page.getByRole('form', { name: 'Sign: reject' });
      await reject
        .getByLabel(/signature from: sigil approve/)
        .fill(
          signApproval(
            { approval_id: listed.id, tool: listed.tool, arguments_hash: listed.arguments_hash },
            'rejected',
            { type: 'human' },
            approverKey.privateKey,
          ),
        );
      await reject.getByRole('button', { name: 'Sign and reject' }).click();
      const refused = await second;
      expect(refused.isError).toBe(true);
      expect((refused._meta?.[ERROR_META_KEY] as Json).code).toBe('approval_rejected');
      // rejected: the upstream never saw the second call
      expect(deletes().map((c) => c.arguments)).toEqual([{ id: 'secret-note-1' }]);

      // an auditor's overview counts both calls of the tool, and the human's wait is not the
      // gateway's
      const auditor = await auditorToken(server.url, root, {
        subject: 'did:sigil:dash-gw-auditor',
      });
      const o = await watchedPage(browser);
      try {
        await signIn(o.page, auditor);
        const perTool = o.page.getByRole('table', { name: 'Gateway calls per tool' });
        const row = perTool.getByRole('row').filter({ hasText: 'delete_note' });
        await expect.poll(() => row.textContent()).toMatch(/^notesdelete_note2/);
        const stats = (
          await call(server.url, 'GET', '/api/gateway/stats?minutes=60', { token: auditor })
        ).body as Json;
        const tool = (stats.tools as Json[]).find((t) => t.tool === 'delete_note')!;
        expect(tool).toMatchObject({ upstream: 'notes', calls: 2, timed: 1 });
        expect(await row.getByTestId('added-latency').textContent()).toBe(
          `${(tool.median_added_ms as number).toFixed(2)} ms`,
        );
        expect(tool.median_added_ms).toBeLessThan(1000);
        expect(await accessibilityProblems(o.page)).toEqual([]);
        await perTool.scrollIntoViewIfNeeded();
        await screenshot(o.page, 'overview-gateway');
        expect(unexpected(o)).toEqual([]);
      } finally {
        await o.context.close();
      }
      expect(await webStorage(a.page)).toBe('');
      expect(unexpected(a)).toEqual([]);
    } finally {
      await a.context.close();
      await agent.close().catch(() => undefined);
    }
  }, 120_000);
});
