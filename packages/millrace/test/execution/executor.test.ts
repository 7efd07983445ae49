/**
 * The micro-batch executor end to end (docs/architecture.md): the checkpoint protocol
 * on disk, restart and replay, start()-time checks, triggers, progress and
 * status, the query manager and its listeners, connector failures and
 * watermarks. Real memory sources/sinks and real temporary directories.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ManualClock,
  MemorySink,
  MemoryStream,
  MillraceError,
  type Offset,
  type QueryProgressEvent,
  type QueryStartedEvent,
  type QueryTerminatedEvent,
  type Row,
  type Session,
  type Sink,
  type SinkBatchInfo,
  type Source,
  type SourceBatch,
  type StreamingQuery,
  Trigger,
  createSession,
  foreachBatchSink,
  memorySink,
  memoryStream,
  schema,
  t,
} from '../../src/index.ts';
import { testStream } from '../../src/testing/index.ts';
import {
  cleanupDirs,
  deferred,
  logIds,
  readLog,
  recordingLogger,
  rejection,
  tempDir,
  waitFor,
} from './helpers.ts';

afterEach(async () => {
  for (const q of started.splice(0)) await q.stop().catch(() => undefined);
  cleanupDirs();
});

/** Queries started by a test; stopped after it even when it fails. */
const started: StreamingQuery[] = [];
function track(q: StreamingQuery): StreamingQuery {
  started.push(q);
  return q;
}

const V = schema({ v: t.long });
type VRow = { v: number };
const rows = (...vs: number[]): VRow[] => vs.map((v) => ({ v }));

function fixture(options: { name?: string; session?: Session } = {}) {
  const session = options.session ?? createSession();
  const input = memoryStream(V, { name: options.name ?? 'in' });
  const stream = session.readStream(input);
  return { session, input, stream };
}

async function failureOf(q: StreamingQuery): Promise<MillraceError> {
  const e = await rejection(q.awaitTermination(10_000));
  expect(e).toBeInstanceOf(MillraceError);
  return e as MillraceError;
}

// ---------------------------------------------------------------------------

