/**
 * Dashboard benchmark: the overview's first render on a log of N records (default 100 000,
 * SIGIL_BENCH_DASHBOARD_RECORDS sets it), in headless Chromium against the real server.
 *
 * Fills a fresh log with N decisions (a tenth denied) through the runtime, serves it, signs in
 * and times, from navigation, the first render (status, log and breaker cards) and the chart
 * with the top-denied tables:
 * - cold: the first overview after the server started on the full log (the decision tally
 *   the filling runtime kept and saved is loaded, checked against the log, and caught up: no
 *   scan of the log);
 * - warm: a reload (the tally reads only what was appended since).
 * Beside them, the limit measured in the same run: reading the same N records straight from the
 * log (what any count over the log must at least do), and the ratio cold ÷ that read. Goal: the
 * first render ≤ 1 s.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/index.ts';
import { buildServer } from '../src/http/index.ts';
import { SigilRuntime } from '../src/runtime/index.ts';
import { ensureDashboardBuilt, launchBrowser } from '../test/web/browser.ts';
import { figure, say } from './report.ts';

const BATCH = 500;
const fmt = (ms: number): string => `${ms.toFixed(0)} ms`;

export async function run(): Promise<void> {
  const records = Number(process.env.SIGIL_BENCH_DASHBOARD_RECORDS ?? 100_000);
  ensureDashboardBuilt();
  const root = mkdtempSync(join(tmpdir(), 'sigil-bench-dash-'));
  const configFile = join(root, 'mmf.toml');
  const limits = ['guest', 'observer', 'operator', 'mentor', 'root']
    .map((l) => `${l} = { rate = 1000000, burst = 1000000 }`)
    .join('\n');
  writeFileSync(configFile, `[rate_limit]\n${limits}\n`);
  const env = {
    ...process.env,
    SIGIL_MASTER_KEY: Buffer.alloc(32, 0x42).toString('base64'),
    SIGIL_CONFIG: configFile,
    LOG_LEVEL: 'warn',
  };
  const boot = await SigilRuntime.bootstrap({
    config: loadConfig({ env, dataDir: join(root, 'data') }),
    env,
  });
  let runtime = boot.runtime;
  const token = boot.rootToken!;
  try {
    const caller = await runtime.tokens.authenticate(token);
    const fillStart = performance.now();
    for (let done = 0; done < records; done += BATCH) {
      const n = Math.min(BATCH, records - done);
      await Promise.all(
        Array.from({ length: n }, (_, i) =>
          runtime.check(caller, {
            action: (done + i) % 10 === 0 ? 'no.such.action' : 'canon.read',
            target: `bench/${(done + i) % 97}`,
          }),
        ),
      );
    }
    const fillMs = performance.now() - fillStart;
    say(`  ${records.toLocaleString('en-US')} decisions sealed in ${fmt(fillMs)}`);
    // A fresh process view: the server starts on the full log, its rollup empty.
    await runtime.close();
    runtime = await SigilRuntime.open({
      config: loadConfig({ env, dataDir: join(root, 'data') }),
      env,
    });

    const readStart = performance.now();
    let cursor: string | undefined;
    let read = 0;
    do {
      const page = await runtime.log.list({ limit: 1000, ...(cursor ? { cursor } : {}) });
      read += page.records.length;
      cursor = page.cursor;
    } while (cursor !== undefined);
    const readMs = performance.now() - readStart;

    const app = buildServer(runtime, { logLevel: 'warn' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const browser = await launchBrowser();
    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      // sign in through the API from the page's origin (sets the HttpOnly cookie)
      await page.goto(`${url}/healthz`);
      await page.evaluate(
        `fetch('/api/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: ${JSON.stringify(token)} }) })`,
      );
      /** [first render: status, log and breaker shown; chart and top-denied drawn]. */
      const render = async (): Promise<[number, number]> => {
        const start = performance.now();
        await page.goto(`${url}/#/overview`);
        await page.getByTestId('log-size').waitFor();
        await page.getByTestId('breaker').waitFor();
        const first = performance.now() - start;
        await page.locator('.uplot canvas').first().waitFor({ timeout: 600_000 });
        await page
          .getByRole('region', { name: 'Top denied actions' })
          .locator('tbody tr')
          .first()
          .waitFor();
        return [first, performance.now() - start];
      };
      const [coldFirst, cold] = await render();
      const [warmFirst, warm] = await render();
      const limit = {
        name: `read ${read.toLocaleString('en-US')} records from the log`,
        value: readMs,
      };
      figure({
        name: `overview first render, ${records.toLocaleString('en-US')} records, cold start`,
        value: coldFirst,
        unit: 'ms',
        limit,
        goal: { atMost: 1000 },
      });
      figure({ name: 'overview chart and top denied, cold start', value: cold, unit: 'ms', limit });
      figure({ name: 'overview first render, reload', value: warmFirst, unit: 'ms', limit });
      figure({ name: 'overview chart, reload', value: warm, unit: 'ms', limit });
    } finally {
      await browser.close();
      await app.close();
    }
  } finally {
    await runtime.close();
    rmSync(root, { recursive: true, force: true });
  }
}
