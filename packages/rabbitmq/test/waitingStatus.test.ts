/**
 * While the broker is away, the query status says the source waits for it (and the broker
 * reached, without the password), and the wait clears once it reconnects. The outage is a TCP
 * relay in front of the machine's RabbitMQ that this test closes (sockets cut, port refusing)
 * and opens again on the same port: the broker itself keeps running for other tests.
 */
import { afterAll, expect, it } from 'vitest';
import { tcpRelay } from 'millrace/testing';
import { createSession, memorySink, schema, silentLogger, t, Trigger } from 'millrace';
import { rabbitmqSource } from '../src/index.ts';
import { URL, cleanup, publish, tempDir, uniqueQueue } from './helpers.ts';

afterAll(cleanup, 30_000);

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('status says "Waiting for RabbitMQ at …" while the broker is unreachable, and clears on reconnect', async () => {
  const broker = new globalThis.URL(URL);
  const proxy = await tcpRelay(broker.hostname, Number(broker.port || 5672));
  const queue = uniqueQueue('waiting');
  await publish(queue, ['{"n":1}'], ['m1']);
  const sink = memorySink<{ n: number }>();
  const q = await createSession({ log: silentLogger })
    .readStream(
      rabbitmqSource({
        name: 'in',
        url: `amqp://${broker.username}:${broker.password}@127.0.0.1:${proxy.port}`,
        queue,
        format: { json: schema({ n: t.long }) },
        reconnectDelayMs: 50,
        maxReconnectDelayMs: 200,
      }),
    )
    .writeStream({ sink, checkpointLocation: tempDir(), trigger: Trigger.processingTime(20) })
    .start();
  let cut = false;
  try {
    await until(() => sink.allRows().length === 1, 'the first message');
    expect(q.status.waitingFor).toBeUndefined();

    await proxy.cut();
    cut = true;
    await until(() => q.status.waitingFor !== undefined, 'the status to say it waits');
    const waiting = q.status.waitingFor![0]!;
    expect(waiting.connector).toBe('source "in"');
    expect(waiting.what).toMatch(new RegExp(`^RabbitMQ at amqp://[^ ]*127\\.0\\.0\\.1:${proxy.port}: .+`));
    expect(q.status.message).toBe(`Waiting for ${waiting.what}`);
    if (broker.password) expect(JSON.stringify(q.status)).not.toContain(`:${broker.password}@`);
    // It keeps waiting (failed reconnects do not clear it), and the query stays up.
    await new Promise((r) => setTimeout(r, 300));
    expect(q.status.waitingFor?.[0]?.since).toBe(waiting.since);
    expect(q.isActive).toBe(true);

    await proxy.restore();
    cut = false;
    await until(() => q.status.waitingFor === undefined, 'the wait to clear');
    expect(q.status.message).not.toMatch(/RabbitMQ/);
    await publish(queue, ['{"n":2}'], ['m2']);
    await until(() => sink.allRows().length === 2, 'the message sent after the reconnect');
    expect(sink.allRows()).toEqual([{ n: 1 }, { n: 2 }]);
  } finally {
    if (cut) await proxy.restore().catch(() => {});
    await q.stop();
    await proxy.cut();
  }
}, 30_000);
