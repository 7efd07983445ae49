/**
 * kafkaSink against the mock cluster: Spark's columns, keys, partitions, headers, topic
 * routing, JSON rows, transactions with replayed batch ids written once, delivery errors and
 * bad schemas. Output is read back with a read_committed consumer.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Row, type Schema, schema, t } from 'millrace';
import { type KafkaSinkOptions, kafkaSink, readKafkaSinkCommits } from '../src/index.ts';
import { type MockCluster, readTopic, startMockCluster, uniqueTopic } from './mockCluster.ts';
import { cleanupDirs, recordingLogger, rejection, sinkContext } from './helpers.ts';

let kafka: MockCluster;
const opened: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  kafka = await startMockCluster();
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
  cleanupDirs();
});
afterAll(async () => {
  await kafka?.stop();
});

async function openSink(
  options: Omit<KafkaSinkOptions, 'bootstrapServers'>,
  s: Schema<any>,
  queryId?: string,
) {
  const sink = kafkaSink({ bootstrapServers: kafka.bootstrap, ...options });
  const log = recordingLogger();
  await sink.open(sinkContext(s, { queryId, log }));
  opened.push(sink);
  return Object.assign(sink, { log });
}

const batch = (batchId: number) => ({ batchId, outputMode: 'append' as const });

describe('columns (Spark)', () => {
  it('writes value-only rows, at-least-once without transactions', async () => {
    const topic = uniqueTopic('plain');
    const sink = await openSink({ topic, transactional: false }, schema({ value: t.string }));
    expect(sink.guarantee).toBe('at-least-once');
    expect(sink.describe()).toBe(`KafkaSink[${topic}, bootstrap=${kafka.bootstrap}, at-least-once]`);
    const r = await sink.addBatch([{ value: 'a' }, { value: 'b' }, { value: 'c' }], batch(0));
    expect(r.rowsWritten).toBe(3);
    const out = await readTopic(kafka.bootstrap, topic);
    expect(out.map((x) => x.value).sort()).toEqual(['a', 'b', 'c']);
    expect(out.every((x) => x.key === null)).toBe(true);
  });

  it('keys, explicit partitions, binary values and headers', async () => {
    const topic = uniqueTopic('keyed');
    const s = schema({
      key: t.string.orNull(),
      value: t.binary.orNull(),
      partition: t.int.orNull(),
      headers: t.array(t.struct({ key: t.string, value: t.binary.orNull() })).orNull(),
    });
    const sink = await openSink({ topic, transactional: false }, s);
    const rows: Row[] = [
      { key: 'k1', value: Buffer.from('v1'), partition: 2, headers: [{ key: 'h', value: Buffer.from('x') }] },
      { key: null, value: new Uint8Array([104, 105]), partition: 3, headers: null },
      { key: 'k3', value: null, partition: 2, headers: [] },
    ];
    await sink.addBatch(rows, batch(0));
    const out = await readTopic(kafka.bootstrap, topic);
    expect(out.map((x) => [x.partition, x.key, x.value, x.headers])).toEqual([
      [2, 'k1', 'v1', [{ h: 'x' }]],
      [2, 'k3', null, []],
      [3, null, 'hi', []],
    ]);
  });

  it('routes rows by a topic column unless the topic option is set (which overrides it, as Spark)', async () => {
    const a = uniqueTopic('route-a');
    const b = uniqueTopic('route-b');
    const s = schema({ topic: t.string, value: t.string });
    const routed = await openSink({ transactional: false }, s);
    await routed.addBatch(
      [
        { topic: a, value: '1' },
        { topic: b, value: '2' },
        { topic: a, value: '3' },
      ],
      batch(0),
    );
    expect((await readTopic(kafka.bootstrap, a)).map((x) => x.value).sort()).toEqual(['1', '3']);
    expect((await readTopic(kafka.bootstrap, b)).map((x) => x.value)).toEqual(['2']);
    const fixed = await openSink({ topic: b, transactional: false, name: 'fixed' }, s);
    await fixed.addBatch([{ topic: a, value: '4' }], batch(0));
    expect((await readTopic(kafka.bootstrap, b)).map((x) => x.value).sort()).toEqual(['2', '4']);
  });
});

describe('format { json: true }', () => {
  it('writes each row as a JSON object, the key from keyColumn', async () => {
    const topic = uniqueTopic('json');
    const s = schema({ word: t.string, count: t.long, at: t.timestamp.orNull() });
    const sink = await openSink(
      { topic, format: { json: true, keyColumn: 'word' }, transactional: false },
      s,
    );
    await sink.addBatch(
      [
        { word: 'kafka', count: 3, at: Date.UTC(2025, 0, 1) },
        { word: 'spark', count: 1, at: null },
      ],
      batch(0),
    );
    const out = await readTopic(kafka.bootstrap, topic);
    expect(out.map((x) => [x.key, JSON.parse(x.value!)]).sort()).toEqual([
      ['kafka', { word: 'kafka', count: 3, at: '2025-01-01T00:00:00.000Z' }],
      ['spark', { word: 'spark', count: 1 }],
    ]);
  });
});

describe('transactions', () => {
  it('a replayed batch id is written once, also by a restarted sink, and each batch leaves a commit marker', async () => {
    const topic = uniqueTopic('tx');
    const queryId = `query-${topic}`;
    const s = schema({ key: t.string, value: t.string });
    const sink = await openSink({ topic, name: 'out' }, s, queryId);
    expect(sink.guarantee).toBe('transactional');
    expect(sink.describe()).toContain('transactional');
    const rows0 = [0, 1, 2, 3, 4].map((i) => ({ key: `k${i}`, value: `b0-${i}` }));
    expect((await sink.addBatch(rows0, batch(0))).rowsWritten).toBe(5);
    // The same batch again (a replay after a crash between the sink and commits/N): nothing written.
    expect(await sink.addBatch(rows0, batch(0))).toEqual({
      rowsWritten: 0,
      metrics: { skippedCommittedBatch: 1 },
    });

    // A restarted process: a new sink with the same query id and name reads the marker at open().
    const again = await openSink({ topic, name: 'out' }, s, queryId);
    expect(again.log.records.find((r) => r.msg === 'kafka sink ready')?.fields.lastCommittedBatch).toBe(0);
    expect((await again.addBatch(rows0, batch(0))).rowsWritten).toBe(0);
    expect((await again.addBatch([{ key: 'k9', value: 'b1-9' }], batch(1))).rowsWritten).toBe(1);

    const out = await readTopic(kafka.bootstrap, topic);
    expect(out.map((x) => x.value).sort()).toEqual(['b0-0', 'b0-1', 'b0-2', 'b0-3', 'b0-4', 'b1-9']);

    const markers = await readKafkaSinkCommits({ bootstrapServers: kafka.bootstrap, queryId, sink: 'out' });
    expect(markers.map((mk) => [mk.batchId, mk.records])).toEqual([
      [0, 5],
      [1, 1],
    ]);
    // The marker says which offsets each batch wrote: together exactly what is in the topic.
    const covered = markers.flatMap((mk) =>
      Object.entries(mk.partitions[topic] ?? {}).flatMap(([p, [first, last]]) =>
        out
          .filter((x) => x.partition === Number(p) && x.offset >= first && x.offset <= last)
          .map((x) => x.value),
      ),
    );
    expect(covered.sort()).toEqual(out.map((x) => x.value).sort());

    // Another query writing to the same topic has its own batch ids.
    const other = await openSink({ topic, name: 'out' }, s, `${queryId}-other`);
    expect((await other.addBatch([{ key: 'z', value: 'other-0' }], batch(0))).rowsWritten).toBe(1);
  });

  it('a failed write aborts the transaction and fails the batch; the batch is written when retried', async () => {
    const topic = uniqueTopic('txfail');
    const s = schema({ value: t.string, partition: t.int });
    const sink = await openSink({ topic, name: 'out', deliveryTimeoutMs: 2_000 }, s);
    const e = await rejection(
      sink.addBatch(
        [
          { value: 'ok', partition: 0 },
          { value: 'bad', partition: 42 },
        ],
        batch(0),
      ),
    );
    expect(e.code).toBe('KAFKA_UNKNOWN_PARTITION');
    expect(e.message).toContain(`kafkaSink "out"`);
    expect(e.message).toContain('partition 42');
    expect(e.message).toContain('batch 0');
    expect(e.context).toMatchObject({ sink: 'out', batch: 0 });
    // Not committed: the replay writes it.
    expect((await sink.addBatch([{ value: 'ok', partition: 0 }], batch(0))).rowsWritten).toBe(1);
  });
});

describe('errors', () => {
  it('bad output schemas fail at open() with what to do', async () => {
    const check = async (
      s: Schema<any>,
      options: Omit<KafkaSinkOptions, 'bootstrapServers'>,
      msg: RegExp,
    ) => {
      const sink = kafkaSink({ bootstrapServers: kafka.bootstrap, transactional: false, ...options });
      const e = await rejection(sink.open(sinkContext(s)));
      expect(e.code).toBe('INVALID_OPTION');
      expect(e.message).toMatch(msg);
    };
    await check(schema({ key: t.string }), { topic: 't' }, /needs a "value" column/);
    await check(
      schema({ value: t.long }),
      { topic: 't' },
      /"value" column must be string or binary, it is long; cast it/,
    );
    await check(
      schema({ value: t.string }),
      {},
      /set the "topic" option, or give the output a "topic" column/,
    );
    await check(
      schema({ value: t.string, key: t.double }),
      { topic: 't' },
      /"key" column must be string or binary/,
    );
    await check(
      schema({ a: t.string }),
      { topic: 't', format: { json: true, keyColumn: 'b' } },
      /no such column/,
    );
  });

  it('columns the sink does not write are ignored with a warning (as Spark)', async () => {
    const topic = uniqueTopic('extra');
    const sink = await openSink({ topic, transactional: false }, schema({ value: t.string, count: t.long }));
    expect(sink.log.records.find((r) => r.level === 'warn')?.fields.ignored).toEqual(['count']);
    await sink.addBatch([{ value: 'v', count: 1 }], batch(0));
    expect((await readTopic(kafka.bootstrap, topic)).map((x) => x.value)).toEqual(['v']);
  });

  it('a record larger than the producer allows is a clear error', async () => {
    const topic = uniqueTopic('large');
    const sink = await openSink({ topic, transactional: false }, schema({ value: t.string }));
    const e = await rejection(sink.addBatch([{ value: 'x'.repeat(2_000_000) }], batch(0)));
    expect(e.code).toBe('KAFKA_RECORD_TOO_LARGE');
    expect(e.message).toContain('message.max.bytes');
  });

  it('secrets in kafkaOptions never appear in describe()', () => {
    const sink = kafkaSink({
      bootstrapServers: 'b:9092',
      topic: 't',
      kafkaOptions: { 'sasl.username': 'bob', 'sasl.password': 'hunter2', 'ssl.key.password': 'k3y' },
    });
    expect(sink.describe()).toContain('sasl.username=bob');
    expect(sink.describe()).toContain('sasl.password=***');
    expect(sink.describe()).not.toContain('hunter2');
    expect(sink.describe()).not.toContain('k3y');
  });
});