describe('checkpoint protocol on disk', () => {
  it('writes offsets/N before and commits/N after each batch, each starting with a v1 line', async () => {
    const dir = tempDir();
    const { input, stream } = fixture({ name: 'nums' });
    const sink = memorySink<VRow>();
    const q = track(await stream.writeStream({ sink, checkpointLocation: dir }).start());
    input.addData(rows(1, 2));
    await q.processAllAvailable();
    input.addData(rows(3));
    await q.processAllAvailable();
    expect(logIds(dir, 'offsets')).toEqual([0, 1]);
    expect(logIds(dir, 'commits')).toEqual([0, 1]);
    for (const kind of ['offsets', 'commits'] as const) {
      for (const id of [0, 1]) expect(readLog(dir, kind, id)[0]).toBe('v1');
    }
    const off1 = readLog(dir, 'offsets', 1);
    expect(JSON.parse(off1[1]!)).toMatchObject({ batchWatermarkMs: 0, watermarks: {} });
    expect(typeof JSON.parse(off1[1]!).batchTimestampMs).toBe('number');
    expect(JSON.parse(off1[2]!)).toEqual({ nums: 2 });
    expect(JSON.parse(readLog(dir, 'offsets', 0)[2]!)).toEqual({ nums: 1 });
    expect(JSON.parse(readLog(dir, 'commits', 0)[1]!)).toEqual({ nextBatchWatermarkMs: 0, watermarks: {} });
    const meta = readFileSync(path.join(dir, 'metadata'), 'utf8').split('\n');
    expect(meta[0]).toBe('v1');
    expect(JSON.parse(meta[1]!).id).toBe(q.id);
    expect(existsSync(path.join(dir, '.lock'))).toBe(true);
    // no temp files left behind by the atomic writes
    expect(readdirSync(path.join(dir, 'offsets')).filter((f) => f.startsWith('.'))).toEqual([]);
    await q.stop();
    expect(existsSync(path.join(dir, '.lock'))).toBe(false);
    expect(sink.allRows()).toEqual(rows(1, 2, 3));
  });

  it('a restart resumes at the next batch id with no duplicated or lost rows; the query id is kept', async () => {
    const dir = tempDir();
    const { input, stream } = fixture();
    const sink = memorySink<VRow>();
    const ids: { id: string; runId: string }[] = [];
    await testStream(stream, { sink, checkpointLocation: dir })
      .addData(input, rows(1, 2))
      .checkNewRows(rows(1, 2))
      .assert('ids', (q) => void ids.push({ id: q.id, runId: q.runId }))
      .stop()
      .addData(input, rows(3)) // added while stopped
      .start()
      .checkNewRows(rows(3))
      .assert('resumed at batch 1', (q) => {
        ids.push({ id: q.id, runId: q.runId });
        expect(q.lastProgress?.batchId).toBe(1);
        expect(q.lastProgress?.sources[0]?.startOffset).toBe(1);
        expect(q.lastProgress?.sources[0]?.endOffset).toBe(2);
      })
      .addData(input, rows(4, 5))
      .checkNewRows(rows(4, 5))
      .stop()
      .start()
      .addData(input, rows(6))
      .checkAllRows(rows(1, 2, 3, 4, 5, 6))
      .run();
    expect(sink.batchIds).toEqual([0, 1, 2, 3]);
    expect(sink.writeCount).toBe(4);
    expect(ids[0]!.id).toBe(ids[1]!.id);
    expect(ids[0]!.runId).not.toBe(ids[1]!.runId);
    expect(logIds(dir, 'commits')).toEqual([0, 1, 2, 3]);
  });

  it('replay: offsets/N without commits/N re-runs batch N with the same rows and id, then continues', async () => {
    const dir = tempDir();
    const { input, stream } = fixture();
    const sink = memorySink<VRow>();
    const q1 = track(await stream.writeStream({ sink, checkpointLocation: dir }).start());
    input.addData(rows(1, 2));
    await q1.processAllAvailable();
    input.addData(rows(3, 4));
    await q1.processAllAvailable();
    await q1.stop();
    expect(sink.writeCount).toBe(2);
    // Simulate a crash between the sink write and the commit of batch 1.
    rmSync(path.join(dir, 'commits', '1'));
    const seen: { batchId: number; rows: readonly Row[] }[] = [];
    const spy = new (class extends MemorySink<VRow> {
      override async addBatch(r: readonly Row[], info: SinkBatchInfo) {
        seen.push({ batchId: info.batchId, rows: r.slice() });
        return sink.addBatch(r, info);
      }
    })('spy');
    const q2 = track(await stream.writeStream({ sink: spy, checkpointLocation: dir }).start());
    await q2.processAllAvailable();
    expect(seen).toEqual([{ batchId: 1, rows: rows(3, 4) }]);
    expect(q2.lastProgress?.batchId).toBe(1);
    expect(q2.lastProgress?.numInputRows).toBe(2);
    expect(logIds(dir, 'commits')).toEqual([0, 1]);
    input.addData(rows(5));
    await q2.processAllAvailable();
    await q2.stop();
    expect(seen.map((s) => s.batchId)).toEqual([1, 2]);
    expect(sink.batchIds).toEqual([0, 1, 2]);
    expect(sink.writeCount).toBe(4); // batch 1 written twice, replaced: no duplicates
    expect(sink.allRows()).toEqual(rows(1, 2, 3, 4, 5));
  });

  it('replay of batch 0 reads from the start of the source', async () => {
    const dir = tempDir();
    const { input, stream } = fixture();
    const sink = memorySink<VRow>();
    input.addData(rows(1));
    input.addData(rows(2));
    const q1 = track(await stream.writeStream({ sink, checkpointLocation: dir }).start());
    await q1.processAllAvailable();
    await q1.stop();
    expect(sink.batchIds).toEqual([0]);
    rmSync(path.join(dir, 'commits', '0'));
    input.addData(rows(3)); // must NOT be part of the replayed batch 0
    const q2 = track(await stream.writeStream({ sink, checkpointLocation: dir }).start());
    await q2.processAllAvailable();
    await q2.stop();
    expect(sink.batch(0)).toEqual(rows(1, 2));
    expect(sink.batch(1)).toEqual(rows(3));
    expect(sink.writeCount).toBe(3);
    expect(
      q2.recentProgress.map((p) => [p.batchId, p.sources[0]!.startOffset, p.sources[0]!.endOffset]),
    ).toEqual([
      [0, null, 2],
      [1, 2, 3],
    ]);
  });

  it('stop({ abandonCurrentBatch }) during a slow foreachBatch leaves batch N uncommitted; the restart re-runs it', async () => {
    const dir = tempDir();
    const { input, stream } = fixture();
    const calls: { batchId: number; rows: VRow[] }[] = [];
    const written = new Map<number, VRow[]>(); // an idempotent target: keyed by batch id
    let entered = deferred();
    const gate = deferred();
    let block = true;
    const sink = foreachBatchSink<VRow>(async (r, batchId) => {
      calls.push({ batchId, rows: r.slice() });
      if (batchId === 1 && block) {
        entered.resolve();
        await gate.promise;
      }
      written.set(batchId, r.slice());
    });
    const q1 = track(await stream.writeStream({ sink, checkpointLocation: dir }).start());
    input.addData(rows(1, 2));
    await q1.processAllAvailable();
    input.addData(rows(3, 4));
    await entered.promise;
    expect(q1.status).toMatchObject({ message: 'Processing new data', isTriggerActive: true });
    const stopping = q1.stop({ abandonCurrentBatch: true });
    gate.resolve();
    await stopping;
    expect(q1.isActive).toBe(false);
    expect(q1.exception).toBeNull();
    expect(logIds(dir, 'offsets')).toEqual([0, 1]);
    expect(logIds(dir, 'commits')).toEqual([0]);
    expect(q1.recentProgress.map((p) => p.batchId)).toEqual([0]);

    block = false;
    entered = deferred();
    const q2 = track(await stream.writeStream({ sink, checkpointLocation: dir }).start());
    await q2.processAllAvailable();
    input.addData(rows(5));
    await q2.processAllAvailable();
    await q2.stop();
    expect(calls).toEqual([
      { batchId: 0, rows: rows(1, 2) },
      { batchId: 1, rows: rows(3, 4) },
      { batchId: 1, rows: rows(3, 4) }, // the replay: same id, same rows
      { batchId: 2, rows: rows(5) },
    ]);
    expect([...written.entries()]).toEqual([
      [0, rows(1, 2)],
      [1, rows(3, 4)],
      [2, rows(5)],
    ]);
  });

  it('a plain stop() waits for the batch in flight to commit', async () => {
    const dir = tempDir();
    const { input, stream } = fixture();
    const entered = deferred();
    const gate = deferred();
    const sink = foreachBatchSink<VRow>(async () => {
      entered.resolve();
      await gate.promise;
    });
    const q = track(await stream.writeStream({ sink, checkpointLocation: dir }).start());
    input.addData(rows(1));
    await entered.promise;
    const stopping = q.stop();
    gate.resolve();
    await stopping;
    expect(logIds(dir, 'commits')).toEqual([0]);
    expect(q.lastProgress?.batchId).toBe(0);
  });

  it('minBatchesToRetain purges old offsets and commits; the query still resumes', async () => {
    const dir = tempDir();
    const { input, stream } = fixture();
    const sink = memorySink<VRow>();
    const q = track(
      await stream.writeStream({ sink, checkpointLocation: dir, minBatchesToRetain: 3 }).start(),
    );
    for (let i = 0; i < 12; i++) {
      input.addData(rows(i));
      await q.processAllAvailable();
    }
    await q.stop();
    expect(q.lastProgress?.batchId).toBe(11);
    // purged after batch 10: entries <= 10 - 3 are gone
    expect(logIds(dir, 'offsets')).toEqual([8, 9, 10, 11]);
    expect(logIds(dir, 'commits')).toEqual([8, 9, 10, 11]);
    input.addData(rows(12));
    const q2 = track(
      await stream.writeStream({ sink, checkpointLocation: dir, minBatchesToRetain: 3 }).start(),
    );
    await q2.processAllAvailable();
    await q2.stop();
    expect(q2.lastProgress?.batchId).toBe(12);
    expect(sink.allRows()).toEqual(rows(...Array.from({ length: 13 }, (_, i) => i)));
  });

  // BUG (reported): minBatchesToRetain is not validated. With 0 the purge after batch 10
  // deletes offsets/10 and commits/10 too, so a restart sees an empty log and starts over
  // from batch 0: every row is processed again. Spark requires a value >= 1.
  it('minBatchesToRetain 0 is rejected, or at least never makes a restart reprocess old data', async () => {
    const dir = tempDir();
    const { input, stream } = fixture();
    const sink = memorySink<VRow>();
    const begin = () => stream.writeStream({ sink, checkpointLocation: dir, minBatchesToRetain: 0 }).start();
    const first = await begin().catch((e: unknown) => e);
    if (first instanceof MillraceError) {
      expect(first.code).toBe('INVALID_OPTIONS');
      return;
    }
    const q = track(first as StreamingQuery);
    for (let i = 0; i <= 10; i++) {
      input.addData(rows(i));
      await q.processAllAvailable();
    }
    await q.stop();
    const q2 = track(await begin());
    await q2.processAllAvailable();
    await q2.stop();
    expect(sink.writeCount).toBe(11); // nothing re-run
  });
});

