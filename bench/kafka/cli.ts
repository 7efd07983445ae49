/**
 * `npm run bench -- kafka [options]`: Kafka source throughput. Produces N Nexmark bids as
 * JSON to topics of a librdkafka mock cluster (kcat, started here), then measures, each in its
 * own process (bench/kafka/runner.ts):
 *
 *   baseline        a hand-written consumer on the same client: JSON.parse, count (the ceiling)
 *   engine          kafkaSource(format { json: bidSchema }) → counting sink, Trigger.availableNow();
 *                   batches streamed through the plan in chunks (the default)
 *   engine-whole    the same with chunked: false (each batch read whole, then processed)
 *   engine-workers  the engine on --workers worker threads: the main thread reads and decodes
 *                   each batch and hands each worker a slice (what it costs to move rows)
 *
 * Figures: events/s of wall time and events per CPU-second of the measuring process (user +
 * system of all its threads, librdkafka's included). The mock broker runs in the kcat process;
 * its CPU is reported apart. The mock keeps at most 5 MB per partition (older records are
 * pruned), so the bids are spread over enough 4-partition topics to keep every partition
 * under 3.5 MB; the source subscribes to them by pattern.
 *
 * The last line of output is one JSON object with every figure.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Measurement, RunnerOptions } from './runner.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');

export const USAGE = `usage: npm run bench -- kafka [options]

Kafka source → engine (JSON decoded into the Nexmark bid schema, counted) against a
hand-written consumer on the same client, on librdkafka's mock cluster (kcat).

options:
  --events N           bids to produce and read, default 1,000,000
  --max-offsets N      the source's maxOffsetsPerTrigger, default 250,000
  --workers N          worker threads of the engine-workers measurement, default 2
  --only MODE          run one of: baseline, engine, engine-whole, engine-workers (default: all)`;

interface Options {
  events: number;
  maxOffsets: number;
  only: string | undefined;
  workers: number;
}

const MODES = ['baseline', 'engine', 'engine-whole', 'engine-workers'] as const;

function parseArgs(args: string[]): Options | string {
  const o: Options = { events: 1_000_000, maxOffsets: 250_000, only: undefined, workers: 2 };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v?.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} needs a whole number ≥ 1, got ${String(v)}`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a];
    const value = () => inline ?? args[++i];
    switch (flag) {
      case '--events':
        o.events = num(flag, value());
        break;
      case '--max-offsets':
        o.maxOffsets = num(flag, value());
        break;
      case '--workers':
        o.workers = num(flag, value());
        break;
      case '--only': {
        const v = value();
        if (!(MODES as readonly string[]).includes(v ?? '')) return `--only takes one of ${MODES.join(', ')}`;
        o.only = v;
        break;
      }
      case '-h':
      case '--help':
        return '';
      default:
        return `unknown argument ${a}`;
    }
  }
  return o;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return null;
  }
}

function runMeasurement(mode: string, options: RunnerOptions): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        // e.g. BENCH_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' to profile a measurement.
        ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''),
        '--import',
        'tsx',
        path.join(HERE, 'runner.ts'),
        mode,
        JSON.stringify(options),
      ],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`the ${mode} measurement failed (exit ${code})`));
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)!) as Measurement);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export async function main(args: string[]): Promise<number> {
  let o: Options;
  try {
    const parsed = parseArgs(args);
    if (typeof parsed === 'string') {
      process.stderr.write(`${parsed ? `${parsed}\n\n` : ''}${USAGE}\n`);
      return parsed ? 2 : 0;
    }
    o = parsed;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { JsonRecordEncoder, bidSchema, generateBids } = await import('millrace');
  const { TestProducer, startMockCluster } = await import('../../packages/kafka/test/mockCluster.ts');
  type Bid = import('millrace').Bid;

  const kafka = await startMockCluster({ debug: false });
  try {
    // -- produce -----------------------------------------------------------------
    const encoder = new JsonRecordEncoder(bidSchema);
    const sample: Bid[] = [];
    generateBids(0, 2_000, undefined, sample);
    const avgBytes = sample.reduce((a, b) => a + encoder.encode(b as never).length, 0) / sample.length;
    const perPartition = 3.5 * 2 ** 20;
    const topicCount = Math.max(1, Math.ceil((o.events * avgBytes) / (4 * perPartition)));
    const prefix = `bench-bids-${process.pid}`;
    const topics = Array.from({ length: topicCount }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
    process.stderr.write(
      `producing ${fmt(o.events)} bids (~${Math.round(avgBytes)} bytes of JSON each) to ${topicCount} topics × 4 partitions on the mock cluster…\n`,
    );
    const producer = await TestProducer.connect(kafka.bootstrap, {
      'linger.ms': 20,
      'batch.size': 1_000_000,
    });
    const t0 = performance.now();
    let produced = 0;
    let nextEvent = 0;
    let bytes = 0;
    while (produced < o.events) {
      const bids: Bid[] = [];
      const want = Math.min(50_000, o.events - produced);
      while (bids.length < want) {
        const from = nextEvent;
        nextEvent += Math.ceil((want - bids.length) / 0.9) + 50;
        generateBids(from, nextEvent, undefined, bids);
      }
      bids.length = want;
      const records = bids.map((b, i) => {
        const n = produced + i;
        const value = encoder.encode(b as never);
        bytes += value.length;
        return { value, partition: n % 4, topic: topics[Math.floor(n / 4) % topicCount]! };
      });
      // One send per topic.
      const byTopic = new Map<string, { value: string; partition: number }[]>();
      for (const r of records) {
        let list = byTopic.get(r.topic);
        if (!list) byTopic.set(r.topic, (list = []));
        list.push({ value: r.value, partition: r.partition });
      }
      await Promise.all([...byTopic].map(([t, list]) => producer.send(t, list)));
      produced += want;
    }
    const produceSeconds = (performance.now() - t0) / 1000;
    await producer.close();
    process.stderr.write(
      `produced in ${produceSeconds.toFixed(1)} s (${fmt(produced / produceSeconds)} bids/s)\n`,
    );

    // -- measure -----------------------------------------------------------------
    const options: RunnerOptions = {
      bootstrap: kafka.bootstrap,
      topics,
      pattern: `${prefix}-\\d+`,
      events: o.events,
      maxOffsetsPerTrigger: o.maxOffsets,
      chunked: true,
      workers: o.workers,
    };
    const results: Record<
      string,
      Measurement & { eventsPerSecond: number; eventsPerCpuSecond: number; brokerCpuSeconds: number | null }
    > = {};
    for (const mode of o.only ? [o.only] : MODES) {
      const brokerCpu0 = processCpuSeconds(kafka.pid);
      const m = await runMeasurement(mode, options);
      const brokerCpu1 = processCpuSeconds(kafka.pid);
      if (m.events !== o.events) throw new Error(`${mode} read ${m.events} bids, expected ${o.events}`);
      results[mode] = {
        ...m,
        eventsPerSecond: m.events / m.wallSeconds,
        eventsPerCpuSecond: m.events / m.cpuSeconds,
        brokerCpuSeconds: brokerCpu0 === null || brokerCpu1 === null ? null : brokerCpu1 - brokerCpu0,
      };
      process.stderr.write(
        `${mode.padEnd(15)} ${fmt(m.events / m.wallSeconds).padStart(11)} bids/s   ${fmt(m.events / m.cpuSeconds).padStart(11)} bids/CPU-s   ` +
          `${m.wallSeconds.toFixed(2)} s, ${m.cpuSeconds.toFixed(2)} CPU-s, ${m.batches} batches/polls, peak RSS ${Math.round(m.peakRssBytes / 2 ** 20)} MiB` +
          `${results[mode].brokerCpuSeconds !== null ? `; mock broker ${results[mode].brokerCpuSeconds!.toFixed(2)} CPU-s` : ''}\n`,
      );
    }
    const sums = new Set(Object.values(results).map((r) => r.priceSum));
    if (sums.size > 1)
      throw new Error(`the measurements disagree on the sum of prices: ${[...sums].join(', ')}`);
    const base = results.baseline;
    const eng = results.engine;
    process.stdout.write(
      JSON.stringify({
        bench: 'kafka',
        events: o.events,
        bytes,
        topics: topicCount,
        partitions: topicCount * 4,
        maxOffsetsPerTrigger: o.maxOffsets,
        produceSeconds,
        measurements: results,
        engineVsBaselinePerCpu:
          base && eng ? Math.round((eng.eventsPerCpuSecond / base.eventsPerCpuSecond) * 1000) / 1000 : null,
        workers: o.workers,
        workersVsEngineWall:
          results['engine-workers'] && eng
            ? Math.round((results['engine-workers'].eventsPerSecond / eng.eventsPerSecond) * 1000) / 1000
            : null,
      }) + '\n',
    );
    return 0;
  } finally {
    await kafka.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
