/**
 * kafkaSource against librdkafka's mock cluster (kcat): subscriptions, starting offsets,
 * rate limits, replays, headers, new topics while running, and Spark's row schema.
 */
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { type Offset, schema, t } from 'millrace';
import { type KafkaRow, kafkaSource } from '../src/index.ts';
import { type MockCluster, TestProducer, startMockCluster, uniqueTopic } from './mockCluster.ts';
import { cleanupDirs, connectorContext, nextBatch, recordingLogger, rejection, text } from './helpers.ts';

let kafka: MockCluster;
let producer: TestProducer;
const opened: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  kafka = await startMockCluster();
  producer = await TestProducer.connect(kafka.bootstrap);
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
  cleanupDirs();
});
afterAll(async () => {
  await producer?.close();
  await kafka?.stop();
});

/** `n` records per partition p (0..3): value `p-i`, key `k-p-i`. */
async function fill(topic: string, perPartition: readonly number[], from = 0): Promise<void> {
  const records = perPartition.flatMap((n, p) =>
    Array.from({ length: n }, (_, i) => ({
      partition: p,
      value: `${p}-${from + i}`,
      key: `k-${p}-${from + i}`,
    })),
  );
  await producer.send(topic, records);
}

async function open<S extends { open(ctx: any): Promise<void>; close(): Promise<void> }>(
  source: S,
  ctx = connectorContext(),
): Promise<S> {
  await source.open(ctx);
  opened.push(source);
  return source;
}

const values = (rows: { value: Uint8Array | null }[]) => rows.map((r) => text(r.value)).sort();

describe('subscribe', () => {
  it("reads Spark's row schema from earliest, partition by partition", async () => {
    const topic = uniqueTopic('sub');
    const before = Date.now();
    await fill(topic, [3, 2, 0, 1]);
    const source = await open(
      kafkaSource({ bootstrapServers: kafka.bootstrap, subscribe: topic, startingOffsets: 'earliest' }),
    );
    expectTypeOf(source.schema).toEqualTypeOf<import('millrace').Schema<KafkaRow>>();
    expect(source.schema.names).toEqual([
      'key',
      'value',
      'topic',
      'partition',
      'offset',
      'timestamp',
      'timestampType',
    ]);
    const { end, rows, metrics } = await nextBatch(source, null);
    expect(end).toEqual({ [topic]: { '0': 3, '1': 2, '2': 0, '3': 1 } });
    expect(values(rows)).toEqual(['0-0', '0-1', '0-2', '1-0', '1-1', '3-0']);
    const r = rows.find((x) => text(x.value) === '0-2')!;
    expect(text(r.key)).toBe('k-0-2');
    expect(r.topic).toBe(topic);
    expect(r.partition).toBe(0);
    expect(r.offset).toBe(2);
    expect(r.timestamp).toBeGreaterThanOrEqual(before - 1000);
    expect(r.timestamp).toBeLessThanOrEqual(Date.now() + 1000);
    expect(r.timestampType).toBe(0);
    expect(r.value).toBeInstanceOf(Uint8Array);
    expect(metrics).toMatchObject({ recordsRead: 6, maxOffsetsBehindLatest: 0, offsetsBehindLatest: 0 });
    // Nothing new: the same offset comes back.
    expect(await source.latestOffset(end, { kind: 'default' })).toEqual(end);
    await fill(topic, [0, 0, 2, 0], 10);
    const next = await nextBatch(source, end, 1);
    expect(next.end).toEqual({ [topic]: { '0': 3, '1': 2, '2': 2, '3': 1 } });
    expect(values(next.rows)).toEqual(['2-10', '2-11']);
  });

  it("startingOffsets 'latest' (the default) reads only what arrives after the start, and remembers that start", async () => {
    const topic = uniqueTopic('latest');
    await fill(topic, [2, 2, 2, 2]);
    const ctx = connectorContext();
    const source = await open(kafkaSource({ bootstrapServers: kafka.bootstrap, subscribe: [topic] }), ctx);
    expect(await source.latestOffset(null, { kind: 'default' })).toBeNull();
    await fill(topic, [1, 0, 1, 0], 5);
    const end = await source.latestOffset(null, { kind: 'default' });
    expect(end).toEqual({ [topic]: { '0': 3, '1': 2, '2': 3, '3': 2 } });
    // A restarted process (same checkpoint directory) starts from the same place, though more arrived.
    await fill(topic, [1, 1, 1, 1], 7);
    const again = await open(kafkaSource({ bootstrapServers: kafka.bootstrap, subscribe: [topic] }), ctx);
    const b = await again.getBatch(null, end!, { batchId: 0 });
    expect(values(b.rows)).toEqual(['0-5', '2-5']);
  });

  it('startingOffsets per partition: numbers, -2 earliest, -1 latest; every partition must be named', async () => {
    const topic = uniqueTopic('specific');
    await fill(topic, [5, 5, 5, 5]);
    const source = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribe: topic,
        startingOffsets: JSON.stringify({ [topic]: { '0': 3, '1': -2, '2': -1, '3': 5 } }),
      }),
    );
    const { end, rows } = await nextBatch(source, null);
    expect(end).toEqual({ [topic]: { '0': 5, '1': 5, '2': 5, '3': 5 } });
    expect(values(rows)).toEqual(['0-3', '0-4', '1-0', '1-1', '1-2', '1-3', '1-4']);

    const partial = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribe: topic,
        startingOffsets: { [topic]: { '0': 1 } },
      }),
    );
    const e = await rejection(partial.latestOffset(null, { kind: 'default' }));
    expect(e.code).toBe('INVALID_OPTION');
    expect(e.message).toContain(`missing: ${topic}-1, ${topic}-2, ${topic}-3`);
    expect(e.message).toContain('-2 for earliest');

    const unknown = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribe: topic,
        startingOffsets: { [topic]: { '0': 0, '1': 0, '2': 0, '3': 0, '9': 0 } },
      }),
    );
    expect((await rejection(unknown.latestOffset(null, { kind: 'default' }))).message).toContain(
      `${topic}-9`,
    );
  });

  it('a replayed batch returns exactly the same rows, whatever arrived since', async () => {
    const topic = uniqueTopic('replay');
    await fill(topic, [4, 3, 2, 1]);
    const source = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribe: topic,
        startingOffsets: 'earliest',
        maxOffsetsPerTrigger: 6,
      }),
    );
    const first = await nextBatch(source, null);
    const second = await nextBatch(source, first.end, 1);
    await fill(topic, [5, 5, 5, 5], 100);
    const again = await source.getBatch(first.end, second.end!, { batchId: 1 });
    expect(again.rows).toEqual(second.rows);
    const fresh = await open(
      kafkaSource({ bootstrapServers: kafka.bootstrap, subscribe: topic, startingOffsets: 'earliest' }),
    );
    expect((await fresh.getBatch(first.end, second.end!, { batchId: 1 })).rows).toEqual(second.rows);
  });
});

