/**
 * Queries on worker threads: each worker builds the plan from queries.ts, reads its split of the
 * sources (or the driver's slice of them), exchanges rows by key with the other workers and runs
 * the state partitions it owns. The output must be what the inline runner gives, batch by batch,
 * across restarts; a worker's failure fails the query with its error and the batch, never hangs it.
 */
import { readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type OutputMode, type Session, type Stream, createSession, memorySink } from '../../../src/index.ts';
import { canonicalJson } from '../../../src/util/json.ts';
import { cleanupDirs, tempDir } from '../helpers.ts';
import {
  bidsPerAuction,
  countingPerUser,
  dies,
  filesPerUser,
  failing,
  input,
  perUser,
  resetInput,
  windowCounts,
  windowedPerUser,
} from './queries.ts';

afterEach(cleanupDirs);

const module = new URL('./queries.ts', import.meta.url);

type Build = (s: Session, args?: any) => Stream<any>;

/** Every batch's rows (sorted), running `feed` between starts of the query. */
async function run(
  build: Build,
  exportName: string,
  options: { workers?: number; partitions?: number; outputMode: OutputMode; args?: any },
  feeds: (() => void)[][],
): Promise<string[][]> {
  const session = createSession();
  const sink = memorySink();
  const checkpointLocation = tempDir();
  resetInput();
  for (const feed of feeds) {
    const q = await build(session, options.args)
      .writeStream({
        sink,
        checkpointLocation,
        outputMode: options.outputMode,
        ...(options.partitions ? { partitions: options.partitions } : {}),
        ...(options.workers
          ? { workers: { count: options.workers, module, export: exportName, args: options.args } }
          : {}),
      })
      .start();
    try {
      for (const add of feed) {
        add();
        await q.processAllAvailable();
      }
    } finally {
      await q.stop();
    }
  }
  return sink.batchIds.map((id) =>
    sink
      .batch(id)!
      .map((r) => canonicalJson(r))
      .sort(),
  );
}

const ev = (s: number, user: string, n: number) => ({ s, user, n });

