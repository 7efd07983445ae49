/**
 * The e-commerce scenario as a Millrace service pipeline:
 *
 *   shop generator ──HTTP POST (NDJSON, Idempotency-Key per block)──► ingest :4041 ──► embedded log "shop-events"
 *        │                                                                                   │
 *        └ real time, 1/60 of shop timings                     logSource (JSON) ── 4 queries ┘
 *                                                                                 │
 *        reports: PostgreSQL / MariaDB tables or JSON-lines files ◄────────────────┤ (exactly once)
 *        hot products: Redis hashes (REDIS_URL) ◄─────────────────────────────────┤
 *        dashboards + a conversion alert in the web UI (http://127.0.0.1:4040) ◄──┘
 *
 *   node packages/server/bin/millrace.js run examples/ecommerce/pipeline.ts [-- options]
 *   (npm run demo runs exactly this)
 *
 * Options after `--`:
 *   --rate <events/s>          generated events per second (default 500)
 *   --ingest-port <port>       HTTP ingest port (default 4041; 0 = any free port)
 *   --out <dir>                log, checkpoints and file reports (default .millrace/ecommerce)
 *   --database-url <url>       write the reports to PostgreSQL (default: $DATABASE_URL, else files)
 *   --mariadb-url <url>        write the reports to MariaDB / MySQL (default: $MARIADB_URL)
 *   --redis-url <url>          keep the hot products in Redis, shop:hot-product:<id> (default: $REDIS_URL)
 *   --conversion-below <rate>  alert when a window's payments per view fall below this (default 0.06)
 *   --no-generator             only serve ingest and run the queries (post your own events)
 *   --kafka <bootstrap>        use Kafka instead of the embedded log: the generator (a query of its
 *                              own) writes topic shop-events, the queries read it. The generator's sink
 *                              is at-least-once here: librdkafka's mock cluster fails read_committed
 *                              readers while transactions are open (the Kafka test of this example
 *                              writes transactionally, then reads)
 *
 * Restarts continue where they stopped: event time follows the wall clock from the first run
 * (kept in <out>/base-time), the generator resumes after the last block the log acknowledged, and
 * the queries resume from their checkpoints.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Trigger, type Sink, type Stream } from 'millrace';
import { definePipeline } from '@millrace/server';
import { logSource, openLog, startIngestServer } from '@millrace/log';
import {
  DEFAULT_SHOP,
  type ShopConfig,
  type ShopEvent,
  blockDueMs,
  generateBlock,
  maxOutOfOrderMs,
  sessionsFor,
} from './generator.ts';
import { kafkaGenerator, kafkaShopEvents } from './kafka.ts';
import { scaledQueries, shopQueries } from './queries.ts';
import { type ReportTargets, describeTargets, reportSinks } from './reportSinks.ts';
import { shopEventSchema } from './shopSource.ts';
import { teeSink } from './teeSink.ts';

const SCALE = 1 / 60;
const TOPIC = 'shop-events';

export default definePipeline(async (ctx) => {
  const { values: a } = parseArgs({
    args: [...ctx.args],
    options: {
      rate: { type: 'string', default: '500' },
      'ingest-port': { type: 'string', default: '4041' },
      out: { type: 'string', default: '.millrace/ecommerce' },
      'database-url': { type: 'string' },
      'mariadb-url': { type: 'string' },
      'redis-url': { type: 'string' },
      'conversion-below': { type: 'string', default: '0.06' },
      'no-generator': { type: 'boolean', default: false },
      kafka: { type: 'string' },
    },
  });
  const rate = Number(a.rate);
  if (!(rate > 0)) throw new Error(`--rate must be a positive number of events per second, got "${a.rate}"`);
  const threshold = Number(a['conversion-below']);
  if (!(threshold >= 0 && threshold <= 1)) throw new Error(`--conversion-below must be a rate in [0, 1]`);
  const out = path.resolve(a.out);
  mkdirSync(out, { recursive: true });

  // Event time follows the wall clock from the first run on.
  const baseFile = path.join(out, 'base-time');
  let baseTime: number;
  try {
    baseTime = Number(readFileSync(baseFile, 'utf8'));
  } catch {
    baseTime = Math.floor(Date.now() / 1000) * 1000;
    writeFileSync(baseFile, String(baseTime));
  }
  const blockMs = 500;
  const cfg: ShopConfig = {
    ...DEFAULT_SHOP,
    baseTime,
    blockMs,
    timeScale: SCALE,
    sessionsPerBlock: sessionsFor(rate, blockMs),
  };
  const q = scaledQueries(SCALE);
  if (q.watermarkMs < maxOutOfOrderMs(cfg))
    throw new Error('internal: the watermark delay is shorter than the disorder');

  // One source object per query: a source belongs to the query that opened it (its offsets and
  // files live in that query's checkpoint).
  let eventsFor: (query: string) => Stream<ShopEvent>;
  let ingestUrl: string | undefined;
  if (a.kafka) {
    // Kafka: the generator is a query of its own (exactly once into the topic).
    if (!a['no-generator']) {
      const gen = kafkaGenerator(ctx.session, {
        bootstrapServers: a.kafka,
        topic: TOPIC,
        config: cfg,
        realTime: true,
        transactional: false,
        checkpointLocation: path.join(out, 'checkpoints', 'shop-generator'),
      });
      await ctx.start(gen.stream, gen.write);
    }
    const bootstrap = a.kafka;
    eventsFor = () => kafkaShopEvents(ctx.session, bootstrap, TOPIC);
  } else {
    // The embedded log and its HTTP ingest.
    const log = await openLog({ dir: path.join(out, 'log') });
    const ingest = await startIngestServer({ log, port: Number(a['ingest-port']) });
    ctx.signal.addEventListener('abort', () => void ingest.close());
    ctx.log.info('ingest listening', { url: ingest.url, topic: TOPIC });
    ingestUrl = ingest.url;
    eventsFor = (query) =>
      ctx.session.readStream(
        logSource({
          name: `shop-events-${query}`,
          log,
          topics: TOPIC,
          startingOffsets: 'earliest',
          format: { json: shopEventSchema },
        }),
      ) as unknown as Stream<ShopEvent>;
  }

  // The queries read the topic; each writes a report (PostgreSQL or files) and a dashboard.
  const queryOf = <K extends keyof ReturnType<typeof shopQueries>>(name: string, key: K) =>
    shopQueries(eventsFor(name), q)[key];
  const targets: ReportTargets = {
    out,
    databaseUrl: a['database-url'] ?? process.env.DATABASE_URL,
    mariadbUrl: a['mariadb-url'] ?? process.env.MARIADB_URL,
    redisUrl: a['redis-url'] ?? process.env.REDIS_URL,
    windowMs: q.funnelWindowMs,
  };
  const start = (name: string, stream: { writeStream: never } | unknown, dashboard: Sink) =>
    ctx.start(stream as never, {
      queryName: name,
      outputMode: 'append',
      trigger: Trigger.processingTime('1 second'),
      checkpointLocation: path.join(out, 'checkpoints', name),
      sink: teeSink(name, ...reportSinks(name, targets), dashboard),
    });

  await start(
    'event-counts',
    queryOf('event-counts', 'eventCounts'),
    ctx.dashboards.sink({
      name: 'event-counts',
      title: 'Events per type (10 s windows, every 5 s)',
      kind: 'timeseries',
      x: 'windowStart',
      y: ['events'],
      series: 'type',
      maxRows: 4 * 240,
    }),
  );
  await start(
    'funnel',
    queryOf('funnel', 'funnel'),
    ctx.dashboards.sink({
      name: 'funnel',
      title: 'Conversion funnel per 10 s window',
      kind: 'timeseries',
      x: 'windowStart',
      y: ['conversionRate', 'cartRate', 'orderRate', 'payRate'],
      maxRows: 240,
    }),
  );
  await start(
    'top-products',
    queryOf('top-products', 'topProducts'),
    ctx.dashboards.sink({
      name: 'top-products',
      title: 'Top products per window',
      kind: 'table',
      maxRows: 20,
    }),
  );
  await start(
    'sessions',
    queryOf('sessions', 'sessions'),
    ctx.dashboards.sink({ name: 'sessions', title: 'Latest finished sessions', kind: 'table', maxRows: 50 }),
  );
  // Complete windows only: the traffic starts at baseTime, so the windows before
  // firstCompleteWindow lack the orders and payments of sessions that would have begun earlier,
  // and their low conversion is not a drop. Not on a window with few views either.
  const firstCompleteWindow =
    Math.ceil((baseTime + maxOutOfOrderMs(cfg)) / q.funnelWindowMs) * q.funnelWindowMs;
  ctx.alerts.rule({
    name: 'conversion-drop',
    query: 'funnel',
    condition: `windowStart >= ${firstCompleteWindow} and views >= 100 and conversionRate < ${threshold}`,
    eventTime: 'windowEnd',
    for: '0 seconds',
    cooldown: '30 seconds',
    severity: 'warning',
    summary:
      `conversion {conversionRate|percent} ({payments} payments / {views} views) in the window ending ` +
      `{windowEnd|time} is below ${Number((threshold * 100).toPrecision(4))}%`,
    resolvedSummary: `conversion back to {conversionRate|percent} in the window ending {windowEnd|time}`,
  });

  if (!a['no-generator'] && ingestUrl) void runGenerator(cfg, ingestUrl, out, ctx.signal, ctx.log);
  process.stderr.write(
    `\ne-commerce demo: ${rate} events/s of generated shop traffic → ${ingestUrl ? `${ingestUrl}/topics/${TOPIC}` : `Kafka ${a.kafka} topic ${TOPIC}`}\n` +
      `  web UI and dashboards: the service's address — http://127.0.0.1:4040 unless you gave millrace run --port\n` +
      `  (API: /api/v1, metrics: /metrics)\n` +
      `  reports: ${describeTargets(targets)}\n` +
      `  Ctrl-C stops cleanly; running again resumes.\n\n`,
  );
});

/** Post one block of events per `blockMs` of wall time (once it is due: blockDueMs), each with an idempotency key, from where the log left off. */
async function runGenerator(
  cfg: ShopConfig,
  ingestUrl: string,
  out: string,
  signal: AbortSignal,
  log: { warn(msg: string, f?: Record<string, unknown>): void },
): Promise<void> {
  const posFile = path.join(out, 'generator-next-block');
  let b = 0;
  try {
    b = Number(readFileSync(posFile, 'utf8')) || 0;
  } catch {
    // first run
  }
  while (!signal.aborted) {
    // Once the clock has passed every event time of the block: event time never runs ahead.
    const due = blockDueMs(b, cfg);
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, 1000)));
    if (Date.now() < due) continue;
    const body = generateBlock(b, cfg)
      .map((e) => JSON.stringify(e))
      .join('\n');
    try {
      const res = await fetch(`${ingestUrl}/topics/${TOPIC}?key=userId`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', 'idempotency-key': `shop-block-${b}` },
        body,
        signal,
      });
      if (res.status === 429) {
        await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 1) * 1000));
        continue;
      }
      if (!res.ok) throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
      b++;
      writeFileSync(posFile, String(b));
    } catch (e) {
      if (signal.aborted) return;
      log.warn('generator: posting a block failed; retrying', { block: b, error: (e as Error).message });
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
