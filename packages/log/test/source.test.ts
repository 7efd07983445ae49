/**
 * logSource through real queries (createSession().readStream(…) → memorySink)
 * and through its Source API: formats, starting offsets, restart from the
 * checkpoint, maxOffsetsPerTrigger, available-now, failOnDataLoss, JSON
 * decoding with bad records, topics created later.
 */
import * as path from 'node:path';
import {
  MillraceError,
  Trigger,
  createSession,
  memorySink,
  schema,
  t,
  type MemorySink,
  type StreamingQuery,
} from 'millrace';
import { afterEach, describe, expect, it } from 'vitest';
import { logSource, openLog, type Log, type LogOffsets } from '../src/index.ts';
import { cleanupDirs, context, errorOf, recordingLogger, tempDir } from './helpers.ts';

const DEFAULT = { kind: 'default' } as const;
const logs: Log[] = [];
const queries: StreamingQuery[] = [];

async function open(options: Record<string, unknown> = {}): Promise<Log> {
  const log = await openLog({ dir: tempDir(), fsync: 'never', retentionCheckIntervalMs: 0, ...options });
  logs.push(log);
  return log;
}

afterEach(async () => {
  for (const q of queries.splice(0)) await q.stop().catch(() => undefined);
  for (const l of logs.splice(0)) await l.close();
  cleanupDirs();
});

async function run<R>(
  source: ReturnType<typeof logSource>,
  sink: MemorySink<R>,
  options: { checkpoint?: string; trigger?: Trigger } = {},
): Promise<StreamingQuery> {
  const q = await createSession()
    .readStream(source)
    .writeStream({
      sink,
      checkpointLocation: options.checkpoint ?? path.join(tempDir(), 'cp'),
      ...(options.trigger ? { trigger: options.trigger } : {}),
    })
    .start();
  queries.push(q);
  return q;
}

const values = (rows: readonly object[]) => rows.map((r) => (r as { value?: unknown }).value);