describe('start() checks', () => {
  it('a checkpoint used by another active query: CHECKPOINT_IN_USE, and the first query is unaffected', async () => {
    const dir = tempDir();
    const a = fixture();
    const b = fixture({ session: a.session, name: 'other' });
    const sink = memorySink<VRow>();
    const q1 = track(
      await a.stream.writeStream({ sink, checkpointLocation: dir, queryName: 'first' }).start(),
    );
    const e = (await rejection(
      b.stream.writeStream({ sink: memorySink(), checkpointLocation: dir, queryName: 'second' }).start(),
    )) as MillraceError;
    expect(e).toBeInstanceOf(MillraceError);
    expect(e.code).toBe('CHECKPOINT_IN_USE');
    expect(e.message).toContain(path.resolve(dir));
    expect(a.session.streams.active.map((q) => q.name)).toEqual(['first']);
    // the rejected start did not release the first query's lock
    expect(
      (
        (await rejection(
          b.stream.writeStream({ sink: memorySink(), checkpointLocation: dir }).start(),
        )) as MillraceError
      ).code,
    ).toBe('CHECKPOINT_IN_USE');
    a.input.addData(rows(7));
    await q1.processAllAvailable();
    expect(sink.allRows()).toEqual(rows(7));
    await q1.stop();
    // once released, another query may take it
    const q3 = track(await a.stream.writeStream({ sink, checkpointLocation: dir }).start());
    await q3.stop();
  });

  // BUG (reported): Checkpoint.lock() checks `heldHere`, awaits a read of .lock, then adds
  // to `heldHere`, so two queries started at the same moment on one existing checkpoint
  // often both get it. (Timing-dependent: ten attempts make a miss all but certain.)
  it('two queries started at the same moment on one checkpoint: exactly one gets it', async () => {
    for (let attempt = 0; attempt < 10; attempt++) {
      const dir = tempDir();
      mkdirSync(path.join(dir, 'offsets'));
      mkdirSync(path.join(dir, 'commits'));
      const a = fixture();
      const b = fixture({ session: a.session, name: 'other' });
      const results = await Promise.allSettled([
        a.stream.writeStream({ sink: memorySink(), checkpointLocation: dir }).start(),
        b.stream.writeStream({ sink: memorySink(), checkpointLocation: dir }).start(),
      ]);
      for (const r of results) if (r.status === 'fulfilled') await r.value.stop();
      expect(results.map((r) => r.status).sort(), `attempt ${attempt}`).toEqual(['fulfilled', 'rejected']);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(rejected.reason.code).toBe('CHECKPOINT_IN_USE');
    }
  });

  it('two queries started at the same moment with one name: exactly one starts', async () => {
    const a = fixture();
    const b = fixture({ session: a.session, name: 'other' });
    const results = await Promise.allSettled([
      a.stream.writeStream({ sink: memorySink(), queryName: 'same' }).start(),
      b.stream.writeStream({ sink: memorySink(), queryName: 'same' }).start(),
    ]);
    for (const r of results) if (r.status === 'fulfilled') track(r.value);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect((results[1] as PromiseRejectedResult).reason.code).toBe('QUERY_NAME_IN_USE');
  });

  it('a lock file of another live process: CHECKPOINT_IN_USE; of a dead one: taken over', async () => {
    const dir = tempDir();
    const { stream } = fixture();
    writeFileSync(path.join(dir, '.lock'), `${process.ppid}\n`);
    const e = (await rejection(
      stream.writeStream({ sink: memorySink(), checkpointLocation: dir }).start(),
    )) as MillraceError;
    expect(e.code).toBe('CHECKPOINT_IN_USE');
    expect(e.message).toContain(`process ${process.ppid}`);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(path.join(dir, '.lock'), `${dead}\n`);
    const q = track(await stream.writeStream({ sink: memorySink(), checkpointLocation: dir }).start());
    await q.stop();
  });

  it('a checkpoint written for another source name: CHECKPOINT_MISMATCH naming both', async () => {
    const dir = tempDir();
    const a = fixture({ name: 'clicks' });
    const q1 = track(await a.stream.writeStream({ sink: memorySink(), checkpointLocation: dir }).start());
    a.input.addData(rows(1));
    await q1.processAllAvailable();
    await q1.stop();
    const b = fixture({ name: 'views' });
    const q2 = await b.stream
      .writeStream({ sink: memorySink(), checkpointLocation: dir })
      .start()
      .catch((e: unknown) => e);
    // Whether start() rejects or the query fails right after starting, the error is the same.
    const e = q2 instanceof MillraceError ? q2 : await failureOf(track(q2 as StreamingQuery));
    expect(e.code).toBe('CHECKPOINT_MISMATCH');
    expect(e.message).toContain('"clicks"');
    expect(e.message).toContain('views');
    expect(existsSync(path.join(dir, '.lock'))).toBe(false);
  });

  // BUG (reported): recovery runs after onStarted, so a checkpoint that cannot be used
  // (mismatch, corrupt, unsupported version) does not fail start(): start() resolves, a
  // QueryStarted event fires, and the query dies right after. docs/architecture.md: "Bad
  // configuration and impossible plans fail at start()".
  it('a checkpoint that does not fit the query fails start() itself', async () => {
    const dir = tempDir();
    const a = fixture({ name: 'clicks' });
    const q1 = track(await a.stream.writeStream({ sink: memorySink(), checkpointLocation: dir }).start());
    a.input.addData(rows(1));
    await q1.processAllAvailable();
    await q1.stop();
    const b = fixture({ name: 'views' });
    const e = (await rejection(
      b.stream.writeStream({ sink: memorySink(), checkpointLocation: dir }).start(),
    )) as MillraceError;
    expect(e.code).toBe('CHECKPOINT_MISMATCH');
  });

  it('a corrupt checkpoint fails the query with CHECKPOINT_CORRUPT', async () => {
    const dir = tempDir();
    const { input, stream } = fixture();
    const q1 = track(await stream.writeStream({ sink: memorySink(), checkpointLocation: dir }).start());
    input.addData(rows(1));
    await q1.processAllAvailable();
    input.addData(rows(2));
    await q1.processAllAvailable();
    await q1.stop();
    rmSync(path.join(dir, 'commits', '0'));
    rmSync(path.join(dir, 'commits', '1'));
    const r = await stream
      .writeStream({ sink: memorySink(), checkpointLocation: dir })
      .start()
      .catch((e: unknown) => e);
    const e = r instanceof MillraceError ? r : await failureOf(track(r as StreamingQuery));
    expect(e.code).toBe('CHECKPOINT_CORRUPT');
  });

  it('one source object read by two running queries: SOURCE_IN_USE, free again once the first stops', async () => {
    const session = createSession();
    const src = memoryStream(V, { name: 'shared' });
    const first = track(
      await session.readStream(src).writeStream({ sink: memorySink(), queryName: 'first' }).start(),
    );
    const second = session.readStream(src).writeStream({ sink: memorySink(), queryName: 'second' });
    const e = (await rejection(second.start())) as MillraceError;
    expect(e.code).toBe('SOURCE_IN_USE');
    expect(e.message).toMatch(
      /source "shared" is already read by the running query "first"; .*create a second source for query "second"/,
    );
    expect(session.streams.active.map((q) => q.name)).toEqual(['first']);
    // Another session in the process: the same object is still taken.
    const elsewhere = createSession().readStream(src).writeStream({ sink: memorySink(), queryName: 'x' });
    expect(((await rejection(elsewhere.start())) as MillraceError).code).toBe('SOURCE_IN_USE');
    await first.stop();
    track(await second.start());
  });

  it('two different sources with one name: DUPLICATE_SOURCE_NAME', async () => {
    const session = createSession();
    const a = memoryStream(V, { name: 'dup' });
    const b = memoryStream(V, { name: 'dup' });
    const union = session.readStream(a).union(session.readStream(b));
    const e = (await rejection(union.writeStream({ sink: memorySink() }).start())) as MillraceError;
    expect(e.code).toBe('DUPLICATE_SOURCE_NAME');
    expect(e.message).toContain('"dup"');
    expect(session.streams.active).toEqual([]);
    // the same source twice is one source, not a duplicate
    const s = session.readStream(a);
    const q = track(await s.union(s).writeStream({ sink: memorySink() }).start());
    await q.stop();
  });

  // BUG (reported; regression from the chunked runPlan): MicroBatchExecution.runBatch keeps ONE
  // async generator per source in `scans`, so a plan that scans a source twice (self-union)
  // gets the rows once: the second scan iterates an exhausted generator.
  it('a self-union sees every row on both sides (as Spark)', async () => {
    const session = createSession();
    const a = memoryStream(V, { name: 'self' });
    const s = session.readStream(a);
    await testStream(s.union(s))
      .addData(a, rows(1))
      .checkNewRows(rows(1, 1))
      .assert('one source in progress', (q) =>
        expect(q.lastProgress?.sources.map((x) => x.name)).toEqual(['self']),
      )
      .run();
  });

  it('complete output mode on a stateless query: INVALID_OUTPUT_MODE naming append and update', async () => {
    const { session, stream } = fixture();
    const dir = tempDir();
    const e = (await rejection(
      stream.writeStream({ sink: memorySink(), outputMode: 'complete', checkpointLocation: dir }).start(),
    )) as MillraceError;
    expect(e.code).toBe('INVALID_OUTPUT_MODE');
    expect(e.domain).toBe('user');
    expect(e.message).toContain('complete');
    expect(e.message).toContain('append');
    expect(e.message).toContain('update');
    expect(session.streams.active).toEqual([]);
    // nothing was written to the checkpoint: checks come before any I/O
    expect(existsSync(path.join(dir, 'offsets'))).toBe(false);
    const unknown = (await rejection(
      stream.writeStream({ sink: memorySink(), outputMode: 'bogus' as never }).start(),
    )) as MillraceError;
    expect(unknown.code).toBe('INVALID_OUTPUT_MODE');
    expect(unknown.message).toContain('"bogus"');
    // update is accepted for a stateless query
    const q = track(await stream.writeStream({ sink: memorySink(), outputMode: 'update' }).start());
    await q.stop();
  });

  it('a sink that does not support the output mode: INVALID_OUTPUT_MODE naming the sink and its modes', async () => {
    const { stream } = fixture();
    const sink: Sink = {
      ...memorySink(),
      name: 'apponly',
      describe: () => 'AppendOnly',
      open: async () => {},
      addBatch: async () => {},
      close: async () => {},
      guarantee: 'idempotent',
      supportedOutputModes: ['append'],
    };
    const e = (await rejection(stream.writeStream({ sink, outputMode: 'update' }).start())) as MillraceError;
    expect(e.code).toBe('INVALID_OUTPUT_MODE');
    expect(e.message).toContain('"apponly"');
    expect(e.message).toContain('supports: append');
  });

  it('a missing or incomplete sink: INVALID_SINK / INVALID_OPTIONS', async () => {
    const { stream } = fixture();
    expect(
      ((await rejection(stream.writeStream({ sink: { name: 'x' } as never }).start())) as MillraceError).code,
    ).toBe('INVALID_SINK');
    expect(((await rejection(stream.writeStream(undefined as never).start())) as MillraceError).code).toBe(
      'INVALID_OPTIONS',
    );
  });

  it('a query name already active: QUERY_NAME_IN_USE; free again once stopped', async () => {
    const a = fixture();
    const b = fixture({ session: a.session, name: 'in2' });
    const q1 = track(await a.stream.writeStream({ sink: memorySink(), queryName: 'orders' }).start());
    const e = (await rejection(
      b.stream.writeStream({ sink: memorySink(), queryName: 'orders' }).start(),
    )) as MillraceError;
    expect(e.code).toBe('QUERY_NAME_IN_USE');
    expect(e.message).toContain('"orders"');
    await q1.stop();
    const q2 = track(await b.stream.writeStream({ sink: memorySink(), queryName: 'orders' }).start());
    expect(q2.name).toBe('orders');
    await q2.stop();
    // names are per session: another session may use the same name at once
    const c = fixture();
    const q3 = track(await a.stream.writeStream({ sink: memorySink(), queryName: 'x' }).start());
    const q4 = track(await c.stream.writeStream({ sink: memorySink(), queryName: 'x' }).start());
    await Promise.all([q3.stop(), q4.stop()]);
  });

  it('Trigger.availableNow with a source that cannot fix its target: TRIGGER_NOT_SUPPORTED', async () => {
    const session = createSession();
    const src = plainSource('plain', memoryStream(V));
    const e = (await rejection(
      session.readStream(src).writeStream({ sink: memorySink(), trigger: Trigger.availableNow() }).start(),
    )) as MillraceError;
    expect(e.code).toBe('TRIGGER_NOT_SUPPORTED');
    expect(e.message).toContain('"plain"');
    expect(e.message).toContain('Trigger.once()');
  });

  it('invalid triggers are rejected when made', () => {
    expect(() => Trigger.processingTime(0)).toThrow(MillraceError);
    expect(() => Trigger.processingTime('never')).toThrow(/duration/);
    expect(Trigger.processingTime('2 seconds')).toEqual({ kind: 'processingTime', intervalMs: 2000 });
  });
});