describe('queries on worker threads', () => {
  beforeEach(resetInput);

  it('an aggregation over a driver-read source: the same batches as inline, across a restart', async () => {
    const feeds = [
      [
        () => input.addData(ev(1, 'ann', 1), ev(2, 'bob', 2), ev(3, 'cy', 3), ev(4, 'ann', 4)),
        () => input.addData(ev(5, 'dee', 1), ev(6, 'bob', 5)),
      ],
      [() => input.addData(ev(7, 'ann', 1), ev(8, 'eve', 2), ev(9, 'cy', 2))],
    ];
    const inline = await run(perUser, 'perUser', { outputMode: 'update', partitions: 4 }, feeds);
    const onWorkers = await run(
      perUser,
      'perUser',
      { outputMode: 'update', partitions: 4, workers: 2 },
      feeds,
    );
    expect(inline.flat()).toContain(canonicalJson({ user: 'ann', c: 3, total: 6 }));
    expect(onWorkers).toEqual(inline);
  });

  it('dedup then windows with a watermark (append): no-data batches decided by the workers', async () => {
    const feeds = [
      [
        () => input.addData(ev(1, 'ann', 1), ev(1, 'ann', 1), ev(2, 'bob', 2), ev(6, 'cy', 3)),
        () => input.addData(ev(3, 'ann', 4), ev(12, 'dee', 1)),
      ],
      [() => input.addData(ev(20, 'ann', 1), ev(2, 'late', 9))],
    ];
    const inline = await run(windowedPerUser, 'windowedPerUser', { outputMode: 'append' }, feeds);
    const onWorkers = await run(
      windowedPerUser,
      'windowedPerUser',
      { outputMode: 'append', workers: 3 },
      feeds,
    );
    expect(inline.flat().length).toBeGreaterThan(3);
    expect(onWorkers).toEqual(inline);
  });

  it('a source the workers split themselves (Nexmark): the same windows as inline', async () => {
    const args = { events: 60_000, perTrigger: 20_000 };
    const feeds = [[() => undefined]];
    const inline = await run(bidsPerAuction, 'bidsPerAuction', { outputMode: 'append', args }, feeds);
    const onWorkers = await run(
      bidsPerAuction,
      'bidsPerAuction',
      { outputMode: 'append', args, workers: 2, partitions: 6 },
      feeds,
    );
    expect(inline.flat().length).toBeGreaterThan(100);
    expect(onWorkers).toEqual(inline);
  });

  it('a source that plans its splits: tasks read them, progress adds up what they read, readers are closed', async () => {
    const markerDir = tempDir();
    const args = { total: 3_000, perBatch: 1_000, markerDir };
    const feeds = [[() => undefined, () => undefined, () => undefined]];
    const inline = await run(countingPerUser, 'countingPerUser', { outputMode: 'update', args }, feeds);
    const session = createSession();
    const sink = memorySink();
    const q = await countingPerUser(session, args)
      .writeStream({
        sink,
        checkpointLocation: tempDir(),
        outputMode: 'update',
        workers: { count: 2, module, export: 'countingPerUser', args },
      })
      .start();
    await q.processAllAvailable();
    const batches = q.recentProgress.filter((p) => p.numInputRows > 0);
    await q.stop();
    expect(
      sink.batchIds.map((id) =>
        sink
          .batch(id)!
          .map((r) => canonicalJson(r))
          .sort(),
      ),
    ).toEqual(inline);
    expect(batches.map((p) => p.sources[0]!)).toEqual(
      [2000, 1000, 0].map((lag, b) =>
        expect.objectContaining({
          numInputRows: [857, 857, 857][b],
          numMalformedRows: [143, 143, 143][b],
          metrics: { recordsRead: 1000, lag },
        }),
      ),
    );
    expect(readdirSync(markerDir).filter((f) => f.startsWith('closed-'))).toHaveLength(2);
  });

  it('a file source: the main thread deals each batch’s files to the workers, which read and parse them', async () => {
    const dir = tempDir();
    for (let f = 0; f < 6; f++) {
      const lines = Array.from({ length: 40 + f * 30 }, (_, i) =>
        i % 17 === 5 ? `{"broken": ${f}-${i}` : JSON.stringify({ n: f * 1000 + i, user: `u${i % 4}` }),
      );
      const file = path.join(dir, `part-${f}.jsonl`);
      writeFileSync(file, lines.join('\n') + '\n');
      utimesSync(file, 1_700_000_000 + f, 1_700_000_000 + f);
    }
    const runFiles = async (workers?: number) => {
      const deadLetters = tempDir();
      const args = { dir, deadLetters };
      const session = createSession();
      const sink = memorySink();
      const q = await filesPerUser(session, args)
        .writeStream({
          sink,
          checkpointLocation: tempDir(),
          outputMode: 'update',
          ...(workers ? { workers: { count: workers, module, export: 'filesPerUser', args } } : {}),
        })
        .start();
      await q.processAllAvailable();
      const progress = q.recentProgress.filter((p) => p.numInputRows > 0).map((p) => p.sources[0]!);
      await q.stop();
      const dead = readdirSync(deadLetters)
        .sort()
        .map((f) => [f, readFileSync(path.join(deadLetters, f), 'utf8').split('\n').filter(Boolean).length]);
      const batches = sink.batchIds.map((id) =>
        sink
          .batch(id)!
          .map((r) => canonicalJson(r))
          .sort(),
      );
      return { batches, progress, dead };
    };
    const inline = await runFiles();
    const onWorkers = await runFiles(2);
    expect(inline.batches).toHaveLength(2);
    expect(onWorkers.batches).toEqual(inline.batches);
    expect(onWorkers.progress.map((s) => [s.numInputRows, s.numMalformedRows, s.metrics])).toEqual(
      inline.progress.map((s) => [s.numInputRows, s.numMalformedRows, s.metrics]),
    );
    // The same bad lines; on workers, one file per batch and part.
    const lines = (d: (string | number)[][]) => d.reduce((a, [, n]) => a + (n as number), 0);
    expect(lines(onWorkers.dead)).toBe(lines(inline.dead));
    expect(inline.dead.map(([f]) => f)).toEqual(['batch-0.jsonl', 'batch-1.jsonl']);
    expect(onWorkers.dead.map(([f]) => f)).toEqual([
      'batch-0-part-0.jsonl',
      'batch-0-part-1.jsonl',
      'batch-1-part-0.jsonl',
      'batch-1-part-1.jsonl',
    ]);
  });

  it('late rows: partial groups carry them to the partitions, which drop each late group once, as inline', async () => {
    const droppedPerBatch = async (workers?: number) => {
      resetInput();
      const session = createSession();
      const q = await windowCounts(session)
        .writeStream({
          sink: memorySink(),
          checkpointLocation: tempDir(),
          outputMode: 'update',
          ...(workers ? { partitions: 4, workers: { count: workers, module, export: 'windowCounts' } } : {}),
        })
        .start();
      input.addData(ev(10, 'a', 1), ev(30, 'b', 1));
      await q.processAllAvailable();
      // Watermark 28: [10, 15) of a and of b are late (3 rows, 2 groups). On 2 workers each gets a
      // slice of the rows, so a's late rows reach both tasks: their partial groups meet in one
      // partition, which counts a once.
      input.addData(ev(11, 'a', 1), ev(13, 'b', 1), ev(12, 'a', 1), ev(26, 'c', 1), ev(31, 'c', 1));
      await q.processAllAvailable();
      const dropped = q.recentProgress
        .filter((p) => p.numInputRows > 0)
        .map((p) => p.stateOperators[0]!.numRowsDroppedByWatermark);
      await q.stop();
      return dropped;
    };
    expect(await droppedPerBatch()).toEqual([0, 2]);
    expect(await droppedPerBatch(2)).toEqual([0, 2]);
  });

  it('one checkpoint, started inline, then on workers, then inline again: the state carries over', async () => {
    // Inline the aggregation reads rows; on workers it merges partial groups. Both put a group in
    // the same partition (its key's hash), so either can resume the other's checkpoint.
    const checkpointLocation = tempDir();
    const sink = memorySink();
    const session = createSession();
    const start = (workers: boolean) =>
      perUser(session)
        .writeStream({
          sink,
          checkpointLocation,
          outputMode: 'update',
          partitions: 4,
          ...(workers ? { workers: { count: 2, module, export: 'perUser' } } : {}),
        })
        .start();
    for (const [workers, rows] of [
      [false, [ev(1, 'ann', 1), ev(2, 'bob', 2), ev(3, 'cy', 3)]],
      [true, [ev(4, 'ann', 4), ev(5, 'bob', 5), ev(6, 'dee', 6)]],
      [false, [ev(7, 'ann', 7), ev(8, 'dee', 8)]],
    ] as const) {
      const q = await start(workers);
      input.addData(...rows);
      await q.processAllAvailable();
      await q.stop();
    }
    expect(sink.lastBatch()).toEqual(
      expect.arrayContaining([
        { user: 'ann', c: 3, total: 12 },
        { user: 'dee', c: 2, total: 14 },
      ]),
    );
    expect(sink.batch(1)).toEqual(
      expect.arrayContaining([
        { user: 'ann', c: 2, total: 5 },
        { user: 'bob', c: 2, total: 7 },
        { user: 'dee', c: 1, total: 6 },
      ]),
    );
  });

  it('one checkpoint of 4 partitions, restarted on 2, then 4, then 1 worker: each takes over the partitions', async () => {
    const checkpointLocation = tempDir();
    const sink = memorySink();
    const session = createSession();
    for (const [count, rows] of [
      [2, [ev(1, 'ann', 1), ev(2, 'bob', 2), ev(3, 'cy', 3), ev(4, 'dee', 4)]],
      [4, [ev(5, 'ann', 5), ev(6, 'bob', 6), ev(7, 'eve', 7)]],
      [1, [ev(8, 'ann', 8), ev(9, 'eve', 9), ev(10, 'cy', 10)]],
    ] as const) {
      const q = await perUser(session)
        .writeStream({
          sink,
          checkpointLocation,
          outputMode: 'update',
          partitions: 4,
          workers: { count, module, export: 'perUser' },
        })
        .start();
      input.addData(...rows);
      await q.processAllAvailable();
      await q.stop();
    }
    expect(sink.lastBatch()).toEqual(
      expect.arrayContaining([
        { user: 'ann', c: 3, total: 14 },
        { user: 'eve', c: 2, total: 16 },
        { user: 'cy', c: 2, total: 13 },
      ]),
    );
  }, 60_000); // seven worker threads start in turn; slow on a loaded 2-core machine

  it('progress sums the workers’ partitions and shows each one', async () => {
    const session = createSession();
    const q = await perUser(session)
      .writeStream({
        sink: memorySink(),
        outputMode: 'update',
        partitions: 4,
        workers: { count: 2, module, export: 'perUser' },
      })
      .start();
    try {
      input.addData(ev(1, 'ann', 1), ev(2, 'bob', 2), ev(3, 'cy', 3), ev(4, 'dee', 4), ev(5, 'eve', 5));
      await q.processAllAvailable();
      const op = q.lastProgress!.stateOperators[0]!;
      expect(op.numRowsTotal).toBe(5);
      expect(op.partitions?.numPartitions).toBe(4);
      expect(op.partitions?.tasks.map((t) => t.partition)).toEqual([0, 1, 2, 3]);
      expect(op.partitions?.tasks.reduce((a, t) => a + t.numInputRows, 0)).toBe(5);
      expect(q.lastProgress!.numInputRows).toBe(5);
    } finally {
      await q.stop();
    }
  });

  it('a row that fails in a worker fails the query with its error and the batch, without hanging', async () => {
    const session = createSession();
    const q = await failing(session)
      .writeStream({
        sink: memorySink(),
        outputMode: 'update',
        partitions: 2,
        workers: { count: 2, module, export: 'failing' },
      })
      .start();
    input.addData(ev(1, 'ann', 1));
    await q.processAllAvailable();
    input.addData(ev(2, 'bob', 13), ev(3, 'cy', 2));
    const error = await q.awaitTermination().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      code: 'OPERATOR_FAILED',
      message: expect.stringMatching(/thirteen is unlucky/),
      context: expect.objectContaining({ batch: 1, worker: expect.any(Number) }),
    });
  });

  it('a worker thread that dies fails the query with the worker and the batch, and stop() returns', async () => {
    const session = createSession();
    const q = await dies(session)
      .writeStream({
        sink: memorySink(),
        outputMode: 'update',
        workers: { count: 2, module, export: 'dies' },
      })
      .start();
    input.addData(ev(1, 'ann', 99), ev(2, 'bob', 99));
    const error = await q.awaitTermination().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      code: 'WORKER_DIED',
      message: expect.stringMatching(/worker \d exited \(code 7\)/),
      context: expect.objectContaining({ batch: 0 }),
    });
    await q.stop();
  });

  it('refuses at start a module without the export, or one that builds another plan', async () => {
    const session = createSession();
    const start = (exportName: string) =>
      perUser(session)
        .writeStream({
          sink: memorySink(),
          outputMode: 'update',
          workers: { count: 2, module, export: exportName },
        })
        .start();
    await expect(start('notAFunction')).rejects.toMatchObject({
      code: 'WORKERS_MODULE',
      message: expect.stringMatching(/has no function export "notAFunction"/),
    });
    await expect(start('windowedPerUser')).rejects.toMatchObject({
      code: 'WORKERS_PLAN_MISMATCH',
      message: expect.stringMatching(/worker \d built another plan than the driver/),
    });
    await expect(
      perUser(session)
        .writeStream({ sink: memorySink(), outputMode: 'update', workers: { count: 0, module } })
        .start(),
    ).rejects.toThrow(/workers.count must be an integer from 1 to 256, got 0/);
  });
});
