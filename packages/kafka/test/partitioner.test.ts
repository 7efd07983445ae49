/**
 * kafkaSink places keyed rows as Java producers do (librdkafka's `murmur2_random`, the Java
 * client's default partitioner), so a topic Millrace writes is co-partitioned with the same keys
 * written by Java services — what a Kafka Streams or Spark join of the two relies on.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { schema, t } from 'millrace';
import { kafkaSink } from '../src/index.ts';
import { type MockCluster, readTopic, startMockCluster, uniqueTopic } from './mockCluster.ts';
import { cleanupDirs, sinkContext } from './helpers.ts';

/** Kafka's Utils.murmur2 (the Java client), as a reference. */
function javaMurmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ data.length) | 0;
  const whole = data.length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = data.length % 4;
  if (rest === 3) h ^= data[whole + 2]! << 16;
  if (rest >= 2) h ^= data[whole + 1]! << 8;
  if (rest >= 1) h = Math.imul(h ^ data[whole]!, m);
  h ^= h >>> 13;
  h = Math.imul(h, m);
  return h ^ (h >>> 15);
}

/** The Java producer's partition for a key: toPositive(murmur2(key)) % partitions. */
const javaPartition = (key: string, partitions: number) =>
  (javaMurmur2(Buffer.from(key)) & 0x7fffffff) % partitions;

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

async function writeKeys(keys: string[], kafkaOptions?: Record<string, string>) {
  const topic = uniqueTopic('placement');
  const sink = kafkaSink({
    bootstrapServers: kafka.bootstrap,
    topic,
    transactional: false,
    ...(kafkaOptions && { kafkaOptions }),
  });
  await sink.open(sinkContext(schema({ key: t.string, value: t.string })));
  opened.push(sink);
  await sink.addBatch(
    keys.map((key) => ({ key, value: `v-${key}` })),
    { batchId: 0, outputMode: 'append' },
  );
  const placed = new Map<string, number>();
  for (const r of await readTopic(kafka.bootstrap, topic)) placed.set(r.key!, r.partition);
  return placed;
}

const KEYS = ['ann', 'bob', 'carol', 'dave', 'erin', 'user-1', 'user-22', 'order:12345', 'ü', '21'];

describe('key placement', () => {
  it('the reference is Kafka’s murmur2 (the Java client’s own test vectors)', () => {
    const vectors: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of vectors) expect(javaMurmur2(Buffer.from(key)), key).toBe(hash);
    // The example: a Java producer puts both in partition 2 of 4.
    expect([javaPartition('ann', 4), javaPartition('bob', 4)]).toEqual([2, 2]);
  });

  it('puts each key in the partition a Java producer would (murmur2_random by default)', async () => {
    const placed = await writeKeys(KEYS);
    expect(placed.size).toBe(KEYS.length);
    for (const key of KEYS) expect(placed.get(key), key).toBe(javaPartition(key, 4));
  });

  it('kafkaOptions.partitioner still chooses another (librdkafka’s consistent_random here)', async () => {
    const placed = await writeKeys(KEYS, { partitioner: 'consistent_random' });
    const differ = KEYS.filter((k) => placed.get(k) !== javaPartition(k, 4));
    expect(differ.length).toBeGreaterThan(0); // e.g. ann and bob: 3 and 0 with CRC32
  });
});
