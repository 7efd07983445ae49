/**
 * The web UI in a real Chromium against a real service: live Nexmark and rate queries
 * feeding dashboards, a query whose rows drive an alert rule, and a query that fails.
 * Screenshots go to test-artifacts/browser/.
 */
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import {
  MillraceError,
  Trigger,
  count,
  foreachBatchSink,
  lit,
  max,
  memorySink,
  memoryStream,
  nexmarkSource,
  rateSource,
  schema,
  t,
  when,
  window,
  MemoryStream as MemoryStreamClass,
  type ConnectorContext,
  type MemoryStream,
  type StreamingQuery,
} from 'millrace';
import { dashboardSink, startHttpServer, type HttpServer, type MillraceService } from '../../src/index.ts';
import { webUi } from '../../src/ui/webUi.ts';
import { cleanupDirs, tempDir, testService, waitFor } from '../helpers.ts';
import { launchBrowser, screenshot, type Browser } from './browser.ts';

type Cpu = { host: string; cpu: number };

let service: MillraceService;
let server: HttpServer;
let browser: Browser;
let cpuSource: MemoryStream<Cpu>;
let cpuQuery: StreamingQuery;
const shots: string[] = [];
const suffix = Math.random().toString(36).slice(2, 8);

async function open(path: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${server.url}${path}`);
  return page;
}

async function waitUntil<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await read();
  while (!ok(v)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 100));
    v = await read();
  }
  return v;
}

/** expect.poll with room for a busy machine (live updates render at most every 250 ms). */
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 10_000, interval: 100 });

async function cpuBatch(...rows: Cpu[]): Promise<void> {
  cpuSource.addData(rows);
  await cpuQuery.processAllAvailable();
}

beforeAll(async () => {
  ({ service } = testService({ logLevel: 'info' }));
  const session = service.createSession();
  const dir = tempDir('millrace-ui-');
  server = await startHttpServer(service, { port: 0, ui: webUi() });

  // 1. Nexmark bids in real time → bids per channel per 2-second window → a time series.
  const bids = session
    .readStream(
      nexmarkSource({
        name: `bids-${suffix}`,
        kind: 'bid',
        wallRate: 2_000,
        eventsPerSecond: 2_000,
        baseTime: Date.now() - 1_000,
      }),
    )
    .withWatermark('dateTime', '1 second')
    .withColumn('channel', ($) =>
      when($.channel.isin('Google', 'Facebook', 'Baidu', 'Apple'), $.channel).otherwise(lit('other')),
    )
    .groupBy(($) => ({ window: window($.dateTime, '2 seconds'), channel: $.channel }))
    .agg(($) => ({ bids: count(), topPrice: max($.price) }));
  await service.startQuery(bids, {
    queryName: 'bids-per-channel',
    outputMode: 'update',
    trigger: Trigger.processingTime('250 ms'),
    checkpointLocation: path.join(dir, 'bids'),
    sink: dashboardSink({
      name: 'bids-per-channel',
      title: 'Bids per channel',
      kind: 'timeseries',
      x: 'window.start',
      y: ['bids', 'topPrice'],
      series: 'channel',
    }),
  });

  // 2. A rate source → rows per bucket (complete mode) → a keyed table.
  const buckets = session
    .readStream(rateSource({ name: `rate-${suffix}`, rowsPerSecond: 400 }))
    .groupBy(($) => ({ bucket: $.value.mod(5) }))
    .agg(($) => ({ rows: count(), last: max($.value) }));
  await service.startQuery(buckets, {
    queryName: 'rate-buckets',
    outputMode: 'complete',
    trigger: Trigger.processingTime('400 ms'),
    checkpointLocation: path.join(dir, 'rate'),
    sink: dashboardSink({ name: 'rate-buckets', title: 'Rows per bucket', kind: 'table', key: 'bucket' }),
  });

  // 3. CPU readings the test adds by hand → an alert rule over them.
  cpuSource = memoryStream(schema({ host: t.string, cpu: t.double }), { name: `cpu-${suffix}` });
  cpuQuery = await service.startQuery(session.readStream(cpuSource), {
    queryName: 'cpu',
    sink: memorySink({ name: `cpu-out-${suffix}` }),
  });
  service.alerts.rule({
    name: 'hot-host',
    query: 'cpu',
    condition: 'cpu > 90',
    labels: ['host'],
    severity: 'critical',
    summary: 'host {host} at {cpu}%',
  });

  // 4. A query whose sink fails with a MillraceError carrying context.
  const payments = memoryStream(schema({ id: t.long, amount: t.double }), { name: `pay-${suffix}` });
  await service.startQuery(session.readStream(payments), {
    queryName: 'payments',
    checkpointLocation: path.join(dir, 'payments'),
    sink: foreachBatchSink(() => {
      throw new MillraceError(
        'PAYMENT_GATEWAY_DOWN',
        'the payment gateway refused the batch; check the gateway, then restart the query',
        { domain: 'external', retryable: true, context: { gateway: 'gw-eu-1', attempt: 3 } },
      );
    }),
  });
  payments.addData([{ id: 1, amount: 9.5 }]);
  await waitFor(() => service.queries.find('payments')?.health === 'failed', 'payments to fail', 10_000);
  await waitFor(
    () => (service.queries.find('bids-per-channel')?.history.size ?? 0) >= 3,
    'bids batches',
    15_000,
  );

  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await service?.stopAll();
  await server?.close();
  await service?.close({ flushMs: 0 });
  cleanupDirs();
  console.log(`screenshots:\n  ${shots.join('\n  ')}`);
});

describe('web UI (Chromium)', () => {
  it('lists every query with its health, live', async () => {
    const page = await open('/');
    await page.locator('#queries[data-ready="true"]').waitFor();
    const row = (name: string) =>
      page.locator('#queries tbody tr', { has: page.getByRole('link', { name, exact: true }) });
    await poll(() => row('bids-per-channel').locator('.badge').textContent()).toBe('active');
    expect(await row('payments').locator('.badge').textContent()).toBe('failed');
    expect(await row('payments').textContent()).toContain('PAYMENT_GATEWAY_DOWN');
    expect(await row('rate-buckets').locator('.badge').textContent()).toBe('active');
    expect(await row('cpu').count()).toBe(1);
    // the rates and the last batch move while the page stays open (SSE)
    const batchCell = row('bids-per-channel').locator('td').nth(2);
    const first = Number((await batchCell.textContent())!.replace(/\D/g, ''));
    await waitUntil(
      async () => Number((await batchCell.textContent())!.replace(/\D/g, '')),
      (n) => n > first,
      'the last batch to move in the list',
    );
    const inputRate = await row('bids-per-channel').locator('td').nth(3).textContent();
    expect(Number(inputRate!.replace(/,/g, ''))).toBeGreaterThan(0);
    expect(await page.locator('#queries-summary').textContent()).toMatch(/3 active.*1 failed/);
    expect(await page.locator('#nav-queries').textContent()).toBe('3/4');
    shots.push(await screenshot(page, 'queries'));
    await page.close();
  });

  it('shows a query page whose charts move while the query runs', async () => {
    const page = await open('/queries/bids-per-channel');
    await page.locator('[data-ready="true"]').first().waitFor();
    const rateChart = page.locator('#charts figure.chart').first();
    await waitUntil(
      () => rateChart.getAttribute('data-points'),
      (v) => Number(v) >= 2,
      'points',
    );
    const points1 = Number(await rateChart.getAttribute('data-points'));
    const lastX1 = Number(await rateChart.getAttribute('data-last-x'));
    const firstBatch1 = await page.locator('#batches tbody tr').first().locator('th').textContent();
    await waitUntil(
      async () => Number(await rateChart.getAttribute('data-last-x')),
      (x) => x > lastX1,
      'the chart to get a newer batch',
    );
    expect(Number(await rateChart.getAttribute('data-points'))).toBeGreaterThan(points1);
    await waitUntil(
      () => page.locator('#batches tbody tr').first().locator('th').textContent(),
      (b) => b !== firstBatch1,
      'a newer batch in the table',
    );
    // every chart drew something (uPlot canvases), the phases are stacked
    expect(await page.locator('#charts figure.chart canvas').count()).toBeGreaterThanOrEqual(4);
    expect(await page.locator('#charts figcaption').allTextContents()).toEqual(
      expect.arrayContaining([
        expect.stringContaining('Input vs processing rate'),
        expect.stringContaining('Batch duration by phase'),
        expect.stringContaining('Watermark and event-time lag'),
        expect.stringContaining('State rows'),
      ]),
    );
    expect(await page.locator('#charts').textContent()).toContain('addBatch');
    // sources with offsets and lag, the sink, state operators, the plan
    await waitUntil(
      () => page.locator('#sources tbody tr').count(),
      (n) => n === 1,
      'the source row',
    );
    const source = await page.locator('#sources tbody tr').first().locator('td').allTextContents();
    expect(Number(source[2])).toBeGreaterThan(0); // end offset: an event number
    expect(await page.locator('#sink').textContent()).toContain('bids-per-channel');
    expect(await page.locator('#state-operators tbody tr').count()).toBeGreaterThanOrEqual(1);
    // one state partition: no partition figures
    expect(await page.locator('#state-partitions .partitions').count()).toBe(0);
    expect(await page.locator('#state-partitions').isHidden()).toBe(true);
    expect((await page.locator('#plan').textContent())!.length).toBeGreaterThan(20);
    expect(await page.locator('[data-kpi="watermark"]').textContent()).toMatch(/lag/);
    // the full record of a recent batch
    await page.locator('#batches tbody tr').first().getByRole('link').click();
    await poll(() => page.locator('#batch-record pre').textContent()).toContain('"sources"');
    shots.push(await screenshot(page, 'query'));
    await page.close();
  });

  it('stops and restarts a query from its page', async () => {
    const page = await open('/queries/rate-buckets');
    await page.locator('[data-ready="true"]').first().waitFor();
    const badge = page.locator('.title-row .badge');
    await poll(() => badge.textContent()).toBe('active');
    await page.getByRole('button', { name: 'Stop' }).click();
    await waitUntil(
      () => badge.textContent(),
      (t) => t === 'stopped',
      'stopped',
    );
    expect(service.queries.find('rate-buckets')!.health).toBe('stopped');
    expect(await page.getByRole('button', { name: 'Stop' }).isDisabled()).toBe(true);
    const before = service.queries.find('rate-buckets')!.history.latest()!.batchId;
    await page.getByRole('button', { name: 'Restart' }).click();
    await waitUntil(
      () => badge.textContent(),
      (t) => t === 'active',
      'active again',
    );
    await waitFor(
      () => service.queries.find('rate-buckets')!.history.latest()!.batchId > before,
      'a new batch',
      10_000,
    );
    expect(await page.locator('#toast').textContent()).toContain('Restarted rate-buckets');
    await page.close();
  });

  it('renders the dashboards and updates them live', async () => {
    const page = await open('/dashboards');
    const series = page.locator('[data-dashboard="bids-per-channel"]');
    const tableDash = page.locator('[data-dashboard="rate-buckets"]');
    await series.locator('figure.chart canvas').first().waitFor();
    await tableDash.locator('table tbody tr').first().waitFor();
    expect(await series.locator('figure.chart').count()).toBe(2); // bids, topPrice
    const lastBatch = Number(await series.getAttribute('data-last-batch'));
    await waitUntil(
      async () => Number(await series.getAttribute('data-last-batch')),
      (b) => b > lastBatch,
      'a newer batch on the time series',
    );
    expect(Number(await series.getAttribute('data-size'))).toBeGreaterThan(0);
    // one line per channel: the legend names them
    expect(await series.locator('.u-legend').first().textContent()).toMatch(/other/);
    // the keyed table: one row per bucket, counts growing
    await waitUntil(
      () => tableDash.locator('tbody tr').count(),
      (n) => n === 5,
      'five buckets',
    );
    const rowsCell = tableDash.locator('tbody tr').first().locator('td').first();
    const n1 = Number((await rowsCell.textContent())!.replace(/,/g, ''));
    await waitUntil(
      async () => Number((await rowsCell.textContent())!.replace(/,/g, '')),
      (n) => n > n1,
      'the table to update',
    );
    expect(await page.locator('#nav-dashboards').textContent()).toBe('2');
    shots.push(await screenshot(page, 'dashboards'));
    await page.close();

    const one = await open('/dashboards/bids-per-channel');
    await one.locator('[data-dashboard="bids-per-channel"] figure.chart canvas').first().waitFor();
    expect(await one.locator('h1').textContent()).toBe('Bids per channel');
    shots.push(await screenshot(one, 'dashboard-timeseries'));
    await one.close();
  });

  it('shows an alert firing and resolving, live; rules can be turned off and on', async () => {
    const page = await open('/alerts');
    await page.locator('[data-ready="true"]').first().waitFor();
    const rule = page.locator('#alert-rules tbody tr', { hasText: 'hot-host' });
    await poll(() => rule.count()).toBe(1);
    expect(await rule.textContent()).toContain('cpu > 90');

    await cpuBatch({ host: 'web-1', cpu: 97 }, { host: 'web-2', cpu: 20 });
    const active = page.locator('#active-alerts tbody tr');
    await waitUntil(
      () => active.count(),
      (n) => n === 1,
      'an active alert',
    );
    expect(await active.first().textContent()).toMatch(/hot-host.*firing.*critical.*host=web-1/);
    const history = page.locator('#alert-history tbody tr');
    await waitUntil(
      () => history.count(),
      (n) => n === 1,
      'the firing event',
    );
    expect(await history.first().textContent()).toContain('host web-1 at 97%');
    await poll(() => page.locator('#nav-alerts').textContent()).toBe('1 firing');
    shots.push(await screenshot(page, 'alert-firing'));

    await cpuBatch({ host: 'web-1', cpu: 35 });
    await waitUntil(
      () => history.count(),
      (n) => n === 2,
      'the resolved event',
    );
    expect(await history.first().locator('.badge').first().textContent()).toBe('resolved');
    await waitUntil(
      () => page.locator('#active-alerts').isHidden(),
      (hidden) => hidden,
      'no active alert',
    );
    await poll(() => page.locator('#nav-alerts').textContent()).toBe('');

    const toggle = page.getByRole('button', { name: 'Rule hot-host enabled' });
    expect(await toggle.getAttribute('aria-pressed')).toBe('true');
    await toggle.click();
    await poll(() => toggle.getAttribute('aria-pressed')).toBe('false');
    expect(service.alerts.getRuleView('hot-host').enabled).toBe(false);
    await toggle.click();
    await poll(() => toggle.getAttribute('aria-pressed')).toBe('true');
    expect(service.alerts.getRuleView('hot-host').enabled).toBe(true);
    shots.push(await screenshot(page, 'alerts'));
    await page.close();
  });

  it('shows why a query failed', async () => {
    const page = await open('/queries/payments');
    const failure = page.locator('#failure');
    await failure.waitFor();
    expect(await failure.locator('h2').textContent()).toBe('This query failed');
    expect(await failure.locator('.failure-code').textContent()).toMatch(
      /PAYMENT_GATEWAY_DOWN · external error · retryable/,
    );
    expect(await failure.locator('.failure-message').textContent()).toContain(
      'the payment gateway refused the batch',
    );
    const context = await failure.locator('table').textContent();
    expect(context).toContain('gateway');
    expect(context).toContain('gw-eu-1');
    expect(await page.locator('.title-row .badge').textContent()).toBe('failed');
    expect(await page.getByRole('button', { name: 'Stop' }).isDisabled()).toBe(true);
    expect(await page.getByRole('button', { name: 'Restart' }).isEnabled()).toBe(true);
    shots.push(await screenshot(page, 'failed-query'));
    await page.close();
  });

  it('navigates without reloading and keeps every page free of errors', async () => {
    const page = await open('/');
    await page.locator('#queries[data-ready="true"]').waitFor();
    await page.evaluate('window.__marker = 1');
    await page.getByRole('link', { name: 'Dashboards' }).click();
    await page.locator('[data-dashboard="rate-buckets"]').waitFor();
    await page.getByRole('link', { name: 'Alerts' }).click();
    await page.locator('#alert-rules').waitFor();
    await page.goBack();
    await page.locator('[data-dashboard="rate-buckets"]').waitFor();
    expect(await page.evaluate('window.__marker')).toBe(1); // same document all along
    expect(await page.locator('a[aria-current="page"]').textContent()).toContain('Dashboards');
    const missing = await open('/queries/no-such-query');
    await missing.locator('#not-found').waitFor();
    expect(await missing.locator('#not-found').textContent()).toContain(
      'no query with id or name "no-such-query"',
    );
    await missing.close();
    await page.close();
    expect(browser.problems.filter((p) => !p.includes('404'))).toEqual([]);
  });
});

describe('web UI: state partitions', () => {
  it('shows the partitions of a partitioned operator: count, slowest beside the median, each partition', async () => {
    const { service: svc } = testService({ logLevel: 'warn' });
    const srv = await startHttpServer(svc, { port: 0, ui: webUi() });
    const words = memoryStream(schema({ word: t.string }), { name: `words-${suffix}` });
    const session = svc.createSession();
    try {
      const q = await svc.startQuery(session.readStream(words).groupBy('word').count(), {
        queryName: 'word-counts',
        outputMode: 'update',
        partitions: 3,
        checkpointLocation: path.join(tempDir('millrace-ui-parts-'), 'cp'),
        sink: memorySink({ name: `words-out-${suffix}` }),
      });
      // one hot key (most rows, in one partition) and a few cold ones
      const rows = [
        ...Array.from({ length: 20_000 }, () => ({ word: 'hot' })),
        ...Array.from({ length: 60 }, (_, i) => ({ word: `w${i % 12}` })),
      ];
      words.addData(rows);
      await q.processAllAvailable();
      const op = q.lastProgress!.stateOperators[0]!;
      const parts = op.partitions!;
      expect(parts.numPartitions).toBe(3);

      const problemsBefore = browser.problems.length;
      const page = await browser.newPage();
      await page.goto(`${srv.url}/queries/word-counts`);
      await page.locator('[data-ready="true"]').first().waitFor();
      const block = page.locator(`#state-partitions .partitions[data-operator="${op.operatorName}"]`);
      await block.waitFor();
      expect(await page.locator('#state-partitions .partitions').count()).toBe(1);
      // the operator's own row is as before
      expect(await page.locator('#state-operators tbody tr').count()).toBe(1);
      // how many partitions; the slowest and its time beside the median, and the ratio
      expect(await block.locator('h3').textContent()).toBe(`${op.operatorName}: 3 state partitions`);
      const skew = (await block.locator('.skew').textContent())!;
      const m = /^slowest p([0-2]): ([\d.,]+) ms, median ([\d.,]+) ms(?:, ([\d.,]+)×)?$/.exec(skew);
      expect(m, skew).not.toBeNull();
      expect(Number(m![1])).toBe(parts.slowestPartition);
      if (parts.medianMs > 0) {
        const ratio = parts.slowestMs / parts.medianMs;
        expect(Math.abs(Number(m![4]!.replace(/,/g, '')) - ratio)).toBeLessThanOrEqual(
          ratio >= 100 ? 0.5 : 0.05,
        );
      } else expect(m![4]).toBeUndefined();
      // one row per partition: input rows, state rows, time, and a bar relative to the slowest
      const trs = block.locator('tbody tr');
      expect(await trs.count()).toBe(3);
      const table = await trs.evaluateAll((els) =>
        els.map((tr) => [...tr.querySelectorAll('th, td')].map((c) => c.textContent ?? '')),
      );
      const n = (v: string) => Number(v.replace(/,/g, ''));
      expect(table.map((r) => r[0]!.replace(' (slowest)', ''))).toEqual(['p0', 'p1', 'p2']);
      expect(table.map((r) => n(r[1]!))).toEqual(parts.tasks.map((x) => x.numInputRows));
      expect(table.map((r) => n(r[2]!))).toEqual(parts.tasks.map((x) => x.numRowsTotal));
      expect(table.map((r) => n(r[1]!)).reduce((a, b) => a + b)).toBe(rows.length);
      expect(table.map((r) => n(r[2]!)).reduce((a, b) => a + b)).toBe(13);
      expect(table.every((r) => / ms$/.test(r[3]!))).toBe(true);
      expect(table[parts.slowestPartition]![0]).toBe(`p${parts.slowestPartition} (slowest)`);
      expect(await block.locator('tbody .pbar-fill').count()).toBe(3);
      // (set through the CSSOM, which shows in the style attribute)
      const widths = await block
        .locator('tbody .pbar-fill')
        .evaluateAll((els) => els.map((e) => e.getAttribute('style')));
      expect(widths[parts.slowestPartition]).toBe('width: 100%;');
      expect(await block.locator('.partitions-note').isHidden()).toBe(true);
      shots.push(await screenshot(page, 'query-partitions'));
      await page.close();

      // many partitions: the table lists the 16 slowest, slowest first, and says so
      const keys = memoryStream(schema({ word: t.string }), { name: `keys-${suffix}` });
      const many = await svc.startQuery(session.readStream(keys).groupBy('word').count(), {
        queryName: 'many-partitions',
        outputMode: 'update',
        partitions: 24,
        sink: memorySink({ name: `many-out-${suffix}` }),
      });
      keys.addData(Array.from({ length: 2_000 }, (_, i) => ({ word: `k${i % 300}` })));
      await many.processAllAvailable();
      const manyParts = many.lastProgress!.stateOperators[0]!.partitions!;
      const page2 = await browser.newPage();
      await page2.goto(`${srv.url}/queries/many-partitions`);
      const block2 = page2.locator('#state-partitions .partitions');
      await block2.waitFor();
      expect(await block2.locator('h3').textContent()).toMatch(/: 24 state partitions$/);
      expect(await block2.locator('tbody tr').count()).toBe(16);
      const first = await block2.locator('tbody tr').first().locator('th').textContent();
      expect(first).toBe(`p${manyParts.slowestPartition} (slowest)`);
      const shown = (await block2.locator('tbody tr th').allTextContents()).map((x) =>
        Number(/^p(\d+)/.exec(x)![1]),
      );
      const byTime = [...manyParts.tasks]
        .sort((a, b) => b.processingMs - a.processingMs || a.partition - b.partition)
        .slice(0, 16)
        .map((x) => x.partition);
      expect(shown).toEqual(byTime);
      expect(await block2.locator('.partitions-note').textContent()).toMatch(/16 slowest of 24 partitions/);
      await page2.close();
      expect(browser.problems.slice(problemsBefore)).toEqual([]);
    } finally {
      await svc.stopAll();
      await srv.close();
      await svc.close({ flushMs: 0 });
    }
  });
});

