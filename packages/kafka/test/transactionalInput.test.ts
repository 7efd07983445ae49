/**
 * Reading topics written by transactional producers: offsets have gaps (commit/abort control
 * records take offsets but are never delivered), so a batch must stop at its end offset, not
 * after a number of records. kcat's mock (librdkafka 2.0.2) writes no control records; the
 * client's own librdkafka (2.15) does, so these tests use an in-process mock cluster from it.
 * That mock does not hide aborted records from read_committed consumers (real brokers do), so
 * the tests check the offsets and the stopping, not the isolation.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Offset } from 'millrace';
import { kafkaSource } from '../src/index.ts';
import { TestProducer, inProcessMock, uniqueTopic } from './mockCluster.ts';
import { cleanupDirs, connectorContext, text } from './helpers.ts';

let cluster: { bootstrap: string; stop(): Promise<void> };
let tx: TestProducer;
const topic = uniqueTopic('txin');

beforeAll(async () => {
  cluster = await inProcessMock();
  tx = await TestProducer.connect(cluster.bootstrap, { 'transactional.id': `tx-${topic}` });
  await tx.initTransactions();
  // offsets: 0 1 2 data, 3 COMMIT | 4 5 data, 6 ABORT | 7 data, 8 COMMIT
  await tx.transaction((p) =>
    p.send(
      topic,
      ['c0', 'c1', 'c2'].map((value) => ({ value, partition: 0 })),
    ),
  );
  await tx.transaction(
    (p) =>
      p.send(
        topic,
        ['a0', 'a1'].map((value) => ({ value, partition: 0 })),
      ),
    false,
  );
  await tx.transaction((p) => p.send(topic, [{ value: 'c3', partition: 0 }]));
});
afterAll(async () => {
  await tx?.close();
  await cluster?.stop();
  cleanupDirs();
});

it('a batch whose end follows a control record finishes at once, without a row for the marker', async () => {
  const w = await tx.watermarks(topic, 0);
  expect(w.high, 'this mock should write control records (offset gaps)').toBe(9);
  const source = kafkaSource({
    bootstrapServers: cluster.bootstrap,
    assign: { [topic]: [0] },
    startingOffsets: 'earliest',
    requestTimeoutMs: 3_000, // a read that waited for offset 8 would fail after this
  });
  await source.open(connectorContext());
  try {
    const end = await source.latestOffset(null, { kind: 'default' });
    expect(end).toEqual({ [topic]: { '0': 9 } });
    const t0 = performance.now();
    const b = await source.getBatch(null, end!, { batchId: 0 });
    expect(performance.now() - t0).toBeLessThan(2_000);
    const offsets = b.rows.map((r) => r.offset);
    expect(offsets).toEqual(expect.arrayContaining([0, 1, 2, 7]));
    expect(offsets.filter((o) => [3, 6, 8].includes(o))).toEqual([]);
    expect(b.rows.find((r) => r.offset === 7)!.value).toEqual(Buffer.from('c3'));

    // Batches that end right after each marker, as a rate limit could cut them.
    const read = async (from: Offset | null, to: number) =>
      (await source.getBatch(from, { [topic]: { '0': to } }, { batchId: 1 })).rows.map((r) => text(r.value));
    const t1 = performance.now();
    expect(await read({ [topic]: { '0': 0 } }, 4)).toEqual(['c0', 'c1', 'c2']);
    expect(await read({ [topic]: { '0': 4 } }, 7)).not.toContain('c3');
    expect(await read({ [topic]: { '0': 7 } }, 9)).toEqual(['c3']);
    expect(await read({ [topic]: { '0': 8 } }, 9)).toEqual([]);
    expect(performance.now() - t1).toBeLessThan(3_000);
  } finally {
    await source.close();
  }
});
