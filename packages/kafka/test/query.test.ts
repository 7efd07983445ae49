/**
 * Whole queries through the engine: Kafka → word split → groupBy count → Kafka (update mode,
 * transactional), across a restart; the source's progress metrics, also for batches read in
 * chunks (lag, malformed records); and a cluster that goes away under a running query.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type StreamingQuery,
  Trigger,
  createSession,
  jsonLogger,
  memorySink,
  schema,
  silentLogger,
  t,
} from 'millrace';
import { kafkaSink, kafkaSource, readKafkaSinkCommits } from '../src/index.ts';
import { type MockCluster, TestProducer, readTopic, startMockCluster, uniqueTopic } from './mockCluster.ts';
import { cleanupDirs, tempDir } from './helpers.ts';

let kafka: MockCluster;
let producer: TestProducer;
const queries: StreamingQuery[] = [];

beforeAll(async () => {
  kafka = await startMockCluster({ debug: false });
  producer = await TestProducer.connect(kafka.bootstrap);
});
afterEach(async () => {
  await Promise.all(queries.splice(0).map((q) => q.stop().catch(() => undefined)));
  cleanupDirs();
});
afterAll(async () => {
  await producer?.close();
  await kafka?.stop();
});

function wordCount(bootstrap: string, input: string, output: string, checkpointLocation: string) {
  const session = createSession({ log: silentLogger });
  const lines = session.readStream(
    kafkaSource({
      name: 'lines',
      bootstrapServers: bootstrap,
      subscribe: input,
      startingOffsets: 'earliest',
      format: 'string',
      maxOffsetsPerTrigger: 2,
    }),
  );
  const words = lines.flatMap(
    (r) =>
      (r.value ?? '')
        .split(/\s+/)
        .filter((w) => w !== '')
        .map((word) => ({ word })),
    schema({ word: t.string }),
  );
  return words
    .groupBy('word')
    .count()
    .select(($) => ({ key: $.word, value: $.count.cast('string') }))
    .writeStream({
      queryName: 'kafka-word-count',
      sink: kafkaSink({ name: 'counts', bootstrapServers: bootstrap, topic: output }),
      outputMode: 'update',
      checkpointLocation,
    });
}

/** Per word, the counts written, in order (partition by key keeps a word's records in order). */
function countsByWord(records: { key: string | null; value: string | null }[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const r of records) out.set(r.key!, [...(out.get(r.key!) ?? []), Number(r.value)]);
  return out;
}

describe('Kafka → groupBy count → Kafka', () => {
  it('counts words exactly, across a restart, with one transaction per batch', async () => {
    const input = uniqueTopic('lines');
    const output = uniqueTopic('counts');
    const checkpoint = tempDir();
    const text1 = ['the quick brown fox', 'jumps over the lazy dog', 'the end', 'a b c a b a'];
    await producer.send(
      input,
      text1.map((value, i) => ({ value, partition: i % 4 })),
    );

    const q1 = await wordCount(kafka.bootstrap, input, output, checkpoint).start();
    queries.push(q1);
    await q1.processAllAvailable();
    const p = q1.lastProgress!;
    expect(p.sources[0]!.description).toContain(`KafkaSource[subscribe=${input}`);
    expect(p.sources[0]!.metrics).toMatchObject({ maxOffsetsBehindLatest: 0, minOffsetsBehindLatest: 0 });
    expect(p.sources[0]!.latestOffset).toEqual({ [input]: { '0': 1, '1': 1, '2': 1, '3': 1 } });
    expect(p.sink.description).toContain('transactional');
    await q1.stop();

    // More input while stopped, then a restart on the same checkpoint: state and batch ids continue.
    const text2 = ['the fox again', 'a'];
    await producer.send(
      input,
      text2.map((value, i) => ({ value, partition: i })),
    );
    const q2 = await wordCount(kafka.bootstrap, input, output, checkpoint).start();
    queries.push(q2);
    await q2.processAllAvailable();
    await q2.stop();

    const expected = new Map<string, number>();
    for (const line of [...text1, ...text2])
      for (const w of line.split(' ')) expected.set(w, (expected.get(w) ?? 0) + 1);
    const byWord = countsByWord(await readTopic(kafka.bootstrap, output));
    expect(new Map([...byWord].map(([w, cs]) => [w, cs.at(-1)]))).toEqual(expected);
    // Update mode: each batch writes a word's new count once; a duplicated batch would repeat a count.
    for (const [w, cs] of byWord) {
      expect(cs, `counts written for "${w}"`).toEqual([...cs].sort((a, b) => a - b));
      expect(new Set(cs).size, `counts written for "${w}"`).toBe(cs.length);
    }
    const markers = await readKafkaSinkCommits({
      bootstrapServers: kafka.bootstrap,
      queryId: q1.id,
      sink: 'counts',
    });
    expect(markers.map((m) => m.batchId)).toEqual(markers.map((_, i) => i));
    const batches = [...q1.recentProgress, ...q2.recentProgress].map((x) => x.batchId);
    expect(markers.map((m) => m.batchId)).toEqual(batches);
    expect(markers.map((m) => m.records)).toEqual(
      [...q1.recentProgress, ...q2.recentProgress].map((x) => x.sink.numOutputRows),
    );
  });
});

