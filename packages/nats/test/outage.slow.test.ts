/**
 * The machine's nats-server stopped while a query runs (JetStream stream → query → JetStream
 * subject) and started again with its start command (JetStream keeps its data in its store
 * directory): the source and the sink retry, log what they wait for, and the query carries on
 * exactly once. Also: data loss when the stream's limits dropped unread messages.
 * In the slow project (files one at a time): stopping the shared server must not break other test
 * files that use it at the same moment.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { type ConnectorContext, createSession, schema, silentLogger, systemClock, t } from 'millrace';
import { jetStreamSink, jetStreamSource } from '../src/index.ts';
import {
  NATS_URL,
  cleanup,
  createStream,
  publish,
  readAll,
  startServer,
  stopServer,
  uniqueName,
} from './helpers.ts';

afterAll(async () => {
  await startServer();
  await cleanup();
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recordingLogger() {
  const records: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      void records.push({ level, msg, fields });
  return { records, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

it('a running query waits while nats-server is down, then continues exactly once', async () => {
  const stream = uniqueName('OUTAGE');
  await createStream(stream, { storage: 'file' });
  const dir = await mkdtemp(path.join(tmpdir(), 'nats-outage-'));
  const log = recordingLogger();
  const retry = { initialBackoffMs: 100, maxBackoffMs: 1_000, maxRetries: 100 };
  const q = await createSession({ log })
    .readStream(jetStreamSource({ servers: NATS_URL, stream, ...retry }))
    .filter(($) => $.subject.eq(`${stream}.in`))
    .map((m) => ({ i: (JSON.parse(m.data) as { i: number }).i }), schema({ i: t.long }))
    .writeStream({
      sink: jetStreamSink({ servers: NATS_URL, subject: `${stream}.out`, ...retry }),
      checkpointLocation: dir,
    })
    .start();
  try {
    await publish(
      `${stream}.in`,
      Array.from({ length: 50 }, (_, i) => JSON.stringify({ i })),
    );
    await q.processAllAvailable();
    await stopServer();
    const until = Date.now() + 10_000;
    while (!log.records.some((r) => r.msg.includes('retrying')) && Date.now() < until) await sleep(50);
    await sleep(1_000);
    expect(q.isActive).toBe(true);
    await startServer();
    await publish(
      `${stream}.in`,
      Array.from({ length: 50 }, (_, i) => JSON.stringify({ i: 50 + i })),
    );
    await q.processAllAvailable();
    expect(log.records.find((r) => r.msg.includes('retrying'))?.fields).toMatchObject({
      waitingFor: `NATS at ${NATS_URL}`,
    });
    const out = (await readAll(stream))
      .filter((m) => m.subject === `${stream}.out`)
      .map((m) => (JSON.parse(m.data) as { i: number }).i);
    expect(out).toEqual([...Array(100).keys()]);
  } finally {
    await startServer();
    await q.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

it('messages the stream dropped (max_msgs) before the query read them: NATS_DATA_LOSS', async () => {
  const stream = uniqueName('LOSS');
  await createStream(stream, { max_msgs: 10 });
  await publish(`${stream}.in`, ['a', 'b', 'c']);
  const ctx: ConnectorContext = {
    queryId: 'q',
    queryName: 'q',
    stateDir: '/x',
    clock: systemClock,
    log: silentLogger,
  };
  const source = jetStreamSource({ servers: NATS_URL, stream });
  await source.open(ctx);
  const end = await source.latestOffset(null, { kind: 'default' });
  expect((await source.getBatch(null, end!, { batchId: 0 })).rows.map((r) => r.data)).toEqual([
    'a',
    'b',
    'c',
  ]);
  await publish(
    `${stream}.in`,
    Array.from({ length: 20 }, (_, i) => `m${i}`),
  );
  await expect(source.latestOffset(end, { kind: 'default' })).rejects.toMatchObject({
    code: 'NATS_DATA_LOSS',
    message: expect.stringMatching(/messages 4…13 were removed .* failOnDataLoss: false/),
  });
  await source.close();
});