/** A Source delegating to a MemoryStream, without the optional methods. */
function plainSource(
  name: string,
  inner: MemoryStream<VRow>,
  overrides: Partial<Source<VRow>> = {},
): Source<VRow> {
  return {
    name,
    schema: inner.schema,
    replayable: true,
    describe: () => `Plain[${name}]`,
    open: (ctx) => inner.open(ctx),
    latestOffset: (start) => inner.latestOffset(start),
    getBatch: (start, end) => inner.getBatch(start, end),
    commit: (end) => inner.commit(end),
    close: () => inner.close(),
    ...overrides,
  };
}

describe('triggers', () => {
  it('default: a batch per new data, as soon as it arrives', async () => {
    const { input, stream } = fixture();
    const sink = memorySink<VRow>();
    await testStream(stream, { sink })
      .addData(input, rows(1))
      .checkLastBatch(rows(1))
      .addData(input, rows(2, 3))
      .checkLastBatch(rows(2, 3))
      .processAllAvailable()
      .checkAllRows(rows(1, 2, 3))
      .run();
    expect(sink.batchIds).toEqual([0, 1]);
  });

  it('Trigger.once: one batch with everything added, then the query ends', async () => {
    const { session, input, stream } = fixture();
    const dir = tempDir();
    const sink = memorySink<VRow>();
    input.addData(rows(1));
    input.addData(rows(2, 3));
    input.addData(rows(4));
    const q = track(
      await stream.writeStream({ sink, trigger: Trigger.once(), checkpointLocation: dir }).start(),
    );
    expect(await q.awaitTermination(5_000)).toBe(true);
    expect(q.isActive).toBe(false);
    expect(sink.batchIds).toEqual([0]);
    expect(sink.batch(0)).toEqual(rows(1, 2, 3, 4));
    expect(q.recentProgress).toHaveLength(1);
    expect(session.streams.active).toEqual([]);
    // once more: nothing new → no batch, still ends
    const q2 = track(
      await stream.writeStream({ sink, trigger: Trigger.once(), checkpointLocation: dir }).start(),
    );
    expect(await q2.awaitTermination(5_000)).toBe(true);
    expect(q2.recentProgress).toHaveLength(0);
    // and with new data: exactly the next batch
    input.addData(rows(5));
    const q3 = track(
      await stream.writeStream({ sink, trigger: Trigger.once(), checkpointLocation: dir }).start(),
    );
    expect(await q3.awaitTermination(5_000)).toBe(true);
    expect(sink.batchIds).toEqual([0, 1]);
    expect(sink.batch(1)).toEqual(rows(5));
  });

  it('Trigger.once ignores a source read limit (limit kind "all"); the default trigger passes "default"', async () => {
    const session = createSession();
    const inner = memoryStream(V);
    const limits: string[] = [];
    // a source that serves one offset step per batch unless asked for everything
    const src = plainSource('limited', inner, {
      latestOffset: async (start, limit) => {
        limits.push(limit.kind);
        const latest = await inner.latestOffset(start);
        if (latest === null || limit.kind === 'all') return latest;
        return Math.min(Number(latest), Number(start ?? 0) + 1);
      },
    });
    inner.addData(rows(1));
    inner.addData(rows(2));
    const sink = memorySink<VRow>();
    const q = track(await session.readStream(src).writeStream({ sink, trigger: Trigger.once() }).start());
    await q.awaitTermination(5_000);
    expect(sink.batchIds).toEqual([0]);
    expect(sink.batch(0)).toEqual(rows(1, 2));
    expect(limits).toEqual(['all']);
    limits.length = 0;
    const sink2 = memorySink<VRow>();
    const q2 = track(await session.readStream(src).writeStream({ sink: sink2 }).start());
    await q2.processAllAvailable();
    await q2.stop();
    expect(sink2.batchIds).toEqual([0, 1]);
    expect(new Set(limits)).toEqual(new Set(['default']));
  });

  it('Trigger.availableNow: processes everything there is, then ends', async () => {
    const { input, stream } = fixture();
    const sink = memorySink<VRow>();
    input.addData(rows(1));
    input.addData(rows(2));
    const q = track(await stream.writeStream({ sink, trigger: Trigger.availableNow() }).start());
    expect(await q.awaitTermination(5_000)).toBe(true);
    expect(sink.allRows()).toEqual(rows(1, 2));
    expect(q.exception).toBeNull();
  });

  it('Trigger.availableNow with nothing available ends without a batch', async () => {
    const { stream } = fixture();
    const sink = memorySink<VRow>();
    const q = track(await stream.writeStream({ sink, trigger: Trigger.availableNow() }).start());
    expect(await q.awaitTermination(5_000)).toBe(true);
    expect(sink.batchIds).toEqual([]);
  });

  // BUG (reported): MemoryStream.prepareForAvailableNow is a no-op, so data added while
  // an availableNow query runs is processed too. Source contract: "fix the target offset
  // now; later latestOffset calls never go past it" (Spark: only data available at start).
  it('Trigger.availableNow does not process data added after the start', async () => {
    const { input, stream } = fixture();
    const entered = deferred();
    const gate = deferred();
    const seen: number[] = [];
    const sink = foreachBatchSink<VRow>(async (r, batchId) => {
      seen.push(...r.map((x) => x.v));
      if (batchId === 0) {
        entered.resolve();
        await gate.promise;
      }
    });
    input.addData(rows(1));
    const q = track(await stream.writeStream({ sink, trigger: Trigger.availableNow() }).start());
    await entered.promise;
    input.addData(rows(2)); // after the start: not part of this run
    gate.resolve();
    expect(await q.awaitTermination(5_000)).toBe(true);
    expect(seen).toEqual([1]);
  });

  it('Trigger.processingTime with a ManualClock: a batch only when the clock passes the interval', async () => {
    const T0 = Date.UTC(2025, 0, 1);
    const clock = new ManualClock(T0);
    const session = createSession({ clock });
    const { input, stream } = fixture({ session });
    const sink = memorySink<VRow>();
    await testStream(stream, { sink, trigger: Trigger.processingTime('1 second') })
      .advanceClock(0, clock) // the first trigger (at T0) found nothing; now waiting for T0+1000
      .addData(input, rows(1))
      .checkNewRows([])
      .advanceClock(999, clock)
      .checkNewRows([])
      .advanceClock(1, clock)
      .checkNewRows(rows(1))
      .assert('batch at the interval', (q) => {
        expect(q.lastProgress?.batchId).toBe(0);
        expect(q.lastProgress?.timestamp).toBe(new Date(T0 + 1000).toISOString());
        expect(q.status).toMatchObject({ message: 'Waiting for next trigger', isTriggerActive: false });
      })
      .addData(input, rows(2))
      .addData(input, rows(3))
      .advanceClock(1500, clock) // T0+2500: one batch for both adds, at the 2000 trigger
      .checkLastBatch(rows(2, 3))
      .advanceClock(500, clock) // T0+3000: no data, no batch
      .advanceClock(1000, clock)
      .assert('no empty batches', (q) => {
        expect(q.recentProgress.map((p) => p.batchId)).toEqual([0, 1]);
        expect(q.recentProgress.map((p) => Date.parse(p.timestamp) - T0)).toEqual([1000, 2500]);
        expect(q.status.message).toBe('Waiting for data to arrive');
      })
      .run();
    expect(sink.batchIds).toEqual([0, 1]);
  });

  // BUG (reported): after a batch that overran its interval the loop waits for the next
  // boundary after *now* instead of the boundary after the trigger start, so it skips a
  // trigger. Spark (ProcessingTimeExecutor) and the comment in trigger.ts: "a late batch
  // starts the next one at once".
  it('Trigger.processingTime: a batch that overruns the interval starts the next one at once', async () => {
    const T0 = Date.UTC(2025, 0, 1);
    const clock = new ManualClock(T0);
    const session = createSession({ clock });
    const { input, stream } = fixture({ session });
    const batches: { batchId: number; at: number; rows: VRow[] }[] = [];
    const sink = foreachBatchSink<VRow>((r, batchId) => {
      batches.push({ batchId, at: clock.now(), rows: r.slice() });
      if (batchId === 0) {
        clock.advance(2500); // batch 0 takes 2.5 intervals
        input.addData(rows(2));
      }
    });
    input.addData(rows(1));
    const q = track(await stream.writeStream({ sink, trigger: Trigger.processingTime(1000) }).start());
    await waitFor(
      () => batches.length >= 1 && clock.waiting > 0 && !q.status.isTriggerActive,
      'the query to wait on the clock',
    );
    expect(batches.map((b) => [b.batchId, b.at - T0])).toEqual([
      [0, 0],
      [1, 2500],
    ]);
  });

  it('stop() while idle ends the query promptly, whatever the trigger', async () => {
    for (const trigger of [Trigger.default(), Trigger.processingTime('1 hour')]) {
      const { stream } = fixture();
      const q = track(await stream.writeStream({ sink: memorySink(), trigger }).start());
      await waitFor(() => q.status.message.startsWith('Waiting'), 'the query to idle');
      const t0 = Date.now();
      await q.stop();
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(q.isActive).toBe(false);
      expect(q.status.message).toBe('Stopped');
      expect(await q.awaitTermination()).toBe(true);
      await q.stop(); // stopping again is harmless
    }
  });
});

