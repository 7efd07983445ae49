/**
 * A live pipeline for `millrace run`: Nexmark auction bids → bids per channel per
 * 5-second window → a time-series dashboard, a table of the latest closed window per
 * channel, and an alert when a channel gets unusually many bids in a window.
 *
 *   node packages/server/bin/millrace.js run packages/server/examples/pipeline.ts
 *   open http://127.0.0.1:4040          (the web UI: queries, dashboards, alerts; the API is under /api/v1)
 *   curl -N http://127.0.0.1:4040/api/v1/events
 *   node packages/server/bin/millrace.js status
 *
 * Options after `--`:
 *   --rate <events/s>       bid stream pace (default 2000)
 *   --threshold <bids>      alert when a channel has more bids than this in a 5-s window
 *                           (default: 3% above the average of a hot channel, so it fires now and then)
 *   --webhook <url>         also POST alerts there (Slack-compatible JSON with --slack)
 *   --slack                 send the webhook as Slack JSON
 *   --backfill <events>     instead: process this many events as fast as possible (availableNow)
 *                           and exit — shows the progress display
 *   --out <dir>             checkpoints (default .millrace/server-example)
 *
 * Event time follows the wall clock: event 0 is at the time of the first run (kept in
 * <out>/base-time), so windows close in real time and a restart resumes the same stream.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Trigger, avg, count, countDistinct, lit, max, nexmarkSource, round, when, window } from 'millrace';
import { definePipeline, webhook } from '@millrace/server';

export default definePipeline(async (ctx) => {
  const { values: a } = parseArgs({
    args: [...ctx.args],
    options: {
      rate: { type: 'string', default: '2000' },
      threshold: { type: 'string' },
      webhook: { type: 'string' },
      slack: { type: 'boolean', default: false },
      backfill: { type: 'string' },
      out: { type: 'string', default: '.millrace/server-example' },
    },
  });
  const rate = Number(a.rate);
  if (!(rate > 0)) throw new Error(`--rate must be a positive number of events per second, got "${a.rate}"`);
  const out = path.resolve(a.out);
  mkdirSync(out, { recursive: true });
  const backfill = a.backfill === undefined ? undefined : Number(a.backfill);
  if (backfill !== undefined && !(Number.isInteger(backfill) && backfill > 0)) {
    throw new Error(`--backfill must be a positive number of events, got "${a.backfill}"`);
  }

  // Event 0's time, fixed at the first run so that a restart regenerates the same events.
  const baseFile = path.join(out, 'base-time');
  let baseTime: number;
  try {
    baseTime = Number(readFileSync(baseFile, 'utf8'));
  } catch {
    baseTime = Math.floor(Date.now() / 1000) * 1000;
    writeFileSync(baseFile, String(baseTime));
  }

  const bids = (name: string) =>
    ctx.session
      .readStream(
        nexmarkSource({
          name,
          kind: 'bid',
          eventsPerSecond: rate,
          baseTime,
          ...(backfill === undefined
            ? { wallRate: rate }
            : { maxEvents: backfill, eventsPerTrigger: 50_000 }),
        }),
      )
      .withWatermark('dateTime', '2 seconds')
      // Half of the bids come from four "hot" channels; the others are spread over 10,000.
      .withColumn('channel', ($) =>
        when($.channel.isin('Google', 'Facebook', 'Baidu', 'Apple'), $.channel).otherwise(lit('other')),
      )
      .groupBy(($) => ({ window: window($.dateTime, '5 seconds'), channel: $.channel }))
      .agg(($) => ({
        bids: count(),
        bidders: countDistinct($.bidder),
        avgPrice: avg($.price),
        topPrice: max($.price),
      }))
      .select(($) => ({
        window: $.window,
        channel: $.channel,
        bids: $.bids,
        bidders: $.bidders,
        avgPrice: round($.avgPrice.div(100), 2), // prices are in cents
        topPrice: round($.topPrice.div(100), 2),
      }));

  const trigger = backfill === undefined ? Trigger.processingTime('1 second') : Trigger.availableNow();

  // 1. Live: every window as it fills (update mode) → one line per channel.
  await ctx.start(bids('bids-live'), {
    queryName: 'bids-per-channel',
    outputMode: 'update',
    trigger,
    checkpointLocation: path.join(out, 'checkpoints/bids-per-channel'),
    sink: ctx.dashboards.sink({
      name: 'bids-per-channel',
      title: 'Bids per channel (5-second windows)',
      kind: 'timeseries',
      x: 'window.start',
      y: ['bids', 'topPrice'],
      series: 'channel',
      maxRows: 5 * 120, // 5 channels × 10 minutes
    }),
  });

  // 2. Final: each window once the watermark closed it (append mode) → latest window per channel.
  await ctx.start(bids('bids-closed'), {
    queryName: 'closed-windows',
    outputMode: 'append',
    trigger,
    checkpointLocation: path.join(out, 'checkpoints/closed-windows'),
    sink: ctx.dashboards.sink({
      name: 'closed-windows',
      title: 'Latest closed window per channel',
      kind: 'table',
      key: 'channel',
    }),
  });

  // 3. Alert on closed windows: a hot channel averages 1/8 of the bids (bids are 46/50 of events).
  const expected = (rate * 5 * 46) / 50 / 8;
  const threshold = a.threshold === undefined ? Math.round(expected * 1.03) : Number(a.threshold);
  ctx.alerts.rule({
    name: 'busy-channel',
    query: 'closed-windows',
    condition: `channel != 'other' and bids > ${threshold}`, // "other" is 10,000 channels together
    labels: ['channel'],
    eventTime: 'window.end',
    for: '5 seconds', // two windows in a row (measured in event time)
    cooldown: '1 minute',
    severity: 'warning',
    summary: `channel {channel}: {bids} bids in the window ending {window.end|time} (threshold ${threshold})`,
    notify: a.webhook ? [webhook({ url: a.webhook, format: a.slack ? 'slack' : 'json' })] : [],
  });

  ctx.log.info('example pipeline started', { rate, threshold, backfill: backfill ?? null, out });
});
