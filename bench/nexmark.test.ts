import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { loadQuery } from './nexmark/queries.ts';
import type { RunOptions } from './nexmark/query.ts';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

it('bench nexmark q0 prints a JSON summary whose engine and baseline checksums match', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'bench/cli.ts', 'nexmark', 'q0', '--events', '20000', '--events-per-trigger', '7000'],
    { cwd: REPO, timeout: 15_000 },
  );
  const last = stdout.trim().split('\n').pop()!;
  const r = JSON.parse(last) as Record<string, unknown>;
  for (const field of [
    'query',
    'events',
    'wallSeconds',
    'cpuSeconds',
    'eventsPerCpuSecond',
    'eventsPerWallSecond',
    'baselineEventsPerCpuSecond',
    'baselineWallSeconds',
    'peakRssBytes',
    'baselinePeakRssBytes',
    'rowsOut',
    'checksum',
    'baselineChecksum',
    'checksumsMatch',
  ]) {
    expect(r, field).toHaveProperty(field);
  }
  expect(r.query).toBe('q0');
  expect(r.events).toBe(20_000);
  expect(r.rowsOut).toBe(18_400);
  expect(r.baselineRowsOut).toBe(18_400);
  expect(r.batches).toBe(3);
  expect(r.checksumsMatch).toBe(true);
  expect(r.checksum).toBe(r.baselineChecksum);
  for (const f of [
    'eventsPerCpuSecond',
    'baselineEventsPerCpuSecond',
    'peakRssBytes',
    'baselinePeakRssBytes',
  ]) {
    expect(r[f] as number, f).toBeGreaterThan(0);
  }
  expect(r.errors).toEqual([]);
}, 20_000);

const run = async (args: string[]) => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'bench/cli.ts', ...args],
    {
      cwd: REPO,
      timeout: 15_000,
    },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
};

// The stateful queries in-process (the harness itself is covered by the q0 test above).
it.each([
  ['q5', 'append', 120_000],
  ['q12', 'update', 30_000],
  ['q3', 'append', 60_000],
  ['q4', 'append', 60_000],
  ['q9', 'append', 60_000],
  ['q7', 'append', 210_000],
  ['q8', 'append', 210_000],
  ['q13', 'append', 30_000],
  ['q20', 'append', 60_000],
  ['q11', 'append', 210_000],
  ['q15', 'update', 30_000],
  ['q16', 'update', 30_000],
  ['q17', 'update', 30_000],
  ['q18', 'update', 30_000],
] as const)('nexmark %s (stateful, %s mode): engine and baseline agree', async (q, mode, events) => {
  const query = await loadQuery(q);
  const options: RunOptions = {
    events,
    eventsPerTrigger: events / 3,
    baselineChunk: 10_000,
    sink: 'checksum',
  };
  const baseline = await query.baseline(options);
  const engine = await query.engine(options);
  expect(engine.outputMode).toBe(mode);
  expect(engine.rowsOut).toBeGreaterThan(0);
  expect(engine.rowsOut).toBe(baseline.rowsOut);
  expect(engine.checksum).toBe(baseline.checksum);
  expect(engine.batches).toBe(3);
  if (q !== 'q13') expect(engine.stateRows).toBeGreaterThan(0); // q13 is a stateless lookup join
  if (mode === 'update') expect(engine.rowsEmitted).toBeGreaterThanOrEqual(engine.rowsOut);
});

it('bench nexmark refuses a query it does not have, listing those it has', async () => {
  const err = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', 'bench/cli.ts', 'nexmark', 'q99'],
    { cwd: REPO, timeout: 15_000 },
  ).catch((e: { stderr: string; code: number }) => e);
  expect((err as { code: number }).code).toBe(2);
  expect((err as { stderr: string }).stderr).toMatch(/unknown Nexmark query "q99"; available: .*q12/);
}, 20_000);

it('bench latency prints p50/p99 latencies in its JSON summary', async () => {
  const r = await run(['latency', '--rate', '20000', '--seconds', '1', '--warmup', '0']);
  expect(r.bench).toBe('latency');
  expect(r.events).toBe(20_000);
  for (const f of ['p50LatencyMs', 'p99LatencyMs', 'eventP50LatencyMs', 'eventP99LatencyMs']) {
    expect(typeof r[f], f).toBe('number');
    expect(r[f] as number, f).toBeGreaterThanOrEqual(0);
  }
  expect(r.p99LatencyMs as number).toBeGreaterThanOrEqual(r.p50LatencyMs as number);
  expect(r.rowsMeasured as number).toBeGreaterThan(0);
}, 20_000);

it('bench ecommerce keeps up at a small rate and reports p50/p99 latencies', async () => {
  const r = await run(['ecommerce', '--events', '20000', '--rate', '20000']);
  expect(r.bench).toBe('ecommerce');
  expect(r.keptUp).toBe(true);
  expect(r.events as number).toBeGreaterThan(15_000);
  for (const f of ['p50LatencyMs', 'p99LatencyMs']) expect(typeof r[f], f).toBe('number');
}, 30_000);