describe('StreamingQuery: termination, status, progress', () => {
  it('awaitTermination(timeout) is false while running, true after stop', async () => {
    const { stream } = fixture();
    const q = track(await stream.writeStream({ sink: memorySink() }).start());
    expect(await q.awaitTermination(30)).toBe(false);
    expect(q.isActive).toBe(true);
    const ended = q.awaitTermination();
    await q.stop();
    expect(await ended).toBe(true);
    expect(await q.awaitTermination(30)).toBe(true);
  });

  it('status: waiting when idle, processing during a batch, stopped after', async () => {
    const { input, stream } = fixture();
    const entered = deferred();
    const gate = deferred();
    const sink = foreachBatchSink(async () => {
      entered.resolve();
      await gate.promise;
    });
    const q = track(await stream.writeStream({ sink }).start());
    await waitFor(() => q.status.message === 'Waiting for data to arrive', 'idle status');
    expect(q.status).toEqual({
      message: 'Waiting for data to arrive',
      isDataAvailable: false,
      isTriggerActive: false,
    });
    input.addData(rows(1));
    await entered.promise;
    expect(q.status).toEqual({
      message: 'Processing new data',
      isDataAvailable: true,
      isTriggerActive: true,
    });
    gate.resolve();
    await q.processAllAvailable();
    await q.stop();
    expect(q.status).toEqual({ message: 'Stopped', isDataAvailable: false, isTriggerActive: false });
  });

  it('progress: ids, batch, offsets, rows, sink and phase durations', async () => {
    const { input, stream } = fixture({ name: 'src' });
    const sink = memorySink<VRow>({ name: 'out' });
    const q = track(
      await stream
        .filter(($) => $.v.gt(1))
        .writeStream({ sink, queryName: 'prog' })
        .start(),
    );
    input.addData(rows(1, 2, 3));
    await q.processAllAvailable();
    input.addData(rows(4));
    await q.processAllAvailable();
    const [p0, p1] = q.recentProgress;
    expect(p0).toMatchObject({
      id: q.id,
      runId: q.runId,
      name: 'prog',
      batchId: 0,
      numInputRows: 3,
      isNoDataBatch: false,
      stateOperators: [],
      sink: { description: 'MemorySink[out]', numOutputRows: 2 },
    });
    expect(p0!.sources).toHaveLength(1);
    expect(p0!.sources[0]).toMatchObject({
      name: 'src',
      description: 'MemoryStream[src]',
      startOffset: null,
      endOffset: 1,
      numInputRows: 3,
      numMalformedRows: 0,
    });
    expect(p1).toMatchObject({ batchId: 1, numInputRows: 1, sink: { numOutputRows: 1 } });
    expect(p1!.sources[0]).toMatchObject({ startOffset: 1, endOffset: 2, latestOffset: 2 });
    for (const p of [p0!, p1!]) {
      for (const k of [
        'latestOffset',
        'walCommit',
        'getBatch',
        'addBatch',
        'commitOffsets',
        'triggerExecution',
      ]) {
        expect(p.durationMs[k], k).toBeTypeOf('number');
        expect(p.durationMs[k]!, k).toBeGreaterThanOrEqual(0);
      }
      const phases = ['latestOffset', 'walCommit', 'getBatch', 'addBatch', 'commitOffsets'].reduce(
        (a, k) => a + p.durationMs[k]!,
        0,
      );
      expect(p.durationMs.triggerExecution!).toBeCloseTo(phases, 1);
      expect(Number.isFinite(p.inputRowsPerSecond)).toBe(true);
      expect(Number.isFinite(p.processedRowsPerSecond)).toBe(true);
      expect(Number.isNaN(Date.parse(p.timestamp))).toBe(false);
      expect(p.eventTime).toEqual({ watermark: '1970-01-01T00:00:00.000Z' });
    }
    expect(q.lastProgress).toBe(q.recentProgress.at(-1) ?? null);
    expect(q.lastProgress).toEqual(p1);
  });

  it('recentProgress is bounded by maxRecentProgress (oldest dropped)', async () => {
    const { input, stream } = fixture();
    const q = track(await stream.writeStream({ sink: memorySink(), maxRecentProgress: 3 }).start());
    for (let i = 0; i < 5; i++) {
      input.addData(rows(i));
      await q.processAllAvailable();
    }
    expect(q.recentProgress.map((p) => p.batchId)).toEqual([2, 3, 4]);
    expect(q.lastProgress?.batchId).toBe(4);
    // a copy: callers cannot change the query's list
    (q.recentProgress as unknown[]).length = 0;
    expect(q.recentProgress).toHaveLength(3);
  });

  it('processAllAvailable resolves at once for a stopped query and rejects for a failed one', async () => {
    const { input, stream } = fixture();
    const q = track(await stream.writeStream({ sink: memorySink() }).start());
    await q.stop();
    await expect(q.processAllAvailable()).resolves.toBeUndefined();
    const bad = track(
      await stream
        .writeStream({
          sink: foreachBatchSink(() => {
            throw new Error('nope');
          }),
        })
        .start(),
    );
    const pending = bad.processAllAvailable();
    input.addData(rows(1));
    await expect(pending).rejects.toMatchObject({ code: 'SINK_FAILED' });
    await expect(bad.processAllAvailable()).rejects.toMatchObject({ code: 'SINK_FAILED' });
  });
});