describe('chunked reads (the default)', () => {
  it('getBatchChunks gives exactly the rows of getBatch, in the same offset-fixed order, in chunks of at most maxRecordsPerPoll', async () => {
    const topic = uniqueTopic('chunks');
    await fill(topic, [40, 30, 20, 10]);
    const source = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribe: topic,
        startingOffsets: 'earliest',
        maxRecordsPerPoll: 16,
      }),
    );
    const end = await source.latestOffset(null, { kind: 'default' });
    const batch = source.getBatchChunks!(null, end!, { batchId: 0 });
    const chunks: KafkaRow[][] = [];
    for await (const c of batch) chunks.push(c);
    expect(chunks.length).toBeGreaterThan(1);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(16);
    // 16 records per poll over 4 partitions: slots of 4 offsets, partition by partition, round by round.
    const expected: string[] = [];
    for (let round = 0; round < 10; round++) {
      for (const [p, n] of [40, 30, 20, 10].entries()) {
        for (let i = round * 4; i < Math.min(n, round * 4 + 4); i++) expected.push(`${p}-${i}`);
      }
    }
    expect(chunks.flat().map((r) => text(r.value))).toEqual(expected);
    const whole = await source.getBatch(null, end!, { batchId: 0 });
    expect(whole.rows).toEqual(chunks.flat());
    expect(batch.summary!()).toEqual({ malformedRows: whole.malformedRows, metrics: whole.metrics });
    expect(whole.metrics).toMatchObject({ recordsRead: 100, partitionsRead: 4, offsetsBehindLatest: 0 });

    // A new instance (a restart) reads the same order.
    const again = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribe: topic,
        startingOffsets: 'earliest',
        maxRecordsPerPoll: 16,
      }),
    );
    const replayed: KafkaRow[] = [];
    for await (const c of again.getBatchChunks!(null, end!, { batchId: 0 })) replayed.push(...c);
    expect(replayed).toEqual(whole.rows);
  });

  it('summary() reports what getBatch does: malformed records dropped, lag behind the latest offsets', async () => {
    const topic = uniqueTopic('chunk-summary');
    await producer.send(
      topic,
      Array.from({ length: 24 }, (_, i) => ({
        partition: i % 4,
        value: i % 6 === 2 ? `{"n": ${i}` : JSON.stringify({ n: i }),
      })),
    );
    const source = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribe: topic,
        startingOffsets: 'earliest',
        maxOffsetsPerTrigger: 8,
        format: { json: schema({ n: t.long }), mode: 'dropMalformed' },
      }),
    );
    const end = await source.latestOffset(null, { kind: 'default' });
    const batch = source.getBatchChunks!(null, end!, { batchId: 0 });
    const rows: { n: number }[] = [];
    for await (const c of batch) rows.push(...c);
    const whole = await source.getBatch(null, end!, { batchId: 0 });
    expect(rows).toEqual(whole.rows);
    const summary = batch.summary!();
    expect(summary).toEqual({ malformedRows: whole.malformedRows, metrics: whole.metrics });
    // 8 of 24 offsets (2 per partition: offsets 0 and 1 = records 0-7, of which 2 is malformed).
    expect(rows.map((r) => r.n).sort((a, b) => a - b)).toEqual([0, 1, 3, 4, 5, 6, 7]);
    expect(summary.malformedRows).toBe(1);
    expect(summary.metrics).toEqual({
      recordsRead: 8,
      partitionsRead: 4,
      malformedRecords: 1,
      offsetsBehindLatest: 16,
      avgOffsetsBehindLatest: 4,
      maxOffsetsBehindLatest: 4,
      minOffsetsBehindLatest: 4,
    });
  });
});

