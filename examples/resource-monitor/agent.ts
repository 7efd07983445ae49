/**
 * The resource agent: samples CPU and memory utilisation every interval and publishes one row
 * per host — { host, time, cpu, mem, source } — to the metrics topic.
 *
 *   npx tsx examples/resource-monitor/agent.ts                         # → .millrace/resource-monitor/log
 *   npx tsx examples/resource-monitor/agent.ts --ingest http://127.0.0.1:8090 --hosts 5
 *   npx tsx examples/resource-monitor/agent.ts --kafka localhost:9092 --hosts 3
 *   npx tsx examples/resource-monitor/agent.ts --mqtt mqtt://localhost:1883 --hosts 3
 *   npx tsx examples/resource-monitor/agent.ts --kinesis http://127.0.0.1:4567 --hosts 3
 *   npx tsx examples/resource-monitor/agent.ts --fake --seed 7 --hosts 3 --speedup 20 --seconds 600
 *
 *   tick (every --interval, aligned to it) ─▶ one sample per host ─▶ queue ─▶ sender ─▶ publisher
 *                                                                   (bounded: the oldest samples
 *                                                                    go first if the target is down)
 *
 * Sample times are the tick times (multiples of the interval), like collectd's. With --fake the
 * values are a seeded function of (seed, host, time) and time may run faster than the clock
 * (--speedup), so a test can generate hours of samples in seconds and compute the same values.
 */
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { MillraceError } from 'millrace';
import { checkSample, type MetricSample } from './metrics.ts';
import {
  durationMs,
  hotSpellOption,
  numberOption,
  optionError,
  timeOption,
  type HotSpell,
} from './options.ts';
import { kinesisConnection } from './kinesis.ts';
import { OsSampler, fakeSample, hostIds, simulate } from './sampler.ts';
import {
  httpPublisher,
  kafkaPublisher,
  kinesisPublisher,
  logPublisher,
  mqttPublisher,
  type MetricsPublisher,
} from './publishers.ts';

export interface AgentOptions {
  readonly publisher: MetricsPublisher;
  /** Host id; with `hosts` > 1 the ids are `<host>-1` … `<host>-N`. Default os.hostname(). */
  readonly host?: string;
  /** Simulated agents on this machine; default 1. */
  readonly hosts?: number;
  /** Seed of the per-host offsets, noise and fake values; default 1. */
  readonly seed?: number;
  /** Default 1000 ms. */
  readonly intervalMs?: number;
  /** Stop after this much (event) time; default: until `signal` aborts. */
  readonly seconds?: number;
  /** Generate values from (seed, host, time) instead of reading the OS. */
  readonly fake?: boolean;
  /** --fake: time of the first sample (epoch ms; rounded down to the interval). Default now. */
  readonly startMs?: number;
  /** --fake: event time runs this many times faster than the clock; 0 = as fast as it can publish. Default 1. */
  readonly speedup?: number;
  /** Simulated hot spells (times after the first sample). */
  readonly hot?: readonly HotSpell[];
  readonly signal?: AbortSignal;
  /** Samples kept while the target cannot be reached (oldest dropped beyond); default 100,000. */
  readonly maxQueued?: number;
  /** Progress and warnings (default: nothing). */
  readonly log?: (message: string) => void;
}

export interface AgentResult {
  readonly hosts: readonly string[];
  /** Samples taken. */
  readonly samples: number;
  /** Samples the publisher stored. */
  readonly published: number;
  /** Samples dropped because the queue was full while the target was unreachable. */
  readonly dropped: number;
  readonly firstTime: number | null;
  readonly lastTime: number | null;
}

const SEND_BATCH = 5_000;

