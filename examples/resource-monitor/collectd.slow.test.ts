/**
 * Debian's real collectd daemon → write_http (JSON) → POST /collectd → metrics topic → the
 * monitoring queries → resource-stats.
 *
 * The test writes a collectd.conf in a temp dir (cpu: ReportByCpu false, ValuesPercentage
 * true; memory: ValuesPercentage true; write_http to the pipeline's endpoint; Interval 1),
 * starts `collectd -f -C <conf>`, waits for samples, stops it, and checks the windows computed
 * from what collectd sent. Small windows (4 s sliding by 2 s, 3 s watermark: write_http buffers up to a second) keep it short.
 *
 * collectd must be installed: run scripts/ensure-collectd.sh (it installs it as root with
 * apt-get). The test runs that script itself when collectd is missing, and fails — it does not
 * skip — if collectd still cannot be run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { MillraceService, createPipelineContext } from '@millrace/server';
import type { MetricSample } from './metrics.ts';
import { parsePipelineArgs, runResourceMonitor } from './pipeline.ts';
import {
  byHostAndStart,
  cleanupDirs,
  expectedStats,
  fromRecord,
  readTopic,
  tempDir,
  waitFor,
  type StatsRecord,
} from './test-helpers.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const COLLECTD = '/usr/sbin/collectd';
const TYPES_DB = '/usr/share/collectd/types.db';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  cleanupDirs();
});

beforeAll(() => {
  if (existsSync(COLLECTD) && existsSync(TYPES_DB)) return;
  const r = spawnSync('sh', [path.join(here, 'scripts/ensure-collectd.sh')], { encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(COLLECTD)) {
    throw new Error(
      `collectd is not installed and could not be installed (${r.stderr || r.error?.message || `exit ${r.status}`}). ` +
        'Run examples/resource-monitor/scripts/ensure-collectd.sh as root, or ' +
        '`apt-get install -y --no-install-recommends collectd libcurl3-gnutls libyajl2`.',
    );
  }
}, 300_000);

function collectdConf(dir: string, host: string, url: string): string {
  return `# written by collectd.slow.test.ts
Hostname "${host}"
FQDNLookup false
BaseDir "${dir}"
PIDFile "${dir}/collectd.pid"
TypesDB "${TYPES_DB}"
Interval 1

LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File STDOUT
  Timestamp true
</Plugin>

LoadPlugin cpu
<Plugin cpu>
  ReportByCpu false
  ReportByState true
  ValuesPercentage true
</Plugin>

LoadPlugin memory
<Plugin memory>
  ValuesAbsolute false
  ValuesPercentage true
</Plugin>

<LoadPlugin write_http>
  FlushInterval 1
</LoadPlugin>
<Plugin write_http>
  <Node "millrace">
    URL "${url}/collectd"
    Format "JSON"
    LogHttpError true
  </Node>
</Plugin>
`;
}

it('collectd → write_http JSON → metrics → per-host windows equal to a direct computation', async () => {
  const dir = tempDir();
  const host = `collectd-test-${process.pid}`;
  const service = new MillraceService({
    logLevel: 'warn',
    defaultMetrics: false,
    logDestination: { write: () => {} },
  });
  const session = service.createSession();
  const controller = new AbortController();
  const ctx = createPipelineContext(service, { session, args: [], signal: controller.signal });
  const options = parsePipelineArgs([
    '--dir',
    dir,
    '--ingest-port',
    '0',
    '--quiet',
    '--fsync',
    'never',
    '--window',
    '4s',
    '--slide',
    '2s',
    '--watermark',
    '3s',
    '--trigger',
    '200ms',
  ]);
  const monitor = await runResourceMonitor(ctx, options);
  cleanups.push(async () => {
    controller.abort();
    await service.stopAll();
    await service.close({ flushMs: 0 });
    await Promise.all(monitor.queries.map((q) => q.awaitTermination().catch(() => undefined)));
  });
  const log = monitor.log!;

  const confDir = tempDir('millrace-collectd-');
  const conf = path.join(confDir, 'collectd.conf');
  writeFileSync(conf, collectdConf(confDir, host, monitor.ingestUrl));
  let output = '';
  const daemon: ChildProcess = spawn(COLLECTD, ['-f', '-C', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  daemon.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  daemon.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => daemon.once('exit', (code) => r(code)));
  let running = true;
  const stop = async () => {
    if (!running) return;
    running = false;
    daemon.kill('SIGTERM');
    const t = setTimeout(() => daemon.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(t);
  };
  cleanups.push(stop);
  void exited.then(() => (running = false));

  const ours = async () => (await readTopic<MetricSample>(log, 'metrics')).filter((s) => s.host === host);
  const enough = async () => {
    const rows = await ours();
    return rows.filter((s) => s.cpu !== null).length >= 12 && rows.filter((s) => s.mem !== null).length >= 12;
  };
  await waitFor(
    async () => {
      if (!running) throw new Error(`collectd exited early:\n${output}`);
      return enough();
    },
    () => `12 CPU and 12 memory samples from collectd; its output:\n${output}`,
    30_000,
  );
  await stop();
  expect(output).toContain('plugin "write_http" successfully loaded');
  expect(output).not.toMatch(/write_http plugin: curl_easy_perform failed|HTTP Error code/);

  // What collectd sent: one CPU sample (100 − idle) and one memory sample per second.
  const samples = (await ours()).sort((a, b) => a.time - b.time);
  const cpu = samples.filter((s) => s.cpu !== null);
  const mem = samples.filter((s) => s.mem !== null);
  expect(samples.every((s) => s.source === 'collectd' && (s.cpu === null) !== (s.mem === null))).toBe(true);
  for (const s of cpu) expect(s.cpu).toBeGreaterThanOrEqual(0);
  for (const s of cpu) expect(s.cpu).toBeLessThanOrEqual(100);
  for (const s of mem) expect(s.mem).toBeGreaterThan(0);
  for (const s of mem) expect(s.mem).toBeLessThan(100);
  const gaps = (xs: MetricSample[]) => xs.slice(1).map((s, i) => s.time - xs[i]!.time);
  for (const g of [...gaps(cpu), ...gaps(mem)]) {
    expect(g).toBeGreaterThan(500);
    expect(g).toBeLessThan(2_500);
  }
  expect(Math.abs(samples.at(-1)!.time - Date.now())).toBeLessThan(30_000); // collectd's clock = ours

  // The windows, computed directly from those samples, once the queries have caught up.
  const w = { windowMs: 4_000, slideMs: 2_000, watermarkMs: 3_000 };
  const expected = expectedStats(samples, w);
  expect(expected.length).toBeGreaterThanOrEqual(3);
  const written = async () =>
    (await readTopic<StatsRecord>(log, 'resource-stats'))
      .map(fromRecord)
      .filter((s) => s.host === host)
      .sort(byHostAndStart);
  await waitFor(
    async () => (await written()).length >= expected.length,
    'the closed windows in resource-stats',
  );
  const got = await written();
  expect(got.map((s) => [s.window.start, s.samples, s.cpuPeak, s.memPeak])).toEqual(
    expected.map((s) => [s.window.start, s.samples, s.cpuPeak, s.memPeak]),
  );
  for (let i = 0; i < expected.length; i++) {
    expect(got[i]!.cpuAvg! - expected[i]!.cpuAvg!).toBeCloseTo(0, 9);
    expect(got[i]!.memAvg! - expected[i]!.memAvg!).toBeCloseTo(0, 9);
  }
}, 120_000);
