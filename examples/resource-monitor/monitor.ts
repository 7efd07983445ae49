/**
 * The monitoring queries: per host, per 1-minute window sliding every 10 s (event time of the
 * samples, 10 s watermark), average and peak CPU and memory — each window once, when the
 * watermark closes it (append mode).
 *
 *                              ┌─▶ "resource-stats"  ─▶ topic resource-stats (log or Kafka, exactly
 *                              │                        once) + alert rule hot-host
 *   topic metrics ─▶ hostStats ┼─▶ "cpu-per-host"    ─▶ dashboard time series (a line per host)
 *   (log, Kafka, MQTT, Kinesis)├─▶ "hosts"           ─▶ dashboard table (latest window per host)
 *                              └─▶ "console"         ─▶ stdout
 *
 * One query per output, as in Spark (a query has one sink): each reads the topic and keeps its
 * own window state and checkpoint, so one output can be stopped or restarted alone.
 *
 * The alert: a host whose CPU average exceeds the threshold in every closed window for `for`
 * (measured in event time, on window.end) fires once; it resolves with the first window at or
 * below the threshold.
 */
import * as path from 'node:path';
import {
  JsonRecordDecoder,
  Trigger,
  avg,
  foreachBatchSink,
  formatTable,
  count,
  max,
  round,
  window,
  type Row,
  type Sink,
  type Stream,
  type StreamingQuery,
} from 'millrace';
import { logSink, logSource, type Log } from '@millrace/log';
import { kafkaSink, kafkaSource } from '@millrace/kafka';
import { mqttSource } from '@millrace/mqtt';
import { kinesisSource, type KinesisConnectionOptions } from '@millrace/kinesis';
import { webhook, type PipelineContext } from '@millrace/server';
import { metricSchema, type HostStats, type MetricSample } from './metrics.ts';
import { numberOption, optionError } from './options.ts';

export type MonitorInput =
  | { readonly kind: 'log'; readonly log: Log }
  | { readonly kind: 'kafka'; readonly bootstrapServers: string }
  /** Metrics from MQTT topics `<metricsTopic>/<host>`; resource-stats to `log`. */
  | { readonly kind: 'mqtt'; readonly url: string; readonly log: Log }
  /** Metrics from the Kinesis stream named <metricsTopic>; resource-stats to `log`. */
  | { readonly kind: 'kinesis'; readonly connection: KinesisConnectionOptions; readonly log: Log };

export interface MonitorOptions {
  readonly input: MonitorInput;
  /** Default 'metrics'. */
  readonly metricsTopic?: string;
  /** Default 'resource-stats'. */
  readonly statsTopic?: string;
  /** Checkpoints go to <checkpointDir>/<query name>. */
  readonly checkpointDir: string;
  /** Default 60 s. */
  readonly windowMs?: number;
  /** Default 10 s. */
  readonly slideMs?: number;
  /** Default 10 s. */
  readonly watermarkMs?: number;
  /** Alert when a host's CPU average is above this, %. Default 90. */
  readonly cpuThreshold?: number;
  /** …in every window for this long (event time). Default 30 s. */
  readonly alertForMs?: number;
  /** Also POST alerts here (Slack-compatible JSON with `slack`). */
  readonly webhookUrl?: string;
  readonly slack?: boolean;
  /** Default: a batch every second. */
  readonly trigger?: Trigger;
  /** Print closed windows: true (stdout, default), false, or a function of the text. */
  readonly console?: boolean | ((text: string) => void);
}

export const DEFAULTS = {
  metricsTopic: 'metrics',
  statsTopic: 'resource-stats',
  windowMs: 60_000,
  slideMs: 10_000,
  watermarkMs: 10_000,
  cpuThreshold: 90,
  alertForMs: 30_000,
} as const;

export interface WindowSpec {
  readonly windowMs: number;
  readonly slideMs: number;
  readonly watermarkMs: number;
}

