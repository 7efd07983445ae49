/**
 * kinesisSource against kinesalite (a local Kinesis in a child process), driven directly and
 * through queries: shards read in sequence order, maxRecordsPerTrigger shared among shards,
 * replays that return the same records, 'latest', shard splits and merges (parents before
 * children), data loss after records aged out of the retention (kinesalite's clock moved on),
 * and the errors: missing stream, unreachable endpoint, bad credentials, throttling.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DeleteStreamCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConnectorContext,
  Trigger,
  createSession,
  memorySink,
  silentLogger,
  systemClock,
} from 'millrace';
import { type KinesisRow, type KinesisSourceOptions, kinesisSource } from '../src/index.ts';
import {
  FaultProxy,
  type Kinesalite,
  TEST_CREDENTIALS,
  adminClient,
  createStream,
  mergeShards,
  putRecords,
  recordingLogger,
  shardsOf,
  splitShard,
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

function ctx(log = silentLogger): ConnectorContext {
  return { queryId: 'q', queryName: 'q', stateDir: '/nonexistent', clock: systemClock, log };
}

function source(streamName: string, extra: Partial<KinesisSourceOptions> = {}) {
  return kinesisSource({
    streamName,
    endpoint: kl.endpoint,
    credentials: TEST_CREDENTIALS,
    initialBackoffMs: 10,
    maxBackoffMs: 50,
    minReadIntervalMs: 0, // the tests read as fast as kinesalite answers; pacing has its own test
    ...extra,
  });
}

/** Records {"i": i} for i in [from, to), partition key k<i % keys>. */
function records(from: number, to: number, keys = 10) {
  return Array.from({ length: to - from }, (_, n) => ({
    key: `k${(from + n) % keys}`,
    data: JSON.stringify({ i: from + n }),
  }));
}
const idx = (rows: readonly KinesisRow[]) => rows.map((r) => (JSON.parse(r.data) as { i: number }).i);
const seqSorted = (rows: readonly KinesisRow[]) =>
  rows.every(
    (r, n) =>
      n === 0 ||
      rows[n - 1]!.shardId !== r.shardId ||
      BigInt(rows[n - 1]!.sequenceNumber) < BigInt(r.sequenceNumber),
  );

/** Read batches until nothing is new; returns every batch's rows and the last end. */
async function drain(src: ReturnType<typeof source>, start: unknown = null, first = 0) {
  const batches: KinesisRow[][] = [];
  let at = start as Record<string, string> | null;
  for (let b = first; b < first + 1000; b++) {
    const end = (await src.latestOffset(at, { kind: 'default' })) as Record<string, string> | null;
    if (end === null || JSON.stringify(end) === JSON.stringify(at)) break;
    batches.push((await src.getBatch(at, end, { batchId: b })).rows);
    at = end;
  }
  return { batches, end: at };
}

