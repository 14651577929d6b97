/**
 * The Tokens and Modules pages against a real `sigil serve` in headless Chromium: real data from
 * the server, a token minted and shown once, revoked after a confirmation, a module run with its
 * decision linked, a denied action with its decision, empty and error states in words; every
 * page accessible (axe: no serious or critical violation), with no console error or CSP
 * violation, and a 1280×800 screenshot.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ROOMY_LIMITS,
  call,
  startServer,
  tempDataDir,
  type ServerProcess,
} from '../http/helpers.ts';
import {
  accessibilityProblems,
  ensureDashboardBuilt,
  launchBrowser,
  screenshot,
  watchedPage,
  type Watched,
} from './browser.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let dir: ReturnType<typeof tempDataDir>;
let server: ServerProcess;
let browser: Browser;
let root: string;

beforeAll(async () => {
  ensureDashboardBuilt();
  dir = tempDataDir(`[rate_limit]\n${ROOMY_LIMITS}\n`);
  server = await startServer(dir.dataDir, dir.config);
  root = server.rootToken!;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  dir?.remove();
});

async function mint(subject: string, loa: string): Promise<string> {
  const created = await call(server.url, 'POST', '/api/tokens', {
    token: root,
    body: { subject, loa },
  });
  expect(created.status).toBe(201);
  return (created.body as Json).token as string;
}

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

async function withPage(token: string, fn: (page: Page) => Promise<void>): Promise<void> {
  const w = await watchedPage(browser);
  try {
    await signIn(w.page, token);
    await fn(w.page);
    expect(unexpected(w)).toEqual([]);
  } finally {
    await w.context.close();
  }
}

describe('the Tokens page', () => {
  it('lists the server’s tokens, mints one shown once, and revokes it after a confirmation', async () => {
    await mint('did:sigil:listed-reader', 'observer');
    await withPage(root, async (page) => {
      await page.goto(`${server.url}/#/tokens`);
      const table = page.getByRole('table', { name: 'API tokens' });
      await expect.poll(() => table.textContent()).toContain('did:sigil:listed-reader');
      expect(await accessibilityProblems(page)).toEqual([]);

      const form = page.getByRole('form', { name: 'Create a token' });
      await form.getByLabel('Subject DID').fill('did:sigil:dash-new');
      await form.getByLabel('Level').selectOption('operator');
      await form.getByLabel(/Lifetime in hours/).fill('2');
      await form.getByRole('button', { name: 'Create' }).click();
      const shown = page.getByTestId('new-token');
      await expect.poll(() => shown.textContent()).toMatch(/^sgl_/);
      const secret = (await shown.textContent())!;
      // the minted token is real: the server knows it
      const who = await call(server.url, 'GET', '/api/whoami', { token: secret });
      expect((who.body as Json).caller).toMatchObject({
        subject: 'did:sigil:dash-new',
        loa: 'operator',
      });
      await expect.poll(() => table.textContent()).toContain('did:sigil:dash-new');
      expect(await accessibilityProblems(page)).toEqual([]);
      await screenshot(page, 'tokens');

      // a bad subject: the problem's code and detail in words
      await form.getByLabel('Subject DID').fill('not-a-did');
      await form.getByRole('button', { name: 'Create' }).click();
      await expect
        .poll(() => form.locator('xpath=..').getByRole('alert').textContent())
        .toMatch(/^bad_request: /);

      const row = table.getByRole('row').filter({ hasText: 'did:sigil:dash-new' });
      await row.getByRole('button', { name: 'Revoke' }).click();
      await row.getByRole('button', { name: 'Confirm revoke' }).click();
      await expect.poll(() => row.textContent()).toContain('revoked');
      const after = await call(server.url, 'GET', '/api/whoami', { token: secret });
      expect(after.status).toBe(401);
    });
  });

  it('shows a Mentor the denial in words, with its decision linked', async () => {
    const mentor = await mint('did:sigil:dash-mentor', 'mentor');
    await withPage(mentor, async (page) => {
      await page.goto(`${server.url}/#/tokens`);
      const alert = page.getByRole('alert').first();
      await expect.poll(() => alert.textContent()).toMatch(/^loa_insufficient: .*\(decision rec_/);
      expect(await accessibilityProblems(page)).toEqual([]);
      await screenshot(page, 'tokens-denied');
      await alert.getByRole('link').click();
      await expect.poll(() => page.getByTestId('verdict').textContent()).toMatch(/denied/);
    });
  });
});

describe('the Modules page', () => {
  it('lists the registered modules and runs one with a payload: its decision and result', async () => {
    const operator = await mint('did:sigil:dash-operator', 'operator');
    await withPage(operator, async (page) => {
      await page.goto(`${server.url}/#/modules`);
      const listed = page.getByRole('list', { name: 'Registered modules' });
      await expect.poll(() => listed.textContent()).toContain('echo');
      expect(await accessibilityProblems(page)).toEqual([]);

      const form = page.getByRole('form', { name: 'Run a module' });
      await form.getByLabel('Module').selectOption('echo');
      await form.getByLabel(/Payload/).fill('{"hello":"dashboard"}');
      await form.getByRole('button', { name: 'Run' }).click();
      const output = page.getByTestId('module-output');
      await expect.poll(() => output.textContent()).toContain('"hello": "dashboard"');
      const result = page.getByRole('status', { name: 'Module result' });
      const link = result.getByRole('link');
      const decisionId = (await link.textContent())!;
      expect(decisionId).toMatch(/^rec_/);
      expect(await accessibilityProblems(page)).toEqual([]);
      await screenshot(page, 'modules');

      // what the page says came from the server: the sealed decision allowed this run
      const decision = await call(server.url, 'GET', `/api/canon/records/${decisionId}`, {
        token: root,
      });
      expect(decision.status).toBe(200);
      expect((decision.body as Json).payload).toMatchObject({
        request: { action: expect.stringMatching(/module/) },
      });

      await form.getByLabel(/Payload/).fill('{not json');
      await form.getByRole('button', { name: 'Run' }).click();
      await expect
        .poll(() =>
          page.getByRole('region', { name: 'Run a module' }).getByRole('alert').textContent(),
        )
        .toBe('The payload is not valid JSON.');
    });
  });

  it('shows an Observer the denied run with its decision linked', async () => {
    const observer = await mint('did:sigil:dash-observer', 'observer');
    await withPage(observer, async (page) => {
      await page.goto(`${server.url}/#/modules`);
      const form = page.getByRole('form', { name: 'Run a module' });
      await form.getByRole('button', { name: 'Run' }).click();
      const alert = page.getByRole('region', { name: 'Run a module' }).getByRole('alert');
      await expect.poll(() => alert.textContent()).toMatch(/^loa_insufficient: .*\(decision rec_/);
      expect(await accessibilityProblems(page)).toEqual([]);
      await screenshot(page, 'modules-denied');
    });
  });
});
