/**
 * End to end, as a user runs it, in separate processes:
 *
 *   agent.ts --fake --ingest <url>  ──HTTP──▶  millrace run pipeline.ts  ──▶  topic resource-stats
 *   (3 hosts, 3 minutes of samples         (ingest → log → 4 queries,        console, dashboards,
 *    at 15× speed, one host hot)            alert rule, REST API)             alert hot-host
 *
 * The agent's samples are regenerated here from the seed (so the test knows every value), and
 * the test reads the service's log directory from this process: the metrics topic must hold
 * exactly those samples (nothing lost or doubled over HTTP), and resource-stats exactly the
 * windows computed from them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { openLog } from '@millrace/log';
import { launchBrowser, screenshot } from '../../packages/server/test/browser/browser.ts';
import type { MetricSample } from './metrics.ts';
import { DEFAULTS } from './monitor.ts';
import { fakeSample, hostIds } from './sampler.ts';
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

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  cleanupDirs();
});

interface Proc {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

function start(args: string[]): Proc {
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((r) => child.once('exit', (code) => r(code))),
  };
  child.stdout!.on('data', (d: Buffer) => (p.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (p.stderr += d.toString()));
  // Stop gracefully first (run.ts passes the signal on to the service it started), then kill.
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await p.exited;
    clearTimeout(timer);
  });
  return p;
}

/** The fields of the service's first JSON log line with this message. */
function logLine(p: Proc, msg: string): Record<string, unknown> | undefined {
  for (const line of p.stderr.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (o.msg === msg) return o;
    } catch {
      // a line still being written
    }
  }
  return undefined;
}

it('agents → HTTP ingest → log → pipeline (millrace run) → resource-stats, console, dashboards, alert', async () => {
  const dir = tempDir();
  const service = start([
    'packages/server/bin/millrace.js',
    'run',
    'examples/resource-monitor/pipeline.ts',
    '--port',
    '0',
    '--progress',
    'off',
    '--log-level',
    'info',
    '--',
    '--dir',
    dir,
    '--ingest-port',
    '0',
    '--trigger',
    '500ms',
  ]);
  await waitFor(
    () => {
      if (service.child.exitCode !== null) throw new Error(`millrace run exited early:\n${service.stderr}`);
      return logLine(service, 'resource monitor ready') !== undefined;
    },
    () => `the pipeline to be ready; stderr:\n${service.stderr}`,
    60_000,
  );
  const api = logLine(service, 'server listening')!.url as string;
  const ingestUrl = logLine(service, 'resource monitor ready')!.ingestUrl as string;
  expect(ingestUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

  // The agents: 3 minutes of fake samples for 3 hosts at 15× speed, e2e-2 hot from 20 s to 120 s.
  const startMs = Date.UTC(2026, 0, 1, 0, 0, 0);
  const hot = [{ host: 'e2e-2', fromMs: 20_000, toMs: 120_000 }];
  const agent = start([
    '--import',
    'tsx',
    'examples/resource-monitor/agent.ts',
    '--ingest',
    ingestUrl,
    '--fake',
    '--hosts',
    '3',
    '--host',
    'e2e',
    '--seed',
    '5',
    '--start',
    new Date(startMs).toISOString(),
    '--speedup',
    '15',
    '--seconds',
    '180',
    '--hot',
    'e2e-2:20-120',
  ]);
  const agentCode = await agent.exited;
  expect(agentCode, agent.stderr).toBe(0);
  expect(agent.stderr).toContain('done: 540 of 540 samples published');

  // The metrics topic holds exactly the generated samples.
  const log = await openLog({ dir: path.join(dir, 'log') });
  cleanups.push(() => log.close());
  const generated: MetricSample[] = [];
  for (let k = 0; k < 180; k++) {
    for (const h of hostIds('e2e', 3)) generated.push(fakeSample(5, h, startMs + k * 1000, hot, startMs));
  }
  const key = (s: MetricSample) => `${s.host}|${s.time}`;
  const stored = await readTopic<MetricSample>(log, 'metrics');
  expect(stored.map(key).sort()).toEqual(generated.map(key).sort());
  expect(stored.sort((a, b) => key(a).localeCompare(key(b)))).toEqual(
    generated.sort((a, b) => key(a).localeCompare(key(b))),
  );

  // resource-stats: every closed window, exactly as computed here.
  const expected = expectedStats(generated, DEFAULTS);
  expect(expected).toHaveLength(3 * 16); // window ends 10 s … 160 s (last sample 179 s − 10 s watermark)
  const written = async () =>
    (await readTopic<StatsRecord>(log, 'resource-stats')).map(fromRecord).sort(byHostAndStart);
  await waitFor(
    async () => (await written()).length >= expected.length,
    'the closed windows in resource-stats',
    30_000,
  );
  const got = await written();
  expect(got.map((s) => [s.host, s.window.start, s.samples, s.cpuPeak, s.memPeak])).toEqual(
    expected.map((s) => [s.host, s.window.start, s.samples, s.cpuPeak, s.memPeak]),
  );
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(got[i]!.cpuAvg! - expected[i]!.cpuAvg!)).toBeLessThan(1e-9);
    expect(Math.abs(got[i]!.memAvg! - expected[i]!.memAvg!)).toBeLessThan(1e-9);
  }

  // The alert fired for e2e-2 only, then resolved. (Several windows may close in one batch here, and
  // a rule looks at each host's latest row of a batch: the firing window may be a slide later than
  // in the step-by-step fast test.)
  const [fire, resolve] = expectedAlerts(expected, DEFAULTS.cpuThreshold, DEFAULTS.alertForMs);
  expect([fire?.host, fire?.status, resolve?.host, resolve?.status]).toEqual([
    'e2e-2',
    'firing',
    'e2e-2',
    'resolved',
  ]);
  type Ev = {
    rule: string;
    status: string;
    labels: { host: string };
    value: { window: { end: string | number } };
  };
  const history = async () =>
    ((await (await fetch(`${api}/api/v1/alerts/history?rule=hot-host`)).json()) as { events: Ev[] }).events;
  await waitFor(async () => (await history()).length >= 2, 'the alert to fire and resolve');
  const events = await history();
  expect(events.map((e) => [e.labels.host, e.status])).toEqual([
    ['e2e-2', 'firing'],
    ['e2e-2', 'resolved'],
  ]);
  const firedEnd = new Date(events[0]!.value.window.end).getTime();
  expect(firedEnd).toBeGreaterThanOrEqual(fire!.windowEnd);
  expect(firedEnd).toBeLessThan(resolve!.windowEnd);
  expect(logLine(service, 'alert fired')).toMatchObject({ rule: 'hot-host', labels: { host: 'e2e-2' } });

  // Dashboards and queries through the REST API.
  const hosts = (await (await fetch(`${api}/api/v1/dashboards/hosts`)).json()) as {
    rows: { host: string }[];
  };
  expect(hosts.rows.map((r) => r.host).sort()).toEqual(['e2e-1', 'e2e-2', 'e2e-3']);
  const series = (await (await fetch(`${api}/api/v1/dashboards/cpu-per-host`)).json()) as { rows: unknown[] };
  expect(series.rows).toHaveLength(expected.length);
  const queries = (await (await fetch(`${api}/api/v1/queries`)).json()) as {
    queries: { name: string; health: string }[];
  };
  expect(queries.queries.map((q) => [q.name, q.health]).sort()).toEqual([
    ['console', 'active'],
    ['cpu-per-host', 'active'],
    ['hosts', 'active'],
    ['resource-stats', 'active'],
  ]);
  // The console printed the closed windows.
  expect(service.stdout).toContain('closed windows (batch');
  expect(service.stdout).toMatch(/\|e2e-2\|2026-01-01 00:01:40\.000\|60 {5}\|9\d\.\d/);

  // A signal stops the queries after their batch and the service exits cleanly.
  service.child.kill('SIGTERM');
  expect(await service.exited).toBe(0);
  expect(logLine(service, 'exiting')).toBeDefined();
}, 180_000);

