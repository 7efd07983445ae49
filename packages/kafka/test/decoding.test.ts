/**
 * kafkaSource with format { json }: values decoded into a schema's columns, bad records in
 * each parse mode, metadata columns, and the row types that follow the options.
 */
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { schema, t } from 'millrace';
import { kafkaSource } from '../src/index.ts';
import { type MockCluster, TestProducer, startMockCluster, uniqueTopic } from './mockCluster.ts';
import { cleanupDirs, connectorContext, nextBatch, rejection } from './helpers.ts';

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

const events = schema({ id: t.long, name: t.string, at: t.timestamp.orNull() });
const withCorrupt = schema({ id: t.long, name: t.string, _corrupt_record: t.string.orNull() });

/** Partition 0: good, bad JSON, good, wrong type, not an object, missing non-null, null value, good. */
async function mixedTopic(): Promise<string> {
  const topic = uniqueTopic('json');
  await producer.send(
    topic,
    [
      '{"id": 1, "name": "a", "at": "2025-01-02T03:04:05.006Z"}',
      '{"id": 2, "name": ',
      '{"id": 3, "name": "c", "at": 1735787045006}',
      '{"id": "four", "name": "d"}',
      '[5]',
      '{"id": 6}',
      null,
      '{"id": 8, "name": "h", "extra": true}',
    ].map((value, i) => ({ partition: 0, value, key: `k${i}` })),
  );
  return topic;
}

async function open<S extends { open(ctx: any): Promise<void>; close(): Promise<void> }>(
  source: S,
): Promise<S> {
  await source.open(connectorContext());
  opened.push(source);
  return source;
}

describe('format { json }', () => {
  it('permissive (default): bad records become rows with nulls and their raw text in the corrupt-record column', async () => {
    const topic = await mixedTopic();
    const source = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribe: topic,
        startingOffsets: 'earliest',
        format: { json: withCorrupt },
      }),
    );
    expectTypeOf(source.schema).toEqualTypeOf<
      import('millrace').Schema<{ id: number; name: string; _corrupt_record: string | null }>
    >();
    const b = await nextBatch(source, null);
    expect(b.rows).toEqual([
      { id: 1, name: 'a', _corrupt_record: null },
      { id: null, name: null, _corrupt_record: '{"id": 2, "name": ' },
      { id: 3, name: 'c', _corrupt_record: null },
      { id: null, name: 'd', _corrupt_record: '{"id": "four", "name": "d"}' },
      { id: null, name: null, _corrupt_record: '[5]' },
      { id: 6, name: null, _corrupt_record: '{"id": 6}' },
      { id: null, name: null, _corrupt_record: '' }, // a null value (tombstone) has no text
      { id: 8, name: 'h', _corrupt_record: null },
    ]);
    // Kept rows are not dropped rows: malformedRows counts what was dropped; the metric counts all bad ones.
    expect(b.malformed).toBe(0);
    expect(b.metrics.malformedRecords).toBe(5);
  });

  it('dropMalformed drops bad records and counts them in malformedRows', async () => {
    const topic = await mixedTopic();
    const source = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribe: topic,
        startingOffsets: 'earliest',
        format: { json: events, mode: 'dropMalformed' },
      }),
    );
    const b = await nextBatch(source, null);
    expect(b.rows).toEqual([
      { id: 1, name: 'a', at: Date.UTC(2025, 0, 2, 3, 4, 5, 6) },
      { id: 3, name: 'c', at: Date.UTC(2025, 0, 2, 3, 4, 5, 6) },
      { id: 8, name: 'h', at: null },
    ]);
    expect(b.malformed).toBe(5);
    expect(b.metrics).toMatchObject({ malformedRecords: 5, recordsRead: 8 });
  });

  it('failFast fails the batch naming the topic, partition and offset of the bad record', async () => {
    const topic = await mixedTopic();
    const source = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribe: topic,
        startingOffsets: 'earliest',
        format: { json: events, mode: 'failFast' },
      }),
    );
    const end = await source.latestOffset(null, { kind: 'default' });
    const e = await rejection(source.getBatch(null, end!, { batchId: 0 }));
    expect(e.code).toBe('MALFORMED_RECORD');
    expect(e.message).toContain(`topic "${topic}" partition 0 offset 1`);
    expect(e.message).toContain("'permissive'");
  });

  it('includeMetadata and includeHeaders add _topic, _partition, _offset, _timestamp, _key and _headers', async () => {
    const topic = uniqueTopic('meta');
    await producer.send(topic, [
      {
        partition: 3,
        value: '{"id": 7, "name": "x"}',
        key: 'user-7',
        headers: [{ h: 'v' }],
        timestamp: 1_700_000_000_000,
      },
    ]);
    const source = await open(
      kafkaSource({
        bootstrapServers: kafka.bootstrap,
        subscribe: topic,
        startingOffsets: 'earliest',
        includeHeaders: true,
        format: { json: schema({ id: t.long, name: t.string }), includeMetadata: true },
      }),
    );
    expect(source.schema.names).toEqual([
      'id',
      'name',
      '_topic',
      '_partition',
      '_offset',
      '_timestamp',
      '_key',
      '_headers',
    ]);
    const { rows } = await nextBatch(source, null);
    expectTypeOf(rows[0]!).toEqualTypeOf<{
      id: number;
      name: string;
      _topic: string;
      _partition: number;
      _offset: number;
      _timestamp: number;
      _key: string | null;
      _headers: import('../src/index.ts').KafkaHeader[] | null;
    }>();
    expect(rows).toEqual([
      {
        id: 7,
        name: 'x',
        _topic: topic,
        _partition: 3,
        _offset: 0,
        _timestamp: 1_700_000_000_000,
        _key: 'user-7',
        _headers: [{ key: 'h', value: Buffer.from('v') }],
      },
    ]);
  });

  it('bad JSON-format options fail at construction', () => {
    const base = { bootstrapServers: '127.0.0.1:9092', subscribe: 't' };
    expect(() => kafkaSource({ ...base, format: { json: {} as never } })).toThrow(
      /"format.json" must be a schema/,
    );
    expect(() => kafkaSource({ ...base, format: { json: events, mode: 'lenient' as never } })).toThrow(
      /mode must be 'permissive', 'dropMalformed' or 'failFast'/,
    );
    expect(() =>
      kafkaSource({ ...base, format: { json: schema({ _topic: t.string }), includeMetadata: true } }),
    ).toThrow(/column "_topic", which the includeMetadata option adds too/);
    expect(() =>
      kafkaSource({ ...base, format: { json: schema({ id: t.long, bad: t.string }), corruptColumn: 'bad' } }),
    ).toThrow(/must be nullable/);
    expect(() => kafkaSource({ ...base, format: 'avro' as never })).toThrow(/unknown "format" "avro"/);
  });
});
