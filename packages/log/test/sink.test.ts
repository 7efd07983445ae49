/**
 * logSink: records and the batch marker in one transaction, so a replayed
 * batch is a no-op; 'value' and 'json' formats; start()-time checks.
 */
import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { createSession, memorySink, memoryStream, schema, t, type StreamingQuery } from 'millrace';
import { afterEach, describe, expect, it } from 'vitest';
import { logSink, logSource, openLog, type Log } from '../src/index.ts';
import { cleanupDirs, context, errorOf, readAll, tempDir } from './helpers.ts';

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

const KV = schema({ key: t.string.orNull(), value: t.string });

describe('exactly once', () => {
  it('a batch id written before is a no-op (the marker commits with the records)', async () => {
    const log = await open();
    const sink = logSink({ log, topic: 'out' });
    await sink.open({ ...context(tempDir()), schema: KV, outputMode: 'append' });
    const rows = [
      { key: 'a', value: '1' },
      { key: null, value: '2' },
    ];
    expect(await sink.addBatch(rows, { batchId: 0, outputMode: 'append' })).toEqual({
      rowsWritten: 2,
      metrics: { recordsWritten: 2 },
    });
    expect(await sink.addBatch(rows, { batchId: 0, outputMode: 'append' })).toEqual({
      rowsWritten: 0,
      metrics: { skippedReplay: 1 },
    });
    await sink.close();
    // A new instance (a restarted process) with the same query id and sink name sees the marker.
    const again = logSink({ log, topic: 'out' });
    await again.open({ ...context(tempDir()), schema: KV, outputMode: 'append' });
    expect((await again.addBatch(rows, { batchId: 0, outputMode: 'append' })).rowsWritten).toBe(0);
    expect(
      (await again.addBatch([{ key: 'b', value: '3' }], { batchId: 1, outputMode: 'append' })).rowsWritten,
    ).toBe(1);
    expect(log.lastMarker('out', 'q-test/log-out')).toBe(1);
    const stored = [];
    for await (const c of log.read('out', 0)) stored.push(...c.map((r) => [r.key, r.value]));
    expect(stored).toEqual([
      ['a', '1'],
      [null, '2'],
      ['b', '3'],
    ]);
    await again.close();
  });

  it('a query replaying its last batch after a crash does not duplicate output', async () => {
    const log = await open();
    const checkpoint = path.join(tempDir(), 'cp');
    const start = async (input: ReturnType<typeof memoryStream<{ key: string | null; value: string }>>) => {
      const q = await createSession()
        .readStream(input)
        .writeStream({ sink: logSink({ log, topic: 'replayed' }), checkpointLocation: checkpoint })
        .start();
      queries.push(q);
      return q;
    };
    const input = memoryStream(KV, { name: 'in' });
    const q1 = await start(input);
    input.addData({ key: 'k', value: 'one' });
    await q1.processAllAvailable();
    input.addData({ key: 'k', value: 'two' });
    await q1.processAllAvailable();
    await q1.stop();
    // The crash: batch 1's output was written, but commits/1 was not.
    rmSync(path.join(checkpoint, 'commits', '1'));
    const input2 = memoryStream(KV, { name: 'in' });
    input2.addData({ key: 'k', value: 'one' });
    input2.addData({ key: 'k', value: 'two' }); // the same data: batch 1 is replayed
    const q2 = await start(input2);
    await q2.processAllAvailable();
    expect(q2.recentProgress[0]!.batchId).toBe(1);
    expect(q2.recentProgress[0]!.sink.metrics).toEqual({ skippedReplay: 1 });
    expect((await readAll(log, 'replayed')).map(([, v]) => v)).toEqual(['one', 'two']);
  });
});

