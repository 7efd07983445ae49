/**
 * Orders on a Kinesis stream → revenue per product per 10 s window → another Kinesis stream, the
 * Spark + Kinesis case of the seeds. Without KINESIS_ENDPOINT or AWS_REGION it starts kinesalite
 * (a local Kinesis, a devDependency of this package) on a free port, so it runs anywhere:
 *
 *   npx tsx packages/kinesis/examples/orders-to-kinesis.ts
 *   npx tsx packages/kinesis/examples/orders-to-kinesis.ts --orders 50000 --checkpoint .millrace/kinesis-orders
 *   AWS_REGION=eu-west-1 npx tsx packages/kinesis/examples/orders-to-kinesis.ts   # real Kinesis, default credentials
 *
 * It creates the streams shop-orders (2 shards) and shop-reports (1 shard) if missing, puts
 * --orders orders, splits a shard of shop-orders halfway through (the source reads the parent to
 * its end, then its children), runs the query to the end of what was put (Trigger.availableNow)
 * and prints the busiest windows it wrote. With --checkpoint, a second run reads only new orders.
 */
import { mkdtempSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Trigger, count, createSession, schema, sum, t, window } from 'millrace';
import { kinesisSink, kinesisSource } from '../src/index.ts';

const { values: args } = parseArgs({
  options: { orders: { type: 'string', default: '20000' }, checkpoint: { type: 'string' } },
});
const checkpointLocation = args.checkpoint ?? mkdtempSync(path.join(tmpdir(), 'millrace-kinesis-'));

// Where Kinesis is: the endpoint given, AWS itself (a region set), or a kinesalite of our own.
let local: Server | undefined;
let endpoint = process.env.KINESIS_ENDPOINT;
if (!endpoint && !process.env.AWS_REGION) {
  const kinesalite = createRequire(import.meta.url)('kinesalite') as (o: object) => Server;
  local = kinesalite({ createStreamMs: 0, updateStreamMs: 0 });
  await new Promise<void>((r) => local!.listen(0, '127.0.0.1', () => r()));
  endpoint = `http://127.0.0.1:${(local.address() as { port: number }).port}`;
}
// kinesalite takes any key; a real stream uses the AWS default credential chain.
const credentials = local ? { accessKeyId: 'local', secretAccessKey: 'local' } : undefined;
const connection = { ...(endpoint ? { endpoint } : {}), ...(credentials ? { credentials } : {}) };
const admin = new KinesisClient({
  region: process.env.AWS_REGION ?? 'us-east-1',
  ...connection,
  requestHandler: new NodeHttpHandler(),
});

async function ensureStream(name: string, shards: number): Promise<void> {
  await admin.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards })).catch((e: Error) => {
    if (e.name !== 'ResourceInUseException') throw e;
  });
  for (;;) {
    const s = await admin.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (s.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 200));
  }
}
await ensureStream('shop-orders', 2);
await ensureStream('shop-reports', 1);

const n = Number(args.orders);
const t0 = Date.now();
for (let i = 0; i < n; i += 500) {
  if (i >= n / 2 && i - 500 < n / 2) {
    // Halfway: split the first open shard (a reshard, as a growing stream gets).
    const shards = (await admin.send(new ListShardsCommand({ StreamName: 'shop-orders' }))).Shards ?? [];
    const open = shards.find((s) => !s.SequenceNumberRange?.EndingSequenceNumber)!;
    const mid =
      (BigInt(open.HashKeyRange!.StartingHashKey!) + BigInt(open.HashKeyRange!.EndingHashKey!)) / 2n;
    await admin.send(
      new SplitShardCommand({
        StreamName: 'shop-orders',
        ShardToSplit: open.ShardId,
        NewStartingHashKey: String(mid),
      }),
    );
    await ensureStream('shop-orders', 2);
  }
  const Records = Array.from({ length: Math.min(500, n - i) }, (_, k) => {
    const order = {
      orderId: i + k,
      product: `p${Math.floor(Math.random() ** 2 * 20)}`,
      amount: Math.round((5 + Math.random() * 120) * 100) / 100,
      at: t0 + (i + k) * 5,
    };
    return { PartitionKey: order.product, Data: Buffer.from(JSON.stringify(order)) };
  });
  await admin.send(new PutRecordsCommand({ StreamName: 'shop-orders', Records }));
}

const orderSchema = schema({ orderId: t.long, product: t.string, amount: t.double, at: t.timestamp });
const query = await createSession()
  .readStream(kinesisSource({ streamName: 'shop-orders', ...connection, maxRecordsPerTrigger: 10_000 }))
  .map(
    (r) => JSON.parse(r.data) as { orderId: number; product: string; amount: number; at: number },
    orderSchema,
  )
  .withWatermark('at', '5 seconds')
  .groupBy(($) => ({ window: window($.at, '10 seconds'), product: $.product }))
  .agg(($) => ({ orders: count(), revenue: sum($.amount) }))
  .writeStream({
    sink: kinesisSink({ streamName: 'shop-reports', partitionKey: 'product', ...connection }),
    outputMode: 'append',
    checkpointLocation,
    trigger: Trigger.availableNow(),
  })
  .start();
await query.awaitTermination();
const read = query.recentProgress.reduce((s, p) => s + p.numInputRows, 0);
const written = query.recentProgress.reduce((s, p) => s + p.sink.numOutputRows, 0);
console.log(`${read} orders read from shop-orders, ${written} window reports written to shop-reports`);

// The busiest windows in the report stream (read back with the plain client).
const reports: { window: { start: number }; product: string; orders: number; revenue: number }[] = [];
for (const shard of (await admin.send(new ListShardsCommand({ StreamName: 'shop-reports' }))).Shards ?? []) {
  let it = (
    await admin.send(
      new GetShardIteratorCommand({
        StreamName: 'shop-reports',
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    )
  ).ShardIterator;
  while (it) {
    const page = await admin.send(new GetRecordsCommand({ ShardIterator: it }));
    for (const r of page.Records ?? []) reports.push(JSON.parse(Buffer.from(r.Data!).toString()));
    if (!page.Records?.length) break;
    it = page.NextShardIterator;
  }
}
for (const r of reports.sort((a, b) => b.revenue - a.revenue).slice(0, 5))
  console.log(
    `${new Date(r.window.start).toISOString()}  ${r.product.padEnd(4)} ${String(r.orders).padStart(5)} orders  ${r.revenue.toFixed(2)}`,
  );
admin.destroy();
local?.close();
