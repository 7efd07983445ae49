import { afterEach, describe, expect, it } from 'vitest';
import { MillraceError, count, max, memoryStream, schema, t, window, type SinkContext } from 'millrace';
import { createHttpApp, dashboardSink, type DashboardPoint } from '../src/index.ts';
import { cleanupDirs, testService, waitFor } from './helpers.ts';

afterEach(cleanupDirs);

const ctx = (queryId = 'q1', outputMode: SinkContext['outputMode'] = 'update') =>
  ({ queryId, queryName: 'q', outputMode }) as unknown as SinkContext;

describe('dashboardSink', () => {
  it('table with key: upserts rows by key, evicts the least recently updated beyond maxRows', async () => {
    const d = dashboardSink({ name: 'hosts', kind: 'table', key: 'host', maxRows: 2 });
    await d.open(ctx());
    await d.addBatch(
      [
        { host: 'a', n: 1 },
        { host: 'b', n: 1 },
      ],
      { batchId: 0, outputMode: 'update' },
    );
    await d.addBatch([{ host: 'a', n: 2 }], { batchId: 1, outputMode: 'update' });
    expect(d.snapshot()).toEqual([
      { host: 'b', n: 1 },
      { host: 'a', n: 2 },
    ]);
    await d.addBatch([{ host: 'c', n: 1 }], { batchId: 2, outputMode: 'update' });
    expect(d.snapshot()).toEqual([
      { host: 'a', n: 2 },
      { host: 'c', n: 1 },
    ]);
    expect(d.info()).toMatchObject({ size: 2, lastBatchId: 2, keyColumns: ['host'], query: 'q' });
  });

  it('table without key keeps the last maxRows rows; complete mode replaces the table', async () => {
    const d = dashboardSink({ name: 'log', kind: 'table', maxRows: 3 });
    await d.open(ctx('q1', 'append'));
    await d.addBatch([{ i: 1 }, { i: 2 }], { batchId: 0, outputMode: 'append' });
    await d.addBatch([{ i: 3 }, { i: 4 }], { batchId: 1, outputMode: 'append' });
    expect(d.snapshot()).toEqual([{ i: 2 }, { i: 3 }, { i: 4 }]);
    const c = dashboardSink({ name: 'totals', kind: 'table', key: 'k' });
    await c.open(ctx('q2', 'complete'));
    await c.addBatch(
      [
        { k: 'x', n: 1 },
        { k: 'y', n: 1 },
      ],
      { batchId: 0, outputMode: 'complete' },
    );
    await c.addBatch([{ k: 'y', n: 2 }], { batchId: 1, outputMode: 'complete' });
    expect(c.snapshot()).toEqual([{ k: 'y', n: 2 }]);
  });

  it('time series: one point per (x, series), re-emitted windows replace their point, oldest x evicted', async () => {
    const d = dashboardSink({
      name: 'ts',
      kind: 'timeseries',
      x: 'window.start',
      y: ['n', 'top'],
      series: 'host',
      maxRows: 4,
    });
    await d.open(ctx());
    const w = (s: number) => ({ start: s, end: s + 10 });
    await d.addBatch(
      [
        { window: w(0), host: 'a', n: 1, top: 5 },
        { window: w(0), host: 'b', n: 2, top: null },
        { window: 'not a time', host: 'a', n: 9, top: 9 },
      ],
      { batchId: 0, outputMode: 'update' },
    );
    await d.addBatch([{ window: w(0), host: 'a', n: 3, top: 7 }], { batchId: 1, outputMode: 'update' });
    expect(d.snapshot()).toEqual<DashboardPoint[]>([
      { x: 0, series: 'a', values: { n: 3, top: 7 } },
      { x: 0, series: 'b', values: { n: 2, top: null } },
    ]);
    expect(d.info().skippedRows).toBe(1);
    await d.addBatch(
      [10, 20, 30].map((s) => ({ window: w(s), host: 'a', n: s, top: 0 })),
      { batchId: 2, outputMode: 'update' },
    );
    expect(d.snapshot().map((p) => (p as DashboardPoint).x)).toEqual([0, 10, 20, 30]);
    expect(d.size).toBe(4);
    expect((d.snapshot()[0] as DashboardPoint).series).toBe('b'); // (0, a) went first: ties by insertion order
  });

  it('is idempotent per batch id; another query id starts over', async () => {
    const d = dashboardSink({ name: 'idem', kind: 'table' });
    await d.open(ctx('q1', 'append'));
    await d.addBatch([{ i: 1 }], { batchId: 0, outputMode: 'append' });
    expect(await d.addBatch([{ i: 1 }], { batchId: 0, outputMode: 'append' })).toMatchObject({
      rowsWritten: 0,
    });
    expect(d.size).toBe(1);
    await d.open(ctx('q1', 'append')); // a restart from the same checkpoint
    await d.addBatch([{ i: 1 }], { batchId: 0, outputMode: 'append' });
    expect(d.size).toBe(1);
    await d.open(ctx('other', 'append')); // a new checkpoint: batch ids start over
    await d.addBatch([{ i: 2 }], { batchId: 0, outputMode: 'append' });
    expect(d.size).toBe(2);
  });

  it('validates its options with messages that name them', () => {
    const bad = (o: unknown) => () => dashboardSink(o as never);
    expect(bad({ name: 'x', kind: 'pie' })).toThrow(/kind must be 'table' or 'timeseries'/);
    expect(bad({ name: 'x y', kind: 'table' })).toThrow(/name must be/);
    expect(bad({ name: 'x', kind: 'timeseries', y: 'n' })).toThrow(/needs x/);
    expect(bad({ name: 'x', kind: 'timeseries', x: 't' })).toThrow(/needs y/);
    expect(bad({ name: 'x', kind: 'table', x: 't' })).toThrow(/x, y and series are for kind 'timeseries'/);
    expect(bad({ name: 'x', kind: 'table', maxRows: 0 })).toThrow(/maxRows/);
    expect(bad({ name: 'x', kind: 'table', maxRows: 0 })).toThrow(MillraceError);
  });
});

