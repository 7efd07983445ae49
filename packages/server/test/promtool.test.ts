/**
 * Prometheus' own checker accepts the service's /metrics: `promtool check metrics` (Debian's
 * prometheus package; scripts/setup-system.sh installs it) on a live scrape over HTTP, with every
 * kind of series present — default process metrics, a windowed query with a watermark, state on
 * three partitions, alert rules.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { count, memorySink, memoryStream, schema, t, window } from 'millrace';
import { createHttpApp } from '../src/index.ts';
import { MISNAMED_DEFAULT_METRICS } from '../src/metrics/ServiceMetrics.ts';
import { cleanupDirs, tempDir, testService } from './helpers.ts';

afterEach(cleanupDirs);

function promtool(metricsText: string) {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: metricsText, encoding: 'utf8' });
  if (r.error)
    throw new Error(
      `promtool is not installed (bash scripts/setup-system.sh installs it): ${r.error.message}`,
    );
  return { status: r.status, output: (r.stdout + r.stderr).trim() };
}

describe('promtool check metrics', () => {
  it('accepts a live /metrics scrape with every kind of series', async () => {
    const { service } = testService({ defaultMetrics: true });
    const session = service.createSession();
    const app = await createHttpApp(service);
    try {
      const source = memoryStream(schema({ host: t.string, at: t.timestamp }), { name: 'cpu' });
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
          partitions: 3,
          checkpointLocation: path.join(tempDir(), 'cp'),
        },
      );
      const base = Date.now() - 60_000;
      source.addData({ host: 'a', at: base }, { host: 'b', at: base + 1 }, { host: 'c', at: base + 20_000 });
      await q.processAllAvailable();
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      const scrape = await (await fetch(`${url}/metrics`)).text();
      expect(scrape).toContain('millrace_state_partition_rows{');
      expect(scrape).toContain('millrace_query_watermark_lag_seconds{');
      expect(scrape).toContain('nodejs_active_handles{');
      for (const name of MISNAMED_DEFAULT_METRICS) expect(scrape).not.toContain(name);

      expect(promtool(scrape)).toEqual({ status: 0, output: '' });
    } finally {
      await service.stopAll();
      await app.close();
      await service.close({ flushMs: 0 });
    }
  });

  it('rejects a gauge named like a counter (so the check above can fail)', () => {
    const bad = '# HELP x_total A gauge.\n# TYPE x_total gauge\nx_total 1\n';
    const r = promtool(bad);
    expect(r.status).not.toBe(0);
    expect(r.output).toContain('x_total');
  });
});
