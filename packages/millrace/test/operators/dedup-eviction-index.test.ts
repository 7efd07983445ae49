/**
 * dropDuplicatesWithinWatermark's eviction index, on the operator with a real memory store:
 * results and state against a model of Spark 3.5's rule, eviction without a scan of the store,
 * state written before the index (indexed once), and a replayed batch.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Deduplicate } from '../../src/operators/dedup/Deduplicate.ts';
import { newStatefulMetrics, type StatefulBatchMetrics } from '../../src/operators/StatefulOperator.ts';
import type { Row } from '../../src/schema/index.ts';
import { memoryStateStore, type StateStore, type StateStoreProvider } from '../../src/state/index.ts';
import { prng } from '../state/conformance.ts';

const DELAY = 5_000;

const operator = (): Deduplicate =>
  new Deduplicate({
    operatorId: 'dedup-0',
    keyNames: ['id'],
    keyOf: (row) => JSON.stringify(row.id),
    mode: { kind: 'withinWatermark', column: 't', delayMs: DELAY },
  });

/** Spark 3.5's rule, directly: a key is held until t + delay ≤ wm; late rows (t ≤ previous wm) drop. */
class Model {
  held = new Map<string, number>();
  run(rows: readonly Row[], wm: number, lateWm: number): { out: Row[]; removed: number } {
    const out: Row[] = [];
    for (const row of rows) {
      const t = row.t as number;
      if (t <= lateWm) continue;
      const key = JSON.stringify(row.id);
      const e = this.held.get(key);
      if (e !== undefined && e > wm) continue;
      this.held.set(key, t + DELAY);
      out.push(row);
    }
    let removed = 0;
    for (const [k, e] of this.held) {
      if (e <= wm) {
        this.held.delete(k);
        removed++;
      }
    }
    return { out, removed };
  }
}

describe('dropDuplicatesWithinWatermark eviction index', () => {
  let stateDir: string;
  let provider: StateStoreProvider;
  beforeEach(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'millrace-dedup-index-'));
    provider = memoryStateStore({ snapshotMinIntervalMs: 0 });
  });
  afterEach(async () => {
    await provider.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  /** A real store whose range() calls are counted (the index must not need them). */
  const open = async (version: number): Promise<{ store: StateStore; ranges: () => number }> => {
    const store = await provider.open({ stateDir, operatorId: 'dedup-0', partition: 0, version });
    let ranges = 0;
    const range = store.range.bind(store);
    store.range = (o) => {
      ranges++;
      return range(o);
    };
    return { store, ranges: () => ranges };
  };

  const runBatch = async (
    op: Deduplicate,
    store: StateStore,
    rows: Row[],
    wm: number,
    lateWm: number,
  ): Promise<{ out: Row[]; metrics: StatefulBatchMetrics }> => {
    const metrics = newStatefulMetrics();
    const out: Row[] = [];
    async function* input(): AsyncIterable<readonly Row[]> {
      for (let i = 0; i < rows.length; i += 50) yield rows.slice(i, i + 50);
    }
    const ctx = {
      batchId: store.version,
      watermarkMs: wm,
      lateEventsWatermarkMs: lateWm,
      batchTimestampMs: 0,
      outputMode: 'append' as const,
      store,
    };
    for await (const chunk of op.run(input(), ctx, metrics)) out.push(...chunk);
    return { out, metrics };
  };

  const randomBatch = (rnd: () => number, b: number): Row[] =>
    Array.from({ length: 200 }, () => ({
      id: Math.floor(rnd() * 400),
      t: b * 1000 + Math.floor(rnd() * 4000) - 1500,
    }));

  it('emits and evicts as Spark does, counts held keys, and never scans the store', async () => {
    const rnd = prng(11);
    const op = operator();
    const model = new Model();
    let wm = 0;
    let lateWm = 0;
    for (let b = 0; b < 40; b++) {
      const rows = randomBatch(rnd, b);
      const { store, ranges } = await open(b);
      const { out, metrics } = await runBatch(op, store, rows, wm, lateWm);
      const expected = model.run(rows, wm, lateWm);
      expect(out, `batch ${b}`).toEqual(expected.out);
      expect(metrics.numRowsRemoved, `batch ${b}`).toBe(expected.removed);
      expect(metrics.numRowsTotal, `batch ${b}`).toBe(model.held.size);
      expect(ranges(), `batch ${b}: range scans`).toBe(0);
      await store.commit();
      lateWm = wm;
      wm = Math.max(wm, b * 1000 - 2000 + Math.floor(rnd() * 1500));
    }
    expect(model.held.size).toBeGreaterThan(0);
    // Index entries hold only buckets that still have keys.
    const { store } = await open(40);
    const indexEntries = [...store.range({ prefix: '\0b|' })];
    const listed = new Set(indexEntries.flatMap(([k, v]) => (k === '\0b|' ? [] : (v as string[]))));
    for (const k of model.held.keys()) expect(listed.has(k)).toBe(true);
    store.abort();
  });

  it('indexes state written before the index once, then evicts it by bucket', async () => {
    // Version 1 as the scan-based operator left it: only key → expiry.
    const old = await open(0);
    for (let i = 0; i < 100; i++) old.store.put(JSON.stringify(i), 1000 + i * 100);
    await old.store.commit();
    const op = operator();
    const first = await open(1);
    const a = await runBatch(
      op,
      first.store,
      [
        { id: 5, t: 20_000 },
        { id: 200, t: 20_000 },
      ],
      5_000,
      0,
    );
    // Key 5's expiry (1500) ≤ wm: no longer held, so its row is kept.
    expect(a.out).toEqual([
      { id: 5, t: 20_000 },
      { id: 200, t: 20_000 },
    ]);
    expect(first.ranges()).toBe(1);
    await first.store.commit();
    const second = await open(2);
    const b = await runBatch(op, second.store, [], 8_000, 5_000);
    expect(second.ranges()).toBe(0);
    // Keys with expiry 5000 < e ≤ 8000 (i = 41..70), evicted now; earlier ones went in batch 1.
    // i = 0..40 expire ≤ 5000, but key 5 was put again (expiry 25000).
    expect(a.metrics.numRowsRemoved).toBe(40);
    expect(a.metrics.numRowsTotal).toBe(100 + 1 - 40);
    // Expiry in (5000, 8000]: i = 41..70.
    expect(b.metrics.numRowsRemoved).toBe(30);
    expect(b.metrics.numRowsTotal).toBe(61 - 30);
  });

  it('a replayed batch gives the same output and state', async () => {
    const rnd = prng(3);
    const op = operator();
    const batches = Array.from({ length: 6 }, (_, b) => randomBatch(rnd, b));
    const outputs: Row[][] = [];
    for (let b = 0; b < 6; b++) {
      const { store } = await open(b);
      outputs.push((await runBatch(op, store, batches[b]!, b * 1000, Math.max(0, b - 1) * 1000)).out);
      await store.commit();
    }
    // Replay batches 3..5 on a fresh operator and provider (a restart).
    await provider.close();
    provider = memoryStateStore({ snapshotMinIntervalMs: 0 });
    const again = operator();
    for (let b = 3; b < 6; b++) {
      const { store } = await open(b);
      const { out } = await runBatch(again, store, batches[b]!, b * 1000, Math.max(0, b - 1) * 1000);
      expect(out, `batch ${b}`).toEqual(outputs[b]);
      await store.commit();
    }
  });
});
