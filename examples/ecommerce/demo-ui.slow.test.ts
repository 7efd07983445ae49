/**
 * The README's first command, as a user sees it: `millrace run examples/ecommerce/pipeline.ts`
 * (what `npm run demo` runs) starts the generator, the embedded log with HTTP ingest, the four
 * queries and the web UI; in Chromium the queries are active, every dashboard fills with rows, the
 * conversion alert rule is listed; screenshots are kept; SIGTERM ends it with exit code 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { cleanupDirs, tempDir, waitFor } from '../../packages/server/test/helpers.ts';
import { type Browser, launchBrowser, screenshot } from '../../packages/server/test/browser/browser.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(here, '../../packages/server/bin/millrace.js');
const PIPELINE = path.join(here, 'pipeline.ts');

let child: ChildProcess | undefined;
let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
  if (child && child.exitCode === null) child.kill('SIGKILL');
  cleanupDirs();
});

it('npm run demo: the e-commerce scenario with its dashboards in the web UI', async () => {
  const out = tempDir('millrace-shop-demo-');
  child = spawn(
    process.execPath,
    [
      BIN,
      'run',
      PIPELINE,
      '--port',
      '0',
      '--progress',
      'off',
      '--',
      '--rate',
      '2000',
      '--ingest-port',
      '0',
      '--out',
      out,
    ],
    {
      cwd: out,
      env: { ...process.env, MILLRACE_TOKEN: '', DATABASE_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exit = new Promise<number | null>((r) => child!.on('exit', (code) => r(code)));
  await waitFor(() => stderr.includes('"msg":"server listening"'), 'the server to listen', 60_000);
  const url = JSON.parse(stderr.split('\n').find((l) => l.includes('"msg":"server listening"'))!)
    .url as string;
  await waitFor(() => stderr.includes('e-commerce demo'), 'the demo banner (where to look)', 60_000);

  browser = await launchBrowser();
  const page = await browser.newPage();
  await page.goto(url);
  await page.locator('#queries[data-ready="true"]').waitFor();
  for (const name of ['event-counts', 'funnel', 'top-products', 'sessions']) {
    const row = page.locator('#queries tbody tr', { has: page.getByRole('link', { name, exact: true }) });
    await expect.poll(() => row.locator('.badge').textContent(), { timeout: 30_000 }).toBe('active');
  }
  await screenshot(page, 'ecommerce-queries');
  await page.getByRole('link', { name: 'Dashboards' }).click();
  // Windows close once the watermark (10 s) passes their end: the first rows come after ~20 s.
  for (const name of ['event-counts', 'funnel', 'top-products', 'sessions']) {
    await expect
      .poll(async () => Number(await page.locator(`[data-dashboard="${name}"]`).getAttribute('data-size')), {
        timeout: 90_000,
      })
      .toBeGreaterThan(0);
  }
  // A few closed funnel windows of real traffic (the first rows are early stragglers' windows).
  await expect
    .poll(async () => Number(await page.locator('[data-dashboard="funnel"]').getAttribute('data-size')), {
      timeout: 120_000,
    })
    .toBeGreaterThanOrEqual(4);
  await screenshot(page, 'ecommerce-dashboards');
  await page.getByRole('link', { name: 'Alerts' }).click();
  await expect
    .poll(() => page.locator('#alert-rules tbody tr').first().textContent(), { timeout: 10_000 })
    .toContain('conversion-drop');
  await screenshot(page, 'ecommerce-alerts');
  await page.close();
  expect(browser.problems).toEqual([]);

  child.kill('SIGTERM');
  expect(await exit).toBe(0);
}, 180_000);
