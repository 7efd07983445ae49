/**
 * Orders on a JetStream stream → revenue per product per 10 s window → another JetStream subject,
 * each window published once (append mode with a watermark).
 *
 *   npx tsx packages/nats/examples/orders-to-jetstream.ts
 *   NATS_URL=tls://nats.example:4222 NATS_TOKEN=… npx tsx packages/nats/examples/orders-to-jetstream.ts --orders 50000
 *
 * The example creates the streams SHOP_ORDERS (shop.orders) and SHOP_REPORTS (shop.reports) if
 * missing, publishes --orders orders, runs the query to the end of the stream (Trigger.availableNow)
 * and prints the busiest windows it published. Run it twice with --checkpoint: the second run reads
 * only the new orders.
 *
 *   nats stream view SHOP_REPORTS
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Trigger, count, createSession, schema, sum, t, window } from 'millrace';
import { jetStreamSink, jetStreamSource } from '../src/index.ts';

const { values: args } = parseArgs({
  options: { orders: { type: 'string', default: '20000' }, checkpoint: { type: 'string' } },
});
const servers = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const connection = process.env.NATS_TOKEN ? { token: process.env.NATS_TOKEN } : {};
const checkpointLocation = args.checkpoint ?? mkdtempSync(path.join(tmpdir(), 'millrace-nats-'));

const nc = await connect({ servers, ...connection });
const jsm = await jetstreamManager(nc);
for (const [name, subject] of [
  ['SHOP_ORDERS', 'shop.orders'],
  ['SHOP_REPORTS', 'shop.reports'],
] as const) {
  await jsm.streams.info(name).catch(() => jsm.streams.add({ name, subjects: [subject] }));
}
const js = jetstream(nc);
const t0 = Date.now();
const acks: Promise<unknown>[] = [];
for (let i = 0; i < Number(args.orders); i++) {
  const order = {
    product: `p${Math.floor(Math.random() ** 2 * 20)}`,
    amount: 5 + Math.random() * 120,
    at: t0 + i * 5,
  };
  acks.push(js.publish('shop.orders', JSON.stringify(order)));
}
await Promise.all(acks);

const orderSchema = schema({ product: t.string, amount: t.double, at: t.timestamp });
const query = await createSession()
  .readStream(jetStreamSource({ servers, connection, stream: 'SHOP_ORDERS', maxMessagesPerTrigger: 10_000 }))
  .map((m) => JSON.parse(m.data) as { product: string; amount: number; at: number }, orderSchema)
  .withWatermark('at', '5 seconds')
  .groupBy(($) => ({ window: window($.at, '10 seconds'), product: $.product }))
  .agg(($) => ({ orders: count(), revenue: sum($.amount) }))
  .writeStream({
    sink: jetStreamSink({ servers, connection, subject: 'shop.reports' }),
    outputMode: 'append',
    checkpointLocation,
    trigger: Trigger.availableNow(),
  })
  .start();
await query.awaitTermination();
const published = query.recentProgress.reduce((n, p) => n + p.sink.numOutputRows, 0);
console.log(`${published} window reports published to shop.reports`);

// The busiest windows in the report stream.
const info = await jsm.streams.info('SHOP_REPORTS');
const reports: { window: { start: number }; product: string; orders: number; revenue: number }[] = [];
if (info.state.messages > 0) {
  const c = await js.consumers.get('SHOP_REPORTS', { deliver_policy: DeliverPolicy.All });
  while (reports.length < info.state.messages) {
    const msgs = await c.fetch({ max_messages: 1_000, expires: 2_000 });
    let n = 0;
    for await (const m of msgs) {
      n++;
      reports.push(JSON.parse(new TextDecoder().decode(m.data)));
      if (reports.length >= info.state.messages) break;
    }
    if (n === 0) break;
  }
}
reports.sort((a, b) => b.orders - a.orders);
console.table(
  reports.slice(0, 5).map((r) => ({
    window: new Date(r.window.start).toISOString(),
    product: r.product,
    orders: r.orders,
    revenue: r.revenue.toFixed(2),
  })),
);
await nc.close();
if (!args.checkpoint) rmSync(checkpointLocation, { recursive: true, force: true });
