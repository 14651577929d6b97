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

      // what the page says came from the server: the sealed decision allowed this run (the
      // Operator's own to read; Root without canon.audit would get its envelope)
      const decision = await call(server.url, 'GET', `/api/canon/records/${decisionId}`, {
        token: operator,
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

describe('the Licenses page', () => {
  it('mints a license shown and offered as a file, validates an uploaded file, and refuses a tampered one', async () => {
    await withPage(root, async (page) => {
      await page.goto(`${server.url}/#/licenses`);
      const mintForm = page.getByRole('form', { name: 'Mint a license' });
      await mintForm.getByLabel('Owner DID').fill('did:sigil:dash-licensed');
      await mintForm.getByLabel(/Owner name/).fill('dash-licensed');
      await mintForm.getByLabel('Level').selectOption('operator');
      await mintForm.getByRole('button', { name: 'Mint' }).click();
      const shown = page.getByTestId('new-license');
      await expect.poll(() => shown.textContent()).toContain('"seal"');
      const text = (await shown.textContent())!;
      const license = JSON.parse(text) as Json;
      expect(license.owner).toEqual({ id: 'did:sigil:dash-licensed', name: 'dash-licensed' });
      // the license is real: the server, asked directly, accepts it
      const direct = await call(server.url, 'POST', '/api/license/validate', { body: license });
      expect((direct.body as Json).ok).toBe(true);
      const saved = await page.getByRole('link', { name: 'Save the license file' });
      expect(await saved.getAttribute('download')).toBe('license-dash-licensed.json');
      expect(await accessibilityProblems(page)).toEqual([]);
      await screenshot(page, 'licenses');

      const check = page.getByTestId('license-check');
      const validate = page.getByRole('form', { name: 'Validate a license' });
      const upload = async (name: string, content: string) => {
        await validate.getByLabel('License file').setInputFiles({
          name,
          mimeType: 'application/json',
          buffer: Buffer.from(content),
        });
        await validate.getByRole('button', { name: 'Validate' }).click();
      };
      await upload('license.json', text);
      await expect
        .poll(() => check.textContent())
        .toMatch(/^Valid for this runtime: dash-licensed/);
      expect(await check.textContent()).toContain('at operator');

      // raising the level in the file breaks its seal: the server says why, the page shows it
      await upload('raised.json', JSON.stringify({ ...license, loa: 'mentor' }));
      await expect.poll(() => check.textContent()).toMatch(/^Not valid: \S/);
      const tampered = await call(server.url, 'POST', '/api/license/validate', {
        body: { ...license, loa: 'mentor' },
      });
      expect(await check.textContent()).toBe(`Not valid: ${(tampered.body as Json).reason}`);

      await upload('junk.json', '{not json');
      await expect
        .poll(() =>
          page.getByRole('region', { name: 'Validate a license' }).getByRole('alert').textContent(),
        )
        .toBe('The file is not JSON: a license is a JSON document.');

      // the minted license is listed from the server; revoked after a confirmation, the same
      // file no longer validates, in the page nor asked directly
      const table = page.getByRole('table', { name: 'Minted licenses' });
      const row = table.getByRole('row').filter({ hasText: 'did:sigil:dash-licensed' });
      await expect.poll(() => row.textContent()).toContain('operator');
      expect(
        await table.getByRole('row').filter({ hasText: 'did:sigil:root' }).textContent(),
      ).toMatch(/Root$/);
      await row.getByRole('button', { name: 'Revoke' }).click();
      await row.getByRole('button', { name: 'Confirm revoke' }).click();
      await expect.poll(() => row.textContent()).toContain('by did:sigil:root');
      expect(await accessibilityProblems(page)).toEqual([]);
      await screenshot(page, 'licenses-revoked');
      await upload('license.json', text);
      await expect.poll(() => check.textContent()).toBe('Not valid: license_revoked');
      const refused = await call(server.url, 'POST', '/api/license/validate', { body: license });
      expect((refused.body as Json).reason).toBe('license_revoked');
    });
  });

  it('shows an Operator the denied minting with its decision linked', async () => {
    const operator = await mint('did:sigil:dash-lic-operator', 'operator');
    await withPage(operator, async (page) => {
      await page.goto(`${server.url}/#/licenses`);
      const form = page.getByRole('form', { name: 'Mint a license' });
      await form.getByLabel('Owner DID').fill('did:sigil:dash-wants-license');
      await form.getByRole('button', { name: 'Mint' }).click();
      const alert = page.getByRole('region', { name: 'Mint a license' }).getByRole('alert');
      await expect.poll(() => alert.textContent()).toMatch(/^loa_insufficient: .*\(decision rec_/);
      expect(await accessibilityProblems(page)).toEqual([]);
      // the list of minted licenses is Root's: denied in words, with its decision
      const listed = page.getByRole('region', { name: 'Minted licenses' }).getByRole('alert');
      await expect.poll(() => listed.textContent()).toMatch(/^loa_insufficient: .*\(decision rec_/);
      await alert.getByRole('link').click();
      await expect.poll(() => page.getByTestId('verdict').textContent()).toMatch(/denied/);
    });
  });
});

describe('the Delegations page', () => {
  it('shows the empty state, delegates to an agent, lists it from the server and revokes it', async () => {
    const operator = await mint('did:sigil:dash-delegator', 'operator');
    await withPage(operator, async (page) => {
      await page.goto(`${server.url}/#/delegations`);
      const listed = page.getByRole('region', { name: 'Delegations you granted or received' });
      await expect.poll(() => listed.textContent()).toContain('No delegation yet.');
      expect(await accessibilityProblems(page)).toEqual([]);

      const form = page.getByRole('form', { name: 'Delegate to an agent' });
      await form.getByLabel('Agent DID').fill('did:sigil:dash-agent');
      await form.getByLabel(/Actions/).fill('memory.read, memory.write');
      await form.getByLabel(/Lifetime in hours/).fill('4');
      await form.getByRole('button', { name: 'Delegate' }).click();
      const made = page.getByTestId('new-delegation');
      await expect.poll(() => made.textContent()).toMatch(/^[0-9a-f]{64}$/);
      const id = (await made.textContent())!;
      // what the page made is on the server: a signed link from the operator to the agent
      const stored = await call(server.url, 'GET', `/api/delegations/${id}`, { token: root });
      expect(stored.body as Json).toMatchObject({
        principal: 'did:sigil:dash-delegator',
        grantee: 'did:sigil:dash-agent',
        permissions: ['memory.read', 'memory.write'],
        revoked_at: null,
      });
      const table = page.getByRole('table', { name: 'Delegations' });
      const row = table.getByRole('row').filter({ hasText: 'did:sigil:dash-agent' });
      await expect
        .poll(() => row.textContent())
        .toContain('did:sigil:dash-delegator → did:sigil:dash-agent');
      expect(await accessibilityProblems(page)).toEqual([]);
      await screenshot(page, 'delegations');

      // wider than the operator holds: refused, in words
      await form.getByLabel(/Actions/).fill('token.create');
      await form.getByRole('button', { name: 'Delegate' }).click();
      await expect
        .poll(() =>
          page
            .getByRole('region', { name: 'Delegate to an agent' })
            .getByRole('alert')
            .textContent(),
        )
        .toMatch(/^delegation_too_wide: the grantor does not hold: token\.create/);

      await row.getByRole('button', { name: 'Revoke' }).click();
      await row.getByRole('button', { name: 'Confirm revoke' }).click();
      await expect.poll(() => row.textContent()).toContain('revoked');
      const after = await call(server.url, 'GET', `/api/delegations/${id}`, { token: root });
      expect((after.body as Json).revoked_at).toMatch(/Z$/);
    });
  });

  it('shows an Observer the denied list with its decision linked', async () => {
    const observer = await mint('did:sigil:dash-deleg-observer', 'observer');
    await withPage(observer, async (page) => {
      await page.goto(`${server.url}/#/delegations`);
      const alert = page.getByRole('alert').first();
      await expect.poll(() => alert.textContent()).toMatch(/^loa_insufficient: .*\(decision rec_/);
      expect(await accessibilityProblems(page)).toEqual([]);
      await screenshot(page, 'delegations-denied');
      await alert.getByRole('link').click();
      await expect.poll(() => page.getByTestId('verdict').textContent()).toMatch(/denied/);
    });
  });
});

describe('the Consent page', () => {
  it('shows the empty state, grants consent, lists it from the server and revokes it', async () => {
    const operator = await mint('did:sigil:dash-bailor', 'operator');
    await withPage(operator, async (page) => {
      await page.goto(`${server.url}/#/consent`);
      const listed = page.getByRole('region', { name: 'Consent you gave or were given' });
      await expect.poll(() => listed.textContent()).toContain('No consent yet.');
      expect(await accessibilityProblems(page)).toEqual([]);

      const form = page.getByRole('form', { name: 'Grant consent' });
      await form.getByLabel('Bailee DID').fill('did:sigil:dash-bailee');
      await form.getByLabel('Scope').fill('memory.read');
      await form.getByLabel('Purpose').selectOption('retrieval');
      await form.getByRole('button', { name: 'Grant' }).click();
      const made = page.getByTestId('new-consent');
      await expect.poll(() => made.textContent()).toMatch(/\S/);
      const id = (await made.textContent())!;
      const table = page.getByRole('table', { name: 'Consents' });
      const row = table.getByRole('row').filter({ hasText: 'did:sigil:dash-bailee' });
      await expect.poll(() => row.textContent()).toContain('retrieval');
      // the server holds it, as the page shows it
      const server1 = await call(server.url, 'GET', '/api/consent', { token: operator });
      expect((server1.body as Json).consents).toEqual([
        expect.objectContaining({
          id,
          grant: expect.objectContaining({
            bailor: 'did:sigil:dash-bailor',
            bailee: 'did:sigil:dash-bailee',
            scope: 'memory.read',
            purpose: 'retrieval',
            revoked_at: null,
          }),
        }),
      ]);
      expect(await accessibilityProblems(page)).toEqual([]);
      await screenshot(page, 'consent');

      await form.getByLabel('Bailee DID').fill('not-a-did');
      await form.getByRole('button', { name: 'Grant' }).click();
      await expect
        .poll(() =>
          page.getByRole('region', { name: 'Grant consent' }).getByRole('alert').textContent(),
        )
        .toMatch(/^bad_request: /);

      await row.getByRole('button', { name: 'Revoke' }).click();
      await row.getByRole('button', { name: 'Confirm revoke' }).click();
      await expect.poll(() => row.textContent()).toContain('revoked');
      const server2 = await call(server.url, 'GET', '/api/consent', { token: operator });
      expect((server2.body as Json).consents[0].grant.revoked_at).toMatch(/Z$/);
    });
  });

  it('shows an Observer the denied list with its decision linked', async () => {
    const observer = await mint('did:sigil:dash-consent-observer', 'observer');
    await withPage(observer, async (page) => {
      await page.goto(`${server.url}/#/consent`);
      const alert = page.getByRole('alert').first();
      await expect.poll(() => alert.textContent()).toMatch(/^loa_insufficient: .*\(decision rec_/);
      expect(await accessibilityProblems(page)).toEqual([]);
      await alert.getByRole('link').click();
      await expect.poll(() => page.getByTestId('verdict').textContent()).toMatch(/denied/);
    });
  });
});
