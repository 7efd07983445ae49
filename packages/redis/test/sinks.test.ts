/**
 * redisStreamSink and redisHashSink against the real Redis, driven directly: what they write,
 * replayed batch ids, complete mode, TTLs, nulls, bad values and keys of the wrong type.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type Row, schema, t } from 'millrace';
import { redisFieldsDecoder, redisHashSink, redisStreamSink } from '../src/index.ts';
import { REDIS_URL, adminClient, cleanup, deleteLater, sinkContext, uniqueName } from './helpers.ts';

afterAll(cleanup);
const admin = adminClient();

function prefix(p: string): string {
  const name = uniqueName(p);
  deleteLater(`${name}*`);
  deleteLater(`millrace:batches:*${name}*`);
  return name;
}

const products = schema({
  id: t.long,
  name: t.string.orNull(),
  views: t.long,
  at: t.timestamp,
  tags: t.array(t.string).orNull(),
});

describe('redisStreamSink', () => {
  it('appends one entry per row, exactly once per batch id, trimming with maxLen', async () => {
    const stream = prefix('out');
    const sink = redisStreamSink({ url: REDIS_URL, stream, maxLen: 1000 });
    expect(sink.supportedOutputModes).toEqual(['append']);
    const ctx = sinkContext(products, 'append');
    await sink.open(ctx);
    const rows = [
      { id: 1, name: 'apple', views: 3, at: 1_700_000_000_000, tags: ['red'] },
      { id: 2, name: null, views: 0, at: 1_700_000_000_001, tags: null },
    ];
    const r = await sink.addBatch(rows, { batchId: 0, outputMode: 'append' });
    expect(r).toMatchObject({ rowsWritten: 2, metrics: { entriesAdded: 2, skippedReplay: 0 } });
    expect(await sink.addBatch(rows, { batchId: 0, outputMode: 'append' })).toMatchObject({
      rowsWritten: 0,
      metrics: { skippedReplay: 1 },
    });
    await sink.close();
    // A new instance (a restarted query, same query id) skips it too.
    const again = redisStreamSink({ url: REDIS_URL, stream });
    await again.open(ctx);
    expect((await again.addBatch(rows, { batchId: 0, outputMode: 'append' })).rowsWritten).toBe(0);
    await again.addBatch([{ ...rows[0]!, id: 3 }], { batchId: 1, outputMode: 'append' });
    await again.close();
    const entries = await admin.xrange(stream, '-', '+');
    expect(entries.map(([, kv]) => kv)).toEqual([
      ['id', '1', 'name', 'apple', 'views', '3', 'at', '1700000000000', 'tags', '["red"]'],
      ['id', '2', 'views', '0', 'at', '1700000000001'],
      ['id', '3', 'name', 'apple', 'views', '3', 'at', '1700000000000', 'tags', '["red"]'],
    ]);
    const decode = redisFieldsDecoder(products);
    const fields = (kv: string[]) =>
      Object.fromEntries(kv.flatMap((x, i) => (i % 2 ? [] : [[x, kv[i + 1]!]])));
    expect(decode(fields(entries[1]![1]))).toEqual({
      id: 2,
      name: null,
      views: 0,
      at: 1_700_000_000_001,
      tags: null,
    });
    expect(await admin.get(again.markerKey(ctx.queryId))).toBe('1');
  });

  it('refuses a key of another type and values of the wrong type, writing nothing', async () => {
    const key = prefix('str');
    await admin.set(key, 'x');
    await expect(
      redisStreamSink({ url: REDIS_URL, stream: key }).open(sinkContext(products, 'append')),
    ).rejects.toMatchObject({
      code: 'REDIS_WRONG_TYPE',
      message: expect.stringMatching(/holds a string, not a stream/),
    });
    const stream = prefix('bad');
    const sink = redisStreamSink({ url: REDIS_URL, stream });
    await sink.open(sinkContext(products, 'append'));
    const err = await sink
      .addBatch([{ id: 1, name: 'a', views: 1, at: 0, tags: null }, { id: 'x' } as unknown as Row], {
        batchId: 0,
        outputMode: 'append',
      })
      .catch((e) => e);
    expect(err).toMatchObject({
      code: 'SINK_BAD_VALUE',
      message: expect.stringMatching(/row 1: column "id" is "x", not a whole number/),
    });
    expect(await admin.exists(stream)).toBe(0);
    await sink.close();
  });
});

describe('redisHashSink', () => {
  it('update mode: HSET per key, nulls removed (HDEL), a later row of the same key wins; replays skipped', async () => {
    const p = prefix('hot');
    const sink = redisHashSink({ url: REDIS_URL, keyPrefix: `${p}:`, keyColumns: ['id'] });
    const ctx = sinkContext(products, 'update');
    await sink.open(ctx);
    await sink.addBatch([{ id: 1, name: 'apple', views: 1, at: 5, tags: ['a'] }], {
      batchId: 0,
      outputMode: 'update',
    });
    const r = await sink.addBatch(
      [
        { id: 1, name: null, views: 2, at: 6, tags: ['a'] },
        { id: 2, name: 'pear', views: 1, at: 7, tags: null },
        { id: 1, name: null, views: 3, at: 8, tags: null },
      ],
      { batchId: 1, outputMode: 'update' },
    );
    expect(r).toMatchObject({ rowsWritten: 3, metrics: { keysWritten: 3 } });
    expect(
      (
        await sink.addBatch([{ id: 9, name: 'x', views: 0, at: 0, tags: null }], {
          batchId: 1,
          outputMode: 'update',
        })
      ).rowsWritten,
    ).toBe(0);
    await sink.close();
    expect(await admin.hgetall(`${p}:1`)).toEqual({ id: '1', views: '3', at: '8' });
    expect(await admin.hgetall(`${p}:2`)).toEqual({ id: '2', name: 'pear', views: '1', at: '7' });
    expect(await admin.exists(`${p}:9`)).toBe(0);
  });

  it('complete mode replaces the result: keys no longer in it are deleted; json values and a TTL', async () => {
    const p = prefix('top');
    const sink = redisHashSink({
      url: REDIS_URL,
      keyPrefix: `${p}:`,
      keyColumns: ['id', 'name'],
      valueType: 'json',
      ttlMs: 60_000,
    });
    expect(sink.describe()).toBe(`RedisHashSink[redis://127.0.0.1:6379, SET ${p}:<id:name>, ttl 60000 ms]`);
    await sink.open(sinkContext(products, 'complete'));
    await sink.addBatch(
      [
        { id: 1, name: 'a', views: 1, at: 0, tags: null },
        { id: 2, name: 'b', views: 1, at: 0, tags: null },
      ],
      { batchId: 0, outputMode: 'complete' },
    );
    await sink.addBatch([{ id: 2, name: 'b', views: 5, at: 1, tags: ['x'] }], {
      batchId: 1,
      outputMode: 'complete',
    });
    await sink.close();
    const keys = (await admin.keys(`${p}:*`)).sort();
    expect(keys).toEqual([`${p}:2:b`]);
    expect(JSON.parse((await admin.get(`${p}:2:b`))!)).toEqual({
      id: 2,
      name: 'b',
      views: 5,
      at: 1,
      tags: ['x'],
    });
    const ttl = await admin.pttl(`${p}:2:b`);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('refuses a null key and an unknown key column', async () => {
    const p = prefix('nk');
    const sink = redisHashSink({ url: REDIS_URL, keyPrefix: `${p}:`, keyColumns: ['name'] });
    await sink.open(sinkContext(products, 'update'));
    await expect(
      sink.addBatch([{ id: 1, name: null, views: 0, at: 0, tags: null }], {
        batchId: 0,
        outputMode: 'update',
      }),
    ).rejects.toMatchObject({
      code: 'REDIS_NULL_KEY',
      message: expect.stringMatching(/row 0 has a null in key column "name"/),
    });
    await sink.close();
    await expect(
      redisHashSink({ url: REDIS_URL, keyPrefix: 'x:', keyColumns: ['nope'] }).open(
        sinkContext(products, 'update'),
      ),
    ).rejects.toMatchObject({
      code: 'UNKNOWN_COLUMN',
    });
    expect(() => redisHashSink({ url: REDIS_URL, keyPrefix: '', keyColumns: ['id'] })).toThrow(
      /"keyPrefix" must be a non-empty string/,
    );
  });
});
