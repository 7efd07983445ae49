/** The agent: where its numbers come from, its options, and its publishers (log, HTTP ingest). */
import type { CpuInfo } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { MillraceError } from 'millrace';
import { openLog, startIngestServer } from '@millrace/log';
import { parseAgentArgs, runAgent } from './agent.ts';
import type { MetricSample } from './metrics.ts';
import { parsePipelineArgs } from './pipeline.ts';
import { httpPublisher, logPublisher, type MetricsPublisher } from './publishers.ts';
import { OsSampler, cpuTimes, cpuUtilisation, fakeSample, hostIds, simulate, unit } from './sampler.ts';
import { cleanupDirs, readTopic, tempDir } from './test-helpers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  cleanupDirs();
});

function cpu(user: number, nice: number, sys: number, idle: number, irq: number): CpuInfo {
  return { model: 'x', speed: 1, times: { user, nice, sys, idle, irq } };
}

/** Keeps what it is given. */
function memoryPublisher(): MetricsPublisher & { rows: MetricSample[] } {
  const rows: MetricSample[] = [];
  return { target: 'memory', rows, publish: async (s) => void rows.push(...s), close: async () => {} };
}

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<MillraceError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(MillraceError);
    return e as MillraceError;
  }
  throw new Error('expected a MillraceError');
}

describe('sampling', () => {
  it('CPU utilisation is the busy share of the CPU time that passed, over all cores', () => {
    const before = cpuTimes([cpu(100, 0, 50, 850, 0), cpu(200, 10, 40, 750, 0)]);
    const after = cpuTimes([cpu(160, 0, 70, 1_070, 0), cpu(260, 10, 80, 950, 10)]);
    // busy: (60 + 20) + (60 + 40 + 10) = 190; idle: 220 + 200 = 420 → 190 / 610
    expect(cpuUtilisation(before, after)).toBeCloseTo((190 / 610) * 100, 12);
    expect(cpuUtilisation(after, after)).toBeNull();
    const sampler = new OsSampler();
    const r = sampler.read();
    expect(r.mem).toBeGreaterThan(0);
    expect(r.mem).toBeLessThanOrEqual(100);
    if (r.cpu !== null) expect(r.cpu).toBeGreaterThanOrEqual(0);
  });

  it('fake samples are a function of (seed, host, time): repeatable, 0–100, below 90 except hot spells', () => {
    expect(hostIds('sim', 1)).toEqual(['sim']);
    expect(hostIds('sim', 3)).toEqual(['sim-1', 'sim-2', 'sim-3']);
    const t0 = Date.UTC(2026, 0, 1);
    const a = fakeSample(7, 'sim-1', t0);
    expect(fakeSample(7, 'sim-1', t0)).toEqual(a);
    expect(fakeSample(8, 'sim-1', t0)).not.toEqual(a);
    expect(fakeSample(7, 'sim-2', t0)).not.toEqual(a);
    const hot = [{ host: 'sim-1', fromMs: 10_000, toMs: 20_000 }];
    for (let i = 0; i < 3_600; i++) {
      for (const host of ['sim-1', 'sim-2']) {
        const s = fakeSample(7, host, t0 + i * 1000, hot, t0);
        expect(s.cpu).toBeGreaterThanOrEqual(0);
        expect(s.mem).toBeGreaterThanOrEqual(0);
        expect(s.mem).toBeLessThanOrEqual(100);
        expect(String(s.cpu)).toMatch(/^\d+(\.\d{1,2})?$/); // two decimals
        const inSpell = host === 'sim-1' && i >= 10 && i < 20;
        if (inSpell) expect(s.cpu).toBeGreaterThanOrEqual(92);
        else expect(s.cpu).toBeLessThan(90);
      }
    }
    expect(unit('a', 1)).toBe(unit('a', 1));
    expect(unit('a', 1)).not.toBe(unit('a', 2));
  });

  it('simulated hosts add a fixed offset and noise to this machine’s reading; one host reports it as is', () => {
    const reading = { cpu: 40, mem: 50 };
    expect(simulate(reading, 1, 'h', 1000, { alone: true })).toEqual({
      host: 'h',
      time: 1000,
      cpu: 40,
      mem: 50,
      source: 'agent',
    });
    const a = simulate(reading, 1, 'h-1', 1000, { alone: false });
    const b = simulate(reading, 1, 'h-2', 1000, { alone: false });
    expect(a).toEqual(simulate(reading, 1, 'h-1', 1000, { alone: false }));
    expect(a.cpu).not.toBe(b.cpu);
    expect(a.cpu).toBeGreaterThanOrEqual(40 * 0.6 - 3);
    expect(a.cpu).toBeLessThanOrEqual(40 * 1.4 + 15 + 3);
    expect(a.mem).toBeGreaterThanOrEqual(35);
    expect(a.mem).toBeLessThanOrEqual(65);
    // An idle machine's simulated hosts do not all sit at 0 %.
    const idle = hostIds('h', 5).map((h) => simulate({ cpu: 0, mem: 5 }, 1, h, 1000, { alone: false }));
    expect(idle.some((s) => s.cpu! > 1)).toBe(true);
    expect(idle.every((s) => s.mem! > 0)).toBe(true);
    expect(simulate({ cpu: null, mem: 50 }, 1, 'h-1', 1000, { alone: false }).cpu).toBeNull();
  });
});

