/**
 * One Kafka measurement in its own process, so CPU time and peak RSS belong to it:
 *   node --import tsx bench/kafka/runner.ts <baseline|engine|engine-whole> <options as JSON>
 * Prints one JSON line (a Measurement) on stdout; everything else goes to stderr.
 *
 * baseline  the same client (librdkafka KafkaConsumer), every partition assigned from 0,
 *           consume(10,000) in a loop, JSON.parse each value, count bids and sum prices
 * engine    kafkaSource({ format: { json: bidSchema } }) → a sink that counts rows and sums
 *           prices, Trigger.availableNow(), checkpoint in a temp directory; batches in chunks
 * engine-whole  the same with chunked: false
 * engine-workers the engine on `workers` worker threads (query.ts builds the query in every
 *           thread): the main thread reads and decodes each batch (the client cannot load in a
 *           worker thread) and hands each worker a slice of the rows
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export interface RunnerOptions {
  readonly bootstrap: string;
  readonly topics: readonly string[];
  readonly pattern: string;
  readonly events: number;
  readonly maxOffsetsPerTrigger: number;
  readonly chunked: boolean;
  /** Worker threads (engine-workers). */
  readonly workers?: number;
}

export interface Measurement {
  readonly mode: string;
  readonly events: number;
  readonly priceSum: number;
  readonly batches: number;
  readonly wallSeconds: number;
  readonly cpuSeconds: number;
  readonly peakRssBytes: number;
}

type Result = { events: number; priceSum: number; batches: number };

async function baseline(o: RunnerOptions): Promise<Result> {
  const { loadKafkaClient } = await import('@millrace/kafka');
  const Kafka = await loadKafkaClient();
  const consumer = new Kafka.KafkaConsumer(
    {
      'bootstrap.servers': o.bootstrap,
      'group.id': 'bench-baseline',
      'enable.auto.commit': false,
      'enable.partition.eof': false,
      'fetch.wait.max.ms': 100,
    },
    {},
  );
  await new Promise<void>((res, rej) => consumer.connect({ timeout: 10_000 }, (e) => (e ? rej(e) : res())));
  consumer.setDefaultConsumeTimeout(200);
  (
    consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(v: boolean): void }
  ).setDefaultIsTimeoutOnlyForFirstMessage(true);
  consumer.assign(
    o.topics.flatMap((topic) => [0, 1, 2, 3].map((partition) => ({ topic, partition, offset: 0 }))),
  );
  let events = 0;
  let priceSum = 0;
  let polls = 0;
  while (events < o.events) {
    const msgs = await new Promise<import('@confluentinc/kafka-javascript').Message[]>((res, rej) =>
      consumer.consume(10_000, (e, m) => (e ? rej(e) : res(m))),
    );
    polls++;
    for (const m of msgs) {
      const bid = JSON.parse(m.value!.toString()) as { price: number };
      priceSum += bid.price;
      events++;
    }
  }
  await new Promise<void>((r) => consumer.disconnect(() => r()));
  return { events, priceSum, batches: polls };
}

async function engine(o: RunnerOptions): Promise<Result> {
  const { Trigger, createSession, silentLogger } = await import('millrace');
  const { kafkaBids } = await import('./query.ts');
  const checkpointLocation = mkdtempSync(path.join(tmpdir(), 'millrace-bench-kafka-'));
  let events = 0;
  let priceSum = 0;
  let batches = 0;
  const sink: import('millrace').Sink = {
    name: 'count',
    guarantee: 'idempotent',
    describe: () => 'CountingSink',
    open: async () => undefined,
    addBatch: async (rows) => {
      batches++;
      for (const r of rows) priceSum += r.price as number;
      events += rows.length;
    },
    addBatchChunks: async (chunks) => {
      batches++;
      for await (const rows of chunks) {
        for (const r of rows) priceSum += r.price as number;
        events += rows.length;
      }
    },
    close: async () => undefined,
  };
  try {
    const session = createSession({ log: silentLogger });
    const args = {
      bootstrap: o.bootstrap,
      pattern: o.pattern,
      maxOffsetsPerTrigger: o.maxOffsetsPerTrigger,
      chunked: o.chunked,
    };
    const q = await kafkaBids(session, args)
      .writeStream({
        sink,
        trigger: Trigger.availableNow(),
        checkpointLocation,
        ...(o.workers
          ? {
              workers: {
                count: o.workers,
                module: new URL('./query.ts', import.meta.url),
                export: 'kafkaBids',
                args,
              },
            }
          : {}),
      })
      .start();
    await q.awaitTermination();
    if (process.env.BENCH_DEBUG)
      for (const p of q.recentProgress) process.stderr.write(`${JSON.stringify(p.durationMs)}\n`);
  } finally {
    rmSync(checkpointLocation, { recursive: true, force: true });
  }
  return { events, priceSum, batches };
}

async function main(): Promise<void> {
  const [mode, json] = process.argv.slice(2);
  if (!['baseline', 'engine', 'engine-whole', 'engine-workers'].includes(mode ?? '') || !json) {
    throw new Error('usage: runner.ts <baseline|engine|engine-whole|engine-workers> <options-json>');
  }
  const o = JSON.parse(json) as RunnerOptions;
  // Load the modules (tsx compilation, the native client) before the clock starts.
  await import('millrace');
  await (await import('@millrace/kafka')).loadKafkaClient();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r =
    mode === 'baseline'
      ? await baseline(o)
      : await engine({
          ...o,
          chunked: mode !== 'engine-whole',
          ...(mode === 'engine-workers' ? {} : { workers: undefined }),
        });
  const wallSeconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const m: Measurement = {
    mode: mode!,
    ...r,
    wallSeconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  process.stdout.write(JSON.stringify(m) + '\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