/** Average and peak CPU and memory per host and sliding window; a window is final once closed. */
export function hostStats(metrics: Stream<MetricSample>, w: WindowSpec): Stream<HostStats> {
  return metrics
    .withWatermark('time', w.watermarkMs)
    .groupBy(($) => ({ host: $.host, window: window($.time, w.windowMs, w.slideMs) }))
    .agg(($) => ({
      samples: count(),
      cpuAvg: avg($.cpu),
      cpuPeak: max($.cpu),
      memAvg: avg($.mem),
      memPeak: max($.mem),
    }));
}

/**
 * Kinesis records carry text, not rows: each is decoded here as the other sources do with
 * `format` — a record that is not a sample (bad JSON, a missing host) is dropped, not fatal.
 */
function kinesisMetrics(
  ctx: PipelineContext,
  connection: KinesisConnectionOptions,
  stream: string,
): Stream<MetricSample> {
  const decoder = new JsonRecordDecoder(metricSchema, { mode: 'dropMalformed', source: 'metrics' });
  return ctx.session
    .readStream(
      kinesisSource({ ...connection, name: 'metrics', streamName: stream, startingPosition: 'earliest' }),
    )
    .flatMap(
      (r) => {
        const { row } = decoder.decode(
          r.data,
          () => `shard ${r.shardId} sequence number ${r.sequenceNumber}`,
        );
        return row ? [row] : [];
      },
      metricSchema,
      { name: 'decode-metrics' },
    );
}

/** The same rows rounded to one decimal and with the window's end as a column, for people. */
function forDisplay(stats: Stream<HostStats>) {
  return stats.select(($) => ({
    host: $.host,
    windowEnd: $.window.getField('end'),
    samples: $.samples,
    cpuAvg: round($.cpuAvg, 1),
    cpuPeak: round($.cpuPeak, 1),
    memAvg: round($.memAvg, 1),
    memPeak: round($.memPeak, 1),
  }));
}