describe('StreamingQueryManager', () => {
  it('lists active queries and finds them by name or id', async () => {
    const a = fixture();
    const b = fixture({ session: a.session, name: 'second' });
    const streams = a.session.streams;
    const q1 = track(await a.stream.writeStream({ sink: memorySink(), queryName: 'one' }).start());
    const q2 = track(await b.stream.writeStream({ sink: memorySink(), queryName: 'two' }).start());
    expect(streams.active.map((q) => q.name).sort()).toEqual(['one', 'two']);
    expect(streams.get('one')).toBe(q1);
    expect(streams.get(q2.id)).toBe(q2);
    expect(q1.id).not.toBe(q2.id);
    expect(streams.get('three')).toBeUndefined();
    await q1.stop();
    expect(streams.active).toEqual([q2]);
    expect(streams.get('one')).toBeUndefined();
    await streams.stopAll();
    expect(streams.active).toEqual([]);
    expect(q2.isActive).toBe(false);
  });

  it('listeners hear started, progress and terminated', async () => {
    const { session, input, stream } = fixture();
    const events: string[] = [];
    const startedE: QueryStartedEvent[] = [];
    const progress: QueryProgressEvent[] = [];
    const terminated: QueryTerminatedEvent[] = [];
    const listener = {
      onQueryStarted: (e: QueryStartedEvent) => (events.push('started'), startedE.push(e)),
      onQueryProgress: (e: QueryProgressEvent) => (
        events.push(`progress ${e.progress.batchId}`),
        progress.push(e)
      ),
      onQueryTerminated: (e: QueryTerminatedEvent) => (events.push('terminated'), terminated.push(e)),
    };
    session.streams.addListener(listener);
    const q = track(await stream.writeStream({ sink: memorySink(), queryName: 'heard' }).start());
    expect(startedE).toEqual([{ id: q.id, runId: q.runId, name: 'heard', timestamp: expect.any(String) }]);
    input.addData(rows(1));
    await q.processAllAvailable();
    input.addData(rows(2));
    await q.processAllAvailable();
    await q.stop();
    expect(events).toEqual(['started', 'progress 0', 'progress 1', 'terminated']);
    expect(progress[1]!.progress).toBe(q.lastProgress);
    expect(terminated).toEqual([{ id: q.id, runId: q.runId, name: 'heard', exception: null }]);
    session.streams.removeListener(listener);
    const q2 = track(await stream.writeStream({ sink: memorySink() }).start());
    await q2.stop();
    expect(events).toHaveLength(4);
  });

  it('the terminated event carries the failure', async () => {
    const { session, input, stream } = fixture();
    const terminated: QueryTerminatedEvent[] = [];
    session.streams.addListener({ onQueryTerminated: (e) => terminated.push(e) });
    const q = track(
      await stream
        .map(() => {
          throw new Error('boom');
        }, V)
        .writeStream({ sink: memorySink() })
        .start(),
    );
    input.addData(rows(1));
    const e = await failureOf(q);
    expect(terminated).toHaveLength(1);
    expect(terminated[0]!.exception).toBe(e);
    expect(terminated[0]!.exception?.code).toBe('OPERATOR_FAILED');
  });

  it('a listener that throws does not break the query or other listeners', async () => {
    const log = recordingLogger();
    const session = createSession({ log });
    const { input, stream } = fixture({ session });
    const heard: string[] = [];
    session.streams.addListener({
      onQueryStarted: () => {
        throw new Error('l1 started');
      },
      onQueryProgress: () => {
        throw new Error('l1 progress');
      },
      onQueryTerminated: () => {
        throw new Error('l1 terminated');
      },
    });
    session.streams.addListener({
      onQueryStarted: () => heard.push('started'),
      onQueryProgress: () => heard.push('progress'),
      onQueryTerminated: () => heard.push('terminated'),
    });
    const sink = memorySink<VRow>();
    const q = track(await stream.writeStream({ sink }).start());
    input.addData(rows(1));
    await q.processAllAvailable();
    expect(q.isActive).toBe(true);
    expect(q.exception).toBeNull();
    await q.stop();
    expect(sink.allRows()).toEqual(rows(1));
    expect(heard).toEqual(['started', 'progress', 'terminated']);
    expect(log.records.filter((r) => r.msg.includes('listener threw'))).toHaveLength(3);
  });

  it('awaitAnyTermination: false on timeout, true when one stops, rejects when one failed', async () => {
    const { session, input, stream } = fixture();
    const streams = session.streams;
    expect(await streams.awaitAnyTermination(20)).toBe(false);
    const q = track(await stream.writeStream({ sink: memorySink() }).start());
    const any = streams.awaitAnyTermination();
    expect(await streams.awaitAnyTermination(20)).toBe(false);
    await q.stop();
    expect(await any).toBe(true);
    // a past termination counts until reset
    expect(await streams.awaitAnyTermination(20)).toBe(true);
    streams.resetTerminated();
    expect(await streams.awaitAnyTermination(20)).toBe(false);
    const bad = track(
      await stream
        .writeStream({
          sink: foreachBatchSink(() => {
            throw new Error('down');
          }),
        })
        .start(),
    );
    const failing = streams.awaitAnyTermination(5_000);
    input.addData(rows(1));
    await expect(failing).rejects.toMatchObject({ code: 'SINK_FAILED' });
    expect(bad.isActive).toBe(false);
  });
});

