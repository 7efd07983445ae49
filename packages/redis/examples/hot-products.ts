/**
 * Orders from a Redis stream → views and orders per product → Redis hashes for lookups (the
 * e-commerce scenario's "hot products"), and the orders above 100 € copied to another stream —
 * each exactly once.
 *
 *   npx tsx packages/redis/examples/hot-products.ts
 *   REDIS_URL='rediss://app:secret@cache.example:6380' npx tsx packages/redis/examples/hot-products.ts --orders 50000
 *
 * The example first adds --orders entries to the stream `shop:orders` (product, amount), then runs
 * two queries to the end of it (Trigger.availableNow). Run it twice with --checkpoint: the second
 * run reads only the new orders, and the counts in `hot-products:<product>` keep adding up.
 *
 *   redis-cli HGETALL hot-products:p7      redis-cli XRANGE shop:big-orders - + COUNT 5
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Trigger, count, createSession, schema, sum, t } from 'millrace';
import { redisHashSink, redisStreamSink, redisStreamSource } from '../src/index.ts';

const { values: args } = parseArgs({
  options: { orders: { type: 'string', default: '20000' }, checkpoint: { type: 'string' } },
});
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const checkpoint = args.checkpoint ?? mkdtempSync(path.join(tmpdir(), 'millrace-hot-products-'));

// Some orders (a shop would XADD them as they come).
const redis = new Redis(url);
const p = redis.pipeline();
for (let i = 0; i < Number(args.orders); i++) {
  const product = `p${Math.floor(Math.random() ** 2 * 50)}`; // a few products are hot
  p.xadd(
    'shop:orders',
    'MAXLEN',
    '~',
    '1000000',
    '*',
    'product',
    product,
    'amount',
    (5 + Math.random() * 120).toFixed(2),
  );
}
await p.exec();

const session = createSession();
const orders = () =>
  session
    .readStream(
      redisStreamSource({ url, streams: 'shop:orders', maxEntriesPerTrigger: 10_000, name: 'orders' }),
    )
    .map(
      (e) => ({ product: e.fields.product!, amount: Number(e.fields.amount), at: e.timestamp }),
      schema({ product: t.string, amount: t.double, at: t.timestamp }),
    );

const hot = await orders()
  .groupBy('product')
  .agg(($) => ({ orders: count(), revenue: sum($.amount) }))
  .writeStream({
    sink: redisHashSink({ url, keyPrefix: 'hot-products:', keyColumns: ['product'] }),
    outputMode: 'update',
    checkpointLocation: path.join(checkpoint, 'hot'),
    trigger: Trigger.availableNow(),
  })
  .start();
const big = await orders()
  .filter(($) => $.amount.gt(100))
  .writeStream({
    sink: redisStreamSink({ url, stream: 'shop:big-orders', maxLen: 100_000 }),
    checkpointLocation: path.join(checkpoint, 'big'),
    trigger: Trigger.availableNow(),
  })
  .start();
await hot.awaitTermination();
await big.awaitTermination();

const top: { product: string; orders: number; revenue: string }[] = [];
for (let i = 0; i < 50; i++) {
  const h = await redis.hgetall(`hot-products:p${i}`);
  if (h.orders)
    top.push({ product: h.product!, orders: Number(h.orders), revenue: Number(h.revenue).toFixed(2) });
}
top.sort((a, b) => b.orders - a.orders);
console.log(
  `${hot.recentProgress.filter((x) => !x.isNoDataBatch).length} batches; hottest products (HGETALL hot-products:<product>):`,
);
console.table(top.slice(0, 5));
console.log(`shop:big-orders holds ${await redis.xlen('shop:big-orders')} entries`);
redis.disconnect();
if (!args.checkpoint) rmSync(checkpoint, { recursive: true, force: true });
