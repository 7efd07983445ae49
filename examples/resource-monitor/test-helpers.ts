/**
 * Shared by the example's tests (not a test itself): temp dirs, polling, reading a topic back,
 * and the independent computation the pipeline's output is compared with.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Log } from '@millrace/log';
import { expect } from 'vitest';
import type { HostStats, MetricSample } from './metrics.ts';
import { fakeSample, hostIds } from './sampler.ts';

const dirs: string[] = [];

export function tempDir(prefix = 'millrace-resmon-'): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every record value of a topic (all partitions), parsed as JSON. */
export async function readTopic<T>(log: Log, topic: string): Promise<T[]> {
  if (!log.topics().some((t) => t.name === topic)) return [];
  const out: T[] = [];
  for (const p of log.partitions(topic)) {
    for await (const chunk of log.read(topic, p.partition)) {
      for (const r of chunk) out.push(JSON.parse(String(r.value)) as T);
    }
  }
  return out;
}

/** A resource-stats record as read back: the window's times are ISO text in JSON. */
export interface StatsRecord {
  host: string;
  window: { start: string; end: string };
  samples: number;
  cpuAvg: number | null;
  cpuPeak: number | null;
  memAvg: number | null;
  memPeak: number | null;
}

export function fromRecord(r: StatsRecord): HostStats {
  return {
    host: r.host,
    window: { start: Date.parse(r.window.start), end: Date.parse(r.window.end) },
    samples: r.samples,
    cpuAvg: r.cpuAvg ?? null,
    cpuPeak: r.cpuPeak ?? null,
    memAvg: r.memAvg ?? null,
    memPeak: r.memPeak ?? null,
  };
}

/**
 * The windows the pipeline must emit, computed directly: every sliding window [start, start +
 * size) with start a multiple of the slide that contains a sample, closed once `end <= watermark`
 * (the last sample's time − the watermark delay). Averages and peaks ignore nulls. Sorted by
 * host, then start.
 */
export function expectedStats(
  samples: readonly MetricSample[],
  o: { windowMs: number; slideMs: number; watermarkMs: number },
): HostStats[] {
  const acc = new Map<string, { host: string; start: number; n: number; cpu: number[]; mem: number[] }>();
  let maxTime = -Infinity;
  for (const s of samples) {
    maxTime = Math.max(maxTime, s.time);
    for (
      let start = Math.floor(s.time / o.slideMs) * o.slideMs;
      start > s.time - o.windowMs;
      start -= o.slideMs
    ) {
      const key = `${s.host}|${start}`;
      let a = acc.get(key);
      if (!a) acc.set(key, (a = { host: s.host, start, n: 0, cpu: [], mem: [] }));
      a.n++;
      if (s.cpu !== null) a.cpu.push(s.cpu);
      if (s.mem !== null) a.mem.push(s.mem);
    }
  }
  const watermark = maxTime - o.watermarkMs;
  const mean = (xs: number[]) => (xs.length ? xs.reduce((x, y) => x + y, 0) / xs.length : null);
  const peak = (xs: number[]) => (xs.length ? Math.max(...xs) : null);
  return [...acc.values()]
    .filter((a) => a.start + o.windowMs <= watermark)
    .map((a) => ({
      host: a.host,
      window: { start: a.start, end: a.start + o.windowMs },
      samples: a.n,
      cpuAvg: mean(a.cpu),
      cpuPeak: peak(a.cpu),
      memAvg: mean(a.mem),
      memPeak: peak(a.mem),
    }))
    .sort(byHostAndStart);
}

export function byHostAndStart(a: HostStats, b: HostStats): number {
  return a.host < b.host ? -1 : a.host > b.host ? 1 : a.window.start - b.window.start;
}

/**
 * What the hot-host rule must do, from the expected windows in order: pending at the first
 * window above the threshold, firing at the first later window still above it whose end is at
 * least `forMs` after, resolved at the first window at or below it after firing.
 */