describe('offsets', () => {
  it('reads every shard in sequence order; maxRecordsPerTrigger is shared among the shards; a replay gives the same records', async () => {
    const s = uniqueName('src');
    await createStream(admin, s, 3);
    const put = await putRecords(admin, s, records(0, 100));
    const src = source(s, { maxRecordsPerTrigger: 30 });
    await src.open(ctx());
    try {
      const end = (await src.latestOffset(null, { kind: 'default' })) as Record<string, string>;
      const batch = await src.getBatch(null, end, { batchId: 0 });
      expect(batch.rows).toHaveLength(30);
      expect(seqSorted(batch.rows)).toBe(true);
      // Proportional to what each shard has (splitOffsetLimit), each shard's oldest records first.
      for (const shard of new Set(put.map((p) => p.shardId))) {
        const mine = put.map((p, i) => ({ ...p, i })).filter((p) => p.shardId === shard);
        const got = idx(batch.rows.filter((r) => r.shardId === shard));
        expect(got).toEqual(mine.slice(0, got.length).map((p) => p.i));
        expect(end[shard]).toBe(got.length ? mine[got.length - 1]!.seq : 'TRIM_HORIZON');
      }
      expect(batch.metrics).toMatchObject({ recordsRead: 30, shardsReading: 3 });
      // A new instance (a restart) reads the same batch again from the shards.
      const again = source(s, { maxRecordsPerTrigger: 30 });
      await again.open(ctx());
      expect((await again.getBatch(null, end, { batchId: 0 })).rows).toEqual(batch.rows);
      await again.close();
      // 'all' (Trigger.once / availableNow) ignores the limit.
      const all = (await src.latestOffset(end, { kind: 'all' })) as Record<string, string>;
      const rest = await src.getBatch(end, all, { batchId: 1 });
      expect([...idx(batch.rows), ...idx(rest.rows)].sort((a, b) => a - b)).toEqual([...Array(100).keys()]);
      expect(await src.latestOffset(all, { kind: 'default' })).toEqual(all);
    } finally {
      await src.close();
    }
  });

  it('a limit smaller than the shards behind still reads at most the limit', async () => {
    const s = uniqueName('src');
    await createStream(admin, s, 4);
    await putRecords(admin, s, records(0, 40));
    const src = source(s, { maxRecordsPerTrigger: 3 });
    await src.open(ctx());
    const { batches } = await drain(src);
    await src.close();
    expect(batches.every((b) => b.length <= 3)).toBe(true);
    expect(batches.flatMap(idx).sort((a, b) => a - b)).toEqual([...Array(40).keys()]);
  });

  it("'latest' reads only records that arrive after the query's first batch, which fixes that time", async () => {
    const s = uniqueName('src');
    await createStream(admin, s, 2);
    await putRecords(admin, s, records(0, 10));
    await new Promise((r) => setTimeout(r, 20));
    const src = source(s, { startingPosition: 'latest' });
    await src.open(ctx());
    const first = (await src.latestOffset(null, { kind: 'default' })) as Record<string, string>;
    expect(Object.values(first).every((p) => /^AT_TIMESTAMP:\d+$/.test(p))).toBe(true);
    expect((await src.getBatch(null, first, { batchId: 0 })).rows).toEqual([]);
    await new Promise((r) => setTimeout(r, 20));
    await putRecords(admin, s, records(10, 20));
    const { batches } = await drain(src, first, 1);
    await src.close();
    expect(batches.flatMap(idx).sort((a, b) => a - b)).toEqual([...Array(10).keys()].map((i) => i + 10));
  });

  it('Trigger.availableNow reads what arrived before it started, in batches of the limit, and stops', async () => {
    const s = uniqueName('now');
    await createStream(admin, s, 2);
    await putRecords(admin, s, records(0, 30));
    await new Promise((r) => setTimeout(r, 20));
    // No clock-skew allowance: the records put 20 ms after the start must be left out.
    const src = source(s, { maxRecordsPerTrigger: 8, availableNowClockSkewMs: 0 });
    await src.open(ctx());
    await src.prepareForAvailableNow();
    await new Promise((r) => setTimeout(r, 20));
    // Records that arrive later are not waited for, nor read.
    await putRecords(admin, s, records(30, 40));
    const { batches } = await drain(src);
    await src.close();
    expect(batches.map((b) => b.length)).toEqual([8, 8, 8, 6]);
    expect(batches.flatMap(idx).sort((a, b) => a - b)).toEqual([...Array(30).keys()]);
    // Through a query: it ends by itself.
    const sink = memorySink();
    const q = await createSession()
      .readStream(source(s, { maxRecordsPerTrigger: 15 }))
      .writeStream({ sink, outputMode: 'append', trigger: Trigger.availableNow() })
      .start();
    await q.awaitTermination();
    expect(idx(sink.allRows() as unknown as KinesisRow[]).sort((a, b) => a - b)).toEqual([
      ...Array(40).keys(),
    ]);
    expect(sink.batchIds).toHaveLength(3);
  });

  it('{ timestamp } starts at the records that arrived at or after it', async () => {
    const s = uniqueName('ts');
    await createStream(admin, s, 2);
    await putRecords(admin, s, records(0, 10));
    await new Promise((r) => setTimeout(r, 30));
    const from = Date.now();
    await new Promise((r) => setTimeout(r, 30));
    await putRecords(admin, s, records(10, 16));
    const src = source(s, { startingPosition: { timestamp: new Date(from) } });
    await src.open(ctx());
    const { batches, end } = await drain(src);
    await src.close();
    // Batch 0 fixes the starting time in the checkpoint (no rows); then the records after it.
    expect(batches[0]).toEqual([]);
    expect(batches.flatMap(idx).sort((a, b) => a - b)).toEqual([10, 11, 12, 13, 14, 15]);
    expect(Object.keys(end!)).toEqual(['shardId-000000000000', 'shardId-000000000001']);
  });

  it('a checkpoint offset of another shape is refused with CHECKPOINT_MISMATCH', async () => {
    const s = uniqueName('src');
    await createStream(admin, s, 1);
    const src = source(s);
    await src.open(ctx());
    await expect(src.latestOffset({ orders: { 0: 5 } }, { kind: 'default' })).rejects.toMatchObject({
      code: 'CHECKPOINT_MISMATCH',
    });
    await src.close();
  });
});