/** Starts the four queries and the alert rule; returns the queries (resource-stats first). */
export async function startResourceMonitor(
  ctx: PipelineContext,
  o: MonitorOptions,
): Promise<StreamingQuery[]> {
  const metricsTopic = o.metricsTopic ?? DEFAULTS.metricsTopic;
  const statsTopic = o.statsTopic ?? DEFAULTS.statsTopic;
  const w: WindowSpec = {
    windowMs: o.windowMs ?? DEFAULTS.windowMs,
    slideMs: o.slideMs ?? DEFAULTS.slideMs,
    watermarkMs: o.watermarkMs ?? DEFAULTS.watermarkMs,
  };
  for (const [name, ms] of Object.entries(w)) numberOption(name, ms, { min: 1, integer: true });
  if (w.slideMs > w.windowMs || w.windowMs % w.slideMs !== 0) {
    throw optionError('slideMs', `must divide windowMs (${w.windowMs}) evenly, got ${w.slideMs}`);
  }
  const threshold = numberOption('cpuThreshold', o.cpuThreshold ?? DEFAULTS.cpuThreshold, {
    min: 0,
    max: 100,
  });
  numberOption('alertForMs', o.alertForMs ?? DEFAULTS.alertForMs, { min: 0 });
  const trigger = o.trigger ?? Trigger.processingTime('1 second');
  const input = o.input;

  // Each query reads the topic with its own source (offsets live in its own checkpoint; with MQTT
  // its own session too: the n-th reader in start order gets client id …-<n>, the same every run).
  let readers = 0;
  const stats = (): Stream<HostStats> => {
    const format = { json: metricSchema, mode: 'dropMalformed' } as const;
    const reader = readers++;
    const metrics: Stream<MetricSample> =
      input.kind === 'kinesis'
        ? kinesisMetrics(ctx, input.connection, metricsTopic)
        : input.kind === 'mqtt'
          ? ctx.session.readStream(
              mqttSource({
                name: 'metrics',
                url: input.url,
                topics: `${metricsTopic}/+`,
                clientId: `millrace-resource-monitor-${metricsTopic}-${reader}`,
                format,
              }),
            )
          : input.kind === 'log'
            ? ctx.session.readStream(
                logSource({
                  log: input.log,
                  name: 'metrics',
                  topics: metricsTopic,
                  startingOffsets: 'earliest',
                  format,
                }),
              )
            : ctx.session.readStream(
                kafkaSource({
                  name: 'metrics',
                  bootstrapServers: input.bootstrapServers,
                  subscribe: metricsTopic,
                  startingOffsets: 'earliest',
                  format,
                }),
              );
    return hostStats(metrics, w);
  };
  const statsSink: Sink =
    input.kind !== 'kafka'
      ? logSink({
          log: input.log,
          name: 'resource-stats',
          topic: statsTopic,
          format: 'json',
          keyColumn: 'host',
        })
      : kafkaSink({
          name: 'resource-stats',
          bootstrapServers: input.bootstrapServers,
          topic: statsTopic,
          format: { json: true, keyColumn: 'host' },
        });
  const common = (name: string) => ({
    queryName: name,
    outputMode: 'append' as const,
    trigger,
    checkpointLocation: path.join(o.checkpointDir, name),
  });

  const queries: StreamingQuery[] = [];
  queries.push(await ctx.start(stats(), { ...common('resource-stats'), sink: statsSink }));
  queries.push(
    await ctx.start(forDisplay(stats()), {
      ...common('cpu-per-host'),
      sink: ctx.dashboards.sink({
        name: 'cpu-per-host',
        title: `CPU and memory per host (% average over ${w.windowMs / 1000} s windows)`,
        kind: 'timeseries',
        x: 'windowEnd',
        y: ['cpuAvg', 'memAvg'],
        series: 'host',
      }),
    }),
  );
  queries.push(
    await ctx.start(forDisplay(stats()), {
      ...common('hosts'),
      sink: ctx.dashboards.sink({
        name: 'hosts',
        title: 'Latest closed window per host',
        kind: 'table',
        key: 'host',
      }),
    }),
  );
  if (o.console !== false) {
    // Like consoleSink, but silent for the batches that close no window (most of them).
    const display = forDisplay(stats());
    const out = typeof o.console === 'function' ? o.console : (text: string) => process.stdout.write(text);
    const print = (rows: readonly Row[], batchId: number) => {
      if (rows.length === 0) return;
      const sorted = [...rows].sort(
        (a, b) =>
          (a.windowEnd as number) - (b.windowEnd as number) || String(a.host).localeCompare(String(b.host)),
      );
      out(
        `closed windows (batch ${batchId}):\n${formatTable(sorted, display.schema, { numRows: 100, truncate: false })}\n`,
      );
    };
    queries.push(
      await ctx.start(display, { ...common('console'), sink: foreachBatchSink(print, { name: 'console' }) }),
    );
  }

  // Evaluated on the exact (unrounded) averages the resource-stats topic receives.
  ctx.alerts.rule({
    name: 'hot-host',
    query: 'resource-stats',
    condition: `cpuAvg > ${threshold}`,
    labels: ['host'],
    eventTime: 'window.end',
    for: o.alertForMs ?? DEFAULTS.alertForMs,
    severity: 'critical',
    // The exact average is in the event's value; the peak is a sample's own two-decimal value.
    summary:
      `host {host}: CPU average above ${threshold}% in every ${w.windowMs / 1000}-s window for ` +
      `${(o.alertForMs ?? DEFAULTS.alertForMs) / 1000} s (window ending {window.end|time}, peak {cpuPeak}%)`,
    notify: o.webhookUrl ? [webhook({ url: o.webhookUrl, format: o.slack ? 'slack' : 'json' })] : [],
  });
  return queries;
}
