import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

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