describe('rows and offsets', () => {
  it("'string' rows through a query: key, value, topic, partition, offset, timestamp; new records keep coming", async () => {
    const log = await open();
    await log.createTopic('s', { partitions: 2 });
    await log.append('s', [
      { value: 'a', key: 'k1', partition: 0, timestamp: 1000 },
      { value: 'b', partition: 1, timestamp: 2000 },
    ]);
    const sink = memorySink<Record<string, unknown>>();
    const q = await run(logSource({ log, topics: 's', startingOffsets: 'earliest', format: 'string' }), sink);
    await q.processAllAvailable();
    expect(sink.allRows()).toEqual([
      { key: 'k1', value: 'a', topic: 's', partition: 0, offset: 0, timestamp: 1000 },
      { key: null, value: 'b', topic: 's', partition: 1, offset: 0, timestamp: 2000 },
    ]);
    await log.append('s', [{ value: 'c', partition: 1 }]);
    await q.processAllAvailable();
    expect(values(sink.allRows())).toEqual(['a', 'b', 'c']);
    expect(q.lastProgress!.sources[0]!.endOffset).toEqual({ s: { '0': 1, '1': 2 } });
    expect(q.lastProgress!.sources[0]!.latestOffset).toEqual({ s: { '0': 1, '1': 2 } });
  });

  it("'bytes' rows are binary (the default, as Spark's Kafka source), headers on request", async () => {
    const log = await open();
    await log.append('b', [{ value: 'hi', key: new Uint8Array([7]), headers: { trace: 'x' } }]);
    const src = logSource({ log, topics: ['b'], startingOffsets: 'earliest', includeHeaders: true });
    expect(src.schema.treeString()).toContain('value: binary (nullable = true)');
    expect(src.schema.names).toEqual([
      'key',
      'value',
      'topic',
      'partition',
      'offset',
      'timestamp',
      'headers',
    ]);
    const sink = memorySink<Record<string, unknown>>();
    const q = await run(src, sink);
    await q.processAllAvailable();
    const [row] = sink.allRows();
    expect(row!.value).toEqual(new Uint8Array(Buffer.from('hi')));
    expect(row!.key).toEqual(new Uint8Array([7]));
    expect(row!.headers).toEqual({ trace: 'x' });
  });

  it("startingOffsets: 'latest' (the default) skips what is there; per-partition offsets; -2/-1", async () => {
    const log = await open();
    await log.createTopic('so', { partitions: 2 });
    await log.append(
      'so',
      ['a0', 'a1', 'a2'].map((v) => ({ value: v, partition: 0 })),
    );
    await log.append(
      'so',
      ['b0', 'b1'].map((v) => ({ value: v, partition: 1 })),
    );
    const latest = memorySink<{ value: string | null }>();
    const q1 = await run(logSource({ log, topics: 'so', format: 'string' }), latest);
    await q1.processAllAvailable();
    expect(latest.allRows()).toEqual([]);
    await log.append('so', [{ value: 'a3', partition: 0 }]);
    await q1.processAllAvailable();
    expect(values(latest.allRows())).toEqual(['a3']);

    const specific = memorySink<{ value: string | null }>();
    const q2 = await run(
      logSource({ log, topics: 'so', format: 'string', startingOffsets: { so: { '0': 2, '1': -1 } } }),
      specific,
    );
    await q2.processAllAvailable();
    expect(values(specific.allRows())).toEqual(['a2', 'a3']);
  });

  it('restarts from the checkpoint: nothing twice, nothing skipped, startingOffsets ignored', async () => {
    const log = await open();
    const checkpoint = path.join(tempDir(), 'cp');
    await log.append('r', [{ value: '1' }, { value: '2' }]);
    const first = memorySink<{ value: string | null }>();
    const q1 = await run(
      logSource({ log, topics: 'r', startingOffsets: 'earliest', format: 'string' }),
      first,
      {
        checkpoint,
      },
    );
    await q1.processAllAvailable();
    await q1.stop();
    await log.append('r', [{ value: '3' }, { value: '4' }]);
    const second = memorySink<{ value: string | null }>();
    // 'latest' would skip 3 and 4 — but a restart resumes from the checkpoint.
    const q2 = await run(
      logSource({ log, topics: 'r', startingOffsets: 'latest', format: 'string' }),
      second,
      {
        checkpoint,
      },
    );
    await q2.processAllAvailable();
    expect(values(first.allRows())).toEqual(['1', '2']);
    expect(values(second.allRows())).toEqual(['3', '4']);
  });

  it('getBatch returns the same rows on a replay, and the starting offsets survive a crash before batch 0', async () => {
    const log = await open();
    await log.append('rp', [{ value: 'old' }]);
    const stateDir = tempDir();
    const a = logSource({ log, topics: 'rp', format: 'string' }); // latest
    await a.open(context(stateDir));
    expect(await a.latestOffset(null, DEFAULT)).toBeNull();
    await log.append('rp', [{ value: 'x' }, { value: 'y' }]);
    const end = await a.latestOffset(null, DEFAULT);
    expect(end).toEqual({ rp: { '0': 3 } });
    const once = await a.getBatch(null, end!, { batchId: 0 });
    await a.close();
    // "Crash" and restart: a new instance replays batch 0 from the persisted starting offsets.
    const b = logSource({ log, topics: 'rp', format: 'string' });
    await b.open(context(stateDir));
    const again = await b.getBatch(null, end!, { batchId: 0 });
    expect(values(again.rows)).toEqual(['x', 'y']);
    expect(again.rows).toEqual(once.rows);
    await b.close();
  });
});

