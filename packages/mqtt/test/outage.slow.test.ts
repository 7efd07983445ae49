/**
 * Mosquitto goes away under a running query and comes back (SIGTERM, then
 * `mosquitto -d -c /etc/mosquitto/mosquitto.conf`; always started again):
 * topic in → mqttSource → select → mqttSink → topic out. Readings are
 * published before and after the outage. The query stays up, the source
 * reconnects with backoff (progress: reconnects ≥ 1) to its persistent
 * session, and the output holds every reading exactly once after dropping
 * re-published copies by millrace-id.
 */
import { afterAll, expect, it } from 'vitest';
import { Trigger, createSession, schema, silentLogger, t } from 'millrace';
import { mqttSink, mqttSource } from '../src/index.ts';
import {
  URL,
  cleanupDirs,
  collect,
  dropSession,
  publish,
  startBroker,
  stopBroker,
  tempDir,
  uniqueClientId,
  uniqueTopic,
} from './helpers.ts';

const sessions: string[] = [];
afterAll(async () => {
  await startBroker();
  for (const s of sessions) await dropSession(s).catch(() => {});
  cleanupDirs();
}, 30_000);

it('a query keeps running through a broker outage and loses and duplicates nothing', async () => {
  const input = uniqueTopic('outage-in');
  const output = uniqueTopic('outage-out');
  const clientId = uniqueClientId('outage');
  const readerId = uniqueClientId('outage-reader');
  sessions.push(clientId, readerId);
  const total = 600;
  const out = await collect(output, {
    clientId: readerId,
    clean: false,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: 3600 },
  });
  const q = await createSession({ log: silentLogger })
    .readStream(
      mqttSource({
        name: 'in',
        url: URL,
        topics: input,
        clientId,
        format: { json: schema({ n: t.long }) },
        reconnectDelayMs: 50,
        maxReconnectDelayMs: 400,
      }),
    )
    .select(($) => ({ n: $.n, doubled: $.n.mul(2) }))
    .writeStream({
      sink: mqttSink({
        name: 'out',
        url: URL,
        topic: output,
        initialBackoffMs: 50,
        maxBackoffMs: 400,
        maxRetries: 400,
      }),
      checkpointLocation: tempDir(),
      trigger: Trigger.processingTime(20),
    })
    .start();
  let stopped = false;
  try {
    await publish(
      input,
      Array.from({ length: 200 }, (_, n) => JSON.stringify({ n })),
    );
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
      Array.from({ length: total - 200 }, (_, k) => JSON.stringify({ n: 200 + k })),
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
  const until = Date.now() + 5_000;
  const distinct = () =>
    new Set(out.messages.map((m) => (m.properties?.userProperties as Record<string, string>)['millrace-id']))
      .size;
  while (distinct() < total && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  await out.close();
  const seen = new Set<string>();
  const ns: number[] = [];
  for (const m of out.messages) {
    const id = (m.properties?.userProperties as Record<string, string>)['millrace-id']!;
    if (seen.has(id)) continue;
    seen.add(id);
    const row = JSON.parse((m.payload as Buffer).toString()) as { n: number; doubled: number };
    expect(row.doubled).toBe(2 * row.n);
    ns.push(row.n);
  }
  expect(ns.sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, n) => n));
}, 60_000);
