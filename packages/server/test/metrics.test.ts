import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { count, memorySink, memoryStream, schema, t, window } from 'millrace';
import { createHttpApp } from '../src/index.ts';
import { cleanupDirs, parsePrometheus, tempDir, testService, waitFor } from './helpers.ts';

afterEach(cleanupDirs);

const events = schema({ host: t.string, at: t.timestamp, cpu: t.double });

describe('/metrics', () => {
  it('exposes millrace_ metrics in valid Prometheus text format, with values that match the queries', async () => {
    const { service } = testService({ defaultMetrics: true });
    const session = service.createSession();
    const app = await createHttpApp(service);
    try {
      const source = memoryStream(events, { name: 'cpu' });
      const q = await service.startQuery(
        session
          .readStream(source)
          .withWatermark('at', '1 second')
          .groupBy(($) => ({ window: window($.at, '10 seconds'), host: $.host }))
          .agg({ n: count() }),
        {
          queryName: 'cpu-per-host',
          sink: memorySink(),
          outputMode: 'update',
          checkpointLocation: path.join(tempDir(), 'cp'),
        },
      );
      const base = Date.now() - 60_000;
      source.addData({ host: 'a', at: base, cpu: 1 }, { host: 'b', at: base + 1, cpu: 2 });
      await q.processAllAvailable();
      source.addData({ host: 'a', at: base + 20_000, cpu: 3 });
      await q.processAllAvailable();
      const res = await app.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toContain('text/plain');
      const fams = parsePrometheus(res.body);

      const value = (name: string, labels: Record<string, string>) =>
        fams
          .get(name.replace(/_(bucket|sum|count)$/, ''))
          ?.samples.find(
            (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
          )?.value;
      expect(fams.get('millrace_query_input_rows_total')?.type).toBe('counter');
      expect(value('millrace_query_input_rows_total', { query: 'cpu-per-host' })).toBe(3);
      expect(value('millrace_query_processed_rows_total', { query: 'cpu-per-host' })).toBe(3);
      expect(value('millrace_source_input_rows_total', { query: 'cpu-per-host', source: 'cpu' })).toBe(3);
      const batches = q.recentProgress.length;
      expect(value('millrace_query_batches_total', { query: 'cpu-per-host' })).toBe(batches);
      expect(fams.get('millrace_query_batch_duration_seconds')?.type).toBe('histogram');
      expect(value('millrace_query_batch_duration_seconds_count', { query: 'cpu-per-host' })).toBe(batches);
      expect(fams.get('millrace_query_end_to_end_latency_seconds')?.type).toBe('histogram');
      expect(value('millrace_query_end_to_end_latency_seconds_count', { query: 'cpu-per-host' })).toBe(2); // batches with rows
      // watermark = max event time (base + 20 s) − 1 s: about 41 s behind now
      const lag = value('millrace_query_watermark_lag_seconds', { query: 'cpu-per-host' })!;
      expect(lag).toBeGreaterThan(40);
      expect(lag).toBeLessThan(50);
      expect(fams.get('millrace_state_rows')?.type).toBe('gauge');
      const op = fams.get('millrace_state_rows')!.samples.find((s) => s.labels.query === 'cpu-per-host')!;
      expect(op.labels.operator).toBeTruthy();
      expect(op.value).toBe(q.lastProgress!.stateOperators[0]!.numRowsTotal);
      expect(value('millrace_state_memory_bytes', { query: 'cpu-per-host' })).toBeGreaterThan(0);
      expect(value('millrace_source_lag', { query: 'cpu-per-host', source: 'cpu' })).toBe(0);
      expect(value('millrace_sink_rows_total', { query: 'cpu-per-host', sink: 'MemorySink' })).toBe(
        q.recentProgress.reduce((a, p) => a + p.sink.numOutputRows, 0),
      );
      expect(value('millrace_query_active', { query: 'cpu-per-host' })).toBe(1);
      // default process metrics
      expect(fams.has('process_cpu_user_seconds_total')).toBe(true);
      expect(fams.has('nodejs_heap_size_used_bytes')).toBe(true);
      // every millrace_ family has help text
      for (const f of fams.values())
        if (f.name.startsWith('millrace_')) expect(f.help.length).toBeGreaterThan(10);
    } finally {
      await service.stopAll();
      await app.close();
      await service.close({ flushMs: 0 });
    }
  });

  it('exports a gauge per state partition (operators with more than one), and drops stale ones', async () => {
    const { service } = testService();
    const session = service.createSession();
    const app = await createHttpApp(service);
    const words = schema({ word: t.string });
    const start = async (name: string, partitions: number, dir: string) => {
      const source = memoryStream(words, { name: `${name}-${partitions}` });
      const q = await service.startQuery(session.readStream(source).groupBy('word').count(), {
        queryName: name,
        sink: memorySink(),
        outputMode: 'update',
        partitions,
        checkpointLocation: dir,
      });
      source.addData(['a', 'b', 'c', 'd', 'e', 'a', 'a'].map((word) => ({ word })));
      await q.processAllAvailable();
      return q;
    };
    const scrape = async () => parsePrometheus((await app.inject({ method: 'GET', url: '/metrics' })).body);
    try {
      const q = await start('parts', 3, path.join(tempDir(), 'cp'));
      const op = q.lastProgress!.stateOperators[0]!;
      const tasks = op.partitions!.tasks;
      const fams = await scrape();
      const series = (name: string) =>
        (fams.get(name)?.samples ?? []).filter((s) => s.labels.query === 'parts');
      for (const name of [
        'millrace_state_partition_processing_seconds',
        'millrace_state_partition_input_rows',
        'millrace_state_partition_rows',
      ]) {
        expect(fams.get(name)?.type).toBe('gauge');
        expect(fams.get(name)!.help.length).toBeGreaterThan(10);
        // one series per partition, labelled by query, operator and partition
        expect(series(name).map((s) => s.labels)).toEqual(
          expect.arrayContaining(
            [0, 1, 2].map((p) => ({ query: 'parts', operator: op.operatorName, partition: String(p) })),
          ),
        );
        expect(series(name)).toHaveLength(3);
      }
      const byPartition = (name: string) =>
        Object.fromEntries(series(name).map((s) => [Number(s.labels.partition), s.value]));
      expect(byPartition('millrace_state_partition_input_rows')).toEqual(
        Object.fromEntries(tasks.map((x) => [x.partition, x.numInputRows])),
      );
      expect(byPartition('millrace_state_partition_rows')).toEqual(
        Object.fromEntries(tasks.map((x) => [x.partition, x.numRowsTotal])),
      );
      expect(byPartition('millrace_state_partition_processing_seconds')).toEqual(
        Object.fromEntries(tasks.map((x) => [x.partition, x.processingMs / 1000])),
      );
      expect(Object.values(byPartition('millrace_state_partition_input_rows')).reduce((a, b) => a + b)).toBe(
        7,
      );
      expect(Object.values(byPartition('millrace_state_partition_rows')).reduce((a, b) => a + b)).toBe(5);
      // the same name on a new checkpoint with one partition: its partition series go away
      await q.stop();
      await start('parts', 1, path.join(tempDir(), 'cp1'));
      const after = await scrape();
      expect(
        after.get('millrace_state_partition_rows')?.samples.filter((s) => s.labels.query === 'parts') ?? [],
      ).toEqual([]);
      expect(
        after.get('millrace_state_rows')!.samples.filter((s) => s.labels.query === 'parts'),
      ).toHaveLength(1);
    } finally {
      await service.stopAll();
      await app.close();
      await service.close({ flushMs: 0 });
    }
  });

  it('counts failures and marks the query inactive', async () => {
    const { service } = testService();
    const session = service.createSession();
    const app = await createHttpApp(service);
    try {
      const source = memoryStream(events, { name: 'bad' });
      const q = await service.startQuery(
        session.readStream(source).map((): never => {
          throw new Error('broken');
        }, events),
        { queryName: 'fails', sink: memorySink() },
      );
      source.addData({ host: 'a', at: 0, cpu: 1 });
      await q.awaitTermination().catch(() => undefined);
      await waitFor(() => service.queries.find('fails')?.health === 'failed', 'the failure');
      const fams = parsePrometheus((await app.inject({ method: 'GET', url: '/metrics' })).body);
      const s = (name: string) => fams.get(name)!.samples.find((x) => x.labels.query === 'fails')!.value;
      expect(s('millrace_query_failures_total')).toBe(1);
      expect(s('millrace_query_active')).toBe(0);
    } finally {
      await app.close();
      await service.close({ flushMs: 0 });
    }
  });

  it('the strict parser rejects what is not the text format', () => {
    expect(() => parsePrometheus('x 1\n')).toThrow(/TYPE/);
    expect(() => parsePrometheus('# TYPE x counter\nx{a="1} 1\n')).toThrow(/bad/);
    expect(() => parsePrometheus('# TYPE x counter\nx 1\nx 2\n')).toThrow(/duplicate/);
    expect(() => parsePrometheus('# TYPE x gauge\nx one\n')).toThrow(/bad/);
    expect(() => parsePrometheus('# TYPE x counter\nx 1')).toThrow(/newline/);
    expect(() =>
      parsePrometheus('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'),
    ).toThrow(/cumulative/);
    expect(
      parsePrometheus('# HELP x a\n# TYPE x gauge\nx{a="q\\"x"} NaN\n').get('x')!.samples[0]!.labels.a,
    ).toBe('q"x');
  });
});