describe('dashboards in the service', () => {
  it('finds a dashboard sink used by a query of a service session; serves rows and streams updates', async () => {
    const { service } = testService();
    const app = await createHttpApp(service);
    const session = service.createSession();
    const seen: unknown[] = [];
    const off = (() => {
      const orig = service.events.publish.bind(service.events);
      service.events.publish = (type, data) => {
        if (type.startsWith('dashboard.')) seen.push({ type, data });
        orig(type, data);
      };
      return () => (service.events.publish = orig);
    })();
    try {
      const source = memoryStream(schema({ host: t.string, at: t.timestamp, cpu: t.double }), {
        name: 'cpu',
      });
      // Not through ctx/startQuery: found because the sink opens in a service session.
      const q = await session
        .readStream(source)
        .withWatermark('at', '1 second')
        .groupBy(($) => ({ window: window($.at, '10 seconds'), host: $.host }))
        .agg(($) => ({ n: count(), top: max($.cpu) }))
        .writeStream({
          queryName: 'cpu-windows',
          outputMode: 'update',
          sink: dashboardSink({
            name: 'cpu',
            kind: 'timeseries',
            x: 'window.start',
            y: 'top',
            series: 'host',
          }),
        })
        .start();
      source.addData(
        { host: 'a', at: 1_000, cpu: 10 },
        { host: 'b', at: 2_000, cpu: 20 },
        { host: 'a', at: 12_000, cpu: 30 },
      );
      await q.processAllAvailable();
      const list = (await app.inject({ method: 'GET', url: '/api/v1/dashboards' })).json();
      expect(list.dashboards).toEqual([
        expect.objectContaining({
          name: 'cpu',
          kind: 'timeseries',
          x: 'window.start',
          y: ['top'],
          series: 'host',
          size: 3,
          query: 'cpu-windows',
        }),
      ]);
      const view = (await app.inject({ method: 'GET', url: '/api/v1/dashboards/cpu' })).json();
      expect(view.rows).toEqual([
        { x: 0, series: 'a', values: { top: 10 } },
        { x: 0, series: 'b', values: { top: 20 } },
        { x: 10_000, series: 'a', values: { top: 30 } },
      ]);
      const rows = (await app.inject({ method: 'GET', url: '/api/v1/queries/cpu-windows/rows' })).json();
      expect(rows).toMatchObject({ kind: 'dashboard', sink: 'cpu', total: 3 });
      await waitFor(
        () => seen.some((e) => (e as { type: string }).type === 'dashboard.rows'),
        'a rows event',
      );
      expect(seen[0]).toMatchObject({ type: 'dashboard.registered', data: { dashboard: { name: 'cpu' } } });
      expect(seen[1]).toMatchObject({
        type: 'dashboard.rows',
        data: { dashboard: 'cpu', query: 'cpu-windows', batchId: 0, size: 3 },
      });
      const detail = (await app.inject({ method: 'GET', url: '/api/v1/queries/cpu-windows' })).json();
      expect(detail.sink).toMatchObject({ kind: 'dashboard', name: 'cpu', rowsAvailable: true });
      await q.stop();
    } finally {
      off();
      await app.close();
      await service.close({ flushMs: 0 });
    }
  });

  it('refuses two dashboards with one name when registered explicitly', () => {
    const { service } = testService();
    service.registerDashboard(dashboardSink({ name: 'dup', kind: 'table' }));
    expect(() => service.registerDashboard(dashboardSink({ name: 'dup', kind: 'table' }))).toThrow(
      /DASHBOARD|already/,
    );
    void service.close({ flushMs: 0 });
  });
});
