/**
 * Ad attribution: which impressions led to a click, per campaign and 5-minute window.
 *
 *   npx tsx examples/ad-attribution/attribution.ts [--minutes 45] [--per-batch 5] [--seed 7]
 *
 *   impressions ─ watermark 1 min ─┐
 *                                  ├─ LEFT OUTER JOIN on impressionId,
 *   clicks ────── watermark 1 min ─┘    clickAt BETWEEN impAt AND impAt + 10 min
 *        └─► JOIN campaigns (a static table) on adId
 *        └─► per campaign, per 5-minute window of impAt: impressions, clicks, CTR, spend   (append)
 *
 * The traffic is generated (generator.ts) and read a few minutes per batch with
 * Trigger.availableNow(), so the run ends by itself. See README.md for what the output means.
 */
import { parseArgs } from 'node:util';
import {
  type Offset,
  type ReadLimit,
  type Schema,
  type Sink,
  type Source,
  type Stream,
  Trigger,
  consoleSink,
  count,
  createSession,
  interval,
  schema,
  staticTable,
  sum,
  t,
  window,
} from 'millrace';
import {
  ADS,
  DEFAULT_TRAFFIC,
  type Click,
  type Impression,
  type Traffic,
  type TrafficConfig,
  generateTraffic,
} from './generator.ts';

export const impressionSchema = schema({
  impressionId: t.string,
  adId: t.long,
  userId: t.long,
  impAt: t.timestamp,
});
export const clickSchema = schema({ clickId: t.string, impressionId: t.string, clickAt: t.timestamp });

/** adId → campaign; costPerImpression in micro-dollars. */
export const campaigns = staticTable({
  name: 'campaigns',
  schema: schema({ adId: t.long, campaign: t.string, costPerImpression: t.long }),
  rows: ADS.map(({ adId, campaign, costPerImpression }) => ({ adId, campaign, costPerImpression })),
});

/** The query's time constants (the reference in reference.ts takes the same). */
export const ATTRIBUTION = {
  watermarkMs: 60_000,
  /** A click counts when it comes at most this long after its impression. */
  rangeMs: 10 * 60_000,
  windowMs: 5 * 60_000,
} as const;

export interface TrafficSourceOptions {
  readonly config?: Partial<TrafficConfig>;
  /** Minutes of arrivals per batch (default: all). */
  readonly maxMinutesPerTrigger?: number;
}

/**
 * One side of the generated traffic as a replayable source: the offset is the number of
 * one-minute blocks read, so a replay returns the same rows.
 */
function blockSource<R>(
  name: string,
  rowSchema: Schema<R>,
  rowsOf: (block: Traffic['blocks'][number]) => readonly R[],
  options: TrafficSourceOptions,
): Source<R> {
  const cfg: TrafficConfig = { ...DEFAULT_TRAFFIC, ...options.config };
  const blocks = generateTraffic(cfg).blocks;
  const blockOf = (o: Offset | null): number => (typeof o === 'number' ? o : 0);
  return {
    name,
    schema: rowSchema,
    replayable: true,
    describe: () => `AdTraffic[${name}, seed=${cfg.seed}, ${cfg.minutes} min]`,
    async open() {},
    async latestOffset(start, limit: ReadLimit) {
      const from = blockOf(start);
      const per = limit.kind === 'default' ? options.maxMinutesPerTrigger : undefined;
      const to = Math.min(blocks.length, per === undefined ? Infinity : from + per);
      return to <= from ? start : to;
    },
    async getBatch(start, end) {
      const rows: R[] = [];
      for (let b = blockOf(start); b < blockOf(end); b++) rows.push(...rowsOf(blocks[b]!));
      return { rows };
    },
    // The run is finite: everything is available from the start.
    async prepareForAvailableNow() {},
    async commit() {},
    async close() {},
  };
}

export const impressionSource = (options: TrafficSourceOptions = {}): Source<Impression> =>
  blockSource('impressions', impressionSchema, (b) => b.impressions, options);

export const clickSource = (options: TrafficSourceOptions = {}): Source<Click> =>
  blockSource('clicks', clickSchema, (b) => b.clicks, options);

/** The attribution query over two streams of impressions and clicks. */
export function attribution(impressions: Stream<Impression>, clicks: Stream<Click>) {
  const { watermarkMs, rangeMs, windowMs } = ATTRIBUTION;
  return impressions
    .withWatermark('impAt', watermarkMs)
    .join(clicks.withWatermark('clickAt', watermarkMs), {
      on: 'impressionId',
      where: (i, c) => c.clickAt.between(i.impAt, i.impAt.plus(interval(rangeMs))),
      type: 'leftOuter', // impressions without a click in range: clickId and clickAt null
    })
    .join(campaigns, { on: 'adId' })
    .groupBy(($) => ({ window: window($.impAt, windowMs), campaign: $.campaign }))
    .agg(($) => ({
      impressions: count(),
      clicks: count($.clickId), // nulls (unclicked impressions) are not counted
      spendMicros: sum($.costPerImpression),
    }))
    .select(($) => ({
      windowStart: $.window.getField('start'),
      windowEnd: $.window.getField('end'),
      campaign: $.campaign,
      impressions: $.impressions,
      clicks: $.clicks,
      ctr: $.clicks.div($.impressions),
      spend: $.spendMicros.div(1_000_000),
    }));
}

export interface RunOptions extends TrafficSourceOptions {
  readonly sink: Sink;
}

/** The query over generated traffic, read `maxMinutesPerTrigger` minutes of arrivals per batch. */
export function attributionOverTraffic(options: TrafficSourceOptions) {
  const session = createSession();
  return attribution(session.readStream(impressionSource(options)), session.readStream(clickSource(options)));
}

/** Starts the query (Trigger.availableNow: it stops once the generated traffic is processed). */
export async function startAttribution(options: RunOptions) {
  return attributionOverTraffic(options)
    .writeStream({
      queryName: 'ad-attribution',
      sink: options.sink,
      outputMode: 'append',
      trigger: Trigger.availableNow(),
      maxRecentProgress: 1_000,
    })
    .start();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: String(DEFAULT_TRAFFIC.minutes) },
      'per-batch': { type: 'string', default: '5' },
      seed: { type: 'string', default: String(DEFAULT_TRAFFIC.seed) },
    },
  });
  const options = {
    config: { minutes: Number(values.minutes), seed: Number(values.seed) },
    maxMinutesPerTrigger: Number(values['per-batch']),
  };
  console.log(attributionOverTraffic(options).explain());
  const query = await startAttribution({ ...options, sink: consoleSink({ numRows: 100, truncate: false }) });
  await query.awaitTermination();
  const progress = query.recentProgress;
  const joins = progress.map((p) => p.stateOperators.find((o) => o.operatorName.startsWith('join'))!);
  const dropped = (side: 'Left' | 'Right') =>
    joins.reduce((a, j) => a + (j.customMetrics[`num${side}RowsDroppedByWatermark`] ?? 0), 0);
  const wm = Date.parse(query.lastProgress!.eventTime.watermark);
  const hhmmss = (ms: number) => new Date(ms).toISOString().slice(11, 19);
  console.log(
    `${progress.length} batches (${progress.filter((p) => !p.isNoDataBatch).length} with data); ` +
      `the join dropped ${dropped('Left')} late impressions and ${dropped('Right')} late clicks.\n` +
      `Final watermark ${hhmmss(wm)}; the aggregation's is ${ATTRIBUTION.rangeMs / 60_000} minutes behind ` +
      `(${hhmmss(wm - ATTRIBUTION.rangeMs)}): windows ending after it are still open.`,
  );
}