describe('runAgent', () => {
  it('samples this machine every interval, on interval boundaries, one row per host', async () => {
    const pub = memoryPublisher();
    const r = await runAgent({ publisher: pub, host: 'box', hosts: 2, intervalMs: 100, seconds: 0.3 });
    expect(r).toMatchObject({ hosts: ['box-1', 'box-2'], samples: 6, published: 6, dropped: 0 });
    expect(pub.rows.map((s) => s.host)).toEqual(['box-1', 'box-2', 'box-1', 'box-2', 'box-1', 'box-2']);
    const times = [...new Set(pub.rows.map((s) => s.time))];
    expect(times).toHaveLength(3);
    expect(times.every((t) => t % 100 === 0)).toBe(true);
    expect(times[2]! - times[0]!).toBe(200);
    for (const s of pub.rows) {
      expect(s.source).toBe('agent-sim');
      expect(s.mem).toBeGreaterThan(0);
    }
  });

  it('stops when aborted, and publishes what it sampled', async () => {
    const pub = memoryPublisher();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 250);
    const r = await runAgent({ publisher: pub, host: 'x', intervalMs: 100, signal: controller.signal });
    expect(r.samples).toBeGreaterThanOrEqual(1);
    expect(r.samples).toBeLessThanOrEqual(4);
    expect(pub.rows).toHaveLength(r.samples);
  });

  it('keeps the newest samples while the target is down, and sends them once it is back', async () => {
    const sent: MetricSample[] = [];
    let calls = 0;
    const flaky: MetricsPublisher = {
      target: 'flaky',
      publish: async (s) => {
        if (calls++ === 0)
          throw new MillraceError('INGEST_UNAVAILABLE', 'down', { domain: 'external', retryable: true });
        sent.push(...s);
      },
      close: async () => {},
    };
    const warnings: string[] = [];
    const r = await runAgent({
      publisher: flaky,
      host: 'h',
      intervalMs: 20,
      seconds: 0.2,
      maxQueued: 4,
      log: (m) => warnings.push(m),
    });
    // The first tick's publish fails; the agent waits 1 s before trying again, while 9 more ticks
    // arrive: it keeps the newest 4 and drops the rest.
    expect(r).toMatchObject({ samples: 10, published: 4, dropped: 6 });
    expect(sent.map((s) => s.time)).toEqual([6, 7, 8, 9].map((k) => r.firstTime! + k * 20));
    expect(warnings[0]).toBe('warning: down; keeping 1 samples and trying again');
    expect(warnings[1]).toMatch(/^warning: flaky is not keeping up; 1 oldest samples dropped so far$/);
  });

  it('refuses bad options with the option named', async () => {
    const pub = memoryPublisher();
    expect((await rejection(runAgent({ publisher: pub, hosts: 0 }))).message).toMatch(
      /^--hosts: expected an integer from 1 to 10000, got "0"/,
    );
    expect(
      (
        await rejection(
          runAgent({ publisher: pub, host: 'a', hosts: 2, hot: [{ host: 'a-3', fromMs: 0, toMs: 1 }] }),
        )
      ).message,
    ).toContain('no agent is called "a-3"; the agents are a-1, a-2');
    expect((await rejection(runAgent({ publisher: pub, speedup: 3 }))).message).toContain(
      'only apply with --fake',
    );
    const failing: MetricsPublisher = {
      target: 'nowhere',
      publish: async () => {
        throw new MillraceError('INGEST_REFUSED', 'refused: 400', { domain: 'user' });
      },
      close: async () => {},
    };
    const e = await rejection(
      runAgent({ publisher: failing, fake: true, speedup: 0, seconds: 5, startMs: 0 }),
    );
    expect(e.code).toBe('INGEST_REFUSED');
    expect(e.message).toMatch(/^the agent stopped: refused: 400 \(\d+ samples not delivered\)$/);
  });

  it('reads its command line', () => {
    const cli = parseAgentArgs([
      '--ingest',
      'http://h:1',
      '--hosts',
      '3',
      '--fake',
      '--speedup',
      '0',
      '--hot',
      'x-2:5-10',
    ]);
    expect(cli.target).toEqual({ kind: 'http', url: 'http://h:1' });
    expect(cli.agent).toMatchObject({
      hosts: 3,
      fake: true,
      speedup: 0,
      hot: [{ host: 'x-2', fromMs: 5000, toMs: 10000 }],
    });
    expect(parseAgentArgs([]).target).toEqual({ kind: 'log', dir: '.millrace/resource-monitor/log' });
    expect(parseAgentArgs(['--interval', '250ms', '--start', '2026-01-01T00:00:00Z']).agent).toMatchObject({
      intervalMs: 250,
      startMs: Date.UTC(2026, 0, 1),
    });
    expect(() => parseAgentArgs(['--ingest', 'http://h:1', '--kafka', 'k:9092'])).toThrow(/give one target/);
    expect(() => parseAgentArgs(['--hot', 'x:10-5'])).toThrow(/--hot: cannot read "x:10-5"/);
    expect(() => parseAgentArgs(['--interval', 'soon'])).toThrow(/--interval: cannot read "soon"/);
    expect(() => parseAgentArgs(['--bogus'])).toThrow(/bogus/);
  });

  it('the pipeline reads its command line too', () => {
    const o = parsePipelineArgs([
      '--agents',
      '2',
      '--agent-name',
      'n',
      '--hot',
      'n-2:30-150',
      '--trigger',
      'asap',
    ]);
    expect(o).toMatchObject({
      agents: 2,
      ingestPort: 8090,
      metricsTopic: 'metrics',
      statsTopic: 'resource-stats',
    });
    expect(o.monitor).toMatchObject({
      windowMs: 60_000,
      slideMs: 10_000,
      watermarkMs: 10_000,
      cpuThreshold: 90,
      alertForMs: 30_000,
    });
    expect(o.monitor.trigger).toEqual({ kind: 'default' });
    expect(() => parsePipelineArgs(['--slide', '7s'])).toThrow(/--slide: must divide --window/);
    expect(() => parsePipelineArgs(['--agents', '1', '--agent-name', 'n', '--hot', 'm:1-2'])).toThrow(
      /no in-process agent is called "m" \(agents: n\)/,
    );
    expect(() => parsePipelineArgs(['--fsync', 'sometimes'])).toThrow(/--fsync/);
  });
});