describe('connector failures', () => {
  class FailingSource extends MemoryStream<VRow> {
    constructor(
      name: string,
      private readonly fail: { getBatch?: boolean; latestOffset?: boolean; open?: boolean },
    ) {
      super(V, name);
    }
    override async open(): Promise<void> {
      if (this.fail.open) throw new Error('cannot connect');
    }
    override async latestOffset(start: Offset | null): Promise<Offset | null> {
      if (this.fail.latestOffset && this.currentOffset > 0) throw new Error('broker gone');
      return super.latestOffset(start);
    }
    override async getBatch(start: Offset | null, end: Offset): Promise<SourceBatch<VRow>> {
      if (this.fail.getBatch) throw new Error('read timed out');
      return super.getBatch(start, end);
    }
  }

  it('getBatch throws: the query fails with SOURCE_FAILED naming the source and batch; offsets/N stays uncommitted', async () => {
    const dir = tempDir();
    const session = createSession();
    const src = new FailingSource('flaky', { getBatch: true });
    const q = track(
      await session
        .readStream(src)
        .writeStream({ sink: memorySink(), checkpointLocation: dir, queryName: 'f' })
        .start(),
    );
    src.addData(rows(1));
    const e = await failureOf(q);
    expect(e.code).toBe('SOURCE_FAILED');
    expect(e.domain).toBe('external');
    expect(e.message).toContain('"flaky"');
    expect(e.message).toContain('read timed out');
    expect(e.context).toMatchObject({ source: 'flaky', batch: 0, query: 'f' });
    expect(e.cause).toBeInstanceOf(Error);
    expect(q.exception).toBe(e);
    expect(logIds(dir, 'offsets')).toEqual([0]);
    expect(logIds(dir, 'commits')).toEqual([]);
    expect(existsSync(path.join(dir, '.lock'))).toBe(false);
  });

  it('latestOffset throws: SOURCE_FAILED; open throws: start() rejects with SOURCE_FAILED', async () => {
    const session = createSession();
    const src = new FailingSource('lo', { latestOffset: true });
    const q = track(await session.readStream(src).writeStream({ sink: memorySink() }).start());
    src.addData(rows(1));
    const e = await failureOf(q);
    expect(e.code).toBe('SOURCE_FAILED');
    expect(e.context.source).toBe('lo');
    expect(e.message).toContain('broker gone');

    const closed: string[] = [];
    const sink = {
      ...memorySink(),
      name: 's',
      describe: () => 's',
      guarantee: 'idempotent' as const,
      open: async () => {},
      addBatch: async () => {},
      close: async () => void closed.push('sink'),
    };
    const bad = new FailingSource('down', { open: true });
    const r = (await rejection(session.readStream(bad).writeStream({ sink }).start())) as MillraceError;
    expect(r.code).toBe('SOURCE_FAILED');
    expect(r.context.source).toBe('down');
    expect(r.message).toContain('cannot connect');
    expect(session.streams.active).toEqual([]);
    expect(closed).toEqual([]); // the sink was never opened, so it is not closed
  });

  it('the sink throws: SINK_FAILED naming sink and batch; a restart with a working sink replays the batch', async () => {
    const dir = tempDir();
    const { input, stream } = fixture();
    let broken = true;
    const good = memorySink<VRow>();
    const sink: Sink = {
      name: 'target',
      guarantee: 'idempotent',
      describe: () => 'Target',
      open: async () => {},
      addBatch: async (r, info) => {
        if (broken && info.batchId === 1) throw new Error('disk full');
        return good.addBatch(r, info);
      },
      close: async () => {},
    };
    const q = track(await stream.writeStream({ sink, checkpointLocation: dir }).start());
    input.addData(rows(1));
    await q.processAllAvailable();
    input.addData(rows(2));
    const e = await failureOf(q);
    expect(e.code).toBe('SINK_FAILED');
    expect(e.message).toContain('"target"');
    expect(e.message).toContain('disk full');
    expect(e.context).toMatchObject({ sink: 'target', batch: 1 });
    expect(logIds(dir, 'offsets')).toEqual([0, 1]);
    expect(logIds(dir, 'commits')).toEqual([0]);
    broken = false;
    input.addData(rows(3));
    const q2 = track(await stream.writeStream({ sink, checkpointLocation: dir }).start());
    await q2.processAllAvailable();
    await q2.stop();
    expect(good.batchIds).toEqual([0, 1, 2]);
    expect(good.batch(1)).toEqual(rows(2)); // exactly the recorded offsets, not the later add
    expect(good.allRows()).toEqual(rows(1, 2, 3));
  });

  it('sink open throws: start() rejects with SINK_FAILED and sources are closed', async () => {
    const session = createSession();
    const closed: string[] = [];
    const src = new (class extends MemoryStream<VRow> {
      override async close() {
        closed.push('source');
      }
    })(V, 'c');
    const sink: Sink = {
      name: 'nope',
      guarantee: 'idempotent',
      describe: () => 'Nope',
      open: async () => {
        throw new Error('auth failed');
      },
      addBatch: async () => {},
      close: async () => void closed.push('sink'),
    };
    const e = (await rejection(session.readStream(src).writeStream({ sink }).start())) as MillraceError;
    expect(e.code).toBe('SINK_FAILED');
    expect(e.message).toContain('auth failed');
    expect(e.context.sink).toBe('nope');
    expect(closed).toEqual(['source']);
  });

  it('an error closing a connector is logged, the stop still succeeds', async () => {
    const log = recordingLogger();
    const session = createSession({ log });
    const src = new (class extends MemoryStream<VRow> {
      override async close() {
        throw new Error('close failed');
      }
    })(V, 'cl');
    const q = track(await session.readStream(src).writeStream({ sink: memorySink() }).start());
    await q.stop();
    expect(q.exception).toBeNull();
    expect(
      log.records.some((r) => r.level === 'warn' && String(r.fields.error).includes('close failed')),
    ).toBe(true);
  });
});

