/**
 * The monitoring queries over fake agents with a known seed, in accelerated time: the agents
 * generate six minutes of samples as fast as they can; a stepping publisher hands them to the
 * log ten seconds of event time at a time and waits until every query has processed them, so
 * each step closes one window per host — as in a live run, only faster.
 *
 * Checked against an independent computation over the same samples: every closed window's
 * average and peak (topic resource-stats, exactly once), the dashboards, the console, and the
 * hot-host alert (fires for the host held above 90 %, resolves after).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Trigger, type StreamingQuery } from 'millrace';
import { openLog, type Log } from '@millrace/log';
import {
  MillraceService,
  createPipelineContext,
  type AlertEvent,
  type DashboardPoint,
} from '@millrace/server';
import { runAgent } from './agent.ts';
import type { MetricSample } from './metrics.ts';
import { DEFAULTS, startResourceMonitor } from './monitor.ts';
import { logPublisher, type MetricsPublisher } from './publishers.ts';
import { fakeSample } from './sampler.ts';
import {
  byHostAndStart,
  cleanupDirs,
  expectedAlerts,
  expectedStats,
  fromRecord,
  readTopic,
  tempDir,
  waitFor,
  type StatsRecord,
} from './test-helpers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  cleanupDirs();
});

/**
 * Passes samples on in steps of `stepMs` of event time; after each step, waits until every query
 * has processed everything available. The agent's own batching (however its queue fills) does
 * not change what a step holds.
 */
class SteppingPublisher implements MetricsPublisher {
  readonly target = 'stepping';
  readonly all: MetricSample[] = [];
  private pending: MetricSample[] = [];
  private stepEnd: number;

  constructor(
    private readonly inner: MetricsPublisher,
    private readonly stepMs: number,
    firstTime: number,
    private readonly settle: () => Promise<void>,
  ) {
    this.stepEnd = firstTime + stepMs;
  }

  async publish(samples: readonly MetricSample[]): Promise<void> {
    for (const s of samples) {
      while (s.time >= this.stepEnd) {
        await this.flush();
        this.stepEnd += this.stepMs;
      }
      this.pending.push(s);
    }
  }

  async flush(): Promise<void> {
    const step = this.pending.splice(0);
    this.all.push(...step);
    await this.inner.publish(step);
    await this.settle();
  }

  async close(): Promise<void> {}
}

async function setup() {
  const dir = tempDir();
  const logs: string[] = [];
  const service = new MillraceService({
    logLevel: 'warn',
    defaultMetrics: false,
    logDestination: { write: (l) => void logs.push(l) },
  });
  const session = service.createSession();
  const controller = new AbortController();
  const ctx = createPipelineContext(service, { session, args: [], signal: controller.signal });
  const log: Log = await openLog({ dir: `${dir}/log`, fsync: 'never' });
  cleanups.push(async () => {
    controller.abort();
    await service.stopAll();
    await service.close({ flushMs: 0 });
    await log.close();
  });
  return { dir, service, ctx, log, logs };
}

