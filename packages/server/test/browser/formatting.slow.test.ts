/**
 * Dashboards that read well, in a real Chromium: table cells formatted by the column's type from
 * the result's schema (a camelCase timestamp column as a time, ids without thousands separators,
 * counts with them), nested values as chips and small tables instead of cut JSON, and a line chart
 * that breaks at a gap in time instead of drawing across it. Screenshots in test-artifacts/browser/.
 */
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryStream, schema, t } from 'millrace';
import { dashboardSink, startHttpServer, type HttpServer, type MillraceService } from '../../src/index.ts';
import { webUi } from '../../src/ui/webUi.ts';
import { cleanupDirs, tempDir, testService } from '../helpers.ts';
import { launchBrowser, screenshot, type Browser } from './browser.ts';

const suffix = Math.random().toString(36).slice(2, 8);
const T0 = Date.UTC(2026, 10, 21, 20, 24, 40);
let service: MillraceService;
let server: HttpServer;
let browser: Browser;
const table = `top-${suffix}`;
const series = `rate-${suffix}`;

beforeAll(async () => {
  ({ service } = testService({ logLevel: 'info' }));
  const dir = tempDir('millrace-ui-format-');
  server = await startHttpServer(service, { port: 0, ui: webUi() });
  const rows = memoryStream(
    schema({
      windowStart: t.timestamp,
      userId: t.long,
      orders: t.long,
      revenue: t.double,
      topProducts: t.array(t.struct({ productId: t.long, revenue: t.double })),
      tags: t.array(t.string),
    }),
    { name: `src-${table}` },
  );
  const q1 = await service.startQuery(service.createSession().readStream(rows), {
    queryName: table,
    checkpointLocation: path.join(dir, table),
    sink: dashboardSink({ name: table, title: 'Top products', kind: 'table', key: ['userId'] }),
  });
  rows.addData({
    windowStart: T0,
    userId: 3712,
    orders: 1_234_567,
    revenue: 98_765.4321,
    topProducts: [
      { productId: 4021, revenue: 1999.5 },
      { productId: 17, revenue: 250 },
    ],
    tags: ['hot', 'eu'],
  });
  await q1.processAllAvailable();
  const points = memoryStream(schema({ windowStart: t.timestamp, rate: t.double }), {
    name: `src-${series}`,
  });
  const q2 = await service.startQuery(service.createSession().readStream(points), {
    queryName: series,
    checkpointLocation: path.join(dir, series),
    sink: dashboardSink({
      name: series,
      title: 'Conversion',
      kind: 'timeseries',
      x: 'windowStart',
      y: ['rate'],
    }),
  });
  // Ten windows, five minutes without data, then ten more: one gap.
  const at = (i: number) => T0 + i * 10_000 + (i >= 10 ? 300_000 : 0);
  points.addData(Array.from({ length: 20 }, (_, i) => ({ windowStart: at(i), rate: 0.05 + (i % 4) / 100 })));
  await q2.processAllAvailable();
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await service?.stopAll();
  await server?.close();
  await service?.close({ flushMs: 0 });
  cleanupDirs();
});

describe('dashboard formatting (Chromium)', () => {
  it('formats table cells by column type and shows nested values as chips and tables', async () => {
    const info = (await (await fetch(`${server.url}/api/v1/dashboards/${table}`)).json()) as {
      dashboard: { columns: { name: string; type: string }[] };
    };
    expect(info.dashboard.columns).toEqual(
      expect.arrayContaining([
        { name: 'windowStart', type: 'timestamp' },
        { name: 'userId', type: 'long' },
        { name: 'topProducts', type: 'array<struct<productId: long, revenue: double>>' },
      ]),
    );
    const page = await browser.newPage();
    await page.goto(`${server.url}/dashboards/${table}`);
    const dash = page.locator(`[data-dashboard="${table}"][data-ready="true"]`);
    await dash.waitFor();
    const headers = await dash.locator('table:not(.nested-table) > thead th').allTextContents();
    const row = dash.locator('table:not(.nested-table) > tbody > tr').first();
    const cell = (name: string) => row.locator(':scope > *').nth(headers.indexOf(name));
    const local = new Date(T0);
    const hms = [local.getHours(), local.getMinutes(), local.getSeconds()].map((n) =>
      String(n).padStart(2, '0'),
    );
    expect(await cell('windowStart').textContent()).toContain(hms.join(':')); // a time, not 1,795,…
    expect(await cell('userId').textContent()).toBe('3712');
    expect(await cell('orders').textContent()).toBe('1,234,567');
    expect(await cell('revenue').textContent()).toBe('98,765');
    expect(await cell('tags').locator('.chip').allTextContents()).toEqual(['hot', 'eu']);
    const nested = cell('topProducts').locator('table.nested-table');
    expect(await nested.locator('th').allTextContents()).toEqual(['productId', 'revenue']);
    expect(await nested.locator('tbody tr').first().locator('td').allTextContents()).toEqual([
      '4021',
      '2,000',
    ]);
    expect(await cell('topProducts').textContent()).not.toContain('{');
    await screenshot(page, 'dashboard-formatting-table');
    await page.close();
  });

  it('breaks a line chart at a gap in time', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/dashboards/${series}`);
    const chart = page.locator(`[data-dashboard="${series}"] figure.chart`).first();
    await expect
      .poll(async () => Number(await chart.getAttribute('data-points-drawn')), { timeout: 10_000 })
      .toBe(20);
    expect(await chart.getAttribute('data-points')).toBe('20');
    expect(await chart.getAttribute('data-gaps')).toBe('1');
    await screenshot(page, 'dashboard-formatting-gap');
    await page.close();
  });
});
