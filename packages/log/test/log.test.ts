import { ManualClock } from 'millrace';
import { afterEach, describe, expect, it } from 'vitest';
import { murmur2, openLog, partitionForKey, type Log } from '../src/index.ts';
import { cleanupDirs, errorOf, readAll, tempDir } from './helpers.ts';

const T0 = Date.UTC(2025, 0, 1);
const logs: Log[] = [];

async function open(dir = tempDir(), options: Record<string, unknown> = {}): Promise<Log> {
  const log = await openLog({ dir, fsync: 'never', retentionCheckIntervalMs: 0, ...options });
  logs.push(log);
  return log;
}

afterEach(async () => {
  for (const l of logs.splice(0)) await l.close();
  cleanupDirs();
});

describe('append and read', () => {
  it('assigns dense offsets from 0 and reads back key, value, timestamp and headers', async () => {
    const log = await open(tempDir(), { clock: new ManualClock(T0) });
    const r1 = await log.append('events', [{ value: '{"a":1}' }, { value: 'two', key: 'k' }]);
    expect(r1).toMatchObject({
      topic: 'events',
      count: 2,
      offsets: [0, 1],
      partitions: [0, 0],
      duplicate: false,
    });
    expect(r1.ranges).toEqual({ '0': [0, 1] });
    const r2 = await log.append('events', [
      { value: new Uint8Array([1, 2, 3]), key: new Uint8Array([9]), timestamp: 123, headers: { h: 'v' } },
      { value: null },
    ]);
    expect(r2.offsets).toEqual([2, 3]);
    const chunks = [];
    for await (const c of log.read('events', 0)) chunks.push(...c);
    expect(chunks).toEqual([
      { offset: 0, timestamp: T0, key: null, value: '{"a":1}', headers: null },
      { offset: 1, timestamp: T0, key: 'k', value: 'two', headers: null },
      {
        offset: 2,
        timestamp: 123,
        key: new Uint8Array([9]),
        value: new Uint8Array([1, 2, 3]),
        headers: { h: 'v' },
      },
      { offset: 3, timestamp: T0, key: null, value: null, headers: null },
    ]);
    expect(log.watermarks('events', 0)).toEqual({ low: 0, high: 4 });
    expect(log.topic('events')).toMatchObject({
      name: 'events',
      partitions: 1,
      retentionBytes: null,
      retentionMs: null,
    });
  });

  it('large records (beyond the shared LMDB read buffer) round-trip, text and bytes', async () => {
    const log = await open();
    const big = 'é'.repeat(3_000_000);
    const bytes = new Uint8Array(200_000).map((_, i) => i % 251);
    await log.append('large', [
      { value: 'small' },
      { value: big },
      { value: bytes, key: 'b' },
      { value: 'after' },
    ]);
    const got = [];
    for await (const c of log.read('large', 0)) got.push(...c);
    expect(got.map((r) => (typeof r.value === 'string' ? r.value.length : r.value?.length))).toEqual([
      5, 3_000_000, 200_000, 5,
    ]);
    expect(got[1]!.value).toBe(big);
    expect(got[2]!.value).toEqual(bytes);
    expect(got[2]!.key).toBe('b');
  });

  it('reads a range in chunks', async () => {
    const log = await open();
    await log.append(
      't',
      Array.from({ length: 25 }, (_, i) => ({ value: `v${i}` })),
    );
    const sizes: number[] = [];
    const offsets: number[] = [];
    for await (const c of log.read('t', 0, 3, 20, { chunkRecords: 7 })) {
      sizes.push(c.length);
      offsets.push(...c.map((r) => r.offset));
    }
    expect(sizes).toEqual([7, 7, 3]);
    expect(offsets).toEqual(Array.from({ length: 17 }, (_, i) => i + 3));
  });

  it('concurrent appends get unique consecutive offsets, each append contiguous per partition', async () => {
    const log = await open();
    await log.createTopic('c', { partitions: 3 });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        log.append(
          'c',
          Array.from({ length: 10 }, (_, j) => ({ value: `${i}-${j}`, key: `k${j % 4}` })),
        ),
      ),
    );
    for (const r of results) {
      for (const [p, [first, last]] of Object.entries(r.ranges)) {
        const mine = r.offsets.filter((_, i) => r.partitions[i] === Number(p));
        expect(mine).toEqual(Array.from({ length: last - first + 1 }, (_, i) => first + i));
      }
    }
    for (let p = 0; p < 3; p++) {
      const stored = await readAll(log, 'c', p);
      expect(stored.map(([o]) => o)).toEqual(stored.map((_, i) => i));
      const claimed = results.flatMap((r) => r.offsets.filter((_, i) => r.partitions[i] === p));
      expect(claimed.sort((a, b) => a - b)).toEqual(stored.map(([o]) => o));
    }
    const total = [0, 1, 2].reduce((a, p) => a + log.watermarks('c', p).high, 0);
    expect(total).toBe(500);
  });

  it('an append with one bad record writes nothing', async () => {
    const log = await open();
    await log.append('a', [{ value: 'ok' }]);
    const e = await errorOf(log.append('a', [{ value: 'fine' }, { value: 42 as unknown as string }]));
    expect(e.code).toBe('INVALID_RECORD');
    expect(e.message).toContain('record 1: "value" must be a string, a Uint8Array or null, got 42');
    expect(log.watermarks('a', 0)).toEqual({ low: 0, high: 1 });
  });

  it('topics: created explicitly, on first write, or refused when auto-create is off', async () => {
    const dir = tempDir();
    const log = await open(dir, { autoCreateTopics: false, topicDefaults: { partitions: 2 } });
    const e = await errorOf(log.append('nope', [{ value: 'x' }]));
    expect(e.code).toBe('TOPIC_NOT_FOUND');
    expect(e.message).toContain('create it with createTopic("nope"');
    const t = await log.createTopic('yes');
    expect(t.partitions).toBe(2);
    expect((await errorOf(log.createTopic('yes'))).code).toBe('TOPIC_EXISTS');
    expect((await log.createTopic('yes', { partitions: 5 }, { ifNotExists: true })).partitions).toBe(2);
    expect((await errorOf(log.createTopic('bad/name'))).code).toBe('INVALID_TOPIC_NAME');
    const bad = await errorOf(log.createTopic('x', { partitions: 0 }));
    expect(bad.message).toContain('"partitions" must be a whole number from 1 to 10000, got 0');
    expect(log.topics().map((x) => x.name)).toEqual(['yes']);
  });

  it('validates options, naming the option', async () => {
    const dir = tempDir();
    expect((await errorOf(openLog({ dir, fsync: 'sometimes' as 'always' }))).message).toContain(
      `"fsync" must be 'always', 'interval' or 'never', got "sometimes"`,
    );
    expect((await errorOf(openLog({ dir, fsynk: 'always' } as never))).message).toContain(
      'unknown option "fsynk"',
    );
    expect((await errorOf(openLog({ dir, fsyncIntervalMs: 10 }))).message).toContain(
      `"fsyncIntervalMs" applies only to fsync 'interval'`,
    );
    expect((await errorOf(openLog({ dir: '' }))).message).toContain('"dir" must be a non-empty string');
  });

  it('a closed log refuses appends with LOG_CLOSED', async () => {
    const log = await openLog({ dir: tempDir(), fsync: 'never' });
    await log.close();
    const e = await errorOf(log.append('t', [{ value: 'x' }]));
    expect(e.code).toBe('LOG_CLOSED');
  });
});