describe('rate limits and triggers', () => {
  it('maxOffsetsPerTrigger caps each batch, prorated over partitions', async () => {
    const log = await open();
    await log.createTopic('m', { partitions: 3 });
    await log.append(
      'm',
      Array.from({ length: 90 }, (_, i) => ({ value: String(i), partition: i < 60 ? 0 : i < 80 ? 1 : 2 })),
    );
    const src = logSource({
      log,
      topics: 'm',
      startingOffsets: 'earliest',
      format: 'string',
      maxOffsetsPerTrigger: 30,
    });
    await src.open(context(tempDir()));
    const end = (await src.latestOffset(null, DEFAULT)) as LogOffsets;
    expect(end).toEqual({ m: { '0': 20, '1': 7, '2': 3 } }); // 60:20:10 of 30
    expect(await src.latestOffset(null, { kind: 'all' })).toEqual({ m: { '0': 60, '1': 20, '2': 10 } });
    await src.close();

    const sink = memorySink<{ value: string | null }>();
    const q = await run(
      logSource({
        log,
        topics: 'm',
        startingOffsets: 'earliest',
        format: 'string',
        maxOffsetsPerTrigger: 30,
      }),
      sink,
    );
    await q.processAllAvailable();
    const sizes = q.recentProgress.map((p) => p.numInputRows).filter((n) => n > 0);
    expect(sizes).toEqual([30, 30, 30]);
    expect(
      sink
        .allRows()
        .map((r) => Number(r.value))
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 90 }, (_, i) => i));
  });

  it('Trigger.availableNow reads what was there at start, in limited batches, then stops', async () => {
    const log = await open();
    await log.append(
      'an',
      Array.from({ length: 25 }, (_, i) => ({ value: String(i) })),
    );
    const sink = memorySink<{ value: string | null }>();
    const q = await run(
      logSource({
        log,
        topics: 'an',
        startingOffsets: 'earliest',
        format: 'string',
        maxOffsetsPerTrigger: 10,
      }),
      sink,
      { trigger: Trigger.availableNow() },
    );
    await log.append('an', [{ value: 'late' }]);
    await q.awaitTermination(10_000);
    expect(q.exception).toBeNull();
    expect(sink.allRows().length).toBe(25);
    expect(sink.batchIds.length).toBe(3);
  });

  it('topicPattern picks up topics created after the query started, from offset 0', async () => {
    const log = await open();
    await log.append('metrics-a', [{ value: 'a0' }]);
    const sink = memorySink<{ value: string | null; topic: string }>();
    const q = await run(
      logSource({ log, topicPattern: /^metrics-/, startingOffsets: 'earliest', format: 'string' }),
      sink,
    );
    await q.processAllAvailable();
    await log.append('metrics-b', [{ value: 'b0' }, { value: 'b1' }]);
    await log.append('other', [{ value: 'no' }]);
    await q.processAllAvailable();
    expect(sink.allRows().map((r) => `${r.topic}:${r.value}`)).toEqual([
      'metrics-a:a0',
      'metrics-b:b0',
      'metrics-b:b1',
    ]);
  });

  it('reports lag metrics and the latest offset', async () => {
    const log = await open();
    await log.append(
      'lag',
      Array.from({ length: 10 }, (_, i) => ({ value: String(i) })),
    );
    const src = logSource({
      log,
      topics: 'lag',
      startingOffsets: 'earliest',
      format: 'string',
      maxOffsetsPerTrigger: 4,
    });
    await src.open(context(tempDir()));
    const end = await src.latestOffset(null, DEFAULT);
    const b = await src.getBatch(null, end!, { batchId: 0 });
    expect(b.metrics).toMatchObject({
      offsetsBehindLatest: 6,
      maxOffsetsBehindLatest: 6,
      minOffsetsBehindLatest: 6,
    });
    expect(src.reportLatestOffset()).toEqual({ lag: { '0': 10 } });
    await src.close();
  });
});

