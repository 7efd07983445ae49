/**
 * The e-commerce outputs against the real services: the four queries over 10 minutes of generated
 * traffic (1/10 speed), each report written to PostgreSQL and MariaDB (snake_case columns, a
 * primary key per report, upserted), and the hot products to Redis — then every table compared
 * with the reference computation (reference.ts), and every Redis hash with each product's newest
 * top-N entry.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createPool } from 'mariadb';
import { Trigger, createSession } from 'millrace';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { DEFAULT_SHOP, type ShopConfig, generateBlock } from './generator.ts';
import { scaledQueries, shopQueries } from './queries.ts';
import { referenceResults } from './reference.ts';
import { REPORT_KEYS, type ReportTargets, reportSinks } from './reportSinks.ts';
import { shopSource } from './shopSource.ts';
import { teeSink } from './teeSink.ts';

const PG_URL = process.env.MILLRACE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MARIADB_HOST = process.env.MILLRACE_TEST_MARIADB_HOST ?? '127.0.0.1';
const MARIADB_PORT = Number(process.env.MILLRACE_TEST_MARIADB_PORT ?? 3306);
const MARIADB_URL = `mariadb://root@${MARIADB_HOST}:${MARIADB_PORT}/test`;
const REDIS_URL = `redis://${process.env.MILLRACE_TEST_REDIS_HOST ?? '127.0.0.1'}:${process.env.MILLRACE_TEST_REDIS_PORT ?? 6379}`;

const cfg: ShopConfig = { ...DEFAULT_SHOP, timeScale: 0.1 };
const q = scaledQueries(0.1);
const BLOCKS = 600;
const PER_BATCH = 30;
const QUERIES = {
  'event-counts': 'eventCounts',
  sessions: 'sessions',
  funnel: 'funnel',
  'top-products': 'topProducts',
} as const;

const tag = `${process.pid}_${randomBytes(3).toString('hex')}`;
const tablePrefix = `shop_t${tag}_`;
const hotProductPrefix = `test:${tag}:hot-product:`;
const pgPool = new pg.Pool({ connectionString: PG_URL, max: 2 });
pgPool.on('error', () => {});
pg.types.setTypeParser(20, Number); // bigint counts, for comparing
const maria = createPool({
  host: MARIADB_HOST,
  port: MARIADB_PORT,
  user: 'root',
  database: 'test',
  connectionLimit: 2,
  bigIntAsNumber: true,
  decimalAsNumber: true,
  dateStrings: true,
  timezone: '+00:00',
});
const redis = new Redis(REDIS_URL, { lazyConnect: true });
const dirs: string[] = [];

afterAll(async () => {
  for (const name of Object.keys(QUERIES)) {
    const table = tablePrefix + name.replace(/-/g, '_');
    await pgPool.query(`DROP TABLE IF EXISTS ${table}`);
    await maria.query(`DROP TABLE IF EXISTS ${table}`);
  }
  const keys = await redis.keys(`${hotProductPrefix}*`);
  if (keys.length) await redis.del(...keys);
  await Promise.all([pgPool.end(), maria.end(), redis.quit()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const snake = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
/** Rows with snake_case keys, timestamps as epoch ms, JSON parsed: comparable across stores. */
const canon = (rows: readonly Record<string, unknown>[]) =>
  rows
    .map((r) => {
      const o: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(r)) {
        const key = snake(k);
        let x = v;
        if (x instanceof Date) x = x.getTime();
        else if (typeof x === 'string' && /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.test(x))
          x = Date.parse(`${x.replace(' ', 'T')}Z`);
        else if (typeof x === 'string' && /^[[{]/.test(x)) x = JSON.parse(x);
        o[key] = x;
      }
      return JSON.stringify(o, Object.keys(o).sort());
    })
    .sort();

it('reports to PostgreSQL and MariaDB, hot products to Redis: equal to the reference computation', async () => {
  await redis.connect();
  const batches = Array.from({ length: BLOCKS / PER_BATCH }, (_, i) =>
    Array.from({ length: PER_BATCH }, (_, j) => generateBlock(i * PER_BATCH + j, cfg)).flat(),
  );
  const expected = referenceResults(batches, q);
  const targets: ReportTargets = {
    out: mkdtempSync(path.join(tmpdir(), 'millrace-shop-out-')),
    databaseUrl: PG_URL,
    mariadbUrl: MARIADB_URL,
    redisUrl: REDIS_URL,
    windowMs: q.funnelWindowMs,
    tablePrefix,
    hotProductPrefix,
  };
  dirs.push(targets.out);
  const session = createSession();
  for (const [name, key] of Object.entries(QUERIES)) {
    const dir = mkdtempSync(path.join(tmpdir(), `millrace-shop-${name}-`));
    dirs.push(dir);
    const events = session.readStream(
      shopSource({ name, config: cfg, maxBlocks: BLOCKS, maxBlocksPerTrigger: PER_BATCH }),
    );
    const stream = shopQueries(events, q)[key];
    const query = await stream
      .writeStream({
        queryName: name,
        sink: teeSink(name, ...reportSinks(name, targets)),
        checkpointLocation: dir,
        outputMode: 'append',
        trigger: Trigger.availableNow(),
      })
      .start();
    await query.awaitTermination();
    expect(query.exception).toBeNull();
    const want = canon(expected[key] as unknown as Record<string, unknown>[]);
    expect(want.length, `${name}: the reference has rows`).toBeGreaterThan(0);
    const table = tablePrefix + name.replace(/-/g, '_');
    expect(canon((await pgPool.query(`SELECT * FROM ${table}`)).rows), `${name} in PostgreSQL`).toEqual(want);
    expect(canon(await maria.query(`SELECT * FROM ${table}`)), `${name} in MariaDB`).toEqual(want);
    // The report's key is the primary key, window start first (it indexes window start too).
    const pk = await pgPool.query(
      `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)`,
      [table],
    );
    expect(pk.rows.map((r) => r.attname)).toEqual(REPORT_KEYS[name]!.map(snake));
  }

  // Redis: each product of any top-N, with its entry of the newest window that lists it.
  const newest = new Map<number, Record<string, string>>();
  const windows = [...expected.topProducts].sort((a, b) => a.windowStart - b.windowStart);
  for (const w of windows)
    w.top.forEach((p, i) =>
      newest.set(p.productId, {
        productId: String(p.productId),
        rank: String(i + 1),
        orders: String(p.orders),
        views: String(p.views),
        windowStart: String(w.windowStart),
        windowEnd: String(w.windowEnd),
      }),
    );
  const keys = (await redis.keys(`${hotProductPrefix}*`)).sort();
  expect(keys).toEqual([...newest.keys()].map((id) => `${hotProductPrefix}${id}`).sort());
  for (const [id, want] of newest) expect(await redis.hgetall(`${hotProductPrefix}${id}`)).toEqual(want);
  const ttl = await redis.pttl(keys[0]!);
  expect(ttl).toBeGreaterThan(0);
  expect(ttl).toBeLessThanOrEqual(2 * q.funnelWindowMs);
}, 120_000);
