/**
 * Nexmark bids, enriched with a lookup table read from MariaDB, → bids and top price per
 * (10-second window, auction) → MariaDB (upsert), exactly once.
 *
 *   npx tsx packages/mariadb/examples/nexmark-to-mariadb.ts
 *   DATABASE_URL='mariadb://app:secret@db:3306/analytics?ssl=true' npx tsx packages/mariadb/examples/nexmark-to-mariadb.ts
 *   npx tsx packages/mariadb/examples/nexmark-to-mariadb.ts --events 1000000 --checkpoint .millrace/nexmark-mariadb
 *
 * The example first creates a small `nexmark_channels` table (channel id → name) for the lookup:
 * `mariadbTable` reads it when the query starts (and would again every `refreshInterval`). The
 * query runs in update mode: every micro-batch upserts the (window, auction, channel) rows whose
 * figures changed, and commits together with its batch id in `millrace_sink_batches`, so a crash
 * and restart on the same --checkpoint never counts a bid twice (run it twice with --checkpoint:
 * the second run finds nothing new to write).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createConnection } from 'mariadb';
import { Trigger, count, createSession, jsonLogger, max, nexmarkSource, schema, t, window } from 'millrace';
import { mariadbSink, mariadbTable } from '../src/index.ts';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    table: { type: 'string', default: 'nexmark_auction_windows' },
    checkpoint: { type: 'string' },
  },
});
const url = process.env.DATABASE_URL ?? 'mariadb://root@127.0.0.1:3306/test';
const checkpointLocation = args.checkpoint ?? mkdtempSync(path.join(tmpdir(), 'millrace-nexmark-mariadb-'));

// The lookup table (made here so that the example runs on its own).
const u = new URL(url);
const admin = await createConnection({
  host: u.hostname,
  port: Number(u.port || 3306),
  user: decodeURIComponent(u.username),
  password: decodeURIComponent(u.password) || undefined,
  database: u.pathname.slice(1),
  ssl: u.searchParams.get('ssl') === 'true' ? {} : undefined,
  bigIntAsNumber: true,
});
await admin.query(
  'CREATE TABLE IF NOT EXISTS nexmark_channels (id BIGINT PRIMARY KEY, name VARCHAR(40) NOT NULL)',
);
await admin.query(
  "INSERT IGNORE INTO nexmark_channels VALUES (0, 'Google'), (1, 'Facebook'), (2, 'Baidu'), (3, 'Apple'), (4, 'partner')",
);

const session = createSession({ log: jsonLogger('warn') });
const channels = mariadbTable({
  connectionString: url,
  query: 'SELECT id AS channelId, name AS channel FROM nexmark_channels',
  schema: schema({ channelId: t.long, channel: t.string }),
  name: 'channels',
  refreshInterval: '5 minutes',
});
const perWindow = session
  .readStream(nexmarkSource({ kind: 'bid', maxEvents: Number(args.events), eventsPerTrigger: 50_000 }))
  .withWatermark('dateTime', '5 seconds')
  // Nexmark's channel column is a name; here the price picks one of the table's channels.
  .map(
    (b) => ({ dateTime: b.dateTime, auction: b.auction, price: b.price, channelId: b.price % 5 }),
    schema({ dateTime: t.timestamp, auction: t.long, price: t.long, channelId: t.long }),
  )
  .join(channels, { on: 'channelId' })
  .groupBy(($) => ({ window: window($.dateTime, '10 seconds'), auction: $.auction, channel: $.channel }))
  .agg(($) => ({ bids: count(), top_price: max($.price) }))
  // Flatten the window struct into two timestamp columns (a struct would be stored as JSON).
  .map(
    (r) => {
      const w = r.window as { start: number; end: number };
      return {
        window_start: w.start,
        window_end: w.end,
        auction: r.auction,
        channel: r.channel,
        bids: r.bids,
        top_price: r.top_price,
      };
    },
    schema({
      window_start: t.timestamp,
      window_end: t.timestamp,
      auction: t.long,
      channel: t.string,
      bids: t.long,
      top_price: t.long.orNull(),
    }),
  );

const sink = mariadbSink({
  connectionString: url,
  table: args.table,
  mode: 'upsert',
  keyColumns: ['window_start', 'auction', 'channel'],
  createTable: true,
});
console.log(`writing to ${sink.describe()}`);

const query = await perWindow
  .writeStream({
    sink,
    queryName: 'nexmark-to-mariadb',
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
const top = await admin.query(
  `SELECT DATE_FORMAT(window_start, '%Y-%m-%dT%H:%i:%s.%fZ') AS window_start, auction, channel, bids, top_price ` +
    `FROM \`${args.table.replace(/`/g, '``')}\` ORDER BY bids DESC, window_start, auction, channel LIMIT 5`,
);
console.table(top);
await admin.end();
if (!args.checkpoint) rmSync(checkpointLocation, { recursive: true, force: true });