describe('failOnDataLoss', () => {
  async function lossy(failOnDataLoss: boolean) {
    const log = await open();
    await log.createTopic('dl', { retentionBytes: 300 });
    const src = logSource({
      log,
      topics: 'dl',
      startingOffsets: 'earliest',
      format: 'string',
      failOnDataLoss,
    });
    const logger = recordingLogger();
    await src.open(context(tempDir(), { log: logger }));
    expect(await src.latestOffset(null, DEFAULT)).toBeNull();
    await log.append(
      'dl',
      Array.from({ length: 10 }, (_, i) => ({ value: `v${i}`.padEnd(20, '.') })),
    );
    const end = await src.latestOffset(null, DEFAULT);
    expect(end).toEqual({ dl: { '0': 10 } });
    await log.enforceRetention(); // 10 × 50 bytes > 300: offsets 0–3 go
    expect(log.watermarks('dl', 0).low).toBe(4);
    return { log, src, logger, end: end! };
  }

  it('true (default): the batch fails, naming the lost offsets and how to continue', async () => {
    const { src, end } = await lossy(true);
    const e = await errorOf(src.getBatch(null, end, { batchId: 0 }));
    expect(e.code).toBe('DATA_LOSS');
    expect(e.message).toContain('topic "dl" partition 0: offsets 0–3 (4 records)');
    expect(e.message).toContain('deleted by retention');
    expect(e.message).toContain('Set failOnDataLoss: false');
    await src.close();
  });

  it('false: skips the lost records with a warning and counts them', async () => {
    const { src, end, logger } = await lossy(false);
    const b = await src.getBatch(null, end, { batchId: 0 });
    expect(b.rows.map((r) => r.offset)).toEqual([4, 5, 6, 7, 8, 9]);
    expect(b.metrics!.recordsLost).toBe(4);
    expect(logger.records.find((r) => r.level === 'warn')).toMatchObject({
      fields: { topic: 'dl', partition: 0, fromOffset: 0, toOffset: 4, records: 4 },
    });
    await src.close();
  });

  it('through a query: the query stops with DATA_LOSS', async () => {
    const log = await open();
    await log.createTopic('dq', { retentionBytes: 100 });
    await log.append('dq', [{ value: 'kept' }]);
    const sink = memorySink();
    const checkpoint = path.join(tempDir(), 'cp');
    const q1 = await run(
      logSource({ log, topics: 'dq', startingOffsets: 'earliest', format: 'string' }),
      sink,
      {
        checkpoint,
      },
    );
    await q1.processAllAvailable();
    await q1.stop();
    await log.append(
      'dq',
      Array.from({ length: 10 }, (_, i) => ({ value: `lost-${i}` })),
    );
    await log.enforceRetention();
    const q2 = await run(
      logSource({ log, topics: 'dq', startingOffsets: 'earliest', format: 'string' }),
      sink,
      {
        checkpoint,
      },
    );
    await q2.awaitTermination(10_000).catch(() => undefined);
    expect(q2.exception).toBeInstanceOf(MillraceError);
    expect(q2.exception!.code).toBe('DATA_LOSS');
    expect(q2.exception!.message).toContain('Set failOnDataLoss: false');
    const q3 = await run(
      logSource({ log, topics: 'dq', startingOffsets: 'earliest', format: 'string', failOnDataLoss: false }),
      sink,
      { checkpoint },
    );
    await q3.processAllAvailable();
    expect(q3.exception).toBeNull();
    expect(values(sink.allRows()).at(-1)).toBe('lost-9');
  });
});

