/**
 * `npm run bench -- mqtt [options]`: MQTT source and sink throughput against the machine's
 * Mosquitto (MQTT_URL, default mqtt://127.0.0.1:1883), with Nexmark bids as JSON messages, QoS 1:
 *
 *   source-baseline  mqtt.js subscriber (QoS 1, PUBACK at once), JSON.parse — the ceiling
 *   source-engine    mqttSource({ json: bidSchema }) → noopSink: each PUBACK only after the
 *                    message is fsynced in the write-ahead log, decoded from the WAL
 *   sink-baseline    mqtt.js publishAsync QoS 1 of N messages, all acknowledged
 *   sink-engine      nexmarkSource(bid) → mqttSink (JSON, QoS 1, MQTT 5 message ids)
 *
 * Mosquitto keeps at most 1,000 queued messages per subscriber (max_queued_messages) and does
 * not slow publishers down, so the source modes publish in a closed loop: at most 400 messages
 * ahead of what the reader has received (the engine: what its WAL holds). Figures: messages per
 * second of wall time and per CPU-second of this process (the broker's CPU is not counted). The
 * last line of output is one JSON object with every figure.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import * as mqtt from 'mqtt';
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
import { mqttSink, mqttSource } from '../../packages/mqtt/src/index.ts';

export const USAGE = `usage: npm run bench -- mqtt [options]

MQTT source → engine (through the write-ahead log) and engine → MQTT sink, each beside mqtt.js
in a plain loop, on the local Mosquitto (MQTT_URL). QoS 1 throughout.

options:
  --events N     Nexmark events (≈ 0.92 N bids = messages per mode), default 100,000
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

const URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const AHEAD = 400;

async function measure(mode: Mode, n: number, run: () => Promise<void>): Promise<Measurement> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    mode,
    messages: n,
    seconds,
    perSecond: n / seconds,
    perCpuSecond: n / ((cpu.user + cpu.system) / 1e6),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Publish every message, never more than AHEAD beyond `received()`. */
async function pacedPublish(
  topic: string,
  messages: readonly Buffer[],
  received: () => number,
): Promise<void> {
  const c = await mqtt.connectAsync(URL, { clientId: `millrace-bench-pub-${process.pid}` });
  try {
    let sent = 0;
    while (sent < messages.length) {
      const since = Date.now();
      while (sent - received() >= AHEAD) {
        if (Date.now() - since > 20_000)
          throw new Error(
            `the reader is stuck at ${received()} of ${sent} messages: did the broker drop some (max_queued_messages)?`,
          );
        await sleep(1);
      }
      const upTo = Math.min(messages.length, received() + AHEAD);
      const acks: Promise<unknown>[] = [];
      for (; sent < upTo; sent++) acks.push(c.publishAsync(topic, messages[sent]!, { qos: 1 }));
      await Promise.all(acks);
    }
  } finally {
    await c.endAsync();
  }
}

export async function main(args: string[]): Promise<number> {
  let events = 100_000;
  let only: Mode | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--events') events = Number(args[++i]?.replace(/_/g, ''));
    else if (a === '--only') only = args[++i] as Mode;
    else if (a === '-h' || a === '--help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    } else {
      process.stderr.write(`unknown argument ${a}\n\n${USAGE}\n`);
      return 2;
    }
  }
  if (!Number.isInteger(events) || events < 1 || (only !== undefined && !MODES.includes(only))) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const bids: Bid[] = [];
  generateBids(0, events, undefined, bids);
  const enc = new JsonRecordEncoder(bidSchema);
  const messages = bids.map((b) => Buffer.from(enc.encode(b as unknown as Record<string, unknown>)));
  const n = messages.length;
  const root = `millrace-bench/${process.pid}`;
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'millrace-bench-mqtt-'));
    dirs.push(d);
    return d;
  };
  const results: Measurement[] = [];
  try {
    for (const mode of MODES) {
      if (only && mode !== only) continue;
      process.stderr.write(`${mode}: ${n.toLocaleString('en-US')} messages …\n`);
      const topic = `${root}/${mode}`;
      if (mode === 'source-baseline') {
        const sub = await mqtt.connectAsync(URL, { clientId: `millrace-bench-sub-${process.pid}` });
        let got = 0;
        let sum = 0;
        sub.on('message', (_t, payload) => {
          sum += (JSON.parse(payload.toString()) as { price: number }).price;
          got++;
        });
        await sub.subscribeAsync(topic, { qos: 1 });
        results.push(
          await measure(mode, n, async () => {
            await pacedPublish(topic, messages, () => got);
            while (got < n) await sleep(2);
          }),
        );
        await sub.endAsync();
        if (sum <= 0) throw new Error('baseline read nothing');
      } else if (mode === 'source-engine') {
        const clientId = `millrace-bench-src-${process.pid}`;
        const source = mqttSource({ url: URL, topics: topic, clientId, format: { json: bidSchema } });
        const query = await createSession({ log: silentLogger })
          .readStream(source)
          .writeStream({ sink: noopSink(), checkpointLocation: tmp(), trigger: Trigger.processingTime(50) })
          .start();
        try {
          results.push(
            await measure(mode, n, async () => {
              await pacedPublish(topic, messages, () => Number(source.reportLatestOffset() ?? 0));
              while (Number(query.lastProgress?.sources[0]?.endOffset ?? 0) < n) {
                if (query.exception) throw query.exception;
                await sleep(5);
              }
            }),
          );
        } finally {
          await query.stop();
          const c = await mqtt.connectAsync(URL, { clientId, clean: true });
          await c.endAsync();
        }
      } else if (mode === 'sink-baseline') {
        const c = await mqtt.connectAsync(URL, {
          clientId: `millrace-bench-pub-${process.pid}`,
          protocolVersion: 5,
        });
        results.push(
          await measure(mode, n, async () => {
            // 1,000 in flight at a time, as mqttSink (packet ids run out at 65,535).
            for (let from = 0; from < n; from += 1000)
              await Promise.all(
                messages.slice(from, from + 1000).map((m) => c.publishAsync(topic, m, { qos: 1 })),
              );
          }),
        );
        await c.endAsync();
      } else {
        results.push(
          await measure(mode, n, async () => {
            const query = await createSession({ log: silentLogger })
              .readStream(nexmarkSource({ kind: 'bid', maxEvents: events, eventsPerTrigger: 50_000 }))
              .writeStream({
                sink: mqttSink({ url: URL, topic }),
                checkpointLocation: tmp(),
                trigger: Trigger.availableNow(),
              })
              .start();
            await query.awaitTermination();
            const written = query.recentProgress.reduce((s, p) => s + p.sink.numOutputRows, 0);
            if (written !== n) throw new Error(`sink engine: ${written} of ${n} messages`);
          }),
        );
      }
    }
  } finally {
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
      suite: 'mqtt',
      events,
      messages: n,
      results,
      sourceEngineVsBaseline: ratio('source-engine', 'source-baseline'),
      sinkEngineVsBaseline: ratio('sink-engine', 'sink-baseline'),
    })}\n`,
  );
  return 0;
}