describe('subscribePattern and assign', () => {
  it('a pattern matches whole topic names and picks up a new topic while running, from its earliest offset', async () => {
    const base = uniqueTopic('pat');
    await fill(`${base}-a`, [1, 1, 0, 0]);
    await fill(`${base}-b`, [0, 0, 1, 0]);
    await fill(`x${base}-a`, [1, 0, 0, 0]); // must not match: patterns match the whole name
    const source = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribePattern: `${base}-.*`,
        startingOffsets: 'latest',
        partitionDiscoveryIntervalMs: 0,
      }),
    );
    expect(await source.latestOffset(null, { kind: 'default' })).toBeNull();
    await fill(`${base}-c`, [2, 0, 0, 1]); // a new topic, after the query started
    await fill(`${base}-a`, [0, 1, 0, 0], 5);
    const { end, rows } = await nextBatch(source, null);
    expect(Object.keys(end as object).sort()).toEqual([`${base}-a`, `${base}-b`, `${base}-c`]);
    expect(rows.map((r) => `${r.topic.slice(base.length)}:${text(r.value)}`).sort()).toEqual([
      '-a:1-5',
      '-c:0-0',
      '-c:0-1',
      '-c:3-0',
    ]);
  });

  it('a RegExp pattern is used as given', async () => {
    const base = uniqueTopic('rx');
    await fill(`${base}-one`, [1, 0, 0, 0]);
    const source = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribePattern: new RegExp(`^${base}-o`),
        startingOffsets: 'earliest',
      }),
    );
    expect(values((await nextBatch(source, null)).rows)).toEqual(['0-0']);
  });

  it('assign reads only the given partitions', async () => {
    const topic = uniqueTopic('assign');
    await fill(topic, [2, 2, 2, 2]);
    const source = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        assign: { [topic]: [1, 3] },
        startingOffsets: 'earliest',
      }),
    );
    const { end, rows } = await nextBatch(source, null);
    expect(end).toEqual({ [topic]: { '1': 2, '3': 2 } });
    expect(values(rows)).toEqual(['1-0', '1-1', '3-0', '3-1']);
    const missing = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        assign: `{"${topic}": [7]}`,
        startingOffsets: 'earliest',
      }),
    );
    const e = await rejection(missing.latestOffset(null, { kind: 'default' }));
    expect(e.message).toContain(`${topic}-7`);
    expect(e.message).toContain('does not exist');
  });
});