describe('temporary checkpoints', () => {
  it('without checkpointLocation a temp directory is used (with a warning) and removed after stop', async () => {
    const log = recordingLogger();
    const session = createSession({ log });
    const { input, stream } = fixture({ session });
    const q = track(await stream.writeStream({ sink: memorySink(), queryName: 'tmp q/1' }).start());
    const warn = log.records.find((r) => r.level === 'warn' && r.msg.includes('temporary'));
    const dir = warn?.fields.checkpointLocation as string;
    expect(dir).toBeTypeOf('string');
    expect(path.basename(dir)).toMatch(/^millrace-tmp_q_1-/);
    input.addData(rows(1));
    await q.processAllAvailable();
    expect(logIds(dir, 'commits')).toEqual([0]);
    await q.stop();
    expect(existsSync(dir)).toBe(false);
  });

  it('the temp checkpoint is removed after a failure too', async () => {
    const log = recordingLogger();
    const session = createSession({ log });
    const { input, stream } = fixture({ session });
    const q = track(
      await stream
        .writeStream({
          sink: foreachBatchSink(() => {
            throw new Error('x');
          }),
        })
        .start(),
    );
    const dir = log.records.find((r) => r.msg.includes('temporary'))!.fields.checkpointLocation as string;
    input.addData(rows(1));
    await failureOf(q);
    expect(existsSync(dir)).toBe(false);
    expect(
      log.records.some(
        (r) => r.level === 'error' && r.msg === 'query failed' && r.fields.code === 'SINK_FAILED',
      ),
    ).toBe(true);
  });
});

describe('watermarks', () => {
  const EV = schema({ ts: t.timestamp, id: t.long });
  const T = Date.UTC(2025, 0, 1, 12, 0, 0);
  const iso = (ms: number) => new Date(ms).toISOString();

  function evFixture() {
    const session = createSession();
    const input = memoryStream(EV, { name: 'ev' });
    const stream = session.readStream(input).withWatermark('ts', '10 seconds');
    return { input, stream };
  }

  it('progress reports event-time min/max/avg; the watermark moves to max - delay after the batch', async () => {
    const dir = tempDir();
    const { input, stream } = evFixture();
    await testStream(stream, { checkpointLocation: dir })
      .addData(input, { ts: T, id: 1 }, { ts: T + 30_000, id: 2 }, { ts: T + 60_000, id: 3 })
      .processAllAvailable()
      .assert('batch 0 runs with the initial watermark', (q) => {
        expect(q.lastProgress?.eventTime).toEqual({
          min: iso(T),
          max: iso(T + 60_000),
          avg: iso(T + 30_000),
          watermark: iso(0),
        });
      })
      .addData(input, { ts: T + 5_000, id: 4 }) // older: does not move the watermark back
      .processAllAvailable()
      .assert('batch 1 runs with max(batch 0) - delay', (q) => {
        expect(q.lastProgress?.eventTime).toEqual({
          min: iso(T + 5_000),
          max: iso(T + 5_000),
          avg: iso(T + 5_000),
          watermark: iso(T + 50_000),
        });
      })
      .addData(input, { ts: T + 120_000, id: 5 })
      .processAllAvailable()
      .assert('batch 2', (q) => expect(q.lastProgress?.eventTime.watermark).toBe(iso(T + 50_000)))
      .stop()
      .addData(input, { ts: T + 121_000, id: 6 })
      .start()
      .processAllAvailable()
      .assert('the watermark survives the restart', (q) => {
        expect(q.lastProgress?.batchId).toBe(3);
        expect(q.lastProgress?.eventTime.watermark).toBe(iso(T + 110_000));
      })
      .run();
    // recorded in the write-ahead log and the commit log
    expect(JSON.parse(readLog(dir, 'offsets', 3)[1]!).batchWatermarkMs).toBe(T + 110_000);
    expect(JSON.parse(readLog(dir, 'commits', 3)[1]!)).toEqual({
      nextBatchWatermarkMs: T + 111_000,
      watermarks: { 0: T + 111_000 },
    });
  });

  it('a replayed batch runs with the watermark recorded in its offsets entry', async () => {
    const dir = tempDir();
    const { input, stream } = evFixture();
    const sink = memorySink();
    const q1 = track(await stream.writeStream({ sink, checkpointLocation: dir }).start());
    input.addData({ ts: T + 100_000, id: 1 });
    await q1.processAllAvailable();
    input.addData({ ts: T + 200_000, id: 2 });
    await q1.processAllAvailable();
    const original = q1.lastProgress!;
    await q1.stop();
    rmSync(path.join(dir, 'commits', '1'));
    const q2 = track(await stream.writeStream({ sink, checkpointLocation: dir }).start());
    await q2.processAllAvailable();
    expect(q2.lastProgress?.batchId).toBe(1);
    expect(q2.lastProgress?.eventTime).toEqual(original.eventTime);
    expect(original.eventTime.watermark).toBe(iso(T + 90_000));
    input.addData({ ts: T + 1_000, id: 3 });
    await q2.processAllAvailable();
    await q2.stop();
    expect(q2.lastProgress?.eventTime.watermark).toBe(iso(T + 190_000));
  });

  it('rows with a null event time are not counted', async () => {
    const session = createSession();
    const input = memoryStream(schema({ ts: t.timestamp.orNull() }), { name: 'nul' });
    await testStream(session.readStream(input).withWatermark('ts', 0))
      .addData(input, { ts: null }, { ts: T })
      .checkNewRows([{ ts: null }, { ts: T }])
      .addData(input, { ts: null })
      .processAllAvailable()
      .assert('stats', (q) => {
        expect(q.recentProgress[0]!.eventTime).toEqual({
          min: iso(T),
          max: iso(T),
          avg: iso(T),
          watermark: iso(0),
        });
        expect(q.recentProgress[1]!.eventTime).toEqual({ watermark: iso(T) });
      })
      .run();
  });

  it('with two inputs the global watermark is the minimum (default) or the maximum (policy max)', async () => {
    for (const [policy, expected] of [
      ['min', T + 5_000],
      ['max', T + 95_000],
    ] as const) {
      const session = createSession();
      const a = memoryStream(EV, { name: 'a' });
      const b = memoryStream(EV, { name: 'b' });
      const s = session
        .readStream(a)
        .withWatermark('ts', '5 seconds')
        .union(session.readStream(b).withWatermark('ts', '5 seconds'));
      await testStream(s, { writeOptions: { watermarkPolicy: policy } })
        .addData(a, { ts: T + 10_000, id: 1 })
        .addData(b, { ts: T + 100_000, id: 2 })
        .processAllAvailable()
        .addData(a, { ts: T, id: 3 })
        .processAllAvailable()
        .assert(`policy ${policy}`, (q) => expect(q.lastProgress?.eventTime.watermark).toBe(iso(expected)))
        .run();
    }
  });
});