describe('reshards', () => {
  it('after a split, the parent is read to its end before its children; each key stays in order', async () => {
    const s = uniqueName('split');
    await createStream(admin, s, 1);
    await putRecords(admin, s, records(0, 50));
    const src = source(s, { maxRecordsPerTrigger: 20 });
    await src.open(ctx());
    const part = await drain(src);
    expect(part.batches.flatMap(idx)).toEqual([...Array(50).keys()]);
    // More records in the parent, which the query has not read yet, then the split.
    await putRecords(admin, s, records(50, 70));
    await splitShard(admin, s, 'shardId-000000000000');
    await putRecords(admin, s, records(70, 120));
    const shards = await shardsOf(admin, s);
    expect(shards.filter((x) => x.parent === 'shardId-000000000000')).toHaveLength(2);
    const rest = await drain(src, part.end, part.batches.length);
    await src.close();
    const rows = rest.batches.flat();
    expect(idx(rows).sort((a, b) => a - b)).toEqual([...Array(70).keys()].map((i) => i + 50));
    // No batch mixes parent and children; the parent's last batch ends it (SHARD_END).
    const parentBatches = rest.batches.map((b) => b.some((r) => r.shardId === 'shardId-000000000000'));
    const lastParent = parentBatches.lastIndexOf(true);
    const firstChild = rest.batches.findIndex((b) => b.some((r) => r.shardId !== 'shardId-000000000000'));
    expect(lastParent).toBeLessThan(firstChild);
    expect(rest.end!['shardId-000000000000']).toBe('SHARD_END');
    // Per key, the records come in the order they were written.
    const all = [...part.batches.flat(), ...rows];
    for (let k = 0; k < 10; k++) {
      const mine = idx(all.filter((r) => r.partitionKey === `k${k}`));
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }
  });

  it('after a merge, the child is read only once both parents are finished', async () => {
    const s = uniqueName('merge');
    await createStream(admin, s, 2);
    await putRecords(admin, s, records(0, 60));
    await mergeShards(admin, s, 'shardId-000000000000', 'shardId-000000000001');
    await putRecords(admin, s, records(60, 100));
    const src = source(s, { maxRecordsPerTrigger: 25 });
    await src.open(ctx());
    const { batches, end } = await drain(src);
    await src.close();
    const rows = batches.flat();
    expect(idx(rows).sort((a, b) => a - b)).toEqual([...Array(100).keys()]);
    const child = 'shardId-000000000002';
    const firstChild = batches.findIndex((b) => b.some((r) => r.shardId === child));
    const lastParent = batches.map((b) => b.some((r) => r.shardId !== child)).lastIndexOf(true);
    expect(lastParent).toBeLessThan(firstChild);
    expect(end).toMatchObject({ 'shardId-000000000000': 'SHARD_END', 'shardId-000000000001': 'SHARD_END' });
    for (let k = 0; k < 10; k++) {
      const mine = idx(rows.filter((r) => r.partitionKey === `k${k}`));
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }
  });
});