describe('partitioning', () => {
  it("uses Kafka's murmur2 (the Java client's test vectors)", () => {
    const enc = new TextEncoder();
    const cases: [string, number][] = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
      ['', 275646681],
    ];
    for (const [s, h] of cases) expect(murmur2(enc.encode(s)), s).toBe(h);
    expect(partitionForKey('foobar', 7)).toBe((-790332482 & 0x7fffffff) % 7);
  });

  it('keyed records go to the hash partition, explicit partitions win, keyless ones go round-robin', async () => {
    const log = await open();
    await log.createTopic('p', { partitions: 4 });
    const keys = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    const r = await log.append(
      'p',
      keys.map((k) => ({ key: k, value: k })),
    );
    keys.forEach((k, i) => expect(r.partitions[i]).toBe(partitionForKey(k, 4)));
    expect(new Set(r.partitions).size).toBe(4);
    const again = await log.append('p', [{ key: 'user-7', value: 'again' }]);
    expect(again.partitions[0]).toBe(partitionForKey('user-7', 4));
    const explicit = await log.append('p', [{ key: 'user-7', value: 'x', partition: 3 }]);
    expect(explicit.partitions).toEqual([3]);
    const rr = await log.append(
      'p',
      Array.from({ length: 8 }, () => ({ value: 'n' })),
    );
    expect(rr.partitions).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    const e = await errorOf(log.append('p', [{ value: 'x', partition: 4 }]));
    expect(e.code).toBe('INVALID_PARTITION');
    expect(e.message).toContain('the topic has partitions 0–3');
  });
});

