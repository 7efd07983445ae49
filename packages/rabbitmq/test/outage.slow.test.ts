/**
 * The broker goes away under a running query and comes back (`rabbitmqctl
 * stop_app` … `start_app`, always started again): queue A → rabbitmqSource →
 * select → rabbitmqSink → queue B. Messages are published before, during
 * (refused, retried by the test's publisher) and after the outage. The query
 * stays up, the source reconnects with backoff (progress: reconnects ≥ 1),
 * the sink retries its batch, and B holds every message exactly once after
 * dropping re-published copies by message id.
 */
import { afterAll, expect, it } from 'vitest';
import { createSession, schema, silentLogger, t, Trigger } from 'millrace';
import { rabbitmqSink, rabbitmqSource } from '../src/index.ts';
import { URL, cleanup, drain, publish, startBroker, stopBroker, tempDir, uniqueQueue } from './helpers.ts';

afterAll(cleanup, 30_000);

it('a query keeps running through a broker outage and loses and duplicates nothing', async () => {
  const input = uniqueQueue('outage-in');
  const output = uniqueQueue('outage-out');
  const cp = tempDir();
  const total = 600;
  const body = (n: number) => JSON.stringify({ n });
  await publish(
    input,
    Array.from({ length: 200 }, (_, n) => body(n)),
    Array.from({ length: 200 }, (_, n) => `in-${n}`),
  );
  const q = await createSession({ log: silentLogger })
    .readStream(
      rabbitmqSource({
        name: 'in',
        url: URL,
        queue: input,
        format: { json: schema({ n: t.long }) },
        reconnectDelayMs: 50,
        maxReconnectDelayMs: 400,
      }),
    )
    .select(($) => ({ n: $.n, doubled: $.n.mul(2) }))
    .writeStream({
      sink: rabbitmqSink({
        name: 'out',
        url: URL,
        queue: output,
        initialBackoffMs: 50,
        maxBackoffMs: 400,
        maxRetries: 400,
      }),
      checkpointLocation: cp,
      trigger: Trigger.processingTime(20),
    })
    .start();
  let stopped = false;
  try {
    const until = Date.now() + 10_000;
    while (Number(q.lastProgress?.sources[0]?.endOffset ?? 0) < 200 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20));
    await stopBroker();
    stopped = true;
    await new Promise((r) => setTimeout(r, 500));
    expect(q.isActive).toBe(true);
    expect(q.exception).toBeNull();
    await startBroker();
    stopped = false;
    await publish(
      input,
      Array.from({ length: total - 200 }, (_, k) => body(200 + k)),
      Array.from({ length: total - 200 }, (_, k) => `in-${200 + k}`),
    );
    const wait = Date.now() + 15_000;
    while (Number(q.lastProgress?.sources[0]?.endOffset ?? 0) < total && Date.now() < wait)
      await new Promise((r) => setTimeout(r, 50));
    await q.processAllAvailable();
    expect(q.exception).toBeNull();
    const metrics = q.lastProgress!.sources[0]!.metrics!;
    expect(metrics.connection).toBe('connected');
    expect(Number(metrics.reconnects)).toBeGreaterThanOrEqual(1);
  } finally {
    if (stopped) await startBroker();
    await q.stop();
  }
  const seen = new Set<string>();
  const ns: number[] = [];
  for (const m of await drain(output)) {
    const id = m.properties.messageId as string;
    if (seen.has(id)) continue;
    seen.add(id);
    const row = JSON.parse(m.content.toString()) as { n: number; doubled: number };
    expect(row.doubled).toBe(2 * row.n);
    ns.push(row.n);
  }
  expect(ns.sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, n) => n));
}, 60_000);