describe('web UI while a connector waits for its service', () => {
  /** A real memory source that keeps its context, to report waiting as a broker source does. */
  class ReportingStream extends MemoryStreamClass<{ v: number }> {
    ctx: ConnectorContext | undefined;
    override async open(ctx: ConnectorContext): Promise<void> {
      this.ctx = ctx;
      await super.open(ctx);
    }
  }

  it('shows "Waiting for …" in the warning colour on the query page, and the usual status once back', async () => {
    const source = new ReportingStream(schema({ v: t.long }), `waiting-${suffix}`);
    const q = await service.startQuery(service.createSession().readStream(source), {
      queryName: 'waiting-for-broker',
      sink: memorySink({ name: `waiting-out-${suffix}` }),
    });
    await q.processAllAvailable();
    const page = await open('/queries/waiting-for-broker');
    await page.locator('[data-ready="true"]').first().waitFor();
    const status = page.locator('.title-row .status-text');
    source.ctx!.reportWaiting!('RabbitMQ at amqp://mq:5672: connect ECONNREFUSED');
    // No batch runs meanwhile: the page learns it from its idle refresh (no event comes).
    await waitUntil(
      () => status.textContent(),
      (t) => t === 'Waiting for RabbitMQ at amqp://mq:5672: connect ECONNREFUSED',
      'the waiting status',
    );
    expect(await status.getAttribute('class')).toContain('waiting');
    expect(await status.getAttribute('title')).toContain(`source "waiting-${suffix}": since `);
    shots.push(await screenshot(page, 'query-waiting'));
    source.ctx!.reportWaiting!(null);
    await waitUntil(
      () => status.textContent(),
      (t) => t === 'Waiting for data to arrive',
      'the usual status',
    );
    expect(await status.getAttribute('class')).not.toContain('waiting');
    await page.close();
    await q.stop();
  });
});

