/**
 * The web UI with 20 queries × 10,000 batches of history each (synthetic progress, fed
 * as history.test.ts does), in Chromium: how fast the list and a query page show their
 * data, that the query page never asks for more than 1,000 batches, and that a flood
 * of live events (200 a second) keeps rendering throttled (≤ 4/s) and the page responsive.
 *
 * Bounds (from navigation start, browser cache warm): list ≤ 1,500 ms, query page with
 * its charts ≤ 2,000 ms; switching the charts to 1,000 batches ≤ 1,000 ms.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startHttpServer, type HttpServer, type MillraceService } from '../../src/index.ts';
import { webUi } from '../../src/ui/webUi.ts';
import { fakeProgress, testService } from '../helpers.ts';
import { launchBrowser, screenshot, uiStats, type Browser } from './browser.ts';

const QUERIES = 20;
const BATCHES = 10_000;
const LIST_BOUND_MS = 1_500;
const QUERY_BOUND_MS = 2_000;
const WINDOW_SWITCH_BOUND_MS = 1_000;

let service: MillraceService;
let server: HttpServer;
let browser: Browser;
let nextBatch = 0;
const T0 = Date.now() - BATCHES * 1_000;
const figures: string[] = [];

/**
 * Feed batches [from, from + count) to every query: the last 100 through the registry
 * (full records, events), the others straight into the history ring (what holds them).
 */
