/**
 * rabbitmqSource against the real RabbitMQ: messages reach a query through
 * the write-ahead log, are acknowledged only once logged (the queue empties
 * only then), survive a restart, are not read twice, and redelivered copies
 * (same message id) are dropped.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type MillraceError,
  type StreamingQuery,
  Trigger,
  createSession,
  memorySink,
  schema,
  silentLogger,
  t,
} from 'millrace';
import { rabbitmqSource } from '../src/index.ts';
import { cleanup, publish, queueDepth, tempDir, uniqueQueue } from './helpers.ts';

const queries: StreamingQuery[] = [];
afterEach(async () => {
  await Promise.all(queries.splice(0).map((q) => q.stop().catch(() => undefined)));
});
afterAll(cleanup);

const rowSchema = schema({ n: t.long, word: t.string });

function query(queue: string, checkpoint: string, sink = memorySink(), extra: Record<string, unknown> = {}) {
  const session = createSession({ log: silentLogger });
  const q = session
    .readStream(
      rabbitmqSource({
        queue,
        url: 'amqp://guest:guest@127.0.0.1:5672',
        format: { json: rowSchema, mode: 'dropMalformed', metadata: ['messageId', 'offset'] },
        ...extra,
      }),
    )
    .writeStream({ sink, checkpointLocation: checkpoint, trigger: Trigger.processingTime(50) })
    .start();
  return { sink, q };
}

async function waitRows(sink: ReturnType<typeof memorySink>, n: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (sink.allRows().length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  expect(sink.allRows().length).toBe(n);
}

describe('rabbitmqSource', () => {
  it('reads JSON messages in order, acknowledges them once logged, and continues after a restart', async () => {
    const queue = uniqueQueue('src');
    const cp = tempDir();
    await publish(
      queue,
      Array.from({ length: 500 }, (_, n) => JSON.stringify({ n, word: `w${n}` })),
      Array.from({ length: 500 }, (_, n) => `id-${n}`),
    );
    const a = query(queue, cp);
    const qa = await a.q;
    queries.push(qa);
    await waitRows(a.sink, 500);
    expect(a.sink.allRows().map((r) => r.n)).toEqual(Array.from({ length: 500 }, (_, n) => n));
    expect(a.sink.allRows()[7]).toEqual({ n: 7, word: 'w7', messageId: 'id-7', offset: 7 });
    expect(await queueDepth(queue)).toBe(0);
    await qa.stop();

    await publish(queue, ['{"n": 500, "word": "w500"}', 'not json', '{"n": 501, "word": "w501"}']);
    const b = query(queue, cp);
    const qb = await b.q;
    queries.push(qb);
    await waitRows(b.sink, 2);
    expect(b.sink.allRows().map((r) => [r.n, r.offset])).toEqual([
      [500, 500],
      [501, 502],
    ]);
    // Progress is recorded just after the sink wrote the batch.
    const malformed = () => qb.recentProgress.reduce((s, p) => s + (p.sources[0]?.numMalformedRows ?? 0), 0);
    for (let i = 0; i < 100 && malformed() === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(malformed()).toBe(1);
  });

  it('drops a message whose id was already logged (a redelivery or a republished batch)', async () => {
    const queue = uniqueQueue('dedup');
    const cp = tempDir();
    await publish(queue, ['{"n":1,"word":"a"}', '{"n":2,"word":"b"}'], ['x-1', 'x-2']);
    const a = query(queue, cp);
    const qa = await a.q;
    queries.push(qa);
    await waitRows(a.sink, 2);
    await publish(queue, ['{"n":1,"word":"a"}', '{"n":3,"word":"c"}'], ['x-1', 'x-3']);
    await waitRows(a.sink, 3);
    await qa.stop();
    // Also across a restart (the keys come back from the write-ahead log).
    await publish(queue, ['{"n":2,"word":"b"}', '{"n":4,"word":"d"}'], ['x-2', 'x-4']);
    const b = query(queue, cp);
    const qb = await b.q;
    queries.push(qb);
    await waitRows(b.sink, 1);
    expect(b.sink.allRows().map((r) => r.n)).toEqual([4]);
    expect(await queueDepth(queue)).toBe(0);
  });

  it('leaves messages with the broker when nothing was logged (no query ran)', async () => {
    const queue = uniqueQueue('keep');
    await publish(queue, ['{"n":1,"word":"a"}']);
    expect(await queueDepth(queue)).toBe(1);
  });
});

describe('rabbitmqSource, failFast', () => {
  it('fails the query on a malformed record without committing it or anything after it, and again after a restart', async () => {
    const queue = uniqueQueue('failfast');
    const cp = tempDir();
    const failFast = { json: rowSchema, mode: 'failFast' as const, metadata: ['offset' as const] };
    const start = () => {
      const sink = memorySink();
      const q = createSession({ log: silentLogger })
        .readStream(
          rabbitmqSource({ name: 'ff', queue, url: 'amqp://guest:guest@127.0.0.1:5672', format: failFast }),
        )
        .writeStream({ sink, checkpointLocation: cp, trigger: Trigger.processingTime(10) })
        .start();
      return { sink, q };
    };
    const a = start();
    const qa = await a.q;
    queries.push(qa);
    await publish(
      queue,
      Array.from({ length: 100 }, (_, n) => JSON.stringify({ n, word: 'w' })),
    );
    await waitRows(a.sink, 100);
    // One unit: 20 good, a malformed one, 20 good.
    const unit = Array.from({ length: 41 }, (_, k) =>
      k === 20 ? '{"n": "nope"' : JSON.stringify({ n: 100 + k - (k > 20 ? 1 : 0), word: 'w' }),
    );
    await publish(queue, unit);
    const err = (await qa.awaitTermination().then(
      () => null,
      (e: unknown) => e,
    )) as MillraceError | null;
    expect(err?.code).toBe('MALFORMED_RECORD');
    expect(err?.retryable).toBe(false);
    expect(err?.context.source).toBe('ff');
    // Committed: a prefix of the records before the malformed one (offset 120), nothing from it on.
    const got = a.sink.allRows().map((r) => r.n as number);
    expect(got.length).toBeGreaterThanOrEqual(100);
    expect(got.length).toBeLessThanOrEqual(120);
    expect(got).toEqual(Array.from({ length: got.length }, (_, n) => n));
    // A restart meets the same record again: neither skipped nor lost silently.
    const b = start();
    const qb = await b.q;
    queries.push(qb);
    const again = (await qb.awaitTermination().then(
      () => null,
      (e: unknown) => e,
    )) as MillraceError | null;
    expect(again?.code).toBe('MALFORMED_RECORD');
    expect(b.sink.allRows().every((r) => (r.n as number) < 120)).toBe(true);
  });
});