export function expectedAlerts(
  stats: readonly HostStats[],
  threshold: number,
  forMs: number,
): { host: string; status: 'firing' | 'resolved'; windowEnd: number }[] {
  const out: { host: string; status: 'firing' | 'resolved'; windowEnd: number }[] = [];
  const hosts = [...new Set(stats.map((s) => s.host))].sort();
  for (const host of hosts) {
    let since: number | null = null;
    let firing = false;
    for (const w of stats.filter((s) => s.host === host).sort(byHostAndStart)) {
      const hot = w.cpuAvg !== null && w.cpuAvg > threshold;
      if (!hot) {
        if (firing) out.push({ host, status: 'resolved', windowEnd: w.window.end });
        since = null;
        firing = false;
        continue;
      }
      since ??= w.window.end;
      if (!firing && w.window.end - since >= forMs) {
        firing = true;
        out.push({ host, status: 'firing', windowEnd: w.window.end });
      }
    }
  }
  return out;
}

/**
 * POST /collectd: host `cd`'s CPU idle and memory used for each second from 110 s to 130 s after
 * `startMs` (42 values). Returns the samples the pipeline should make of them.
 */
export async function postCollectdMinute(ingestUrl: string, startMs: number): Promise<MetricSample[]> {
  const collectd: MetricSample[] = [];
  const body = [];
  for (let s = 110; s <= 130; s++) {
    const time = (startMs + s * 1000) / 1000;
    const idle = 50 + (s % 7);
    const used = 40 + (s % 3);
    const common = {
      dstypes: ['gauge'],
      dsnames: ['value'],
      time,
      interval: 1,
      host: 'cd',
      plugin_instance: '',
    };
    body.push(
      { ...common, values: [idle], plugin: 'cpu', type: 'percent', type_instance: 'idle' },
      { ...common, values: [used], plugin: 'memory', type: 'percent', type_instance: 'used' },
    );
    collectd.push({ host: 'cd', time: time * 1000, cpu: 100 - idle, mem: null, source: 'collectd' });
    collectd.push({ host: 'cd', time: time * 1000, cpu: null, mem: used, source: 'collectd' });
  }
  const res = await fetch(`${ingestUrl}/collectd`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ samples: 42, skipped: 0, ignored: {} });
  return collectd;
}

/** The windows written are the directly computed ones: exact counts and peaks, averages within 1e-9. */
export function expectSameStats(got: readonly HostStats[], expected: readonly HostStats[]): void {
  expect(got.map((s) => [s.host, s.window.start, s.samples, s.cpuPeak, s.memPeak])).toEqual(
    expected.map((s) => [s.host, s.window.start, s.samples, s.cpuPeak, s.memPeak]),
  );
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(got[i]!.cpuAvg! - expected[i]!.cpuAvg!)).toBeLessThan(1e-9);
    expect(Math.abs((got[i]!.memAvg ?? 0) - (expected[i]!.memAvg ?? 0))).toBeLessThan(1e-9);
  }
}

/**
 * Run agent.ts to its end with `target` (e.g. ['--kafka', bootstrap]): 2 fake hosts `<host>-…`, seed
 * 9, 120 s of samples from `startMs`, as fast as it can, to topic/stream `topic`. Returns the samples
 * it sent (the same generator, called directly).
 */
export async function runFakeAgent(
  target: readonly string[],
  options: { readonly topic: string; readonly host: string; readonly startMs: number },
): Promise<MetricSample[]> {
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
  const args = ['--topic', options.topic, '--fake', '--hosts', '2', '--host', options.host, '--seed', '9'];
  args.push('--start', String(options.startMs), '--speedup', '0', '--seconds', '120', '--quiet');
  const agent = spawn(
    process.execPath,
    ['--import', 'tsx', 'examples/resource-monitor/agent.ts', ...target, ...args],
    {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let agentErr = '';
  agent.stderr!.on('data', (d: Buffer) => (agentErr += d.toString()));
  const code = await new Promise<number | null>((r) => agent.once('exit', (c) => r(c)));
  expect(code, agentErr).toBe(0);
  const generated: MetricSample[] = [];
  for (let k = 0; k < 120; k++)
    for (const h of hostIds(options.host, 2)) generated.push(fakeSample(9, h, options.startMs + k * 1000));
  return generated;
}