describe('queries', () => {
  it('a query stopped and restarted on its checkpoint reads every record exactly once', async () => {
    const s = uniqueName('query');
    await createStream(admin, s, 3);
    await putRecords(admin, s, records(0, 200));
    const dir = await mkdtemp(path.join(tmpdir(), 'kinesis-query-'));
    const got: number[] = [];
    const run = async () => {
      const sink = memorySink();
      const q = await createSession()
        .readStream(source(s, { maxRecordsPerTrigger: 70, name: 'orders' }))
        .writeStream({ sink, checkpointLocation: dir, outputMode: 'append' })
        .start();
      await q.processAllAvailable();
      await q.stop();
      got.push(...idx(sink.allRows() as unknown as KinesisRow[]));
    };
    try {
      await run();
      await putRecords(admin, s, records(200, 260));
      await run();
      await run(); // nothing new: nothing read again
      expect(got.sort((a, b) => a - b)).toEqual([...Array(260).keys()]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('data loss', () => {
  it('records aged out of the retention before the query read them: KINESIS_DATA_LOSS, or read on with a warning', async () => {
    const s = uniqueName('loss');
    await createStream(admin, s, 1); // retention: 24 hours (the minimum)
    await putRecords(admin, s, records(0, 20));
    const src = source(s, { maxRecordsPerTrigger: 5 });
    await src.open(ctx());
    const end = await src.latestOffset(null, { kind: 'default' });
    expect(idx((await src.getBatch(null, end!, { batchId: 0 })).rows)).toEqual([0, 1, 2, 3, 4]);
    // 25 hours pass (kinesalite's clock): records 5–19 expire unread; new ones arrive.
    await kl.advanceClock(25 * 3600_000);
    try {
      await putRecords(admin, s, records(20, 25));
      // kinesalite counts expired records against a page's Limit and answers an empty page
      // (MillisBehindLatest 0) until it passes them: the loss shows within a few triggers.
      const untilFailure = async (s2: typeof src) => {
        for (let k = 0; k < 10; k++) {
          const o = await s2.latestOffset(end, { kind: 'default' }).catch((e: unknown) => e);
          if (o instanceof Error || JSON.stringify(o) !== JSON.stringify(end)) return o;
        }
        return null;
      };
      const err = await untilFailure(src);
      expect(err).toMatchObject({ code: 'KINESIS_DATA_LOSS', domain: 'external', retryable: false });
      expect((err as Error).message).toMatch(/has aged out of the stream's retention.*failOnDataLoss: false/);
      await src.close();

      const log = recordingLogger();
      const lenient = source(s, { maxRecordsPerTrigger: 5, failOnDataLoss: false });
      await lenient.open(ctx(log));
      const next = await untilFailure(lenient);
      expect(idx((await lenient.getBatch(end, next as Record<string, string>, { batchId: 1 })).rows)).toEqual(
        [20, 21, 22, 23, 24],
      );
      expect(log.lines.some((l) => l.level === 'warn' && /failOnDataLoss: false/.test(l.msg))).toBe(true);
      await lenient.close();
    } finally {
      await kl.advanceClock(-25 * 3600_000);
    }
  });
});

describe('errors', () => {
  it('a missing stream fails open() with KINESIS_STREAM_NOT_FOUND, saying what to check', async () => {
    const src = source('no-such-stream');
    const err = await src.open(ctx()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KINESIS_STREAM_NOT_FOUND', domain: 'user' });
    expect((err as Error).message).toMatch(/no-such-stream.*check that stream "no-such-stream" exists/);
    await src.close();
  });

  it('an unreachable endpoint fails with KINESIS_UNAVAILABLE (retryable) after the retries', async () => {
    const proxy = new FaultProxy(kl.port);
    await proxy.start();
    await proxy.stop(); // a port nothing listens on
    const log = recordingLogger();
    const src = kinesisSource({
      streamName: 'x',
      endpoint: proxy.endpoint,
      credentials: TEST_CREDENTIALS,
      maxRetries: 2,
      initialBackoffMs: 5,
    });
    const err = await src.open(ctx(log)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KINESIS_UNAVAILABLE', domain: 'external', retryable: true });
    expect((err as Error).message).toMatch(/failed after 2 retries.*ECONNREFUSED/);
    expect(log.lines.filter((l) => l.level === 'warn')).toHaveLength(2);
    await src.close();
  });

  it('bad credentials fail at once with KINESIS_AUTH; the secret key shows nowhere', async () => {
    const s = uniqueName('auth');
    await createStream(admin, s, 1);
    const proxy = new FaultProxy(kl.port);
    await proxy.start();
    proxy.inject({ op: 'ListShards', times: 1, error: 'UnrecognizedClientException' });
    const secret = 'wrong-secret-key-0451f';
    const log = recordingLogger();
    const src = kinesisSource({
      streamName: s,
      endpoint: proxy.endpoint,
      credentials: { accessKeyId: 'AKIDWRONG', secretAccessKey: secret },
    });
    const err = await src.open(ctx(log)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KINESIS_AUTH', retryable: false });
    expect((err as Error).message).toMatch(/UnrecognizedClientException.*check the credentials/);
    expect(proxy.calls.get('ListShards')).toBe(1);
    const shown = [(err as Error).message, src.describe(), JSON.stringify(log.lines)].join('\n');
    expect(shown).not.toContain(secret);
    await src.close();
    await proxy.stop();
  });

  it('throttling (ProvisionedThroughputExceeded) and an expired iterator are waited out: the batch is exact', async () => {
    const s = uniqueName('throttle');
    await createStream(admin, s, 2);
    await putRecords(admin, s, records(0, 40));
    const proxy = new FaultProxy(kl.port);
    await proxy.start();
    proxy.inject({ op: 'GetRecords', times: 4, error: 'ProvisionedThroughputExceededException' });
    proxy.inject({ op: 'ListShards', times: 1, error: 'LimitExceededException' });
    const log = recordingLogger();
    const src = kinesisSource({
      streamName: s,
      endpoint: proxy.endpoint,
      credentials: TEST_CREDENTIALS,
      maxRetries: 0,
      initialBackoffMs: 5,
    });
    await src.open(ctx(log));
    const end = await src.latestOffset(null, { kind: 'default' });
    // Iterators last 5 minutes; one that expired is opened again where reading stands.
    proxy.inject({ op: 'GetRecords', times: 1, error: 'ExpiredIteratorException' });
    const fresh = source(s);
    await fresh.open(ctx());
    const batch = await src.getBatch(null, end!, { batchId: 0 });
    expect(idx(batch.rows).sort((a, b) => a - b)).toEqual([...Array(40).keys()]);
    expect(batch.metrics!.throttledCalls).toBe(5);
    expect(log.lines.filter((l) => /throttled/.test(l.msg))).toHaveLength(5);
    expect(JSON.stringify(log.lines)).toMatch(/waitingFor.*read\/write capacity/);
    const next = await src.latestOffset(end, { kind: 'default' });
    expect(next).toEqual(end);
    await src.close();
    await fresh.close();
    await proxy.stop();
  });

  it('an idle query keeps to the shard read rate: GetRecords at most every minReadIntervalMs (200 ms)', async () => {
    const s = uniqueName('idle');
    await createStream(admin, s, 1);
    await putRecords(admin, s, records(0, 5));
    const proxy = new FaultProxy(kl.port);
    await proxy.start();
    const sink = memorySink();
    const q = await createSession()
      .readStream(kinesisSource({ streamName: s, endpoint: proxy.endpoint, credentials: TEST_CREDENTIALS }))
      .writeStream({ sink, outputMode: 'append' })
      .start();
    await q.processAllAvailable();
    const before = proxy.calls.get('GetRecords') ?? 0;
    await new Promise((r) => setTimeout(r, 2_000)); // the engine polls every 10 ms meanwhile
    const idleReads = (proxy.calls.get('GetRecords') ?? 0) - before;
    await q.stop();
    await proxy.stop();
    expect(idx(sink.allRows() as unknown as KinesisRow[])).toEqual([0, 1, 2, 3, 4]);
    expect(idleReads).toBeGreaterThan(2);
    expect(idleReads).toBeLessThanOrEqual(11);
  });

  it('a stream deleted and created again under the same name: the checkpoint does not fit, and the error says so', async () => {
    const s = uniqueName('again');
    await createStream(admin, s, 1);
    await putRecords(admin, s, records(0, 5));
    const src = source(s);
    await src.open(ctx());
    const end = await src.latestOffset(null, { kind: 'default' });
    await src.getBatch(null, end!, { batchId: 0 });
    await src.close();
    await admin.send(new DeleteStreamCommand({ StreamName: s }));
    // kinesalite stamps shards with their creation second: let one pass, as it would on AWS.
    await new Promise((r) => setTimeout(r, 1_100));
    await createStream(admin, s, 1);
    await putRecords(admin, s, records(5, 8));
    const again = source(s);
    await again.open(ctx());
    const err = await again.latestOffset(end, { kind: 'default' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'KINESIS_FAILED', retryable: false });
    expect((err as Error).message).toMatch(/deleted and created again\? Start the query on a new checkpoint/);
    await again.close();
  });

  it('bad options fail at once, naming the option', () => {
    expect(() => kinesisSource({ streamName: 'bad name!' })).toThrow(
      /"streamName" must be a Kinesis stream name/,
    );
    expect(() => kinesisSource({ streamName: 's', maxRecordsPerTrigger: 0 })).toThrow(
      /"maxRecordsPerTrigger" must be a whole number ≥ 1/,
    );
    expect(() => kinesisSource({ streamName: 's', pageSize: 20_000 })).toThrow(
      /"pageSize" must be a whole number from 1 to 10000/,
    );
    expect(() => kinesisSource({ streamName: 's', startingPosition: 'newest' as never })).toThrow(
      /"startingPosition"/,
    );
    expect(() => kinesisSource({ streamName: 's', endpoint: 'ftp://x' })).toThrow(
      /"endpoint" must be an http/,
    );
    expect(() => kinesisSource({ streamName: 's', colour: 1 } as never)).toThrow(/unknown option "colour"/);
  });
});