describe('web UI with a token', () => {
  it('asks for the token before a change and never shows it', async () => {
    const { service: svc } = testService({ logLevel: 'warn' });
    const token = `ui-token-${suffix}-long-enough`;
    const srv = await startHttpServer(svc, { port: 0, token, ui: webUi() });
    const src = memoryStream(schema({ n: t.long }), { name: `tok-${suffix}` });
    const session = svc.createSession();
    try {
      await svc.startQuery(session.readStream(src), {
        queryName: 'guarded',
        checkpointLocation: path.join(tempDir('millrace-ui-tok-'), 'cp'),
        sink: memorySink({ name: `tok-out-${suffix}` }),
      });
      const page = await browser.newPage();
      await page.goto(`${srv.url}/queries/guarded`);
      await page.locator('[data-ready="true"]').first().waitFor();
      await page.getByRole('button', { name: 'Stop' }).click();
      const dialog = page.getByRole('dialog', { name: 'Token needed' });
      await dialog.waitFor();
      await dialog.getByLabel('Bearer token').fill(token);
      await dialog.getByRole('button', { name: 'Use token' }).click();
      await waitUntil(
        () => page.locator('.title-row .badge').textContent(),
        (t) => t === 'stopped',
        'stopped',
      );
      expect(svc.queries.find('guarded')!.health).toBe('stopped');
      expect(await page.content()).not.toContain(token);
      // the token is remembered for this tab: restart needs no second prompt
      await page.getByRole('button', { name: 'Restart' }).click();
      await waitUntil(
        () => page.locator('.title-row .badge').textContent(),
        (t) => t === 'active',
        'active',
      );
      expect(await page.getByRole('dialog').count()).toBe(0);
      await page.close();
    } finally {
      await svc.stopAll();
      await srv.close();
      await svc.close({ flushMs: 0 });
    }
  });
});