function abortable(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Runs agents until `seconds` of samples are published or `signal` aborts; then flushes the queue. */
export async function runAgent(o: AgentOptions): Promise<AgentResult> {
  const count = numberOption('--hosts', o.hosts ?? 1, { min: 1, max: 10_000, integer: true });
  const seed = numberOption('--seed', o.seed ?? 1, { integer: true });
  const intervalMs = durationMs('--interval', o.intervalMs ?? 1000);
  const speedup = numberOption('--speedup', o.speedup ?? 1, { min: 0 });
  const maxQueued = numberOption('maxQueued', o.maxQueued ?? 100_000, { min: 1, integer: true });
  if (o.seconds !== undefined) numberOption('--seconds', o.seconds, { min: 0 });
  if (!o.fake && (o.startMs !== undefined || o.speedup !== undefined)) {
    throw optionError('--start/--speedup', 'only apply with --fake (a real agent samples the present)');
  }
  const name = o.host ?? os.hostname();
  const hosts = hostIds(name, count);
  for (const h of o.hot ?? []) {
    if (!hosts.includes(h.host)) {
      throw optionError('--hot', `no agent is called "${h.host}"; the agents are ${hosts.join(', ')}`);
    }
  }
  const say = o.log ?? (() => {});
  const ticks = o.seconds === undefined ? Infinity : Math.floor((o.seconds * 1000) / intervalMs);
  const align = (t: number, up: boolean) =>
    (up ? Math.ceil(t / intervalMs) : Math.floor(t / intervalMs)) * intervalMs;
  const startMs = align(o.startMs ?? Date.now(), !o.fake);
  const sampler = o.fake ? null : new OsSampler();

  const queue: MetricSample[] = [];
  let samples = 0;
  let published = 0;
  let dropped = 0;
  let lastTime: number | null = null;
  let generating = true;
  let fatal: unknown = null;
  /** Samples at the front of the queue that the sender is publishing now (never dropped). */
  let inFlight = 0;
  let lastDropWarning = -Infinity;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };

  // The sender: publishes what is queued, in batches, one request at a time (order per host kept).
  const sender = (async () => {
    for (;;) {
      if (queue.length === 0) {
        if (!generating || fatal) return;
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      const batch = queue.slice(0, SEND_BATCH);
      inFlight = batch.length;
      let failure: unknown = null;
      try {
        await o.publisher.publish(batch);
        queue.splice(0, batch.length);
        published += batch.length;
      } catch (e) {
        failure = e;
      }
      inFlight = 0;
      if (failure !== null) {
        const retryable = failure instanceof MillraceError ? failure.retryable : true;
        if (!retryable || !generating || o.signal?.aborted) {
          fatal = failure;
          return;
        }
        say(`warning: ${(failure as Error).message}; keeping ${queue.length} samples and trying again`);
        await abortable(1_000, o.signal);
      }
    }
  })();

  const wallStart = Date.now();
  try {
    for (let k = 0; k < ticks && !o.signal?.aborted && !fatal; k++) {
      const time = startMs + k * intervalMs;
      if (o.fake) {
        if (speedup > 0) await abortable(wallStart + (k * intervalMs) / speedup - Date.now(), o.signal);
        // As fast as possible, but never further ahead of the publisher than one queue.
        else
          while (queue.length >= maxQueued && !fatal && !o.signal?.aborted)
            await new Promise((r) => setTimeout(r, 5));
      } else {
        await abortable(time - Date.now(), o.signal);
      }
      if (o.signal?.aborted) break;
      const reading = sampler?.read();
      const rows = hosts.map((host) =>
        checkSample(
          reading
            ? simulate(reading, seed, host, time, { alone: count === 1, hot: o.hot, startMs })
            : fakeSample(seed, host, time, o.hot, startMs),
          'agent',
        ),
      );
      samples += rows.length;
      lastTime = time;
      queue.push(...rows);
      if (queue.length > maxQueued) {
        // The oldest samples that are not being sent right now.
        const n = Math.min(queue.length - maxQueued, queue.length - inFlight);
        queue.splice(inFlight, n);
        dropped += n;
        if (Date.now() - lastDropWarning >= 10_000) {
          lastDropWarning = Date.now();
          say(`warning: ${o.publisher.target} is not keeping up; ${dropped} oldest samples dropped so far`);
        }
      }
      notify();
    }
  } finally {
    // The sender returns once the queue is empty (or publishing failed for good).
    generating = false;
    notify();
    await sender;
  }
  if (fatal) {
    const e = fatal as Error;
    throw new MillraceError(
      e instanceof MillraceError ? e.code : 'AGENT_PUBLISH_FAILED',
      `the agent stopped: ${e.message} (${queue.length} samples not delivered)`,
      { domain: e instanceof MillraceError ? e.domain : 'external', retryable: false, cause: e },
    );
  }
  return { hosts, samples, published, dropped, firstTime: samples > 0 ? startMs : null, lastTime };
}

export interface AgentCli {
  readonly target:
    | { kind: 'log'; dir: string }
    | { kind: 'http'; url: string }
    | { kind: 'kafka'; bootstrap: string }
    | { kind: 'mqtt'; url: string }
    | { kind: 'kinesis'; endpoint: string };
  readonly topic: string;
  readonly quiet: boolean;
  readonly agent: Omit<AgentOptions, 'publisher' | 'signal' | 'log'>;
}

export const AGENT_USAGE = `Usage: npx tsx examples/resource-monitor/agent.ts [options]

Target (one; default --log-dir .millrace/resource-monitor/log):
  --log-dir <dir>       append to the embedded log in <dir> (the pipeline's <dir>/log)
  --ingest <url>        POST to the pipeline's HTTP ingest, e.g. http://127.0.0.1:8090
  --kafka <bootstrap>   produce to Kafka, e.g. localhost:9092
  --mqtt <url>          publish to MQTT (QoS 1, topic <topic>/<host>), e.g. mqtt://localhost:1883
  --kinesis <endpoint>  put to the Kinesis stream <topic> (created if missing; partition key: host),
                        e.g. http://127.0.0.1:4567 (kinesalite)
  --topic <name>        default metrics (with --kinesis: the stream's name)

Agents:
  --host <name>         host id (default this machine's name); several: <name>-1 … <name>-N
  --hosts <n>           simulate n agents on this machine (own offset and noise each; default 1)
  --seed <n>            seed of offsets, noise and --fake values (default 1)
  --interval <d>        sampling interval (default 1s)
  --seconds <n>         stop after n seconds of samples (default: until Ctrl-C)
  --fake                generate values from (seed, host, time) instead of reading the OS
  --start <time>        --fake: time of the first sample (ISO-8601 or epoch ms; default now)
  --speedup <x>         --fake: x times faster than the clock; 0 = as fast as possible (default 1)
  --hot <host:from-to>  simulate a hot spell: host reports 92–100 % CPU from <from> to <to> seconds
                        after the start (repeatable)
  --quiet               no progress lines
`;

export function parseAgentArgs(argv: readonly string[]): AgentCli {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      'log-dir': { type: 'string' },
      ingest: { type: 'string' },
      kafka: { type: 'string' },
      mqtt: { type: 'string' },
      kinesis: { type: 'string' },
      topic: { type: 'string', default: 'metrics' },
      host: { type: 'string' },
      hosts: { type: 'string', default: '1' },
      seed: { type: 'string', default: '1' },
      interval: { type: 'string', default: '1s' },
      seconds: { type: 'string' },
      fake: { type: 'boolean', default: false },
      start: { type: 'string' },
      speedup: { type: 'string' },
      hot: { type: 'string', multiple: true, default: [] },
      quiet: { type: 'boolean', default: false },
    },
  });
  const targets = [v['log-dir'], v.ingest, v.kafka, v.mqtt, v.kinesis].filter((x) => x !== undefined);
  if (targets.length > 1)
    throw optionError('--log-dir/--ingest/--kafka/--mqtt/--kinesis', 'give one target, not several');
  if (v.kinesis !== undefined) kinesisConnection(v.kinesis); // a bad endpoint is a usage error
  const target: AgentCli['target'] =
    v.ingest !== undefined
      ? { kind: 'http', url: v.ingest }
      : v.kafka !== undefined
        ? { kind: 'kafka', bootstrap: v.kafka }
        : v.mqtt !== undefined
          ? { kind: 'mqtt', url: v.mqtt }
          : v.kinesis !== undefined
            ? { kind: 'kinesis', endpoint: v.kinesis }
            : { kind: 'log', dir: v['log-dir'] ?? '.millrace/resource-monitor/log' };
  return {
    target,
    topic: v.topic,
    quiet: v.quiet,
    agent: {
      ...(v.host !== undefined ? { host: v.host } : {}),
      hosts: numberOption('--hosts', v.hosts, { min: 1, integer: true }),
      seed: numberOption('--seed', v.seed, { integer: true }),
      intervalMs: durationMs('--interval', v.interval),
      ...(v.seconds !== undefined ? { seconds: numberOption('--seconds', v.seconds, { min: 0 }) } : {}),
      fake: v.fake,
      ...(v.start !== undefined ? { startMs: timeOption('--start', v.start) } : {}),
      ...(v.speedup !== undefined ? { speedup: numberOption('--speedup', v.speedup, { min: 0 }) } : {}),
      hot: v.hot.map((h) => hotSpellOption('--hot', h)),
    },
  };
}

