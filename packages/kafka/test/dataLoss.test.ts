/**
 * failOnDataLoss against the mock cluster. The mock keeps at most 5 MB per partition and
 * prunes older records, moving the low watermark like retention does; that gives real
 * "records deleted before they were read" cases without DeleteRecords. Cases the mock cannot
 * produce (a partition vanishing, offsets going back) are tested on planReads in offsets.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kafkaSource } from '../src/index.ts';
import { type MockCluster, TestProducer, startMockCluster, uniqueTopic } from './mockCluster.ts';
import { cleanupDirs, connectorContext, nextBatch, recordingLogger, rejection, text } from './helpers.ts';

let kafka: MockCluster;
let producer: TestProducer;
const opened: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  kafka = await startMockCluster({ debug: false });
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

const BIG = 100_000;

/** `n` records of 100 kB into partition 0 (each sent alone, so each is its own message set). */
async function bigRecords(topic: string, from: number, n: number): Promise<void> {
  for (let i = from; i < from + n; i++) {
    await producer.send(topic, [
      { partition: 0, value: Buffer.concat([Buffer.from(`${i}:`), Buffer.alloc(BIG, 120)]) },
    ]);
  }
}

const ids = (rows: { value: Uint8Array | null }[]) => rows.map((r) => Number(text(r.value)!.split(':')[0]));

const lowWatermark = async (topic: string) => (await producer.watermarks(topic, 0)).low;

describe('failOnDataLoss', () => {
  it('records deleted between two batches fail the next batch, saying how to skip instead', async () => {
    const topic = uniqueTopic('loss');
    await bigRecords(topic, 0, 5);
    const source = kafkaSource({
      bootstrapServers: kafka.bootstrap,
      subscribe: topic,
      startingOffsets: 'earliest',
      maxOffsetsPerTrigger: 2,
    });
    await source.open(connectorContext());
    opened.push(source);
    const b0 = await nextBatch(source, null);
    expect(ids(b0.rows)).toEqual([0, 1]);
    // 60 more 100 kB records: the mock prunes partition 0 down to ~5 MB, deleting records 2.. unread.
    await bigRecords(topic, 5, 60);
    const low = await lowWatermark(topic);
    expect(low, 'the mock should have pruned old records').toBeGreaterThan(2);
    const end = await source.latestOffset(b0.end, { kind: 'default' });
    const e = await rejection(source.getBatch(b0.end, end!, { batchId: 1 }));
    expect(e.code).toBe('KAFKA_DATA_LOSS');
    expect(e.retryable).toBe(false);
    expect(e.message).toContain(`records 2..`);
    expect(e.message).toContain(`of ${topic}-0 were deleted`);
    expect(e.message).toContain('failOnDataLoss: false');
  });

  it('with failOnDataLoss: false the batch skips to the oldest record still there, with a warning', async () => {
    const topic = uniqueTopic('skip');
    await bigRecords(topic, 0, 5);
    const log = recordingLogger();
    const source = kafkaSource({
      bootstrapServers: kafka.bootstrap,
      subscribe: topic,
      startingOffsets: 'earliest',
      maxOffsetsPerTrigger: 2,
      failOnDataLoss: false,
    });
    await source.open(connectorContext({ log }));
    opened.push(source);
    const b0 = await nextBatch(source, null);
    await bigRecords(topic, 5, 60);
    const low = await lowWatermark(topic);
    const b1 = await nextBatch(source, b0.end, 1);
    // The rate limit counts from the oldest record still there, so the batch reads the next 2 of those.
    expect(ids(b1.rows)).toEqual([low, low + 1]);
    expect(b1.end).toEqual({ [topic]: { '0': low + 2, '1': 0, '2': 0, '3': 0 } });
    const warning = log.records.find((r) => r.level === 'warn' && r.msg.includes('skipped lost data'));
    expect(warning?.fields.problems).toEqual(
      expect.arrayContaining([expect.stringContaining(`of ${topic}-0 were deleted`)]),
    );
  });

  it('startingOffsets before the log start or past its end are data loss too', async () => {
    const topic = uniqueTopic('start');
    await bigRecords(topic, 0, 60);
    const low = await lowWatermark(topic);
    const offsets = { [topic]: { '0': 0, '1': -2, '2': -2, '3': 999 } };
    const strict = kafkaSource({
      bootstrapServers: kafka.bootstrap,
      subscribe: topic,
      startingOffsets: offsets,
    });
    await strict.open(connectorContext());
    opened.push(strict);
    const e = await rejection(strict.latestOffset(null, { kind: 'default' }));
    expect(e.code).toBe('KAFKA_DATA_LOSS');
    expect(e.message).toContain(`asks for ${topic}-0 from offset 0, but its log starts at ${low}`);
    expect(e.message).toContain(`asks for ${topic}-3 from offset 999, but its log ends at 0`);

    const lenient = kafkaSource({
      bootstrapServers: kafka.bootstrap,
      subscribe: topic,
      startingOffsets: offsets,
      failOnDataLoss: false,
    });
    await lenient.open(connectorContext());
    opened.push(lenient);
    const b = await nextBatch(lenient, null);
    expect(ids(b.rows)[0]).toBe(low);
    expect(b.rows).toHaveLength(60 - low);
  });
});
