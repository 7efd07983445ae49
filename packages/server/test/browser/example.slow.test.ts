/**
 * `millrace run examples/pipeline.ts` serves the web UI: the example's queries,
 * dashboards and alert rule show up in Chromium; SIGTERM still ends the run with 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupDirs, tempDir, waitFor } from '../helpers.ts';
import { launchBrowser, screenshot, type Browser } from './browser.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(here, '../../bin/millrace.js');
const EXAMPLE = path.join(here, '../../examples/pipeline.ts');

let child: ChildProcess | undefined;
let browser: Browser | undefined;

afterAll(async () => {
  await browser?.close();
  if (child && child.exitCode === null) child.kill('SIGKILL');
  cleanupDirs();
});

describe('millrace run serves the web UI', () => {
  it('shows the example pipeline live', async () => {
    const out = tempDir('millrace-ui-example-');
    child = spawn(
      process.execPath,
      [BIN, 'run', EXAMPLE, '--port', '0', '--progress', 'off', '--', '--rate', '1000', '--out', out],
      { cwd: out, env: { ...process.env, MILLRACE_TOKEN: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exit = new Promise<number | null>((r) => child!.on('exit', (code) => r(code)));
    await waitFor(() => stderr.includes('"msg":"server listening"'), 'the server to listen', 30_000);
    const url = JSON.parse(stderr.split('\n').find((l) => l.includes('"msg":"server listening"'))!)
      .url as string;

    browser = await launchBrowser();
    const page = await browser.newPage();
    await page.goto(url);
    await page.locator('#queries[data-ready="true"]').waitFor();
    for (const name of ['bids-per-channel', 'closed-windows']) {
      const row = page.locator('#queries tbody tr', {
        has: page.getByRole('link', { name, exact: true }),
      });
      await expect.poll(() => row.locator('.badge').textContent(), { timeout: 20_000 }).toBe('active');
      // a batch committed and showed up live
      await expect.poll(() => row.locator('td').nth(2).textContent(), { timeout: 20_000 }).toMatch(/^#\d+$/);
    }
    await page.getByRole('link', { name: 'Dashboards' }).click();
    const series = page.locator('[data-dashboard="bids-per-channel"]');
    await series.locator('figure.chart canvas').first().waitFor();
    await expect
      .poll(async () => Number(await series.getAttribute('data-size')), { timeout: 20_000 })
      .toBeGreaterThan(0);
    await screenshot(page, 'example-dashboards');
    await page.getByRole('link', { name: 'Alerts' }).click();
    await expect
      .poll(() => page.locator('#alert-rules tbody tr').first().textContent(), { timeout: 10_000 })
      .toContain('busy-channel');
    await page.close();
    expect(browser.problems).toEqual([]);

    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(stderr).toContain('"msg":"web UI bundled"');
  });
});
