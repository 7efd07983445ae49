/**
 * `npm run bench -- rabbitmq [options]`: RabbitMQ source and sink throughput against the
 * machine's broker (RABBITMQ_URL, default amqp://guest:guest@127.0.0.1:5672), with N Nexmark
 * bids as JSON messages (persistent, durable queues made and deleted here):
 *
 *   source-baseline  amqplib consumer, prefetch 1000, JSON.parse, ack (multiple) every 500 — the ceiling
 *   source-engine    rabbitmqSource({ json: bidSchema }) → noopSink: every message fsynced into
 *                    the write-ahead log before its ack, decoded from the WAL into the schema
 *   sink-baseline    amqplib confirm channel: publish N persistent messages, waitForConfirms
 *   sink-engine      nexmarkSource(bid, N) → rabbitmqSink (JSON, message ids, publisher confirms)
 *
 * Each mode runs in this process one after the other; figures are messages per second of wall
 * time and per CPU-second of this process (the broker's CPU is not counted). The last line of
 * output is one JSON object with every figure.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import * as amqp from 'amqplib';
import {
  JsonRecordEncoder,
  Trigger,
  bidSchema,
  createSession,
  generateBids,
  nexmarkSource,
  noopSink,
  silentLogger,
  type Bid,
} from 'millrace';
import { rabbitmqSink, rabbitmqSource } from '../../packages/rabbitmq/src/index.ts';

export const USAGE = `usage: npm run bench -- rabbitmq [options]

RabbitMQ source → engine (through the write-ahead log) and engine → RabbitMQ sink, each beside
amqplib in a plain loop, on the local broker (RABBITMQ_URL).

options:
  --events N     Nexmark events (≈ 0.92 N bids = messages per mode), default 200,000
  --only MODE    one of: source-baseline, source-engine, sink-baseline, sink-engine`;

const MODES = ['source-baseline', 'source-engine', 'sink-baseline', 'sink-engine'] as const;
type Mode = (typeof MODES)[number];

interface Measurement {
  mode: Mode;
  messages: number;
  seconds: number;
  perSecond: number;
  perCpuSecond: number;
}

const URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

function bodies(n: number): Buffer[] {
  const bids: Bid[] = [];
  generateBids(0, n, undefined, bids);
  const enc = new JsonRecordEncoder(bidSchema);
  return bids.map((b) => Buffer.from(enc.encode(b as unknown as Record<string, unknown>)));
}

async function publishAll(
  ch: amqp.ConfirmChannel,
  queue: string,
  messages: readonly Buffer[],
): Promise<void> {
  for (let i = 0; i < messages.length; i++) {
    if (!ch.sendToQueue(queue, messages[i]!, { persistent: true, messageId: `b-${i}` }))
      await new Promise((r) => ch.once('drain', r));
    if (i % 10_000 === 9_999) await ch.waitForConfirms();
  }
  await ch.waitForConfirms();
}

async function measure(mode: Mode, n: number, run: () => Promise<void>): Promise<Measurement> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { mode, messages: n, seconds, perSecond: n / seconds, perCpuSecond: n / cpuSeconds };
}

async function waitFor(test: () => boolean, what: string, ms = 600_000): Promise<void> {
  const until = Date.now() + ms;
  while (!test()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function main(args: string[]): Promise<number> {
  let n = 200_000;
  let only: Mode | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--events') n = Number(args[++i]?.replace(/_/g, ''));
    else if (a === '--only') only = args[++i] as Mode;
    else if (a === '-h' || a === '--help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    } else {
      process.stderr.write(`unknown argument ${a}\n\n${USAGE}\n`);
      return 2;
    }
  }
  if (!Number.isInteger(n) || n < 1 || (only !== undefined && !MODES.includes(only))) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  // The bids among the first n Nexmark events (46 in 50 events are bids), as nexmarkSource yields them.
  const messages = bodies(n);
  const events = n;
  n = messages.length;
  const conn = await amqp.connect(URL);
  const ch = await conn.createConfirmChannel();
  const prefix = `millrace-bench-${process.pid}`;
  const queues: string[] = [];
  const queue = async (name: string) => {
    const q = `${prefix}-${name}`;
    await ch.assertQueue(q, { durable: true });
    queues.push(q);
    return q;
  };
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'millrace-bench-rmq-'));
    dirs.push(d);
    return d;
  };
  const results: Measurement[] = [];
  try {
    for (const mode of MODES) {
      if (only && mode !== only) continue;
      process.stderr.write(`${mode}: ${n.toLocaleString('en-US')} messages …\n`);
      if (mode === 'source-baseline') {
        const q = await queue('src-base');
        await publishAll(ch, q, messages);
        const rx = await conn.createChannel();
        await rx.prefetch(1000);
        let got = 0;
        let sum = 0;
        results.push(
          await measure(mode, n, async () => {
            await rx.consume(q, (m) => {
              if (!m) return;
              sum += (JSON.parse(m.content.toString()) as { price: number }).price;
              if (++got % 500 === 0 || got === n) rx.ack(m, true);
            });
            await waitFor(() => got >= n, 'the baseline consumer');
          }),
        );
        await rx.close();
        if (sum <= 0) throw new Error('baseline read nothing');
      } else if (mode === 'source-engine') {
        const q = await queue('src-engine');
        await publishAll(ch, q, messages);
        results.push(
          await measure(mode, n, async () => {
            const query = await createSession({ log: silentLogger })
              .readStream(rabbitmqSource({ url: URL, queue: q, format: { json: bidSchema } }))
              .writeStream({
                sink: noopSink(),
                checkpointLocation: tmp(),
                trigger: Trigger.processingTime(100),
              })
              .start();
            // The WAL offset of the last batch's end = messages through the engine.
            const through = () => Number(query.lastProgress?.sources[0]?.endOffset ?? 0);
            try {
              await waitFor(() => through() >= n || query.exception !== null, 'the engine');
              if (query.exception) throw query.exception;
            } finally {
              await query.stop();
            }
          }),
        );
      } else if (mode === 'sink-baseline') {
        const q = await queue('sink-base');
        results.push(await measure(mode, n, () => publishAll(ch, q, messages)));
        if ((await ch.checkQueue(q)).messageCount !== n) throw new Error('sink baseline: messages missing');
      } else {
        const q = await queue('sink-engine');
        results.push(
          await measure(mode, n, async () => {
            const query = await createSession({ log: silentLogger })
              .readStream(nexmarkSource({ kind: 'bid', maxEvents: events, eventsPerTrigger: 50_000 }))
              .writeStream({
                sink: rabbitmqSink({ url: URL, queue: q }),
                checkpointLocation: tmp(),
                trigger: Trigger.availableNow(),
              })
              .start();
            await query.awaitTermination();
          }),
        );
        const count = (await ch.checkQueue(q)).messageCount;
        if (count !== n) throw new Error(`sink engine: ${count} of ${n} messages in the queue`);
      }
    }
  } finally {
    for (const q of queues) await ch.deleteQueue(q).catch(() => {});
    await conn.close().catch(() => {});
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
  process.stdout.write(
    `\n${'mode'.padEnd(16)} ${'msgs/s'.padStart(10)} ${'msgs/CPU-s'.padStart(11)} ${'seconds'.padStart(8)}\n`,
  );
  for (const r of results)
    process.stdout.write(
      `${r.mode.padEnd(16)} ${fmt(r.perSecond).padStart(10)} ${fmt(r.perCpuSecond).padStart(11)} ${r.seconds.toFixed(2).padStart(8)}\n`,
    );
  const by = Object.fromEntries(results.map((r) => [r.mode, r]));
  const ratio = (a: Mode, b: Mode) => (by[a] && by[b] ? by[a].perSecond / by[b].perSecond : null);
  process.stdout.write(
    `${JSON.stringify({
      suite: 'rabbitmq',
      events,
      messages: n,
      results,
      sourceEngineVsBaseline: ratio('source-engine', 'source-baseline'),
      sinkEngineVsBaseline: ratio('sink-engine', 'sink-baseline'),
    })}\n`,
  );
  return 0;
}
