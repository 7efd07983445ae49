/**
 * redisStreamSource against the real Redis, driven directly and through queries: several streams
 * as partitions, maxEntriesPerTrigger shared among them, 'latest' and per-stream starting ids, lag
 * metrics, data loss after XTRIM (failOnDataLoss both ways), and errors that say what to do.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ConnectorContext, createSession, memorySink, silentLogger, systemClock } from 'millrace';
import { type RedisStreamRow, redisStreamSource } from '../src/index.ts';
import {
  REDIS_URL,
  adminClient,
  cleanup,
  deleteLater,
  recordingLogger,
  uniqueName,
  userWithPassword,
} from './helpers.ts';

afterAll(cleanup);
const admin = adminClient();

function ctx(log = silentLogger): ConnectorContext {
  return { queryId: 'q', queryName: 'q', stateDir: '/nonexistent', clock: systemClock, log };
}

function streams(n: number): string[] {
  const prefix = uniqueName('src');
  deleteLater(`${prefix}:*`);
  return Array.from({ length: n }, (_, k) => `${prefix}:s${k}`);
}

async function add(stream: string, from: number, to: number): Promise<string[]> {
  const p = admin.pipeline();
  for (let i = from; i < to; i++) p.xadd(stream, '*', 'i', String(i));
  return ((await p.exec()) ?? []).map(([, id]) => id as string);
}

const indexes = (rows: readonly RedisStreamRow[]) => rows.map((r) => Number(r.fields.i));

describe('offsets', () => {
  it('each stream is a partition; maxEntriesPerTrigger is shared among the streams with entries', async () => {
    const [a, b] = streams(2) as [string, string];
    await add(a, 0, 50);
    await add(b, 100, 103);
    const source = redisStreamSource({ url: REDIS_URL, streams: [a, b], maxEntriesPerTrigger: 20 });
    await source.open(ctx());
    try {
      const end = (await source.latestOffset(null, { kind: 'default' })) as Record<string, string>;
      const batch = await source.getBatch(null, end, { batchId: 0 });
      // b has 3 entries: they all come; a gets the rest of the 20.
      expect(indexes(batch.rows.filter((r) => r.stream === a))).toEqual([...Array(17).keys()]);
      expect(indexes(batch.rows.filter((r) => r.stream === b))).toEqual([100, 101, 102]);
      expect(batch.metrics).toMatchObject({ entriesRead: 20, streams: 2, streamsBehind: 1 });
      expect(Number(batch.metrics!.lagMs)).toBeGreaterThanOrEqual(0);
      // 'all' (Trigger.availableNow's first call, or once) ignores the limit.
      const all = (await source.latestOffset(end, { kind: 'all' })) as Record<string, string>;
      const rest = await source.getBatch(end, all, { batchId: 1 });
      expect(indexes(rest.rows)).toEqual([...Array(50).keys()].slice(17));
      expect(await source.latestOffset(all, { kind: 'default' })).toEqual(all);
      expect(source.reportLatestOffset()).toEqual(all);
    } finally {
      await source.close();
    }
  });

  it("'latest' starts after the entries present at the first batch; a per-stream id starts after that id", async () => {
    const [a] = streams(1) as [string];
    const ids = await add(a, 0, 5);
    const latest = redisStreamSource({ url: REDIS_URL, streams: a, startingOffsets: 'latest' });
    await latest.open(ctx());
    const first = await latest.latestOffset(null, { kind: 'default' });
    expect(first).toEqual({ [a]: { id: ids[4], n: 5 } });
    expect((await latest.getBatch(null, first!, { batchId: 0 })).rows).toEqual([]);
    await add(a, 5, 7);
    const second = await latest.latestOffset(first, { kind: 'default' });
    expect(indexes((await latest.getBatch(first, second!, { batchId: 1 })).rows)).toEqual([5, 6]);
    await latest.close();

    const fromId = redisStreamSource({ url: REDIS_URL, streams: a, startingOffsets: { [a]: ids[2]! } });
    await fromId.open(ctx());
    const end = await fromId.latestOffset(null, { kind: 'default' });
    expect(indexes((await fromId.getBatch(null, end!, { batchId: 0 })).rows)).toEqual([3, 4, 5, 6]);
    await fromId.close();
  });
});

describe('data loss', () => {
  it('entries trimmed before the query read them fail the query with REDIS_DATA_LOSS (or are skipped with a warning)', async () => {
    const [a] = streams(1) as [string];
    await add(a, 0, 10);
    const source = redisStreamSource({ url: REDIS_URL, streams: a });
    await source.open(ctx());
    const end = await source.latestOffset(null, { kind: 'default' });
    expect((await source.getBatch(null, end!, { batchId: 0 })).rows).toHaveLength(10);
    await add(a, 10, 20);
    // Trimming what was read is fine…
    await admin.xtrim(a, 'MAXLEN', 10);
    const next = await source.latestOffset(end, { kind: 'default' });
    expect(indexes((await source.getBatch(end, next!, { batchId: 1 })).rows)).toEqual(
      [...Array(20).keys()].slice(10),
    );
    // …trimming what was not read yet is data loss.
    await add(a, 20, 30);
    await admin.xtrim(a, 'MAXLEN', 5);
    const err = await source.latestOffset(next, { kind: 'default' }).catch((e) => e);
    expect(err).toMatchObject({ code: 'REDIS_DATA_LOSS', domain: 'external', retryable: false });
    expect(err.message).toMatch(
      /5 entries after .* were trimmed \(XTRIM or XADD MAXLEN\/MINID\) before the query read them.*failOnDataLoss: false/,
    );
    // A replay of a batch whose entries are gone fails too.
    await expect(
      source.getBatch(next, { [a]: { id: '99999999999999-0', n: 30 } }, { batchId: 2 }),
    ).rejects.toMatchObject({
      code: 'REDIS_DATA_LOSS',
    });
    await source.close();

    const log = recordingLogger();
    const lenient = redisStreamSource({ url: REDIS_URL, streams: a, failOnDataLoss: false });
    await lenient.open(ctx(log));
    const end2 = await lenient.latestOffset(next, { kind: 'default' });
    expect(indexes((await lenient.getBatch(next, end2!, { batchId: 2 })).rows)).toEqual([25, 26, 27, 28, 29]);
    expect(log.records.find((r) => r.msg.includes('skipped lost data'))?.fields).toMatchObject({ stream: a });
    await lenient.close();

    // XDEL of an entry the query has not read is data loss too.
    const ids = await add(a, 30, 33);
    await admin.xdel(a, ids[1]!);
    const strict = redisStreamSource({ url: REDIS_URL, streams: a });
    await strict.open(ctx());
    await expect(strict.latestOffset(end2, { kind: 'default' })).rejects.toMatchObject({
      code: 'REDIS_DATA_LOSS',
      message: expect.stringMatching(/deleted \(XDEL\) before the query read them/),
    });
    await strict.close();
  });
});

describe('through a query', () => {
  it('reads, stops and resumes from the checkpoint exactly once; progress shows the source and lag', async () => {
    const ss = streams(3);
    for (const [k, s] of ss.entries()) await add(s, k * 1000, k * 1000 + 40);
    const dir = await mkdtemp(path.join(tmpdir(), 'redis-src-'));
    const sink = memorySink();
    const run = async () => {
      const session = createSession();
      const q = await session
        .readStream(
          redisStreamSource({ url: REDIS_URL, streams: ss, maxEntriesPerTrigger: 25, name: 'events' }),
        )
        .writeStream({ sink, checkpointLocation: dir })
        .start();
      await q.processAllAvailable();
      return q;
    };
    const q1 = await run();
    expect(q1.lastProgress?.sources[0]?.description).toBe(
      `RedisStreamSource[redis://127.0.0.1:6379, ${ss.join(', ')}, maxEntriesPerTrigger=25]`,
    );
    expect(q1.recentProgress.every((p) => p.numInputRows <= 25)).toBe(true);
    await q1.stop();
    for (const s of ss) await add(s, 5000, 5005);
    const q2 = await run();
    await q2.stop();
    const got = (sink.allRows() as unknown as RedisStreamRow[])
      .map((r) => `${r.stream}/${r.fields.i}`)
      .sort();
    const want = ss
      .flatMap((s, k) =>
        [...Array(40).keys()]
          .map((i) => `${s}/${k * 1000 + i}`)
          .concat([0, 1, 2, 3, 4].map((i) => `${s}/${5000 + i}`)),
      )
      .sort();
    expect(got).toEqual(want);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('errors', () => {
  it('bad options fail at once; a wrong password fails open() at once (not retried) and never shows', async () => {
    expect(() => redisStreamSource({ url: 'http://x', streams: 'a' })).toThrow(
      /"url" must be a redis:\/\/ or rediss:\/\/ URL/,
    );
    expect(() => redisStreamSource({ url: REDIS_URL, streams: [] })).toThrow(
      /"streams" must be a stream key or a non-empty list/,
    );
    expect(() => redisStreamSource({ url: REDIS_URL, streams: 'a', startingOffsets: { b: '1-0' } })).toThrow(
      /names stream "b", which is not in "streams"/,
    );
    expect(() => redisStreamSource({ url: REDIS_URL, streams: 'a', maxEntriesPerTrigger: 0 })).toThrow(
      /maxEntriesPerTrigger/,
    );
    const user = await userWithPassword(admin, 'right-pw-1234');
    const log = recordingLogger();
    const s = redisStreamSource({ url: `redis://${user}:wrong-pw-9876@127.0.0.1:6379`, streams: 'x' });
    expect(s.describe()).toBe(`RedisStreamSource[redis://${user}:***@127.0.0.1:6379, x]`);
    const err = await s.open(ctx(log)).catch((e) => e);
    expect(err).toMatchObject({ code: 'REDIS_FAILED', retryable: false });
    expect(err.message).toMatch(/WRONGPASS.*check the user name and password/);
    expect(log.records).toEqual([]);
    expect(JSON.stringify([err.message, s.describe()])).not.toContain('wrong-pw-9876');
    await s.close();
  });
});
