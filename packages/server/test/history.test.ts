import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createHttpApp, type MillraceService } from '../src/index.ts';
import { ProgressHistory } from '../src/queries/ProgressHistory.ts';
import { fakeProgress, testService } from './helpers.ts';

const QUERIES = 20;
const BATCHES = 10_000;

let service: MillraceService;
let app: FastifyInstance;

function memory(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * Feed `count` synthetic batches to every query, starting at batch `from`: the last 100 of
 * them through the registry (as the session listener does: full records, metrics, events),
 * the others straight into the history ring, which is what holds them (the registry path
 * costs ~35 µs a batch, which 200,000 times would make this file slow).
 */
function feed(from: number, count: number): void {
  const end = from + count;
  for (let b = from; b < end; b++) {
    for (let q = 0; q < QUERIES; q++) {
      const p = fakeProgress({ id: `id-${q}`, name: `query-${q}`, batchId: b });
      const e = b === 0 || b >= end - 100 ? undefined : service.queries.find(`id-${q}`);
      if (e) {
        e.history.add(p);
        e.totalInputRows += p.numInputRows;
      } else service.queries.recordProgress(p);
    }
  }
}

/** The median time of 5 calls (one slow call is a GC pause or a busy machine, not the API). */
async function timed(url: string): Promise<{ ms: number; body: any }> {
  const times: number[] = [];
  let body: any;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    const r = await app.inject({ method: 'GET', url });
    times.push(performance.now() - t);
    expect(r.statusCode).toBe(200);
    body = r.json();
  }
  return { ms: times.sort((a, b) => a - b)[2]!, body };
}

describe('bounded progress history (20 queries × 10,000 batches)', () => {
  let before = 0;
  let afterFirst = 0;

  beforeAll(async () => {
    ({ service } = testService({ logLevel: 'info' }));
    app = await createHttpApp(service);
    before = memory();
    feed(0, BATCHES);
    afterFirst = memory();
  }, 120_000);

  afterAll(async () => {
    await app.close();
    await service.close({ flushMs: 0 });
  });

  it('keeps at most historySize summaries and 100 full records per query', () => {
    const entries = service.queries.list();
    expect(entries).toHaveLength(QUERIES);
    for (const e of entries) {
      expect(e.history.size).toBe(10_000);
      expect(e.history.bytes).toBeLessThan(2 * 1024 * 1024);
      expect(e.recent.size).toBe(100);
      expect(e.totalInputRows).toBe(BATCHES * 100);
    }
    // 20 × (1.8 MB of columns + 100 full records) — far below a naive store of 200,000 records
    expect(afterFirst - before).toBeLessThan(150 * 1024 * 1024);
  });

  it('answers the query list and history pages quickly', async () => {
    // warm up (the first call of a route compiles its serializer)
    await timed('/api/v1/queries');
    await timed('/api/v1/queries/query-1/progress?limit=10');
    await timed('/api/v1/queries/query-1');
    // Bounds with room for a machine busy with the rest of the suite (quiet: ~1 ms and ~10 ms).
    const list = await timed('/api/v1/queries');
    expect(list.body.queries).toHaveLength(QUERIES);
    expect(list.ms).toBeLessThan(100);
    const newest = await timed('/api/v1/queries/query-7/progress?limit=1000');
    expect(newest.body.entries).toHaveLength(1000);
    expect(newest.body.entries.at(-1).batchId).toBe(BATCHES - 1);
    expect(newest.ms).toBeLessThan(250);
    const middle = await timed('/api/v1/queries/query-7/progress?since=5000&limit=1000');
    expect(middle.body.entries[0].batchId).toBe(5001);
    expect(middle.body.hasMore).toBe(true);
    expect(middle.ms).toBeLessThan(250);
    const detail = await timed('/api/v1/queries/query-7');
    expect(detail.ms).toBeLessThan(100);
    const metrics = performance.now();
    await app.inject({ method: 'GET', url: '/metrics' });
    expect(performance.now() - metrics).toBeLessThan(500);
  });

  it('does not grow when more batches arrive (old ones are dropped)', () => {
    feed(BATCHES, BATCHES / 2);
    const e = service.queries.get('query-3');
    expect(e.history.size).toBe(10_000);
    const page = e.history.page({ limit: 1 });
    expect(page.oldestBatchId).toBe(5_000);
    expect(page.newestBatchId).toBe(14_999);
    // another 100,000 records stored naively would add ~100 MB
    expect(memory() - afterFirst).toBeLessThan(40 * 1024 * 1024);
  });
});

describe('ProgressHistory', () => {
  it('is a ring: pages oldest first, by batch id, across the wrap-around', () => {
    const h = new ProgressHistory(5);
    for (let b = 0; b < 8; b++) h.add(fakeProgress({ id: 'x', name: 'x', batchId: b }));
    expect(h.size).toBe(5);
    expect(h.page({ limit: 10 }).entries.map((e) => e.batchId)).toEqual([3, 4, 5, 6, 7]);
    expect(h.page({ since: 4, limit: 2 }).entries.map((e) => e.batchId)).toEqual([5, 6]);
    expect(h.page({ since: 4, limit: 2 }).hasMore).toBe(true);
    expect(h.page({ since: 0, limit: 10 }).entries.map((e) => e.batchId)).toEqual([3, 4, 5, 6, 7]);
    expect(h.page({ since: 7, limit: 10 }).entries).toEqual([]);
    const e = h.latest()!;
    expect(e).toMatchObject({
      batchId: 7,
      numInputRows: 100,
      stateRowsTotal: 50,
      sourceLag: 200,
      isNoDataBatch: false,
    });
    expect(e.watermark).toBe(new Date(Date.UTC(2026, 0, 1) + 7000 - 5000).toISOString());
  });
});
