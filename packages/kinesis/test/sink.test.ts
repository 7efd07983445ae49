/**
 * kinesisSink against kinesalite: rows as JSON records with a partition key from a column and a
 * per-record id, a value column sent as is, requests of at most 500 records, PutRecords partial
 * failures (only the refused records sent again: each row lands once), throttling, and bad input
 * (a missing partition key, a record over 1 MiB) failing the batch before anything is written.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, memoryStream, schema, t } from 'millrace';
import { type KinesisSinkOptions, kinesisSink } from '../src/index.ts';
import {
  FaultProxy,
  type Kinesalite,
  TEST_CREDENTIALS,
  adminClient,
  createStream,
  readAll,
  recordingLogger,
  sinkContext,
  startKinesalite,
  uniqueName,
} from './helpers.ts';

let kl: Kinesalite;
let admin: KinesisClient;
beforeAll(async () => {
  kl = await startKinesalite();
  admin = adminClient(kl.endpoint);
});
afterAll(async () => {
  admin?.destroy();
  await kl?.stop();
});

const orders = schema({ orderId: t.long, user: t.string, amount: t.double, note: t.string.orNull() });
type Order = { orderId: number; user: string; amount: number; note: string | null };
const order = (i: number): Order => ({
  orderId: i,
  user: `u${i % 7}`,
  amount: i * 1.5,
  note: i % 3 ? `n${i}` : null,
});

function sink(streamName: string, extra: Partial<KinesisSinkOptions> = {}, endpoint = kl.endpoint) {
  return kinesisSink({
    streamName,
    partitionKey: 'user',
    endpoint,
    credentials: TEST_CREDENTIALS,
    initialBackoffMs: 5,
    maxBackoffMs: 20,
    ...extra,
  });
}

async function stream(shards = 2): Promise<string> {
  const s = uniqueName('sink');
  await createStream(admin, s, shards);
  return s;
}

describe('writing', () => {
  it('each row is one JSON record keyed by its column, with its id <query>:<batch>:<row>; 500 records a request at most', async () => {
    const s = await stream(3);
    const proxy = new FaultProxy(kl.port);
    await proxy.start();
    const k = sink(s, {}, proxy.endpoint);
    await k.open(sinkContext(orders, 'append', 'q1'));
    const rows = Array.from({ length: 1_200 }, (_, i) => order(i));
    const res = await k.addBatch(rows, { batchId: 4, outputMode: 'append' });
    expect(res).toMatchObject({
      rowsWritten: 1_200,
      metrics: { recordsPut: 1_200, requests: 3, retriedRecords: 0 },
    });
    expect(proxy.calls.get('PutRecords')).toBe(3);
    await k.close();
    await proxy.stop();
    const back = await readAll(admin, s);
    expect(back).toHaveLength(1_200);
    const parsed = back.map((r) => ({
      key: r.key,
      shard: r.shardId,
      o: JSON.parse(r.data) as Order & { millraceId: string },
    }));
    expect(parsed.map((p) => p.o.orderId).sort((a, b) => a - b)).toEqual([...Array(1_200).keys()]);
    for (const p of parsed) {
      expect(p.key).toBe(p.o.user);
      expect(p.o).toEqual({ ...order(p.o.orderId), millraceId: `q1:4:${p.o.orderId}` });
    }
    // One key, one shard; within it, the rows in order.
    for (let u = 0; u < 7; u++) {
      const mine = parsed.filter((p) => p.key === `u${u}`);
      expect(new Set(mine.map((p) => p.shard)).size).toBe(1);
      expect(mine.map((p) => p.o.orderId)).toEqual(mine.map((p) => p.o.orderId).sort((a, b) => a - b));
    }
  });

  it('a value column is sent as it is, without an id; recordIdField false leaves JSON rows as they are', async () => {
    const s = await stream(1);
    const lines = schema({ user: t.string, line: t.string, blob: t.binary });
    const k = sink(s, { value: 'line' });
    await k.open(sinkContext(lines, 'append'));
    await k.addBatch([{ user: 'a', line: 'hello', blob: new Uint8Array([1]) }], {
      batchId: 0,
      outputMode: 'append',
    });
    await k.close();
    const bin = sink(s, { value: 'blob' });
    await bin.open(sinkContext(lines, 'append'));
    await bin.addBatch([{ user: 'a', line: 'x', blob: new Uint8Array([0, 255, 7]) }], {
      batchId: 0,
      outputMode: 'append',
    });
    await bin.close();
    const plain = sink(s, { recordIdField: false });
    await plain.open(sinkContext(orders, 'append'));
    await plain.addBatch([order(1)], { batchId: 0, outputMode: 'append' });
    await plain.close();
    const back = await readAll(admin, s);
    expect(back[0]!.data).toBe('hello');
    expect([...back[1]!.raw]).toEqual([0, 255, 7]);
    expect(JSON.parse(back[2]!.data)).toEqual(order(1));
  });

  it('a query writes its result rows to the stream', async () => {
    const s = await stream(2);
    const input = memoryStream(orders);
    const q = await createSession()
      .readStream(input)
      .filter(($) => $.amount.gt(3))
      .writeStream({ sink: sink(s), outputMode: 'append' })
      .start();
    input.addData(Array.from({ length: 10 }, (_, i) => order(i)));
    await q.processAllAvailable();
    input.addData([order(10)]);
    await q.processAllAvailable();
    await q.stop();
    const ids = (await readAll(admin, s)).map((r) => (JSON.parse(r.data) as Order).orderId);
    expect(ids.sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
  });
});

describe('failures', () => {
  it('records refused in a PutRecords answer (ProvisionedThroughputExceeded) are sent again, alone: each row lands once', async () => {
    const s = await stream(2);
    const proxy = new FaultProxy(kl.port);
    await proxy.start();
    proxy.inject({ op: 'PutRecords', times: 3, refuseOdd: 'ProvisionedThroughputExceededException' });
    const log = recordingLogger();
    const k = sink(s, { maxRecordsPerRequest: 100 }, proxy.endpoint);
    await k.open(sinkContext(orders, 'append', 'q', log));
    const res = await k.addBatch(
      Array.from({ length: 200 }, (_, i) => order(i)),
      { batchId: 0, outputMode: 'append' },
    );
    // Request 1: 50 of 100 refused; again: 25 of 50; again: 12 of 25; then 13 in; request 2 whole.
    expect(res.metrics).toMatchObject({ recordsPut: 200, retriedRecords: 50 + 25 + 12, requests: 5 });
    expect(log.lines.filter((l) => /records refused/.test(l.msg))).toHaveLength(3);
    expect(JSON.stringify(log.lines)).toMatch(/waitingFor.*write capacity/);
    await k.close();
    await proxy.stop();
    const ids = (await readAll(admin, s)).map((r) => (JSON.parse(r.data) as Order).orderId);
    expect(ids.sort((a, b) => a - b)).toEqual([...Array(200).keys()]);
  });

  it('a whole request throttled or failing with a 5xx is retried; records refused for good fail the batch', async () => {
    const s = await stream(1);
    const proxy = new FaultProxy(kl.port);
    await proxy.start();
    proxy.inject({ op: 'PutRecords', times: 2, error: 'ProvisionedThroughputExceededException' });
    proxy.inject({ op: 'PutRecords', times: 1, error: 'InternalFailure', status: 500 });
    const k = sink(s, {}, proxy.endpoint);
    await k.open(sinkContext(orders, 'append'));
    const res = await k.addBatch([order(1), order(2)], { batchId: 0, outputMode: 'append' });
    expect(res.metrics).toMatchObject({ throttled: 2, recordsPut: 2 });
    expect(await readAll(admin, s)).toHaveLength(2);
    proxy.inject({ op: 'PutRecords', times: 1, refuseOdd: 'KMSAccessDeniedException' });
    const err = await k
      .addBatch([order(3), order(4)], { batchId: 1, outputMode: 'append' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KINESIS_AUTH', retryable: false });
    expect((err as Error).message).toMatch(/refused 1 of 2 records of batch 1.*KMSAccessDeniedException/);
    await k.close();
    await proxy.stop();
  });

  it('bad input fails the batch before anything is written: a missing partition key, a record over 1 MiB', async () => {
    const s = await stream(1);
    const k = sink(s, { partitionKey: 'note' });
    await k.open(sinkContext(orders, 'append'));
    const err = await k
      .addBatch([order(1), order(3)], { batchId: 7, outputMode: 'append' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KINESIS_BAD_PARTITION_KEY', domain: 'user' });
    expect((err as Error).message).toMatch(
      /row 1 of batch 7 has partition key null in column "note".*nothing of this batch was written/,
    );
    await k.close();
    const byUser = sink(s);
    await byUser.open(sinkContext(orders, 'append'));
    const big = { ...order(1), note: 'x'.repeat(1024 * 1024) };
    const err2 = await byUser
      .addBatch([order(1), big], { batchId: 8, outputMode: 'append' })
      .catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(
      /row 1 of batch 8 makes a record of \d+ bytes; Kinesis takes at most 1 MiB/,
    );
    expect(err2).toMatchObject({ code: 'KINESIS_RECORD_TOO_LARGE', domain: 'user' });
    await byUser.close();
    expect(await readAll(admin, s)).toHaveLength(0);
  });

  it('open() checks the columns and the stream: clear errors, no secret shown', async () => {
    const s = await stream(1);
    const noCol = sink(s, { partitionKey: 'customer' });
    await expect(noCol.open(sinkContext(orders, 'append'))).rejects.toMatchObject({
      code: 'KINESIS_NO_SUCH_COLUMN',
      message: expect.stringMatching(/"partitionKey" names column "customer".*orderId, user, amount, note/),
    });
    const taken = sink(s, { recordIdField: 'orderId' });
    await expect(taken.open(sinkContext(orders, 'append'))).rejects.toMatchObject({
      code: 'KINESIS_ID_FIELD_TAKEN',
    });
    const badValue = sink(s, { value: 'amount' });
    await expect(badValue.open(sinkContext(orders, 'append'))).rejects.toMatchObject({
      code: 'KINESIS_BAD_VALUE_COLUMN',
    });
    const missing = sink('no-such-stream');
    const err = await missing.open(sinkContext(orders, 'append')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KINESIS_STREAM_NOT_FOUND' });
    expect((err as Error).message).not.toContain(TEST_CREDENTIALS.secretAccessKey);
    expect(missing.describe()).not.toContain(TEST_CREDENTIALS.secretAccessKey);
    expect(missing.guarantee).toBe('at-least-once');
    await missing.close();
    expect(() => kinesisSink({ streamName: 's', partitionKey: '' })).toThrow(
      /"partitionKey" must name a column/,
    );
    expect(() => kinesisSink({ streamName: 's', partitionKey: 'u', maxRecordsPerRequest: 501 })).toThrow(
      /"maxRecordsPerRequest" must be a whole number from 1 to 500/,
    );
  });
});
