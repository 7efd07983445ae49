/**
 * Time-series dashboards declared without `series` (one line per y) in a real Chromium:
 * the charts must draw the points whether the rows were there when the page loaded or
 * came live afterwards, including a single point, null values, and a value alone among
 * many x (a dot). Checked twice: what the uPlot chart holds (data-points-drawn, set at
 * each draw) and the canvas pixels in the series colour.
 */
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import { memoryStream, schema, t, type MemoryStream, type StreamingQuery } from 'millrace';
import { dashboardSink, startHttpServer, type HttpServer, type MillraceService } from '../../src/index.ts';
import { webUi } from '../../src/ui/webUi.ts';
import { cleanupDirs, tempDir, testService } from '../helpers.ts';
import { launchBrowser, screenshot, type Browser } from './browser.ts';

const suffix = Math.random().toString(36).slice(2, 8);
const T0 = Date.UTC(2026, 10, 21, 20, 24, 40);
const SERIES_BLUE = [0x25, 0x63, 0xeb]; // PALETTE[0], the colour of a chart's first series

let service: MillraceService;
let server: HttpServer;
let browser: Browser;
const shots: string[] = [];

interface Fed<R> {
  readonly source: MemoryStream<R>;
  readonly query: StreamingQuery;
  readonly name: string;
}

type Funnel = { windowStart: number; conversionRate: number | null; orderRate: number | null };
type Dense = { windowStart: number; steady: number; rare: number | null };

let funnel: Fed<Funnel>;
let single: Fed<Funnel>;
let dense: Fed<Dense>;

async function declare<R>(
  kind: string,
  fields: Parameters<typeof schema>[0],
  y: string[],
  dir: string,
): Promise<Fed<R>> {
  const name = `${kind}-${suffix}`;
  const source = memoryStream(schema(fields), { name: `src-${name}` }) as unknown as MemoryStream<R>;
  const query = await service.startQuery(service.createSession().readStream(source), {
    queryName: name,
    checkpointLocation: path.join(dir, name),
    // no `series`: one line per y, the API gives points with series: null
    sink: dashboardSink({ name, title: name, kind: 'timeseries', x: 'windowStart', y }),
  });
  return { source, query, name };
}

async function feed<R>(f: Fed<R>, rows: R[]): Promise<void> {
  f.source.addData(rows);
  await f.query.processAllAvailable();
}

/** The part of HTMLCanvasElement used here (the tests compile without the DOM types). */
interface Canvas {
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): {
    getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> };
  };
}

/** Pixels of the canvas close to the first series' colour (grid and axes are grey). */
async function bluePixels(chart: Locator): Promise<number> {
  return chart.locator('canvas').evaluate((c: Canvas, rgb: number[]) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      const near = Math.abs(d[i]! - rgb[0]!) + Math.abs(d[i + 1]! - rgb[1]!) + Math.abs(d[i + 2]! - rgb[2]!);
      if (d[i + 3]! > 200 && near < 60) n++;
    }
    return n;
  }, SERIES_BLUE);
}

function chartOf(page: Page, dashboard: string, y: string): Locator {
  return page.locator(`[data-dashboard="${dashboard}"] figure.chart`).filter({
    has: page.locator('figcaption', { hasText: new RegExp(`^${y}`) }),
  });
}

/** expect.poll with room for a busy machine (live updates render at most every 250 ms). */
const poll = <T>(read: () => Promise<T>) => expect.poll(read, { timeout: 10_000, interval: 100 });

async function expectDrawn(page: Page, dashboard: string, y: string, values: number): Promise<void> {
  const chart = chartOf(page, dashboard, y);
  await poll(async () => Number(await chart.getAttribute('data-points-drawn'))).toBe(values);
  // a line, or at least a dot in the series colour (a lone dot, a 6 px ring, gives ~12 pixels)
  await poll(() => bluePixels(chart)).toBeGreaterThanOrEqual(8);
}

const FUNNEL: Funnel[] = [
  { windowStart: T0, conversionRate: 0.057, orderRate: null },
  { windowStart: T0 + 10_000, conversionRate: 0.08, orderRate: 0.21 },
  { windowStart: T0 + 20_000, conversionRate: 0.064, orderRate: 0.18 },
  { windowStart: T0 + 30_000, conversionRate: 0.071, orderRate: 0.2 },
];

beforeAll(async () => {
  ({ service } = testService({ logLevel: 'info' }));
  const dir = tempDir('millrace-ui-dash-');
  server = await startHttpServer(service, { port: 0, ui: webUi() });
  const rate = { windowStart: t.timestamp, conversionRate: t.double.orNull(), orderRate: t.double.orNull() };
  funnel = await declare<Funnel>('funnel', rate, ['conversionRate', 'orderRate'], dir);
  single = await declare<Funnel>('single', rate, ['conversionRate', 'orderRate'], dir);
  dense = await declare<Dense>(
    'dense',
    { windowStart: t.timestamp, steady: t.double, rare: t.double.orNull() },
    ['steady', 'rare'],
    dir,
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

describe('time-series dashboards without series (Chromium)', () => {
  it('draws rows that arrive after the page showed the empty dashboards', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/dashboards`);
    for (const d of [funnel, single, dense]) {
      await page.locator(`[data-dashboard="${d.name}"][data-ready="true"]`).waitFor();
    }
    expect(await chartOf(page, funnel.name, 'conversionRate').getAttribute('data-points-drawn')).toBe('0');

    await feed(funnel, FUNNEL);
    await feed(single, [{ windowStart: T0, conversionRate: 0.057, orderRate: null }]);
    // 120 x: too dense for uPlot's dots; `rare` has one value, which needs its own dot
    await feed(
      dense,
      Array.from({ length: 120 }, (_, i) => ({
        windowStart: T0 + i * 10_000,
        steady: 100 + (i % 7),
        rare: i === 60 ? 50 : null,
      })),
    );
    await poll(async () => page.locator(`[data-dashboard="${dense.name}"]`).getAttribute('data-size')).toBe(
      '120',
    );

    await expectDrawn(page, funnel.name, 'conversionRate', 4);
    await expectDrawn(page, funnel.name, 'orderRate', 3); // the first window's is null
    await expectDrawn(page, single.name, 'conversionRate', 1);
    await expectDrawn(page, dense.name, 'steady', 120);
    await expectDrawn(page, dense.name, 'rare', 1);
    // an all-null y draws nothing (and says so)
    const none = chartOf(page, single.name, 'orderRate');
    expect(await none.getAttribute('data-points-drawn')).toBe('0');
    expect(await bluePixels(none)).toBe(0);
    // the line is labelled with the y column
    expect(await chartOf(page, funnel.name, 'orderRate').locator('.u-legend').textContent()).toMatch(
      /orderRate/,
    );
    shots.push(await screenshot(page, 'dashboards-no-series'));
    await page.close();
  });

  it('draws rows that were there when the page loaded, and keeps up live', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/dashboards/${funnel.name}`);
    await expectDrawn(page, funnel.name, 'conversionRate', 4);
    await feed(funnel, [{ windowStart: T0 + 40_000, conversionRate: 0.069, orderRate: 0.19 }]);
    await expectDrawn(page, funnel.name, 'conversionRate', 5);
    await expectDrawn(page, funnel.name, 'orderRate', 4);
    expect(browser.problems).toEqual([]);
    await page.close();
  });
});
