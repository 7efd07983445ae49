/**
 * While the broker is away, the query status says the MQTT source waits for it, and the wait
 * clears once it reconnects. The outage is a TCP relay in front of the machine's Mosquitto that
 * this test closes (sockets cut, port refusing) and opens again on the same port: the broker
 * itself keeps running for other tests.
 */
import { afterAll, expect, it } from 'vitest';
import { tcpRelay } from 'millrace/testing';
import { createSession, memorySink, schema, silentLogger, t, Trigger } from 'millrace';
import { mqttSource } from '../src/index.ts';
import { URL, cleanupDirs, publish, tempDir, uniqueClientId, uniqueTopic } from './helpers.ts';

afterAll(cleanupDirs);

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('status says "Waiting for MQTT broker at …" while the broker is unreachable, and clears on reconnect', async () => {
  const broker = new globalThis.URL(URL);
  const proxy = await tcpRelay(broker.hostname, Number(broker.port || 1883));
  const topic = uniqueTopic('waiting');
  const sink = memorySink<{ n: number }>();
  const q = await createSession({ log: silentLogger })
    .readStream(
      mqttSource({
        name: 'in',
        url: `mqtt://127.0.0.1:${proxy.port}`,
        topics: topic,
        clientId: uniqueClientId('waiting'),
        format: { json: schema({ n: t.long }) },
        reconnectDelayMs: 50,
        maxReconnectDelayMs: 200,
      }),
    )
    .writeStream({ sink, checkpointLocation: tempDir(), trigger: Trigger.processingTime(20) })
    .start();
  let cut = false;
  try {
    await publish(topic, ['{"n":1}']);
    await until(() => sink.allRows().length === 1, 'the first message');
    expect(q.status.waitingFor).toBeUndefined();

    await proxy.cut();
    cut = true;
    await until(() => q.status.waitingFor !== undefined, 'the status to say it waits');
    const waiting = q.status.waitingFor![0]!;
    expect(waiting.connector).toBe('source "in"');
    expect(waiting.what).toMatch(new RegExp(`^MQTT broker at mqtt://127\\.0\\.0\\.1:${proxy.port}: .+`));
    expect(q.status.message).toBe(`Waiting for ${waiting.what}`);
    await new Promise((r) => setTimeout(r, 300));
    expect(q.status.waitingFor?.[0]?.since).toBe(waiting.since);
    expect(q.isActive).toBe(true);

    await proxy.restore();
    cut = false;
    await until(() => q.status.waitingFor === undefined, 'the wait to clear');
    expect(q.status.message).not.toMatch(/MQTT/);
    await publish(topic, ['{"n":2}']);
    await until(() => sink.allRows().length === 2, 'the message sent after the reconnect');
    expect(sink.allRows()).toEqual([{ n: 1 }, { n: 2 }]);
  } finally {
    if (cut) await proxy.restore().catch(() => {});
    await q.stop();
    await proxy.cut();
  }
}, 30_000);
