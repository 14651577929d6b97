/**
 * Headless Chromium for the dashboard tests: Debian's /usr/bin/chromium through playwright-core.
 * A missing browser fails the tests loudly (CI installs it; see .ci/run), never skips them.
 * Every page records console errors, failed requests and CSP violations for the tests to assert
 * there are none, and screenshots land in test-output/dashboard/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.SIGIL_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(process.cwd(), 'test-output/dashboard');

/**
 * Builds the dashboard when this checkout has no build (a copy without `npm install`, as CI's
 * fresh copy is): the server under test serves dist/web.
 */
export function ensureDashboardBuilt(): void {
  if (existsSync(join(process.cwd(), 'dist/web/manifest.json'))) return;
  execFileSync(process.execPath, ['scripts/build-web.mjs'], { stdio: 'inherit' });
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}: install Debian's package (apt-get install chromium); ` +
        'the dashboard tests need a real browser',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
  });
}

export interface Watched {
  context: BrowserContext;
  page: Page;
  /** Console errors, page errors and CSP violations seen so far. */
  problems: string[];
}

/** A fresh browser context (its own cookies and storage) with one watched page at 1280×800. */
export async function watchedPage(browser: Browser): Promise<Watched> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const problems: string[] = [];
  await page.exposeBinding('__reportCsp', (_source, text: string) => {
    problems.push(`csp: ${text}`);
  });
  // page code as text: this file is compiled for Node, without the DOM's types
  await page.addInitScript(`
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__reportCsp(e.violatedDirective + ' blocked ' + e.blockedURI);
    });
  `);
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  return { context, page, problems };
}

/** Saves a 1280×800 screenshot of the page as test-output/dashboard/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** Everything the page's origin keeps in Web Storage, as one string. */
export async function webStorage(page: Page): Promise<string> {
  return page.evaluate(`(() => {
    const dump = (s) => Array.from({ length: s.length }, (_, i) => s.key(i) + '=' + s.getItem(s.key(i)));
    return [...dump(localStorage), ...dump(sessionStorage)].join('\\n');
  })()`);
}

let axeSource: string | undefined;

/**
 * Runs axe-core on the page (through the DevTools protocol, which the page's CSP does not
 * govern) and returns its serious and critical violations, described.
 */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(axeSource);
  const violations = (await page.evaluate(`axe
    .run(document, { resultTypes: ['violations'] })
    .then((r) => r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3),
    })))`)) as Array<{ id: string; impact: string; nodes: string[] }>;
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.nodes.join(', ')}`);
}