describe('retention', () => {
  it('by size: deletes from the front until the partition fits, and the low watermark advances', async () => {
    const log = await open();
    const value = 'x'.repeat(74); // 10 header + 4 length + 74 = 88 bytes + 16 key = 104 bytes a record
    await log.createTopic('s', { retentionBytes: 1000 });
    await log.append(
      's',
      Array.from({ length: 30 }, () => ({ value })),
    );
    expect(log.partitions('s')[0]).toEqual({ partition: 0, low: 0, high: 30, bytes: 3120 });
    expect(log.overRetentionLimit('s').map((p) => p.partition)).toEqual([0]);
    const report = await log.enforceRetention();
    expect(report.deleted).toEqual({ 's/0': 21 });
    expect(log.partitions('s')[0]).toEqual({ partition: 0, low: 21, high: 30, bytes: 936 });
    expect(log.overRetentionLimit('s')).toEqual([]);
    expect((await readAll(log, 's')).map(([o]) => o)).toEqual([21, 22, 23, 24, 25, 26, 27, 28, 29]);
    // offsets continue after retention
    expect((await log.append('s', [{ value }])).offsets).toEqual([30]);
  });

  it('by time: deletes records older than retentionMs (injected clock), in order', async () => {
    const clock = new ManualClock(T0);
    const log = await open(tempDir(), { clock });
    await log.createTopic('tm', { retentionMs: 60_000 });
    await log.append('tm', [{ value: 'a' }, { value: 'b' }]);
    clock.advance(30_000);
    await log.append('tm', [{ value: 'c' }]);
    clock.advance(30_000); // a, b are exactly 60 s old: kept (older than, not as old as)
    expect((await log.enforceRetention()).deleted).toEqual({});
    clock.advance(1);
    expect((await log.enforceRetention()).deleted).toEqual({ 'tm/0': 2 });
    expect(log.watermarks('tm', 0)).toEqual({ low: 2, high: 3 });
    clock.advance(30_000);
    await log.enforceRetention();
    expect(log.watermarks('tm', 0)).toEqual({ low: 3, high: 3 });
    expect(log.partitions('tm')[0]!.bytes).toBe(0);
    expect(await readAll(log, 'tm')).toEqual([]);
    expect((await log.append('tm', [{ value: 'd' }])).offsets).toEqual([3]);
  });

  it('setTopicConfig changes retention; large deletions run in several transactions', async () => {
    const log = await open();
    await log.append(
      'big',
      Array.from({ length: 12_000 }, (_, i) => ({ value: String(i) })),
    );
    expect((await log.enforceRetention()).deleted).toEqual({});
    await log.setTopicConfig('big', { retentionBytes: 10 * 40 });
    const r = await log.enforceRetention();
    expect(log.watermarks('big', 0).high - log.watermarks('big', 0).low).toBeLessThanOrEqual(20);
    expect(r.deleted['big/0']).toBeGreaterThan(11_900);
    expect(log.topic('big')!.retentionBytes).toBe(400);
    const e = await errorOf(log.setTopicConfig('big', { partitions: 3 } as never));
    expect(e.message).toContain('the number of partitions cannot change');
  });

  it('runs on its timer and right after an append goes over the limit', async () => {
    const log = await open(tempDir(), { retentionCheckIntervalMs: 60_000 });
    await log.createTopic('auto', { retentionBytes: 500 });
    await log.append(
      'auto',
      Array.from({ length: 20 }, () => ({ value: 'y'.repeat(50) })),
    );
    const deadline = Date.now() + 5000;
    while (log.partitions('auto')[0]!.bytes > 500 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    expect(log.partitions('auto')[0]!.bytes).toBeLessThanOrEqual(500);
  });
});

describe('durability and reopening', () => {
  it('reopen after close keeps topics, records, watermarks, markers and idempotency keys', async () => {
    const dir = tempDir();
    const a = await openLog({ dir, fsync: 'always', retentionCheckIntervalMs: 0 });
    await a.createTopic('r', { partitions: 2, retentionBytes: 10_000, retentionMs: 3_600_000 });
    await a.append(
      'r',
      Array.from({ length: 10 }, (_, i) => ({ value: `v${i}`, partition: i % 2 })),
    );
    await a.append('r', [{ value: 'idem' }], { idempotencyKey: 'req-1' });
    await a.append('r', [{ value: 'batch' }], { marker: { owner: 'q1/sink', batchId: 4 } });
    const before = a.partitions('r');
    await a.close();

    const b = await open(dir, { fsync: 'always' });
    expect(b.topic('r')).toMatchObject({ partitions: 2, retentionBytes: 10_000, retentionMs: 3_600_000 });
    expect(b.partitions('r')).toEqual(before);
    expect((await readAll(b, 'r', 0)).map(([, v]) => v)).toEqual(['v0', 'v2', 'v4', 'v6', 'v8', 'idem']);
    expect(b.lastMarker('r', 'q1/sink')).toBe(4);
    const dup = await b.append('r', [{ value: 'idem' }], { idempotencyKey: 'req-1' });
    expect(dup.duplicate).toBe(true);
    expect(b.partitions('r')).toEqual(before);
    const next = await b.append('r', [{ value: 'more', partition: 1 }]);
    expect(next.offsets).toEqual([before[1]!.high]);
  });

  it("fsync 'interval' makes appends visible at once and flushes on its timer and at close", async () => {
    const dir = tempDir();
    const log = await openLog({ dir, fsync: 'interval', fsyncIntervalMs: 20, retentionCheckIntervalMs: 0 });
    await log.append('i', [{ value: 'x' }]);
    expect(log.watermarks('i', 0).high).toBe(1);
    await log.sync();
    // A second instance in this process must use the same policy (one LMDB environment per directory).
    const e = await errorOf(openLog({ dir, fsync: 'always' }));
    expect(e.code).toBe('LOG_ALREADY_OPEN');
    expect(e.message).toContain('pass the open Log instance');
    const same = await openLog({ dir, fsync: 'interval' });
    expect(same.watermarks('i', 0).high).toBe(1);
    await same.close();
    await log.close();
    const again = await open(dir, { fsync: 'always' });
    expect(await readAll(again, 'i')).toEqual([[0, 'x']]);
  });
});

describe('idempotency keys and markers', () => {
  it('a repeated key writes nothing and returns the first offsets; a different request with it is refused', async () => {
    const clock = new ManualClock(T0);
    const log = await open(tempDir(), { clock, idempotencyWindowMs: 60_000 });
    await log.createTopic('ik', { partitions: 2 });
    const first = await log.append(
      'ik',
      [
        { value: 'a', partition: 1 },
        { value: 'b', partition: 0 },
        { value: 'c', partition: 1 },
      ],
      { idempotencyKey: 'k1', idempotencyFingerprint: 'f1' },
    );
    const again = await log.append('ik', [{ value: 'ignored' }], {
      idempotencyKey: 'k1',
      idempotencyFingerprint: 'f1',
    });
    expect(again).toEqual({ ...first, duplicate: true });
    expect(log.partitions('ik').map((p) => p.high)).toEqual([1, 2]);
    const e = await errorOf(
      log.append('ik', [{ value: 'x' }], { idempotencyKey: 'k1', idempotencyFingerprint: 'f2' }),
    );
    expect(e.code).toBe('IDEMPOTENCY_KEY_REUSED');
    // The same key on another topic is another key.
    expect((await log.append('other', [{ value: 'x' }], { idempotencyKey: 'k1' })).duplicate).toBe(false);
    // Keys expire after the window.
    clock.advance(60_001);
    expect((await log.enforceRetention()).idempotencyKeysExpired).toBe(2);
    expect(
      (await log.append('ik', [{ value: 'new' }], { idempotencyKey: 'k1', idempotencyFingerprint: 'f2' }))
        .duplicate,
    ).toBe(false);
  });

  it('a marker makes a repeated or older batch id a no-op', async () => {
    const log = await open();
    const m = (batchId: number) => ({ marker: { owner: 'q/s', batchId } });
    expect((await log.append('m', [{ value: 'b0' }], m(0))).duplicate).toBe(false);
    expect((await log.append('m', [{ value: 'b0 again' }], m(0))).duplicate).toBe(true);
    expect((await log.append('m', [{ value: 'b1' }], m(1))).offsets).toEqual([1]);
    expect((await log.append('m', [{ value: 'old' }], m(0))).duplicate).toBe(true);
    expect(log.lastMarker('m', 'q/s')).toBe(1);
    expect(log.lastMarker('m', 'other')).toBeUndefined();
    expect((await readAll(log, 'm')).map(([, v]) => v)).toEqual(['b0', 'b1']);
  });
});
