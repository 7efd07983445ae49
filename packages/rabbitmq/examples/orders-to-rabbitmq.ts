/**
 * Orders from a RabbitMQ queue → revenue per category per 10-second window → a RabbitMQ queue.
 *
 *   npx tsx packages/rabbitmq/examples/orders-to-rabbitmq.ts
 *   RABBITMQ_URL=amqps://app:secret@mq.example.com:5671/shop npx tsx packages/rabbitmq/examples/orders-to-rabbitmq.ts --checkpoint .millrace/orders
 *
 *   queue "orders" ──► rabbitmqSource({ json }) ──► window(10 s) × category: count, sum(amount)
 *        ▲                 │ write-ahead log in the checkpoint,           │ update mode
 *        │                 │ ack after fsync                              ▼
 *   demo producer          ▼                                  rabbitmqSink ──► queue "order-revenue"
 *   (--orders N, message ids)                                 (publisher confirms, message ids)
 *
 * The example publishes --orders demo orders (each with a message id), runs the query for
 * --seconds, then prints the latest figures read back from "order-revenue" (a consumer drops
 * repeated message ids: the sink is at-least-once with stable ids). Run it twice with the same
 * --checkpoint: the second run continues where the first stopped; messages published while no
 * query ran wait in the queue and are read then.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as amqp from 'amqplib';
import { count, createSession, jsonLogger, schema, sum, t, Trigger, window } from 'millrace';
import { rabbitmqSink, rabbitmqSource } from '../src/index.ts';

const { values: args } = parseArgs({
  options: {
    orders: { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '5' },
    checkpoint: { type: 'string' },
  },
});
const url = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const checkpointLocation = args.checkpoint ?? mkdtempSync(path.join(tmpdir(), 'millrace-orders-rmq-'));
const CATEGORIES = ['books', 'garden', 'games', 'kitchen'];

// 1. Demo orders: persistent messages with ids, over the last minute.
const conn = await amqp.connect(url);
const ch = await conn.createConfirmChannel();
await ch.assertQueue('orders', { durable: true });
const run = Date.now().toString(36);
const n = Number(args.orders);
for (let i = 0; i < n; i++) {
  const order = {
    id: `${run}-${i}`,
    category: CATEGORIES[i % CATEGORIES.length],
    amount: 5 + ((i * 37) % 100),
    at: new Date(Date.now() - 60_000 + Math.floor((i * 60_000) / n)).toISOString(),
  };
  if (
    !ch.sendToQueue('orders', Buffer.from(JSON.stringify(order)), { persistent: true, messageId: order.id })
  )
    await new Promise((r) => ch.once('drain', r));
}
await ch.waitForConfirms();
console.log(`published ${n} orders to queue "orders"`);

// 2. The query.
const session = createSession({ log: jsonLogger('warn') });
const orders = session.readStream(
  rabbitmqSource({
    url,
    queue: 'orders',
    format: { json: schema({ id: t.string, category: t.string, amount: t.double, at: t.timestamp }) },
  }),
);
const revenue = orders
  .withWatermark('at', '30 seconds')
  .groupBy(($) => ({ window: window($.at, '10 seconds'), category: $.category }))
  .agg(($) => ({ orders: count(), revenue: sum($.amount) }))
  .map(
    (r) => {
      const w = r.window as { start: number };
      return { window_start: w.start, category: r.category, orders: r.orders, revenue: r.revenue };
    },
    schema({ window_start: t.timestamp, category: t.string, orders: t.long, revenue: t.double.orNull() }),
  );
const query = await revenue
  .writeStream({
    queryName: 'orders-revenue',
    sink: rabbitmqSink({ url, queue: 'order-revenue' }),
    outputMode: 'update',
    checkpointLocation,
    trigger: Trigger.processingTime('1 second'),
  })
  .start();
await new Promise((r) => setTimeout(r, Number(args.seconds) * 1000));
await query.stop();
const p = query.lastProgress;
console.log(
  `query stopped after batch ${p?.batchId}; source metrics: ${JSON.stringify(p?.sources[0]?.metrics)}`,
);

// 3. Read the results back as a consumer would: last figure per (window, category), copies dropped by id.
const latest = new Map<string, { window_start: string; category: string; orders: number; revenue: number }>();
const seen = new Set<string>();
for (;;) {
  const m = await ch.get('order-revenue', { noAck: true });
  if (!m) break;
  if (seen.has(m.properties.messageId as string)) continue;
  seen.add(m.properties.messageId as string);
  const row = JSON.parse(m.content.toString()) as {
    window_start: string;
    category: string;
    orders: number;
    revenue: number;
  };
  latest.set(`${row.window_start} ${row.category}`, row);
}
console.table(
  [...latest.values()].sort(
    (a, b) => a.window_start.localeCompare(b.window_start) || a.category.localeCompare(b.category),
  ),
);
console.log(`checkpoint: ${checkpointLocation}`);
await conn.close();