describe('publishers', () => {
  it('HTTP ingest: NDJSON keyed by host into the log; a refusal and an unreachable server are clear errors', async () => {
    const dir = tempDir();
    const log = await openLog({ dir, fsync: 'never' });
    const server = await startIngestServer({ log, port: 0 });
    cleanups.push(async () => {
      await server.close();
      await log.close();
    });
    const pub = httpPublisher({ url: server.url, topic: 'metrics' });
    const rows = [
      { host: 'a', time: 1000, cpu: 1.5, mem: 2, source: 'agent' },
      { host: 'b', time: 1000, cpu: null, mem: 3, source: 'collectd' },
    ];
    await pub.publish(rows);
    expect(await readTopic(log, 'metrics')).toEqual(rows);
    const keys: (string | null)[] = [];
    for await (const chunk of log.read('metrics', 0))
      for (const r of chunk) keys.push(r.key as string | null);
    expect(keys).toEqual(['a', 'b']);

    const refused = await rejection(httpPublisher({ url: server.url, topic: 'bad topic!' }).publish(rows));
    expect(refused.code).toBe('INGEST_REFUSED');
    expect(refused.message).toContain('400');

    const closed = 'http://127.0.0.1:1'; // nothing listens on port 1: connection refused
    const down = await rejection(
      httpPublisher({ url: closed, topic: 'metrics', maxAttempts: 2 }).publish(rows),
    );
    expect(down.code).toBe('INGEST_UNAVAILABLE');
    expect(down.retryable).toBe(true);
    expect(down.message).toContain('is the pipeline (its ingest server) running at that address?');
    expect(() => httpPublisher({ url: 'not a url', topic: 'm' })).toThrow(
      /--ingest: "not a url" is not a URL/,
    );
  });

  it('log: appends to a directory it opens itself, or to an open log', async () => {
    const dir = tempDir();
    const own = await logPublisher({ dir, topic: 'metrics' });
    await own.publish([{ host: 'a', time: 1, cpu: 1, mem: 1, source: null }]);
    await own.close();
    const log = await openLog({ dir });
    cleanups.push(() => log.close());
    const shared = await logPublisher({ log, topic: 'metrics' });
    await shared.publish([{ host: 'b', time: 2, cpu: 2, mem: 2, source: null }]);
    await shared.close(); // does not close the shared log
    expect((await readTopic<MetricSample>(log, 'metrics')).map((s) => s.host)).toEqual(['a', 'b']);
    await expect(logPublisher({ topic: 'm' })).rejects.toThrow(/exactly one of "log"/);
  });
});
