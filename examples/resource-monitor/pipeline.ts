/**
 * Cluster resource monitoring, as a pipeline file for `millrace run`:
 *
 *   node packages/server/bin/millrace.js run examples/resource-monitor/pipeline.ts
 *   node packages/server/bin/millrace.js run examples/resource-monitor/pipeline.ts -- --agents 4
 *
 *   agents ──POST /topics/metrics──┐                           ┌─▶ topic resource-stats, alert hot-host
 *   collectd ──POST /collectd──────┼─▶ embedded log "metrics" ─┼─▶ dashboards cpu-per-host, hosts
 *   --agents N (in this process) ──┘   (or Kafka: --kafka,     └─▶ console
 *                                       MQTT: --mqtt, Kinesis: --kinesis)
 *
 * The ingest endpoints listen on --ingest-port (default 8090); the service's API and dashboards on
 * millrace's --port (default 4040). Options after `--` (PIPELINE_USAGE below); see README.md.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Trigger, type StreamingQuery } from 'millrace';
import { openLog, type FsyncPolicy, type Log } from '@millrace/log';
import { definePipeline, type PipelineContext } from '@millrace/server';
import { runAgent, type AgentOptions } from './agent.ts';
import { startEndpoints, type Endpoints } from './endpoints.ts';
import { DEFAULTS, startResourceMonitor, type MonitorOptions } from './monitor.ts';
import { durationMs, hotSpellOption, numberOption, optionError, timeOption } from './options.ts';
import { hostIds } from './sampler.ts';
import { kinesisConnection } from './kinesis.ts';
import {
  kafkaPublisher,
  kinesisPublisher,
  logPublisher,
  mqttPublisher,
  type MetricsPublisher,
} from './publishers.ts';

export const PIPELINE_USAGE = `Options of examples/resource-monitor/pipeline.ts (after --):
  --dir <dir>            data directory (default .millrace/resource-monitor): the log in <dir>/log,
                         checkpoints in <dir>/checkpoints
  --kafka <bootstrap>    read metrics from and write resource-stats to Kafka instead of the log
  --mqtt <url>           read metrics from MQTT topics <metrics-topic>/<host> (QoS 1) instead of the log
  --kinesis <endpoint>   read metrics from the Kinesis stream <metrics-topic> (created if missing) at
                         this endpoint, e.g. http://127.0.0.1:4567 (kinesalite), instead of the log
  --metrics-topic <t>    default metrics          --stats-topic <t>   default resource-stats
  --ingest-host <addr>   default 127.0.0.1        --ingest-port <n>   default 8090 (0: any free port)
  --window <d>           default 1m               --slide <d>         default 10s
  --watermark <d>        default 10s              --trigger <d|asap>  default 1s
  --threshold <pct>      CPU average that makes a host hot (default 90)
  --for <d>              how long it must stay hot before the alert fires (default 30s, event time)
  --webhook <url>        also POST alerts there    --slack            as Slack-compatible JSON
  --quiet                no console output of closed windows
  --fsync <policy>       the log's fsync policy: always (default), interval, never
  --agents <n>           run n simulated agents in this process (default 0), with:
  --agent-name <name>    their ids are <name>-1…<name>-n (default this machine's name)
  --fake --seed <n> --interval <d> --speedup <x> --start <time> --hot <host:from-to>  (see agent.ts)
`;

export interface PipelineOptions {
  readonly dir: string;
  readonly kafka?: string;
  readonly mqtt?: string;
  readonly kinesis?: string;
  readonly metricsTopic: string;
  readonly statsTopic: string;
  readonly ingestHost: string;
  readonly ingestPort: number;
  readonly fsync: FsyncPolicy;
  readonly monitor: Omit<MonitorOptions, 'input' | 'checkpointDir' | 'metricsTopic' | 'statsTopic'>;
  readonly agents: number;
  readonly agent: Omit<AgentOptions, 'publisher' | 'signal' | 'log' | 'hosts'>;
}

export function parsePipelineArgs(args: readonly string[]): PipelineOptions {
  const { values: v } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      dir: { type: 'string', default: '.millrace/resource-monitor' },
      kafka: { type: 'string' },
      mqtt: { type: 'string' },
      kinesis: { type: 'string' },
      'metrics-topic': { type: 'string', default: DEFAULTS.metricsTopic },
      'stats-topic': { type: 'string', default: DEFAULTS.statsTopic },
      'ingest-host': { type: 'string', default: '127.0.0.1' },
      'ingest-port': { type: 'string', default: '8090' },
      window: { type: 'string', default: '1m' },
      slide: { type: 'string', default: '10s' },
      watermark: { type: 'string', default: '10s' },
      trigger: { type: 'string', default: '1s' },
      threshold: { type: 'string', default: String(DEFAULTS.cpuThreshold) },
      for: { type: 'string', default: '30s' },
      webhook: { type: 'string' },
      slack: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      fsync: { type: 'string', default: 'always' },
      agents: { type: 'string', default: '0' },
      'agent-name': { type: 'string' },
      fake: { type: 'boolean', default: false },
      seed: { type: 'string', default: '1' },
      interval: { type: 'string', default: '1s' },
      speedup: { type: 'string' },
      start: { type: 'string' },
      hot: { type: 'string', multiple: true, default: [] },
    },
  });
  if (!['always', 'interval', 'never'].includes(v.fsync)) {
    throw optionError('--fsync', `expected always, interval or never, got "${v.fsync}"`);
  }
  const windowMs = durationMs('--window', v.window);
  const slideMs = durationMs('--slide', v.slide);
  if (slideMs > windowMs || windowMs % slideMs !== 0) {
    throw optionError('--slide', `must divide --window (${windowMs} ms) evenly, got ${slideMs} ms`);
  }
  const agents = numberOption('--agents', v.agents, { min: 0, max: 10_000, integer: true });
  const agentName = v['agent-name'] ?? os.hostname();
  const hot = v.hot.map((h) => hotSpellOption('--hot', h));
  const ids = hostIds(agentName, agents);
  for (const h of hot) {
    if (!ids.includes(h.host)) {
      throw optionError(
        '--hot',
        `no in-process agent is called "${h.host}" (agents: ${ids.join(', ') || 'none; give --agents'})`,
      );
    }
  }
  if ([v.kafka, v.mqtt, v.kinesis].filter((x) => x !== undefined).length > 1)
    throw optionError('--kafka/--mqtt/--kinesis', 'give one of them, not several');
  if (v.kinesis !== undefined) kinesisConnection(v.kinesis); // a bad endpoint fails here, not later
  return {
    dir: path.resolve(v.dir),
    ...(v.kafka !== undefined ? { kafka: v.kafka } : {}),
    ...(v.mqtt !== undefined ? { mqtt: v.mqtt } : {}),
    ...(v.kinesis !== undefined ? { kinesis: v.kinesis } : {}),
    metricsTopic: v['metrics-topic'],
    statsTopic: v['stats-topic'],
    ingestHost: v['ingest-host'],
    ingestPort: numberOption('--ingest-port', v['ingest-port'], { min: 0, max: 65535, integer: true }),
    fsync: v.fsync as FsyncPolicy,
    monitor: {
      windowMs,
      slideMs,
      watermarkMs: durationMs('--watermark', v.watermark),
      trigger:
        v.trigger === 'asap' ? Trigger.default() : Trigger.processingTime(durationMs('--trigger', v.trigger)),
      cpuThreshold: numberOption('--threshold', v.threshold, { min: 0, max: 100 }),
      alertForMs: v.for === '0' ? 0 : durationMs('--for', v.for),
      ...(v.webhook !== undefined ? { webhookUrl: v.webhook } : {}),
      slack: v.slack,
      console: !v.quiet,
    },
    agents,
    agent: {
      host: agentName,
      fake: v.fake,
      seed: numberOption('--seed', v.seed, { integer: true }),
      intervalMs: durationMs('--interval', v.interval),
      ...(v.speedup !== undefined ? { speedup: numberOption('--speedup', v.speedup, { min: 0 }) } : {}),
      ...(v.start !== undefined ? { startMs: timeOption('--start', v.start) } : {}),
      hot,
    },
  };
}

export interface RunningMonitor {
  readonly queries: StreamingQuery[];
  /** The ingest/collectd endpoints' base URL. */
  readonly ingestUrl: string;
  readonly log: Log | null;
}