describe('chunked reads through a query', () => {
  it('progress shows the lag metrics and malformed counts of batches read in chunks', async () => {
    const input = uniqueTopic('chunked-progress');
    const total = 40;
    const bad = new Set([3, 9, 17, 22, 38]);
    await producer.send(
      input,
      Array.from({ length: total }, (_, i) => ({
        partition: i % 4,
        value: bad.has(i) ? `{"n": ${i},` : JSON.stringify({ n: i }),
      })),
    );
    const source = kafkaSource({
      name: 'numbers',
      bootstrapServers: kafka.bootstrap,
      subscribe: input,
      startingOffsets: 'earliest',
      maxOffsetsPerTrigger: 12,
      maxRecordsPerPoll: 5,
      format: { json: schema({ n: t.long }), mode: 'dropMalformed' },
    });
    expect(typeof source.getBatchChunks).toBe('function');
    // Prove the engine takes the chunked path: the whole-batch read is not there to fall back on.
    source.getBatch = () => Promise.reject(new Error('the engine should read this source in chunks'));
    const sink = memorySink<{ n: number }>();
    const q = await createSession({ log: silentLogger })
      .readStream(source)
      .writeStream({ sink, checkpointLocation: tempDir() })
      .start();
    queries.push(q);
    await q.processAllAvailable();
    await q.stop();
    expect(q.exception).toBeNull();

    const good = Array.from({ length: total }, (_, i) => i).filter((i) => !bad.has(i));
    expect(
      sink
        .allRows()
        .map((r) => r.n)
        .sort((a, b) => a - b),
    ).toEqual(good);
    const batches = q.recentProgress.filter((p) => p.numInputRows > 0).map((p) => p.sources[0]!);
    expect(batches.length).toBe(Math.ceil(total / 12));
    expect(batches.reduce((a, s) => a + s.numMalformedRows, 0)).toBe(bad.size);
    expect(batches.reduce((a, s) => a + Number(s.metrics.malformedRecords), 0)).toBe(bad.size);
    expect(batches.map((s) => s.numMalformedRows)).toEqual(
      batches.map((s) => Number(s.metrics.malformedRecords)),
    );
    // After each batch, the offsets behind the latest are what is left to read.
    let read = 0;
    for (const s of batches) {
      read += Number(s.metrics.recordsRead);
      expect(s.metrics).toMatchObject({ partitionsRead: 4, offsetsBehindLatest: total - read });
      expect(s.metrics.maxOffsetsBehindLatest).toBeGreaterThanOrEqual(
        Number(s.metrics.minOffsetsBehindLatest),
      );
      expect(s.numInputRows).toBe(Number(s.metrics.recordsRead) - s.numMalformedRows);
    }
    expect(read).toBe(total);
    expect(batches[0]!.metrics.offsetsBehindLatest).toBe(total - 12);
    expect(batches.at(-1)!.metrics).toMatchObject({ offsetsBehindLatest: 0, maxOffsetsBehindLatest: 0 });
  });
});

describe('a cluster that goes away', () => {
  it('fails the running query with a retryable error naming the bootstrap servers', async () => {
    const own = await startMockCluster({ debug: false });
    try {
      const input = uniqueTopic('gone');
      const p = await TestProducer.connect(own.bootstrap);
      await p.send(input, [{ value: 'x', partition: 0 }]);
      await p.close();
      const session = createSession({ log: jsonLogger('error') });
      const q = await session
        .readStream(
          kafkaSource({
            bootstrapServers: own.bootstrap,
            subscribe: input,
            startingOffsets: 'earliest',
            requestTimeoutMs: 1_500,
          }),
        )
        .writeStream({
          sink: kafkaSink({ bootstrapServers: own.bootstrap, topic: `${input}-out`, transactional: false }),
        })
        .start();
      queries.push(q);
      await q.processAllAvailable();
      const killedAt = Date.now();
      await own.stop();
      const e = await q.awaitTermination(15_000).then(
        () => null,
        (err: unknown) => err,
      );
      expect(e, 'the query should have failed').not.toBeNull();
      expect(Date.now() - killedAt).toBeLessThan(10_000);
      const err = e as { code: string; retryable: boolean; message: string; domain: string };
      expect(err.code).toBe('KAFKA_UNAVAILABLE');
      expect(err.retryable).toBe(true);
      expect(err.domain).toBe('external');
      expect(err.message).toContain(own.bootstrap);
    } finally {
      await own.stop();
    }
  });

  it('Trigger.availableNow reads what is there and stops', async () => {
    const input = uniqueTopic('avail');
    const output = uniqueTopic('avail-out');
    await producer.send(input, [
      { value: 'a b', partition: 0 },
      { value: 'b', partition: 1 },
    ]);
    const session = createSession({ log: silentLogger });
    const q = await session
      .readStream(
        kafkaSource({
          bootstrapServers: kafka.bootstrap,
          subscribe: input,
          startingOffsets: 'earliest',
          format: 'string',
        }),
      )
      .select(($) => ({ value: $.value }))
      .writeStream({
        sink: kafkaSink({ bootstrapServers: kafka.bootstrap, topic: output }),
        trigger: Trigger.availableNow(),
      })
      .start();
    queries.push(q);
    expect(await q.awaitTermination(20_000)).toBe(true);
    expect((await readTopic(kafka.bootstrap, output)).map((r) => r.value).sort()).toEqual(['a b', 'b']);
  });
});