function feed(from: number, count: number, allThroughRegistry = false): void {
  const end = from + count;
  for (let b = from; b < end; b++) {
    for (let q = 0; q < QUERIES; q++) {
      const p = fakeProgress({ id: `id-${q}`, name: `query-${q}`, batchId: b, timestampMs: T0 + b * 1_000 });
      const e = allThroughRegistry || b === 0 || b >= end - 100 ? undefined : service.queries.find(`id-${q}`);
      if (e) {
        e.history.add(p);
        e.totalInputRows += p.numInputRows;
      } else service.queries.recordProgress(p);
    }
  }
  nextBatch = end;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function load(path: string, ready: string): Promise<{ page: Page; wallMs: number }> {
  const page = await browser.newPage();
  const t = performance.now();
  await page.goto(`${server.url}${path}`);
  await page.locator(ready).first().waitFor();
  return { page, wallMs: performance.now() - t };
}

/** Batches for `seconds` at `perSecond` per query, in ticks of 100 ms, while sampling the page's latency. */
async function flood(page: Page, seconds: number, perSecond: number): Promise<{ latencies: number[] }> {
  const latencies: number[] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const t = performance.now();
      await page.evaluate('1');
      latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const ticks = seconds * 10;
  for (let i = 0; i < ticks; i++) {
    feed(nextBatch, perSecond / 10, true);
    await new Promise((r) => setTimeout(r, 100));
  }
  sampling = false;
  await sampler;
  return { latencies };
}

beforeAll(async () => {
  ({ service } = testService({ logLevel: 'info' }));
  feed(0, BATCHES);
  server = await startHttpServer(service, { port: 0, ui: webUi() });
  browser = await launchBrowser();
  // Warm the browser's cache with the bundle (a first visit downloads ~100 kB once).
  const { page, wallMs } = await load('/', '#queries[data-ready="true"]');
  figures.push(`first visit (cold cache) list: ${Math.round(wallMs)} ms wall`);
  await page.close();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await service?.close({ flushMs: 0 });
  console.log(`responsiveness (20 queries × 10,000 batches):\n  ${figures.join('\n  ')}`);
});

describe('web UI with 20 queries × 10,000 batches each', () => {
  it(`shows the query list within ${LIST_BOUND_MS} ms`, async () => {
    const marks: number[] = [];
    const walls: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { page, wallMs } = await load('/', '#queries[data-ready="true"]');
      expect(await page.locator('#queries tbody tr').count()).toBe(QUERIES);
      expect(await page.locator('#queries tbody tr', { hasText: 'query-7' }).textContent()).toContain(
        `#${BATCHES - 1}`,
      );
      marks.push((await uiStats(page)).marks['queries:ready']!);
      walls.push(wallMs);
      if (i === 2) await screenshot(page, 'responsiveness-queries');
      await page.close();
    }
    figures.push(
      `list ready: ${median(marks)} ms after navigation start (wall ${Math.round(median(walls))} ms), median of 3`,
    );
    expect(median(marks)).toBeLessThan(LIST_BOUND_MS);
  });

  it(`shows a query page with its charts within ${QUERY_BOUND_MS} ms, fetching at most 1,000 batches`, async () => {
    const progressUrls: string[] = [];
    const marks: number[] = [];
    for (let i = 0; i < 3; i++) {
      const page = await browser.newPage();
      page.on('request', (r) => {
        if (r.url().includes('/progress')) progressUrls.push(r.url());
      });
      await page.goto(`${server.url}/queries/query-7`);
      const chart = page.locator('#charts figure.chart').first();
      await page.locator('[data-ready="true"]').first().waitFor();
      await chart.locator('canvas').waitFor();
      expect(await chart.getAttribute('data-points')).toBe('300');
      marks.push((await uiStats(page)).marks['query:ready']!);
      if (i < 2) {
        await page.close();
        continue;
      }
      // 1,000 batches in the charts
      const t = performance.now();
      await page.locator('#chart-window').selectOption('1000');
      await page.locator('#charts figure.chart[data-points="1000"]').first().waitFor();
      const switchMs = performance.now() - t;
      figures.push(`charts switched to 1,000 batches in ${Math.round(switchMs)} ms`);
      expect(switchMs).toBeLessThan(WINDOW_SWITCH_BOUND_MS);
      expect(await chart.getAttribute('data-last-x')).toBe(String(T0 + (BATCHES - 1) * 1_000));
      // page back through the batch table (20 a page) from the server's ring
      expect(await page.locator('#batches tbody tr').first().locator('th').textContent()).toBe(
        `#${BATCHES - 1}`,
      );
      await page.getByRole('button', { name: 'Older →' }).click();
      await page.getByRole('button', { name: 'Older →' }).click();
      const batchLink = (id: number) =>
        page.locator('#batches').getByRole('link', { name: `#${id}`, exact: true });
      await batchLink(BATCHES - 41).waitFor();
      expect(await page.locator('#batches tbody tr').count()).toBe(20);
      await screenshot(page, 'responsiveness-query');
      await page.getByRole('button', { name: 'Newest' }).click();
      await batchLink(BATCHES - 1).waitFor();
      await page.evaluate('localStorage.clear()'); // the chart window is remembered per browser
      await page.close();
    }
    figures.push(
      `query page ready (charts drawn, 300 batches): ${median(marks)} ms after navigation start, median of 3`,
    );
    expect(median(marks)).toBeLessThan(QUERY_BOUND_MS);
    for (const u of progressUrls) {
      const limit = Number(new URL(u).searchParams.get('limit'));
      expect(limit, u).toBeGreaterThan(0);
      expect(limit, u).toBeLessThanOrEqual(1_000);
    }
  });

  it('throttles rendering under 200 progress events a second and stays responsive', async () => {
    for (const [path, ready] of [
      ['/', '#queries[data-ready="true"]'],
      ['/queries/query-3', '[data-ready="true"]'],
    ] as const) {
      const { page } = await load(path, ready);
      const before = await uiStats(page);
      const seconds = 5;
      const started = performance.now();
      const { latencies } = await flood(page, seconds, 10); // 20 queries × 10 batches/s
      const elapsed = (performance.now() - started) / 1000;
      await new Promise((r) => setTimeout(r, 600)); // the last throttled render
      const after = await uiStats(page);
      const renders = after.renders - before.renders;
      figures.push(
        `${path}: ${renders} renders for ${QUERIES * 10 * seconds} events in ${elapsed.toFixed(1)} s; ` +
          `page round trip median ${median(latencies).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms`,
      );
      // at most 4 renders a second (plus the clock ticks that fall in between)
      expect(renders).toBeLessThanOrEqual(Math.ceil((elapsed + 0.6) * 4) + 2);
      expect(renders).toBeGreaterThan(5);
      expect(median(latencies)).toBeLessThan(50);
      expect(Math.max(...latencies)).toBeLessThan(500);
      // and it shows the latest batch
      const last = `#${nextBatch - 1}`;
      if (path === '/') {
        await expect
          .poll(() =>
            page.locator('#queries tbody tr', { hasText: 'query-0' }).locator('td').nth(2).textContent(),
          )
          .toBe(last);
      } else {
        await expect
          .poll(() => page.locator('#batches tbody tr').first().locator('th').textContent())
          .toBe(last);
        expect(Number(await page.locator('#charts figure.chart').first().getAttribute('data-points'))).toBe(
          300,
        );
      }
      await page.close();
    }
    // the browser kept up with the stream: the server never dropped it
    expect(await service.metrics.text()).toMatch(/^millrace_sse_dropped_clients_total 0$/m);
  });
});