/** Opens the log (or Kafka), starts the endpoints, the queries and the in-process agents. */
export async function runResourceMonitor(ctx: PipelineContext, o: PipelineOptions): Promise<RunningMonitor> {
  const log = o.kafka === undefined ? await openLog({ dir: path.join(o.dir, 'log'), fsync: o.fsync }) : null;
  if (log) {
    // Append time is what retention looks at; 1 GiB of samples is millions of them.
    await log.createTopic(o.metricsTopic, { partitions: 1, retentionBytes: 1 << 30 }, { ifNotExists: true });
  }
  const publisher = (): Promise<MetricsPublisher> =>
    o.mqtt !== undefined
      ? mqttPublisher({ url: o.mqtt, topic: o.metricsTopic })
      : o.kinesis !== undefined
        ? kinesisPublisher({ endpoint: o.kinesis, stream: o.metricsTopic })
        : log
          ? logPublisher({ log, topic: o.metricsTopic })
          : kafkaPublisher({ bootstrapServers: o.kafka!, topic: o.metricsTopic });

  let endpoints: Endpoints | undefined;
  let agents: Promise<unknown> = Promise.resolve();
  const closers: (() => Promise<void>)[] = [];
  const queries: StreamingQuery[] = [];
  // On shutdown: stop taking input at once (the agents see the same signal and send what they
  // have queued); close the log once the agents and every query have stopped.
  const shutdown = async () => {
    await endpoints?.close().catch(() => undefined);
    await agents;
    await Promise.all(queries.map((q) => q.awaitTermination().catch(() => undefined)));
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await log?.close().catch(() => undefined);
  };
  ctx.signal.addEventListener('abort', () => void shutdown(), { once: true });
  try {
    const collectdPublisher = await publisher();
    closers.push(() => collectdPublisher.close());
    endpoints = await startEndpoints({
      // Kinesis mode: agents put to the stream; the log only holds resource-stats, so its ingest
      // routes (which would store samples no query reads) are not served.
      ...(log && o.kinesis === undefined ? { log } : {}),
      publisher: collectdPublisher,
      host: o.ingestHost,
      port: o.ingestPort,
      onCollectd: (r) => {
        if (Object.keys(r.ignored).length > 0)
          ctx.log.debug('collectd value lists ignored', { ignored: r.ignored });
      },
    });
    queries.push(
      ...(await startResourceMonitor(ctx, {
        ...o.monitor,
        input:
          log && o.kinesis !== undefined
            ? { kind: 'kinesis', connection: kinesisConnection(o.kinesis), log }
            : log && o.mqtt !== undefined
              ? { kind: 'mqtt', url: o.mqtt, log }
              : log
                ? { kind: 'log', log }
                : { kind: 'kafka', bootstrapServers: o.kafka! },
        checkpointDir: path.join(o.dir, 'checkpoints'),
        metricsTopic: o.metricsTopic,
        statsTopic: o.statsTopic,
      })),
    );
  } catch (e) {
    await shutdown();
    throw e;
  }

  if (o.agents > 0) {
    const agentPublisher = await publisher();
    closers.push(() => agentPublisher.close());
    agents = runAgent({
      ...o.agent,
      hosts: o.agents,
      publisher: agentPublisher,
      signal: ctx.signal,
      log: (m) => ctx.log.warn(`agent: ${m}`),
    }).then(
      (r) => ctx.log.info('in-process agents finished', { samples: r.samples, published: r.published }),
      (e: Error) => ctx.log.error('in-process agents failed', { error: e.message }),
    ); // never rejects
  }

  ctx.log.info('resource monitor ready', {
    ingestUrl: endpoints!.url,
    agentsPostTo: log && o.kinesis === undefined ? `${endpoints!.url}/topics/${o.metricsTopic}` : null,
    collectdUrl: `${endpoints!.url}/collectd`,
    metrics:
      o.kinesis !== undefined
        ? `Kinesis ${new URL(o.kinesis).host} stream ${o.metricsTopic}`
        : o.mqtt !== undefined
          ? `MQTT ${new URL(o.mqtt).host} topics ${o.metricsTopic}/+`
          : log
            ? `log ${log.dir} topic ${o.metricsTopic}`
            : `Kafka ${o.kafka} topic ${o.metricsTopic}`,
    stats: o.statsTopic,
    agents: o.agents,
  });
  return { queries, ingestUrl: endpoints!.url, log };
}

export default definePipeline(async (ctx) => {
  if (ctx.args.includes('--help')) {
    process.stdout.write(PIPELINE_USAGE);
    return;
  }
  await runResourceMonitor(ctx, parsePipelineArgs(ctx.args));
});