it('run.ts: the one command starts the service with simulated agents, shows the UI and the alert, stops on Ctrl-C', async () => {
  const dir = tempDir();
  const run = start([
    '--import',
    'tsx',
    'examples/resource-monitor/run.ts',
    '--port',
    '0',
    '--agents',
    '3',
    '--fake',
    '--',
    '--dir',
    dir,
    '--ingest-port',
    '0',
    '--speedup',
    '20',
    '--agent-name',
    'demo',
  ]);
  await waitFor(
    () => {
      if (run.child.exitCode !== null) throw new Error(`run.ts exited early:\n${run.stderr}`);
      return /\*\*\* alert hot-host resolved for \{"host":"demo-2"\}/.test(run.stderr);
    },
    () => `the hot-host alert to fire and resolve; stderr:\n${run.stderr}`,
    90_000,
  );
  const ui = /web UI {12}(http:\/\/127\.0\.0\.1:\d+)/.exec(run.stderr)?.[1];
  expect(ui, run.stderr).toBeDefined();
  expect(run.stderr).toContain(
    'agents            3 simulated in the pipeline process (demo-1 … demo-3); demo-2 runs hot',
  );
  expect(run.stderr).toMatch(/\*\*\* ALERT hot-host firing: host demo-2: CPU average above 90%/);
  const page = await fetch(`${ui}/`);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('<html');
  // The dashboards in real Chromium: every host's CPU as a line, and the hosts table (screenshot kept).
  const browser = await launchBrowser();
  try {
    const tab = await browser.newPage();
    await tab.goto(`${ui}/dashboards`);
    for (const name of ['cpu-per-host', 'hosts']) {
      await expect
        .poll(async () => Number(await tab.locator(`[data-dashboard="${name}"]`).getAttribute('data-size')), {
          timeout: 30_000,
        })
        .toBeGreaterThan(0);
    }
    await screenshot(tab, 'resource-monitor-dashboards');
    await tab.goto(`${ui}/alerts`);
    await expect
      .poll(() => tab.locator('#alert-rules tbody tr').first().textContent(), { timeout: 10_000 })
      .toContain('hot-host');
    await screenshot(tab, 'resource-monitor-alerts');
    expect(browser.problems).toEqual([]);
  } finally {
    await browser.close();
  }
  expect(run.stdout).toMatch(/closed windows \(batch \d+\):\n\+----/);
  run.child.kill('SIGINT');
  expect(await run.exited).toBe(0);
  expect(run.stderr).toContain('info: exiting');
}, 120_000);