export async function openPublisher(
  target: AgentCli['target'],
  topic: string,
  signal?: AbortSignal,
): Promise<MetricsPublisher> {
  switch (target.kind) {
    case 'log':
      return logPublisher({ dir: target.dir, topic });
    case 'http':
      return httpPublisher({ url: target.url, topic, ...(signal ? { signal } : {}) });
    case 'kafka':
      return kafkaPublisher({ bootstrapServers: target.bootstrap, topic });
    case 'mqtt':
      return mqttPublisher({ url: target.url, topic });
    case 'kinesis':
      return kinesisPublisher({ endpoint: target.endpoint, stream: topic });
  }
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(AGENT_USAGE);
    return 0;
  }
  let cli: AgentCli;
  try {
    cli = parseAgentArgs(argv);
  } catch (e) {
    process.stderr.write(`agent: ${(e as Error).message}\n\n${AGENT_USAGE}`);
    return 2;
  }
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  const say = (m: string) => {
    if (!cli.quiet) process.stderr.write(`agent: ${m}\n`);
  };
  let publisher: MetricsPublisher | undefined;
  try {
    publisher = await openPublisher(cli.target, cli.topic, controller.signal);
    const hosts = hostIds(cli.agent.host ?? os.hostname(), cli.agent.hosts ?? 1);
    say(
      `${hosts.length} agent(s) (${hosts.length > 4 ? `${hosts.slice(0, 3).join(', ')}, …` : hosts.join(', ')}) ` +
        `→ ${publisher.target}${cli.agent.fake ? ', fake values' : ''}; Ctrl-C stops`,
    );
    const counter = setInterval(() => say(`running…`), 60_000);
    counter.unref();
    const result = await runAgent({ ...cli.agent, publisher, signal: controller.signal, log: say });
    clearInterval(counter);
    say(
      `done: ${result.published} of ${result.samples} samples published` +
        (result.dropped ? `, ${result.dropped} dropped` : '') +
        (result.lastTime !== null
          ? ` (times ${new Date(result.firstTime!).toISOString()} … ${new Date(result.lastTime).toISOString()})`
          : ''),
    );
    return 0;
  } catch (e) {
    process.stderr.write(
      `agent: ${e instanceof MillraceError ? `${e.code}: ` : ''}${(e as Error).message}\n`,
    );
    return e instanceof MillraceError && e.domain === 'user' ? 2 : 1;
  } finally {
    await publisher?.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2));
}
