import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectorContext } from '../../src/connectors/contracts.ts';
import { ratePerBatchSource, rateSource } from '../../src/connectors/rate/index.ts';
import { MillraceError } from '../../src/errors/index.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';

const T0 = Date.UTC(2025, 0, 1);
const DEFAULT = { kind: 'default' } as const;
const ALL = { kind: 'all' } as const;
const dirs: string[] = [];

async function context(clock: ManualClock, stateDir?: string): Promise<ConnectorContext> {
  const dir = stateDir ?? (await mkdtemp(path.join(tmpdir(), 'millrace-rate-')));
  if (!stateDir) dirs.push(dir);
  return { queryId: 'q1', queryName: 'q', stateDir: dir, clock, log: silentLogger };
}

afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('rateSource', () => {
  it('offsets count the rows due at the clock time', async () => {
    const clock = new ManualClock(T0);
    const src = rateSource({ rowsPerSecond: 10 });
    await src.open(await context(clock));
    expect(await src.latestOffset(null, DEFAULT)).toBeNull();
    clock.advance(99);
    expect(await src.latestOffset(null, DEFAULT)).toBeNull();
    clock.advance(1);
    expect(await src.latestOffset(null, DEFAULT)).toBe(1);
    clock.advance(1400);
    expect(await src.latestOffset(null, DEFAULT)).toBe(15);
    expect(await src.latestOffset(15, ALL)).toBe(15);
    expect(src.reportLatestOffset!()).toBe(15);
    clock.advance(500);
    expect(await src.latestOffset(15, DEFAULT)).toBe(20);
    const b = await src.getBatch(15, 20, { batchId: 1 });
    expect(b.rows).toEqual([15, 16, 17, 18, 19].map((v) => ({ value: v, timestamp: T0 + v * 100 })));
    expect(src.describe()).toBe('RateSource[rowsPerSecond=10, rampUpTime=0ms]');
    expect(src.schema.treeString()).toContain('timestamp: timestamp');
  });

  it('timestamps are floor(v * 1000 / rowsPerSecond) after the start', async () => {
    const clock = new ManualClock(T0);
    const src = rateSource({ rowsPerSecond: 3 });
    await src.open(await context(clock));
    clock.advance(2000);
    expect(await src.latestOffset(null, DEFAULT)).toBe(6);
    const b = await src.getBatch(null, 6, { batchId: 0 });
    expect(b.rows.map((r) => r.timestamp - T0)).toEqual([0, 333, 666, 1000, 1333, 1666]);
    expect(b.rows.map((r) => r.value)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('continues after a restart from the persisted start time, and replays the same rows', async () => {
    const clock = new ManualClock(T0);
    const ctx = await context(clock);
    const a = rateSource({ rowsPerSecond: 5, name: 'r' });
    await a.open(ctx);
    clock.advance(2000);
    const end = await a.latestOffset(null, DEFAULT);
    expect(end).toBe(10);
    const first = await a.getBatch(null, end!, { batchId: 0 });
    await a.close();
    expect(JSON.parse(await readFile(path.join(ctx.stateDir, 'rate-source.json'), 'utf8')).startTime).toBe(
      T0,
    );

    clock.advance(3000); // down for 3 s
    const b = rateSource({ rowsPerSecond: 5, name: 'r' });
    await b.open(ctx);
    expect((await b.getBatch(null, 10, { batchId: 0 })).rows).toEqual(first.rows); // replay
    expect(await b.latestOffset(10, DEFAULT)).toBe(25); // continues: 5 s since the original start
    const next = await b.getBatch(10, 25, { batchId: 1 });
    expect(next.rows[0]).toEqual({ value: 10, timestamp: T0 + 2000 });
  });

  it('refuses changed rate options on an existing checkpoint', async () => {
    const clock = new ManualClock(T0);
    const ctx = await context(clock);
    await rateSource({ rowsPerSecond: 5 }).open(ctx);
    const err = await rateSource({ rowsPerSecond: 7 })
      .open(ctx)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MillraceError);
    expect((err as MillraceError).code).toBe('RATE_OPTIONS_CHANGED');
    expect((err as MillraceError).message).toContain('rowsPerSecond=5');
  });

  it('ramps up linearly', async () => {
    const clock = new ManualClock(T0);
    const src = rateSource({ rowsPerSecond: 10, rampUpTime: '4 seconds' });
    await src.open(await context(clock));
    const at = async (ms: number) => {
      clock.setTime(T0 + ms);
      return src.latestOffset(null, DEFAULT);
    };
    // rows(e) = 10 * e² / (2 * 4) during the ramp, then 20 + 10 * (e - 4).
    expect(await at(1000)).toBe(1);
    expect(await at(2000)).toBe(5);
    expect(await at(4000)).toBe(20);
    expect(await at(5000)).toBe(30);
    const rows = (await src.getBatch(null, 30, { batchId: 0 })).rows;
    const ts = rows.map((r) => r.timestamp - T0);
    for (let i = 1; i < ts.length; i++) expect(ts[i]).toBeGreaterThanOrEqual(ts[i - 1]!);
    expect(ts[0]).toBe(0);
    expect(ts[5]).toBe(2000); // the 5th row is due at 2 s
    expect(ts[20]).toBe(4000);
    expect(ts[25]).toBe(4500);
  });

  it('available-now caps at the rows due when prepared', async () => {
    const clock = new ManualClock(T0);
    const src = rateSource({ rowsPerSecond: 10 });
    await src.open(await context(clock));
    clock.advance(1000);
    await src.prepareForAvailableNow!();
    clock.advance(5000);
    expect(await src.latestOffset(null, ALL)).toBe(10);
    expect(await src.latestOffset(10, DEFAULT)).toBe(10);
  });

  it('rejects bad options and offsets with clear errors', async () => {
    expect(() => rateSource({ rowsPerSecond: 0 })).toThrow(/rowsPerSecond 0 must be a positive number/);
    expect(() => rateSource({ rowsPerSecond: 1, rampUpTime: 'soon' })).toThrow(/cannot read "soon"/);
    expect(() => rateSource({ rowsPerSecond: 1, numPartitions: 0 })).toThrow(MillraceError);
    expect(() => rateSource({ rowsPerSecond: 1, numPartitions: 4 })).not.toThrow();
    const src = rateSource({ rowsPerSecond: 1 });
    await src.open(await context(new ManualClock(T0)));
    await expect(src.getBatch({ x: 1 }, 3, { batchId: 0 })).rejects.toThrow(
      /offset \{"x":1\} is not a row count/,
    );
  });
});

describe('ratePerBatchSource', () => {
  it('adds exactly rowsPerBatch rows per batch, deterministically', async () => {
    const src = ratePerBatchSource({ rowsPerBatch: 3, startTimestamp: T0, advanceMillisPerBatch: 500 });
    await src.open(await context(new ManualClock(0)));
    let start: unknown = null;
    const batches = [];
    for (let i = 0; i < 3; i++) {
      const end = await src.latestOffset(start as null, DEFAULT);
      expect(await src.latestOffset(start as null, DEFAULT)).toEqual(end); // same start, same end
      batches.push((await src.getBatch(start as null, end!, { batchId: i })).rows);
      start = end;
    }
    expect(start).toEqual({ offset: 9, timestamp: T0 + 1500 });
    expect(batches).toEqual([
      [0, 1, 2].map((value) => ({ value, timestamp: T0 })),
      [3, 4, 5].map((value) => ({ value, timestamp: T0 + 500 })),
      [6, 7, 8].map((value) => ({ value, timestamp: T0 + 1000 })),
    ]);
    // A fresh instance (a restart) replays batch 1 identically.
    const again = ratePerBatchSource({ rowsPerBatch: 3, startTimestamp: T0, advanceMillisPerBatch: 500 });
    await again.open(await context(new ManualClock(0)));
    expect(
      (
        await again.getBatch(
          { offset: 3, timestamp: T0 + 500 },
          { offset: 6, timestamp: T0 + 1000 },
          { batchId: 1 },
        )
      ).rows,
    ).toEqual(batches[1]);
    expect(src.reportLatestOffset!()).toEqual({ offset: 9, timestamp: T0 + 1500 });
  });

  it('defaults: timestamps from 0, advancing 1000 ms; limit all still gives one batch', async () => {
    const src = ratePerBatchSource({ rowsPerBatch: 2 });
    await src.open(await context(new ManualClock(0)));
    const end = await src.latestOffset({ offset: 4, timestamp: 2000 }, ALL);
    expect(end).toEqual({ offset: 6, timestamp: 3000 });
    expect((await src.getBatch({ offset: 4, timestamp: 2000 }, end!, { batchId: 2 })).rows).toEqual([
      { value: 4, timestamp: 2000 },
      { value: 5, timestamp: 2000 },
    ]);
  });

  it('available-now runs exactly one batch', async () => {
    const src = ratePerBatchSource({ rowsPerBatch: 5 });
    await src.open(await context(new ManualClock(0)));
    await src.prepareForAvailableNow!();
    const end = await src.latestOffset(null, DEFAULT);
    expect(end).toEqual({ offset: 5, timestamp: 1000 });
    expect(await src.latestOffset(null, DEFAULT)).toEqual(end);
    expect(await src.latestOffset(end, DEFAULT)).toEqual(end);
  });

  it('rejects bad options', () => {
    expect(() => ratePerBatchSource({ rowsPerBatch: 1.5 })).toThrow(
      /rowsPerBatch 1.5 must be a positive integer/,
    );
    expect(() => ratePerBatchSource({ rowsPerBatch: 1, advanceMillisPerBatch: 'x' })).toThrow(MillraceError);
  });
});
