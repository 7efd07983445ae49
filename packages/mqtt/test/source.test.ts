/**
 * mqttSource against the real Mosquitto: QoS 1 messages reach a query
 * through the write-ahead log; while no query runs the broker keeps them for
 * the persistent session, so a restart reads them; nothing is read twice;
 * the sink's messages come back with their ids; several readers share a
 * subscription ($share).
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
import { mqttSink, mqttSource } from '../src/index.ts';
import {
  URL,
  cleanupDirs,
  collect,
  dropSession,
  publish,
  tempDir,
  uniqueClientId,
  uniqueTopic,
} from './helpers.ts';

const queries: StreamingQuery[] = [];
const sessions: string[] = [];
afterEach(async () => {
  await Promise.all(queries.splice(0).map((q) => q.stop().catch(() => undefined)));
});
afterAll(async () => {
  for (const s of sessions.splice(0)) await dropSession(s).catch(() => {});
  cleanupDirs();
});

const reading = schema({ sensor: t.string, value: t.double });

function start(
  topics: string | string[],
  clientId: string,
  checkpoint: string,
  extra: Record<string, unknown> = {},
) {
  sessions.push(clientId);
  const sink = memorySink();
  const q = createSession({ log: silentLogger })
    .readStream(
      mqttSource({
        url: URL,
        topics,
        clientId,
        format: { json: reading, mode: 'dropMalformed', metadata: ['topic', 'offset'] },
        ...extra,
      }),
    )
    .writeStream({ sink, checkpointLocation: checkpoint, trigger: Trigger.processingTime(20) })
    .start();
  return { sink, q };
}

async function waitRows(sink: ReturnType<typeof memorySink>, n: number, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (sink.allRows().length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  expect(sink.allRows().length).toBe(n);
}

const msg = (i: number) => JSON.stringify({ sensor: `s${i % 3}`, value: i });

describe('mqttSource', () => {
  it('reads QoS 1 messages in order, keeps the session while stopped, and continues exactly once', async () => {
    const topic = uniqueTopic('src');
    const clientId = uniqueClientId('src');
    const cp = tempDir();
    const a = start(`${topic}/#`, clientId, cp);
    const qa = await a.q;
    queries.push(qa);
    await publish(
      `${topic}/room1`,
      Array.from({ length: 300 }, (_, i) => msg(i)),
    );
    await waitRows(a.sink, 300);
    expect(a.sink.allRows().map((r) => r.value)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(a.sink.allRows()[5]).toEqual({ sensor: 's2', value: 5, topic: `${topic}/room1`, offset: 5 });
    await qa.stop();

    // Published while no query runs: the broker keeps them for the session.
    await publish(`${topic}/room2`, [...Array.from({ length: 100 }, (_, i) => msg(300 + i)), 'not json']);
    const b = start(`${topic}/#`, clientId, cp);
    const qb = await b.q;
    queries.push(qb);
    await waitRows(b.sink, 100);
    expect(b.sink.allRows().map((r) => r.value)).toEqual(Array.from({ length: 100 }, (_, i) => 300 + i));
    expect(b.sink.allRows()[0]!.offset).toBe(300);
  });

  it('splits a shared subscription between two readers, each message to one of them', async () => {
    const topic = uniqueTopic('shared');
    const group = `g${Date.now().toString(36)}`;
    const a = start(topic, uniqueClientId('sh-a'), tempDir(), { shareGroup: group, name: 'a' });
    const b = start(topic, uniqueClientId('sh-b'), tempDir(), { shareGroup: group, name: 'b' });
    const [qa, qb] = await Promise.all([a.q, b.q]);
    queries.push(qa, qb);
    await publish(
      topic,
      Array.from({ length: 400 }, (_, i) => msg(i)),
    );
    const until = Date.now() + 10_000;
    while (a.sink.allRows().length + b.sink.allRows().length < 400 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20));
    const all = [...a.sink.allRows(), ...b.sink.allRows()]
      .map((r) => r.value as number)
      .sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 400 }, (_, i) => i));
    expect(a.sink.allRows().length).toBeGreaterThan(0);
    expect(b.sink.allRows().length).toBeGreaterThan(0);
  });

  it('mqttSink publishes QoS 1 with message ids; a re-published batch is dropped by the source', async () => {
    const topic = uniqueTopic('sink');
    const sub = await collect(topic, { protocolVersion: 5 });
    const rows = Array.from({ length: 50 }, (_, i) => ({ sensor: `s${i}`, value: i }));
    const sink = mqttSink({ url: URL, topic });
    const ctx = {
      queryId: 'q1',
      queryName: 'test',
      stateDir: tempDir(),
      clock: { now: () => Date.now(), sleepUntil: async () => {} },
      log: silentLogger,
      schema: reading,
      outputMode: 'append' as const,
    };
    await sink.open(ctx);
    await sink.addBatch(rows, { batchId: 0, outputMode: 'append' });
    await sink.addBatch(rows, { batchId: 0, outputMode: 'append' }); // a replay
    await sink.close();
    const until = Date.now() + 5000;
    while (sub.messages.length < 100 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await sub.close();
    expect(sub.messages.length).toBe(100);
    const ids = sub.messages.map(
      (m) => (m.properties?.userProperties as Record<string, string>)['millrace-id'],
    );
    expect(new Set(ids).size).toBe(50);
    expect(ids[0]).toBe('q1:0:0');

    // The same stream read by mqttSource: each row once.
    const clientId = uniqueClientId('dedup');
    const reader = start(topic, clientId, tempDir());
    const q = await reader.q;
    queries.push(q);
    const sink2 = mqttSink({ url: URL, topic });
    await sink2.open(ctx);
    await sink2.addBatch(rows, { batchId: 1, outputMode: 'append' });
    await sink2.addBatch(rows, { batchId: 1, outputMode: 'append' });
    await sink2.close();
    await waitRows(reader.sink, 50);
    await new Promise((r) => setTimeout(r, 300));
    expect(reader.sink.allRows().length).toBe(50);
  });
});

describe('mqttSource, failFast', () => {
  it('fails the query on a malformed record without committing it or anything after it, and again after a restart', async () => {
    const topic = uniqueTopic('failfast');
    const clientId = uniqueClientId('ff');
    sessions.push(clientId);
    const cp = tempDir();
    const begin = () => {
      const sink = memorySink();
      const q = createSession({ log: silentLogger })
        .readStream(
          mqttSource({
            name: 'ff',
            url: URL,
            topics: topic,
            clientId,
            format: { json: reading, mode: 'failFast' },
          }),
        )
        .writeStream({ sink, checkpointLocation: cp, trigger: Trigger.processingTime(10) })
        .start();
      return { sink, q };
    };
    const a = begin();
    const qa = await a.q;
    queries.push(qa);
    await publish(
      topic,
      Array.from({ length: 100 }, (_, i) => msg(i)),
    );
    await waitRows(a.sink, 100);
    // One unit: 20 good, a malformed one, 20 good.
    await publish(
      topic,
      Array.from({ length: 41 }, (_, k) => (k === 20 ? '{"value": ' : msg(100 + k - (k > 20 ? 1 : 0)))),
    );
    const err = (await qa.awaitTermination().then(
      () => null,
      (e: unknown) => e,
    )) as MillraceError | null;
    expect(err?.code).toBe('MALFORMED_RECORD');
    expect(err?.retryable).toBe(false);
    expect(err?.context.source).toBe('ff');
    const got = a.sink.allRows().map((r) => r.value as number);
    expect(got.length).toBeGreaterThanOrEqual(100);
    expect(got.length).toBeLessThanOrEqual(120);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i));
    const b = begin();
    const qb = await b.q;
    queries.push(qb);
    const again = (await qb.awaitTermination().then(
      () => null,
      (e: unknown) => e,
    )) as MillraceError | null;
    expect(again?.code).toBe('MALFORMED_RECORD');
    expect(b.sink.allRows().every((r) => (r.value as number) < 120)).toBe(true);
  });
});
