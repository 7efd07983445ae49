/**
 * Test helpers against the machine's RabbitMQ (127.0.0.1:5672, guest/guest):
 * unique queue names per run, a publisher with confirms, reading a queue
 * without a query, temp dirs, and stopping / starting the broker's app for
 * outage tests (rabbitmqctl stop_app / start_app; always started again).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as amqp from 'amqplib';

export const URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const run = promisify(execFile);

const RUN = `${process.pid.toString(36)}${Date.now().toString(36).slice(-5)}`;
let seq = 0;
const created: string[] = [];

/** `millrace-test-<prefix>-<run>-<n>`; deleted by cleanup(). */
export function uniqueQueue(prefix: string): string {
  const q = `millrace-test-${prefix}-${RUN}-${seq++}`;
  created.push(q);
  return q;
}

const dirs: string[] = [];
export function tempDir(prefix = 'rmq'): string {
  const d = mkdtempSync(path.join(os.tmpdir(), `millrace-${prefix}-`));
  dirs.push(d);
  return d;
}

export async function withChannel<T>(fn: (ch: amqp.ConfirmChannel) => Promise<T>): Promise<T> {
  const conn = await amqp.connect(URL);
  try {
    const ch = await conn.createConfirmChannel();
    return await fn(ch);
  } finally {
    await conn.close().catch(() => {});
  }
}

/** Publish bodies to a (durable, declared) queue, persistent, confirmed. `ids`: message ids. */
export async function publish(
  queue: string,
  bodies: readonly (string | Buffer)[],
  ids?: readonly string[],
): Promise<void> {
  await withChannel(async (ch) => {
    await ch.assertQueue(queue, { durable: true });
    bodies.forEach((b, i) =>
      ch.sendToQueue(queue, Buffer.isBuffer(b) ? b : Buffer.from(b), {
        persistent: true,
        ...(ids ? { messageId: ids[i] } : {}),
      }),
    );
    await ch.waitForConfirms();
  });
}

/** Messages ready in a queue (not consumed by anyone). */
export async function queueDepth(queue: string): Promise<number> {
  return withChannel(async (ch) => (await ch.checkQueue(queue)).messageCount);
}

/** Take every message now in `queue` (acknowledged: they are gone afterwards), until none came for idleMs. */
export async function drain(queue: string, idleMs = 300): Promise<amqp.Message[]> {
  return withChannel(async (ch) => {
    const { messageCount } = await ch.assertQueue(queue, { durable: true });
    await ch.prefetch(5000);
    const out: amqp.Message[] = [];
    let last = Date.now();
    const { consumerTag } = await ch.consume(queue, (m) => {
      if (!m) return;
      out.push(m);
      last = Date.now();
      ch.ack(m);
    });
    // At least what the queue held when we looked, then until it stays quiet.
    while (out.length < messageCount || Date.now() - last < idleMs)
      await new Promise((r) => setTimeout(r, 20));
    await ch.cancel(consumerTag);
    return out;
  });
}

async function rabbitmqctl(...args: string[]): Promise<void> {
  await run('rabbitmqctl', args, { timeout: 60_000 });
}

/** Stop the broker's application (connections drop, port closes) … */
export async function stopBroker(): Promise<void> {
  await rabbitmqctl('stop_app');
}

/** … and start it again; waits until it accepts connections. */
export async function startBroker(): Promise<void> {
  await rabbitmqctl('start_app');
  for (let i = 0; i < 100; i++) {
    try {
      const c = await amqp.connect(URL);
      await c.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('RabbitMQ did not come back within 10 s after start_app');
}

export async function cleanup(): Promise<void> {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  const queues = created.splice(0);
  if (queues.length === 0) return;
  await withChannel(async (ch) => {
    for (const q of queues) await ch.deleteQueue(q).catch(() => {});
  }).catch(() => {});
}

/** A broker user with full rights on vhost "/" (for tests whose password must not leak). */
export async function addUser(user: string, password: string): Promise<void> {
  await rabbitmqctl('add_user', user, password).catch(async (e: Error) => {
    if (!/already exists/i.test(String((e as { stderr?: string }).stderr ?? e.message))) throw e;
    await rabbitmqctl('change_password', user, password);
  });
  await rabbitmqctl('set_permissions', '-p', '/', user, '.*', '.*', '.*');
}

export async function deleteUser(user: string): Promise<void> {
  await rabbitmqctl('delete_user', user).catch(() => {});
}