describe('maxOffsetsPerTrigger', () => {
  it('splits the limit across partitions in proportion to their lag, never reading more than the limit', async () => {
    const topic = uniqueTopic('rate');
    await fill(topic, [100, 10, 0, 1]);
    const source = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribe: topic,
        startingOffsets: 'earliest',
        maxOffsetsPerTrigger: 22,
      }),
    );
    // The shared rule (connectors/partitioned/offsetLimit.ts): lag 100 / 10 / 0 / 1 of 111 gives
    // 22 × share, floored: 19, 1, 0, 0 (20); the 2 left go first to a partition that would read
    // nothing (3), then by largest remainder (1: .98 over 0: .82). Spark's own code rounds the
    // small share up and reads 21 here, but can exceed the limit elsewhere; the limit wins.
    const b0 = await nextBatch(source, null);
    expect(b0.end).toEqual({ [topic]: { '0': 19, '1': 2, '2': 0, '3': 1 } });
    expect(b0.rows).toHaveLength(22);
    expect(b0.metrics).toMatchObject({
      recordsRead: 22,
      offsetsBehindLatest: 89,
      maxOffsetsBehindLatest: 81,
      minOffsetsBehindLatest: 0,
      avgOffsetsBehindLatest: 22.3, // 89 / 4, rounded to one decimal as Spark reports it
    });
    expect(source.reportLatestOffset()).toEqual({ [topic]: { '0': 100, '1': 10, '2': 0, '3': 1 } });
    // Trigger.once ignores the limit.
    expect(await source.latestOffset(b0.end, { kind: 'all' })).toEqual({
      [topic]: { '0': 100, '1': 10, '2': 0, '3': 1 },
    });
    let start: Offset | null = b0.end;
    let total = b0.rows.length;
    for (let i = 1; i < 20 && total < 111; i++) {
      const b = await nextBatch(source, start, i);
      expect(b.rows.length).toBeLessThanOrEqual(22);
      total += b.rows.length;
      start = b.end;
    }
    expect(total).toBe(111);
  });

  it('prepareForAvailableNow pins the end: later records wait for the next run', async () => {
    const topic = uniqueTopic('avail');
    await fill(topic, [3, 0, 0, 0]);
    const source = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribe: topic,
        startingOffsets: 'earliest',
        maxOffsetsPerTrigger: 2,
      }),
    );
    await source.prepareForAvailableNow();
    await fill(topic, [3, 3, 0, 0], 10);
    let start: Offset | null = null;
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) {
      const b: { end: Offset | null; rows: KafkaRow[] } = await nextBatch(source, start, i);
      if (b.end === null || JSON.stringify(b.end) === JSON.stringify(start)) break;
      seen.push(...values(b.rows).map(String));
      start = b.end;
    }
    expect(seen.sort()).toEqual(['0-0', '0-1', '0-2']);
  });
});

describe('headers and formats', () => {
  it("includeHeaders adds Spark's headers column (null when a record has none)", async () => {
    const topic = uniqueTopic('hdr');
    await producer.send(topic, [
      { partition: 0, value: 'a', headers: [{ trace: 'x1' }, { 'content-type': 'json' }] },
      { partition: 0, value: 'b' },
      { partition: 0, value: null, key: 'tombstone' },
    ]);
    const source = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribe: topic,
        startingOffsets: 'earliest',
        includeHeaders: true,
      }),
    );
    expect(source.schema.names.at(-1)).toBe('headers');
    const { rows } = await nextBatch(source, null);
    expectTypeOf(rows[0]!.headers).toEqualTypeOf<import('../src/index.ts').KafkaHeader[] | null>();
    expect(rows.map((r) => r.headers?.map((h) => `${h.key}=${text(h.value)}`) ?? null)).toEqual([
      ['trace=x1', 'content-type=json'],
      null,
      null,
    ]);
    expect(rows[2]!.value).toBeNull();
  });

  it("format 'string' gives key and value as text", async () => {
    const topic = uniqueTopic('str');
    await producer.send(topic, [{ partition: 2, value: 'héllo wörld', key: 'ключ' }]);
    const source = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribe: topic,
        startingOffsets: 'earliest',
        format: 'string',
      }),
    );
    const { rows } = await nextBatch(source, null);
    expectTypeOf(rows[0]!.value).toEqualTypeOf<string | null>();
    expect(rows).toEqual([
      expect.objectContaining({ key: 'ключ', value: 'héllo wörld', partition: 2, offset: 0, topic }),
    ]);
  });
});

describe('connection', () => {
  it('an unreachable cluster fails open() with a retryable error naming the bootstrap servers', async () => {
    const source = kafkaSource({ bootstrapServers: '127.0.0.1:1', subscribe: 't', requestTimeoutMs: 1_000 });
    const e = await rejection(source.open(connectorContext({ log: recordingLogger() })));
    expect(e.code).toBe('KAFKA_UNAVAILABLE');
    expect(e.retryable).toBe(true);
    expect(e.message).toContain('127.0.0.1:1');
    await source.close();
  });
});
