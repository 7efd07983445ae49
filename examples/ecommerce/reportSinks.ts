/**
 * Where the e-commerce reports go (each query's output, besides its dashboard):
 *
 *   PostgreSQL (--database-url / $DATABASE_URL)   tables shop_event_counts, shop_funnel,
 *   MariaDB (--mariadb-url / $MARIADB_URL)        shop_top_products, shop_sessions: snake_case
 *                                                 columns, a primary key on each report's key
 *                                                 (window start first, so it indexes window start
 *                                                 too), upserted exactly once per batch
 *   neither                                       JSON-lines files under <out>/reports/<query>
 *   Redis (--redis-url / $REDIS_URL)              besides the above, the hot products: one hash per
 *                                                 product in the latest top-N, shop:hot-product:<id>
 *                                                 = { rank, orders, views, windowStart, windowEnd },
 *                                                 expiring two windows after its last write
 */
import * as path from 'node:path';
import { mariadbSink } from '@millrace/mariadb';
import { postgresSink } from '@millrace/postgres';
import { redisHashSink } from '@millrace/redis';
import { type Row, type Sink, type SinkBatchInfo, type SinkContext, fileSink, schema, t } from 'millrace';

export interface ReportTargets {
  readonly out: string;
  readonly databaseUrl?: string | undefined;
  readonly mariadbUrl?: string | undefined;
  readonly redisUrl?: string | undefined;
  /** The top-products window length: hot-product keys expire two windows after their last write. */
  readonly windowMs: number;
  /** Before each table name. Default `shop_`. */
  readonly tablePrefix?: string;
  /** Before each product id in Redis. Default `shop:hot-product:`. */
  readonly hotProductPrefix?: string;
}

/** Each report's key: the primary key of its table (and what an upsert replaces). */
export const REPORT_KEYS: Record<string, readonly string[]> = {
  'event-counts': ['windowStart', 'type'],
  funnel: ['windowStart'],
  'top-products': ['windowStart'],
  sessions: ['sessionStart', 'userId'],
};

export const HOT_PRODUCT_PREFIX = 'shop:hot-product:';

/** The sinks of one query's report: database tables (or files), and for top-products the Redis lookups. */
export function reportSinks(query: string, to: ReportTargets): Sink[] {
  const key = REPORT_KEYS[query];
  if (!key) throw new Error(`internal: no report key for query "${query}"`);
  const table = `${to.tablePrefix ?? 'shop_'}${query.replace(/-/g, '_')}`;
  const sinks: Sink[] = [];
  const sql = {
    table,
    createTable: true,
    mode: 'upsert' as const,
    keyColumns: key,
    columnNames: 'snake_case' as const,
  };
  if (to.databaseUrl)
    sinks.push(postgresSink({ name: `${query}-report`, connectionString: to.databaseUrl, ...sql }));
  if (to.mariadbUrl)
    sinks.push(mariadbSink({ name: `${query}-mariadb-report`, connectionString: to.mariadbUrl, ...sql }));
  if (sinks.length === 0)
    sinks.push(
      fileSink({ name: `${query}-report`, path: path.join(to.out, 'reports', query), format: 'jsonl' }),
    );
  if (query === 'top-products' && to.redisUrl)
    sinks.push(hotProductsSink(to.redisUrl, to.hotProductPrefix ?? HOT_PRODUCT_PREFIX, to.windowMs));
  return sinks;
}

/** Where the reports go, in one line for the banner. */
export function describeTargets(to: ReportTargets): string {
  const p = to.tablePrefix ?? 'shop_';
  const tables = ['event_counts', 'funnel', 'top_products', 'sessions'].map((n) => p + n).join(', ');
  const parts = [
    ...(to.databaseUrl ? [`PostgreSQL tables ${tables}`] : []),
    ...(to.mariadbUrl ? [`MariaDB tables ${tables}`] : []),
    ...(!to.databaseUrl && !to.mariadbUrl ? [path.join(to.out, 'reports')] : []),
    ...(to.redisUrl ? [`Redis hashes ${to.hotProductPrefix ?? HOT_PRODUCT_PREFIX}<productId>`] : []),
  ];
  return parts.join('; ');
}

const hotSchema = schema({
  productId: t.long,
  rank: t.long,
  orders: t.long,
  views: t.long,
  windowStart: t.timestamp,
  windowEnd: t.timestamp,
});

interface TopRow {
  windowStart: number;
  windowEnd: number;
  top: { productId: number; orders: number; views: number }[];
}

/**
 * The top-products rows flattened to one row per product (its rank in the newest window of the
 * batch wins) and kept in Redis by product id: a lookup "is this product hot, and how hot".
 */
function hotProductsSink(url: string, keyPrefix: string, windowMs: number): Sink {
  const inner = redisHashSink({
    url,
    name: 'hot-products',
    keyPrefix,
    keyColumns: ['productId'],
    ttlMs: 2 * windowMs,
  });
  const flatten = (rows: readonly Row[]): Row[] =>
    (rows as unknown as TopRow[])
      .slice()
      .sort((a, b) => a.windowStart - b.windowStart) // a later window's row of a product wins
      .flatMap((w) =>
        w.top.map((p, i) => ({ ...p, rank: i + 1, windowStart: w.windowStart, windowEnd: w.windowEnd })),
      );
  return {
    name: 'hot-products',
    guarantee: inner.guarantee,
    supportedOutputModes: ['append', 'update'],
    describe: () => `HotProducts[${inner.describe()}]`,
    open: (ctx: SinkContext) => inner.open({ ...ctx, schema: hotSchema }),
    addBatch: (rows: readonly Row[], info: SinkBatchInfo) => inner.addBatch(flatten(rows), info),
    close: () => inner.close(),
  };
}