describe('formats', () => {
  it("'json' writes whole rows that the source's json format reads back; keyColumn picks the key", async () => {
    const log = await open();
    const S = schema({ user: t.string, n: t.long, at: t.timestamp, tags: t.array(t.string) });
    const input = memoryStream(S);
    const q = await createSession()
      .readStream(input)
      .writeStream({
        sink: logSink({ log, topic: 'rows', format: 'json', keyColumn: 'user' }),
        checkpointLocation: path.join(tempDir(), 'cp'),
      })
      .start();
    queries.push(q);
    const rows = [
      { user: 'ann', n: 1, at: Date.UTC(2025, 0, 1), tags: ['x'] },
      { user: 'bob', n: 2, at: Date.UTC(2025, 0, 2), tags: [] },
    ];
    input.addData(rows);
    await q.processAllAvailable();
    const stored = [];
    for await (const c of log.read('rows', 0)) stored.push(...c);
    expect(stored.map((r) => r.key)).toEqual(['ann', 'bob']);
    expect(JSON.parse(stored[0]!.value as string)).toEqual({
      user: 'ann',
      n: 1,
      at: '2025-01-01T00:00:00.000Z',
      tags: ['x'],
    });

    const back = memorySink<(typeof rows)[number]>();
    const q2 = await createSession()
      .readStream(
        logSource({
          log,
          topics: 'rows',
          startingOffsets: 'earliest',
          format: { json: S, mode: 'failFast' },
        }),
      )
      .writeStream({ sink: back, checkpointLocation: path.join(tempDir(), 'cp2') })
      .start();
    queries.push(q2);
    await q2.processAllAvailable();
    expect(back.allRows()).toEqual(rows);
  });

  it("'value' writes a string or binary value column; valueColumn renames it", async () => {
    const log = await open();
    const sink = logSink({ log, topic: 'bin', valueColumn: 'payload' });
    const S = schema({ payload: t.binary.orNull(), id: t.long });
    await sink.open({ ...context(tempDir()), schema: S, outputMode: 'append' });
    await sink.addBatch(
      [
        { payload: new Uint8Array([1, 2]), id: 1 },
        { payload: null, id: 2 },
      ],
      { batchId: 0, outputMode: 'append' },
    );
    const stored = [];
    for await (const c of log.read('bin', 0)) stored.push(...c.map((r) => [r.key, r.value]));
    expect(stored).toEqual([
      [null, new Uint8Array([1, 2])],
      [null, null],
    ]);
    await sink.close();
  });
});

describe('start()-time checks', () => {
  it('fail on a missing or mistyped value/key column and on an unknown topic without auto-create', async () => {
    const log = await open();
    const startWith = (s: ReturnType<typeof schema>, sink: ReturnType<typeof logSink>) =>
      createSession()
        .readStream(memoryStream(s))
        .writeStream({ sink, checkpointLocation: path.join(tempDir(), 'cp') })
        .start();
    const noValue = await errorOf(startWith(schema({ n: t.long }), logSink({ log, topic: 'x' })));
    expect(noValue.message).toContain('the output has no column "value"');
    expect(noValue.message).toContain("use format 'json'");
    const longValue = await errorOf(startWith(schema({ value: t.long }), logSink({ log, topic: 'x' })));
    expect(longValue.message).toContain('the value column "value" must be string or binary, it is long');
    const badKey = await errorOf(
      startWith(schema({ value: t.string, k: t.long }), logSink({ log, topic: 'x', keyColumn: 'k' })),
    );
    expect(badKey.message).toContain('the key column "k" must be string or binary');

    const strict = await open({ autoCreateTopics: false });
    const e = await errorOf(
      startWith(schema({ value: t.string }), logSink({ log: strict, topic: 'missing' })),
    );
    expect(e.code).toBe('TOPIC_NOT_FOUND');
    const q = await startWith(
      schema({ value: t.string }),
      logSink({ log: strict, topic: 'made', topicConfig: { partitions: 3 } }),
    );
    queries.push(q);
    expect(strict.topic('made')!.partitions).toBe(3);
  });

  it('validates options at construction', async () => {
    const log = await open();
    expect((await errorOf(() => logSink({ log, topic: 'a/b' }))).code).toBe('INVALID_TOPIC_NAME');
    expect((await errorOf(() => logSink({ topic: 't' }))).message).toContain('give exactly one of "dir"');
    expect((await errorOf(() => logSink({ log, topic: 't', format: 'csv' as 'json' }))).message).toContain(
      `"format" must be 'value' or 'json'`,
    );
    expect(
      (await errorOf(() => logSink({ log, topic: 't', format: 'json', valueColumn: 'v' }))).message,
    ).toContain(`"valueColumn" applies only to format 'value'`);
  });
});