describe('JSON values', () => {
  const events = schema({ user: t.string, n: t.long, _corrupt_record: t.string.orNull() });
  const bad = ['{"user":"a","n":1}', 'not json', '{"user":"b","n":"x"}', '[1]', '{"user":"c","n":3}'];

  async function withBad(): Promise<Log> {
    const log = await open();
    await log.append(
      'j',
      bad.map((v) => ({ value: v, key: 'k' })),
    );
    return log;
  }

  it('permissive keeps bad records (nulls + raw text in the corrupt column) and counts them as malformed', async () => {
    const log = await withBad();
    const sink = memorySink<Record<string, unknown>>();
    const src = logSource({ log, topics: 'j', startingOffsets: 'earliest', format: { json: events } });
    const q = await run(src, sink);
    await q.processAllAvailable();
    expect(sink.allRows()).toEqual([
      { user: 'a', n: 1, _corrupt_record: null },
      { user: null, n: null, _corrupt_record: 'not json' },
      { user: 'b', n: null, _corrupt_record: '{"user":"b","n":"x"}' },
      { user: null, n: null, _corrupt_record: '[1]' },
      { user: 'c', n: 3, _corrupt_record: null },
    ]);
    const direct = logSource({ log, topics: 'j', startingOffsets: 'earliest', format: { json: events } });
    await direct.open(context(tempDir()));
    const b = await direct.getBatch(null, (await direct.latestOffset(null, DEFAULT))!, { batchId: 0 });
    expect(b.malformedRows).toBe(0); // kept, not dropped
    expect(b.metrics!.malformedRecords).toBe(3);
    await direct.close();
  });

  it('dropMalformed drops them and counts them in malformedRows; metadata columns come after the schema', async () => {
    const log = await withBad();
    const plain = schema({ user: t.string, n: t.long });
    const src = logSource({
      log,
      topics: 'j',
      startingOffsets: 'earliest',
      format: { json: plain, mode: 'dropMalformed', metadata: ['offset', 'key'] },
    });
    expect(src.schema.names).toEqual(['user', 'n', 'key', 'offset']);
    await src.open(context(tempDir()));
    const b = await src.getBatch(null, (await src.latestOffset(null, DEFAULT))!, { batchId: 0 });
    expect(b.rows).toEqual([
      { user: 'a', n: 1, key: 'k', offset: 0 },
      { user: 'c', n: 3, key: 'k', offset: 4 },
    ]);
    expect(b.malformedRows).toBe(3);
    // The chunked read reports the same once consumed (summary(), for the executor to collect).
    const chunks = src.getBatchChunks(null, (await src.latestOffset(null, DEFAULT))!, { batchId: 0 });
    const rows = [];
    for await (const c of chunks) rows.push(...c);
    expect(rows).toEqual(b.rows);
    expect(chunks.summary()).toEqual({ malformedRows: 3, metrics: b.metrics });
    await src.close();
    const sink = memorySink<Record<string, unknown>>();
    const q = await run(
      logSource({
        log,
        topics: 'j',
        startingOffsets: 'earliest',
        format: { json: plain, mode: 'dropMalformed' },
      }),
      sink,
    );
    await q.processAllAvailable();
    expect(sink.allRows()).toEqual([
      { user: 'a', n: 1 },
      { user: 'c', n: 3 },
    ]);
  });

  it('failFast fails the query at the first bad record, naming topic, partition and offset', async () => {
    const log = await withBad();
    const sink = memorySink();
    const q = await run(
      logSource({
        log,
        topics: 'j',
        startingOffsets: 'earliest',
        format: { json: schema({ user: t.string, n: t.long }), mode: 'failFast' },
      }),
      sink,
    );
    await q.awaitTermination(10_000).catch(() => undefined);
    expect(q.exception?.code).toBe('MALFORMED_RECORD');
    expect(q.exception!.message).toContain('malformed record at topic "j" partition 0 offset 1');
    expect(sink.allRows()).toEqual([]);
  });
});

describe('options', () => {
  it('are validated at construction, naming the option', async () => {
    const log = await open();
    const msg = async (o: Record<string, unknown>) => (await errorOf(() => logSource(o as never))).message;
    expect(await msg({ topics: 't' })).toContain('give exactly one of "dir"');
    expect(await msg({ log, topics: 't', topicPattern: /x/ })).toContain('give exactly one of "topics"');
    expect(await msg({ log, topics: 't', maxOffsetsPerTrigger: 0 })).toContain(
      '"maxOffsetsPerTrigger" must be a whole number ≥ 1',
    );
    expect(await msg({ log, topics: 't', startingOffsets: 'first' })).toContain('"startingOffsets" must be');
    expect(await msg({ log, topics: 't', format: 'xml' })).toContain(
      `"format" must be 'bytes', 'string' or { json`,
    );
    expect(
      await msg({ log, topics: 't', format: { json: schema({ key: t.string }), metadata: ['key'] } }),
    ).toContain('metadata column "key" clashes');
    expect(await msg({ log, topics: 't', failOnDatLoss: false })).toContain('unknown option "failOnDatLoss"');
  });

  it('opens the log itself from a directory, and closes it', async () => {
    const dir = tempDir();
    const writer = await openLog({ dir, fsync: 'always', retentionCheckIntervalMs: 0 });
    await writer.append('d', [{ value: 'x' }]);
    const sink = memorySink<{ value: string | null }>();
    const q = await run(logSource({ dir, topics: 'd', startingOffsets: 'earliest', format: 'string' }), sink);
    await q.processAllAvailable();
    await q.stop();
    expect(values(sink.allRows())).toEqual(['x']);
    await writer.close();
  });
});