describe('resource monitor queries', () => {
  it('computes exact per-host window averages and peaks, and alerts on the hot host', async () => {
    const { dir, service, ctx, log, logs } = await setup();
    const printed: string[] = [];
    const queries: StreamingQuery[] = await startResourceMonitor(ctx, {
      input: { kind: 'log', log },
      checkpointDir: `${dir}/checkpoints`,
      trigger: Trigger.default(),
      console: (text) => printed.push(text),
    });
    expect(queries.map((q) => q.name)).toEqual(['resource-stats', 'cpu-per-host', 'hosts', 'console']);
    const settle = async () => {
      await Promise.all(queries.map((q) => q.processAllAvailable()));
    };

    const start = Date.UTC(2026, 0, 1, 12, 0, 0);
    const seed = 42;
    const hot = [{ host: 'sim-3', fromMs: 120_000, toMs: 240_000 }];
    const stepping = new SteppingPublisher(
      await logPublisher({ log, topic: 'metrics' }),
      10_000,
      start,
      settle,
    );
    const result = await runAgent({
      publisher: stepping,
      host: 'sim',
      hosts: 4,
      seed,
      fake: true,
      startMs: start,
      speedup: 0, // accelerated: 6 minutes of samples as fast as the queries take them
      seconds: 360,
      hot,
    });
    await stepping.flush();
    expect(result).toMatchObject({
      hosts: ['sim-1', 'sim-2', 'sim-3', 'sim-4'],
      samples: 1440,
      published: 1440,
    });

    // The agent's samples are the seeded function of (seed, host, time), one per host per second.
    const samples = stepping.all;
    expect(samples).toHaveLength(1440);
    for (const s of samples) expect(s).toEqual(fakeSample(seed, s.host, s.time, hot, start));
    expect(new Set(samples.map((s) => s.time)).size).toBe(360);
    expect(
      samples
        .filter((s) => s.host === 'sim-3' && s.time >= start + 120_000 && s.time < start + 240_000)
        .every((s) => s.cpu! >= 92),
    ).toBe(true);
    expect(samples.filter((s) => s.host !== 'sim-3').every((s) => s.cpu! < 90)).toBe(true);

    const w = { windowMs: DEFAULTS.windowMs, slideMs: DEFAULTS.slideMs, watermarkMs: DEFAULTS.watermarkMs };
    const expected = expectedStats(samples, w);
    // 4 hosts; windows ending from start+10 s to the last closed one (end <= 359 s − 10 s).
    expect(expected).toHaveLength(4 * 34);
    await waitFor(
      async () => (await readTopic(log, 'resource-stats')).length >= expected.length,
      'every closed window in resource-stats',
    );
    await settle();

    // resource-stats: each closed window once (exactly-once sink), equal to the direct computation.
    const written = (await readTopic<StatsRecord>(log, 'resource-stats'))
      .map(fromRecord)
      .sort(byHostAndStart);
    expect(written.map((s) => [s.host, s.window.start, s.window.end, s.samples])).toEqual(
      expected.map((s) => [s.host, s.window.start, s.window.end, s.samples]),
    );
    for (let i = 0; i < expected.length; i++) {
      const [got, want] = [written[i]!, expected[i]!];
      expect(got.cpuPeak).toBe(want.cpuPeak);
      expect(got.memPeak).toBe(want.memPeak);
      expect(Math.abs(got.cpuAvg! - want.cpuAvg!)).toBeLessThan(1e-9);
      expect(Math.abs(got.memAvg! - want.memAvg!)).toBeLessThan(1e-9);
    }

    // The alert: as the direct computation says — sim-3 fires after 30 s above 90 %, then resolves.
    const alerts = expectedAlerts(expected, DEFAULTS.cpuThreshold, DEFAULTS.alertForMs);
    expect(alerts.map((a) => [a.host, a.status])).toEqual([
      ['sim-3', 'firing'],
      ['sim-3', 'resolved'],
    ]);
    const events: AlertEvent[] = service.alerts.historyPage({ limit: 100, rule: 'hot-host' }).events;
    // A resolved event's `value` is the row that resolved it: the first window below the threshold.
    expect(
      events.map((e) => [e.labels.host, e.status, (e.value as { window: { end: number } }).window.end]),
    ).toEqual(alerts.map((a) => [a.host, a.status, a.windowEnd]));
    const firing = events[0]!;
    expect(firing.severity).toBe('critical');
    expect(Date.parse(firing.startsAt)).toBe(alerts[0]!.windowEnd - DEFAULTS.alertForMs);
    expect(firing.summary).toMatch(
      /^host sim-3: CPU average above 90% in every 60-s window for 30 s \(window ending 2026-01-01T12:0\d:\d0\.000Z, peak (9\d|100)(\.\d+)?%\)$/,
    );
    expect(service.alerts.active()).toEqual([]);
    expect(logs.some((l) => l.includes('"alert fired"'))).toBe(true);

    // Dashboards: a line per host with every closed window; the table holds each host's latest.
    const points = service.dashboard('cpu-per-host').snapshot() as DashboardPoint[];
    expect(points).toHaveLength(expected.length);
    expect(new Set(points.map((p) => p.series))).toEqual(new Set(['sim-1', 'sim-2', 'sim-3', 'sim-4']));
    const round1 = (x: number) => Math.round(x * 10) / 10;
    for (const p of points) {
      const want = expected.find((e) => e.host === p.series && e.window.end === p.x)!;
      expect(p.values).toEqual({ cpuAvg: round1(want.cpuAvg!), memAvg: round1(want.memAvg!) });
    }
    const table = service.dashboard('hosts').snapshot() as {
      host: string;
      windowEnd: number;
      cpuPeak: number;
    }[];
    const lastEnd = Math.max(...expected.map((e) => e.window.end));
    expect(table.map((r) => [r.host, r.windowEnd]).sort()).toEqual(
      ['sim-1', 'sim-2', 'sim-3', 'sim-4'].map((h) => [h, lastEnd]),
    );

    // The console printed the closed windows as tables.
    const text = printed.join('\n');
    for (const h of ['sim-1', 'sim-2', 'sim-3', 'sim-4']) expect(text).toContain(`|${h}|`);
  }, 60_000);

  it('refuses bad options before starting anything', async () => {
    const { dir, ctx, log, service } = await setup();
    const base = {
      input: { kind: 'log' as const, log },
      checkpointDir: `${dir}/checkpoints`,
      console: false,
    };
    await expect(startResourceMonitor(ctx, { ...base, slideMs: 7_000 })).rejects.toThrow(
      'slideMs: must divide windowMs (60000) evenly, got 7000',
    );
    await expect(startResourceMonitor(ctx, { ...base, cpuThreshold: 150 })).rejects.toThrow(
      'cpuThreshold: expected a number from 0 to 100, got "150"',
    );
    expect(service.queries.list()).toEqual([]);
  });
});
