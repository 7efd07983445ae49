/**
 * The machine's Redis shut down (SHUTDOWN SAVE) while a query runs — Redis stream → query → Redis
 * stream and hash — and started again with its start command: the source and the sinks retry with
 * backoff, log what they wait for, and the query carries on exactly once.
 *
 * In the slow project (files one at a time): stopping the shared server must not break other test
 * files that use it at the same moment.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createSession, schema, t } from 'millrace';
import { redisHashSink, redisStreamSink, redisStreamSource } from '../src/index.ts';
import {
  REDIS_URL,
  adminClient,
  cleanup,
  deleteLater,
  recordingLogger,
  startServer,
  stopServer,
  uniqueName,
} from './helpers.ts';

afterAll(async () => {
  await startServer(); // whatever happened, leave the server running
  await cleanup();
});
const admin = adminClient();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function add(stream: string, from: number, to: number): Promise<void> {
  const p = admin.pipeline();
  for (let i = from; i < to; i++) p.xadd(stream, '*', 'i', String(i), 'k', `k${i % 5}`);
  await p.exec();
}

it('a running query waits while Redis is down, then continues exactly once (source, stream sink, hash sink)', async () => {
  const p = uniqueName('outage');
  deleteLater(`${p}*`);
  deleteLater(`millrace:batches:*${p}*`);
  const dir = await mkdtemp(path.join(tmpdir(), 'redis-outage-'));
  const dir2 = await mkdtemp(path.join(tmpdir(), 'redis-outage-'));
  const log = recordingLogger();
  const session = createSession({ log });
  const retry = { initialBackoffMs: 100, maxBackoffMs: 1_000, maxRetries: 100 };
  const events = () =>
    session
      .readStream(
        redisStreamSource({ url: REDIS_URL, streams: `${p}:in`, maxEntriesPerTrigger: 20, ...retry }),
      )
      .map((e) => ({ i: Number(e.fields.i), k: e.fields.k! }), schema({ i: t.long, k: t.string }));
  const copy = await events()
    .writeStream({
      sink: redisStreamSink({ url: REDIS_URL, stream: `${p}:out`, ...retry }),
      checkpointLocation: dir,
    })
    .start();
  const counts = await events()
    .groupBy('k')
    .count()
    .writeStream({
      sink: redisHashSink({ url: REDIS_URL, keyPrefix: `${p}:count:`, keyColumns: ['k'], ...retry }),
      outputMode: 'update',
      checkpointLocation: dir2,
    })
    .start();
  try {
    await add(`${p}:in`, 0, 50);
    await copy.processAllAvailable();
    await counts.processAllAvailable();
    await stopServer();
    const until = Date.now() + 10_000;
    while (!log.records.some((r) => r.msg.includes('retrying')) && Date.now() < until) await sleep(50);
    await sleep(1_000);
    expect(copy.isActive && counts.isActive).toBe(true);
    await startServer();
    await add(`${p}:in`, 50, 100);
    await copy.processAllAvailable();
    await counts.processAllAvailable();
    const retries = log.records.filter((r) => r.msg.includes('retrying'));
    expect(retries.length).toBeGreaterThan(0);
    expect(retries[0]!.fields).toMatchObject({ waitingFor: 'Redis at 127.0.0.1:6379' });
    const out = (await admin.xrange(`${p}:out`, '-', '+')).map(([, kv]) => Number(kv[1]));
    expect(out).toEqual([...Array(100).keys()]);
    for (let k = 0; k < 5; k++) expect(await admin.hget(`${p}:count:k${k}`, 'count')).toBe('20');
  } finally {
    await startServer();
    await copy.stop();
    await counts.stop();
    await rm(dir, { recursive: true, force: true });
    await rm(dir2, { recursive: true, force: true });
  }
});
