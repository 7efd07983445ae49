/**
 * Nexmark bids → bids and top price per auction per 10-second window → PostgreSQL (upsert).
 *
 *   npx tsx packages/postgres/examples/nexmark-to-postgres.ts
 *   DATABASE_URL=postgres://app:secret@db:5432/analytics npx tsx packages/postgres/examples/nexmark-to-postgres.ts
 *   npx tsx packages/postgres/examples/nexmark-to-postgres.ts --events 1000000 --checkpoint .millrace/nexmark-pg
 *
 * The query runs in update mode: every micro-batch upserts the (window, auction) rows whose
 * figures changed, so the table always holds the current count of each window. Each batch
 * commits together with its batch id in `millrace_sink_batches`, so a crash and restart on the
 * same --checkpoint never counts a bid twice (run it twice with --checkpoint: the second run
 * finds nothing new to write). Windows are dropped from the engine's state 5 s (the watermark
 * delay) after they end; their rows stay in the table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Trigger, count, createSession, jsonLogger, max, nexmarkSource, window } from 'millrace';
import pg from 'pg';
import { postgresSink } from '../src/index.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    table: { type: 'string', default: 'nexmark_auction_windows' },
    checkpoint: { type: 'string' },
  },
});
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const checkpointLocation = args.checkpoint ?? mkdtempSync(path.join(tmpdir(), 'millrace-nexmark-pg-'));

const session = createSession({ log: jsonLogger('warn') });
const perWindow = session
  .readStream(nexmarkSource({ kind: 'bid', maxEvents: Number(args.events), eventsPerTrigger: 50_000 }))
  .withWatermark('dateTime', '5 seconds')
  .groupBy(($) => ({ window: window($.dateTime, '10 seconds'), auction: $.auction }))
  .agg(($) => ({ bids: count(), topPrice: max($.price) }))
  // Flatten the window struct into two timestamp columns (a struct would be stored as jsonb).
  .select(($) => ({
    windowStart: $.window.getField('start'),
    windowEnd: $.window.getField('end'),
    auction: $.auction,
    bids: $.bids,
    topPrice: $.topPrice,
  }));

const sink = postgresSink({
  connectionString: url,
  table: args.table,
  mode: 'upsert',
  keyColumns: ['windowStart', 'auction'],
  createTable: true,
  columnNames: 'snake_case', // windowStart → window_start: no quotes needed in SQL
});
console.log(`writing to ${sink.describe()}`);

const query = await perWindow
  .writeStream({
    sink,
    queryName: 'nexmark-to-postgres',
    outputMode: 'update',
    checkpointLocation,
    trigger: Trigger.availableNow(),
  })
  .start();
await query.awaitTermination();
if (query.exception) throw query.exception;
const batches = query.recentProgress.filter((p) => !p.isNoDataBatch);
const upserted = batches.reduce((n, p) => n + p.sink.numOutputRows, 0);
console.log(`${batches.length} batches, ${upserted.toLocaleString('en-US')} rows upserted`);

// What is in the table now: the busiest auction windows.
const client = new pg.Client({ connectionString: url });
await client.connect();
const top = await client.query(
  `SELECT window_start, auction::float8, bids::float8, top_price::float8 FROM "${args.table.replace(/"/g, '""')}" ORDER BY bids DESC, window_start LIMIT 5`,
);
console.table(top.rows.map((r) => ({ ...r, window_start: (r.window_start as Date).toISOString() })));
await client.end();
if (!args.checkpoint) rmSync(checkpointLocation, { recursive: true, force: true });
