/**
 * `npm run bench -- latency [options]`: end-to-end latency of a windowed count fed by a
 * wall-paced source. Prints a report and, as the last line, one JSON object (fields:
 * bench/README.md).
 *
 * The query: bids from `nexmarkSource({ wallRate: rate, eventsPerSecond: rate })` (events
 * become available at `rate` per second of wall time, and event time advances at the same
 * pace), `withWatermark('dateTime', '4 seconds')`, counted per (tumbling 1 s window, auction)
 * in update mode, into a sink that notes when it received each row.
 *
 * Latency of an output row = when the sink received it − when the newest bid it counts
 * became available at the source. The source makes event n available at
 * `start + (n + 1) * 1000 / rate` (`start`: the pacing start it keeps in its checkpoint
 * directory); a row carries the newest dateTime it counts (max(dateTime)), and with event time
 * at the wall pace that bid's arrival is `start + (dateTime − baseTime)`, to within 1 ms.
 *
 * Latency of an event = when the sink received the first row counting it − its arrival.
 * Every bid of a batch updates its group, so this is the batch's sink time − arrival(n) for
 * every bid n of the batch (its source offsets, from progress). It is the fuller measure: it
 * includes the time an event waits for the next batch to start.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Sink, SinkBatchInfo } from 'millrace';
import { kindOf } from '../../packages/millrace/src/connectors/nexmark/index.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const BASE_TIME = Date.UTC(2025, 0, 1);

export const USAGE = `usage: npm run bench -- latency [options]

A count per (tumbling 1 s window, auction) in update mode, fed by a wall-paced Nexmark source;
reports the latency from an event's arrival at the source to the sink.

options:
  --rate N             events per second of wall time (all kinds; 92% are bids), default 100,000
  --seconds S          how long the source produces (rate × S events), default 10
  --trigger default|MS the trigger: default (next batch as soon as one ends) or a processing-time
                       interval in ms, e.g. --trigger 100; default: default
  --warmup S           leave out rows/events of batches started in the first S seconds, default 1
  --save               also write the JSON to bench/out/latency-<time>.json`;

interface Options {
  rate: number;
  seconds: number;
  trigger: 'default' | number;
  warmup: number;
  save: boolean;
}

function parseArgs(args: string[]): Options | string {
  const o: Options = { rate: 100_000, seconds: 10, trigger: 'default', warmup: 1, save: false };
  const num = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v?.replace(/_/g, ''));
    if (!Number.isFinite(n) || n < min) throw new Error(`${flag} needs a number ≥ ${min}, got ${String(v)}`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a];
    const value = () => inline ?? args[++i];
    switch (flag) {
      case '--rate':
        o.rate = num(flag, value(), 1);
        break;
      case '--seconds':
        o.seconds = num(flag, value(), 0.1);
        break;
      case '--warmup':
        o.warmup = num(flag, value(), 0);
        break;
      case '--trigger': {
        const v = value();
        o.trigger = v === 'default' ? 'default' : num(flag, v, 1);
        break;
      }
      case '--save':
        o.save = true;
        break;
      case '-h':
      case '--help':
        return '';
      default:
        return `unknown argument ${a}`;
    }
  }
  return o;
}

/** The p-th percentile (0..100) of sorted values, nearest rank. */
function percentile(sorted: Float64Array, p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

function findFile(dir: string, name: string): string | undefined {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      const f = findFile(p, name);
      if (f) return f;
    } else if (e.name === name) return p;
  }
  return undefined;
}

interface BatchReceipt {
  readonly batchId: number;
  /** When the sink received the batch's rows (ms since the epoch). */
  readonly at: number;
}

type OutRow = { window: { start: number; end: number }; auction: number; bids: number; newest: number };

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
  const { createSession, Trigger, count, max, nexmarkSource, window } = await import('millrace');
  const maxEvents = Math.round(o.rate * o.seconds);
  const checkpointLocation = mkdtempSync(path.join(tmpdir(), 'millrace-bench-latency-'));

  // Per output row: [arrival-relative latency], filled once the start time is known.
  const rowNewest: number[] = [];
  const rowAt: number[] = [];
  const rowBatch: number[] = [];
  const receipts: BatchReceipt[] = [];
  const sink: Sink = {
    name: 'latency',
    guarantee: 'at-least-once',
    describe: () => 'LatencySink',
    async open() {},
    async addBatch(rows, info: SinkBatchInfo) {
      const at = Date.now();
      receipts.push({ batchId: info.batchId, at });
      for (let i = 0; i < rows.length; i++) {
        rowNewest.push((rows[i] as OutRow).newest);
        rowAt.push(at);
        rowBatch.push(info.batchId);
      }
      return { rowsWritten: rows.length };
    },
    async addBatchChunks(chunks, info: SinkBatchInfo) {
      let n = 0;
      let first = true;
      for await (const rows of chunks) {
        const at = Date.now();
        if (first) receipts.push({ batchId: info.batchId, at });
        first = false;
        for (let i = 0; i < rows.length; i++) {
          rowNewest.push((rows[i] as OutRow).newest);
          rowAt.push(at);
          rowBatch.push(info.batchId);
        }
        n += rows.length;
      }
      return { rowsWritten: n };
    },
    async close() {},
  };

  const session = createSession();
  const source = nexmarkSource({
    kind: 'bid',
    maxEvents,
    wallRate: o.rate,
    eventsPerSecond: o.rate,
    baseTime: BASE_TIME,
    // Take everything available in each batch.
    eventsPerTrigger: Math.max(1, maxEvents),
  });
  const cpu0 = process.cpuUsage();
  let query;
  try {
    query = await session
      .readStream(source)
      .withWatermark('dateTime', '4 seconds')
      .groupBy(($) => ({ window: window($.dateTime, '1 second'), auction: $.auction }))
      .agg(($) => ({ bids: count(), newest: max($.dateTime) }))
      .writeStream({
        sink,
        queryName: 'latency',
        checkpointLocation,
        outputMode: 'update',
        trigger: o.trigger === 'default' ? Trigger.default() : Trigger.processingTime(o.trigger),
        maxRecentProgress: 100_000,
      })
      .start();
    const startFile = findFile(checkpointLocation, 'nexmark-start.json');
    if (!startFile) throw new Error('the source did not record its pacing start (nexmark-start.json)');
    const start = (JSON.parse(readFileSync(startFile, 'utf8')) as { startTime: number }).startTime;

    // Run until the source's last event has been through a batch.
    const endOffset = () => {
      const p = query!.lastProgress;
      return p ? Number(p.sources[0]?.endOffset ?? 0) : 0;
    };
    while (endOffset() < maxEvents && query.isActive) await new Promise((r) => setTimeout(r, 20));
    if (query.exception) throw query.exception;
    await query.stop();
    const wallSeconds = (Date.now() - start) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;

    const progress = query.recentProgress;
    const batchStart = new Map<number, number>();
    const offsets = new Map<number, [number, number]>();
    for (const p of progress) {
      batchStart.set(p.batchId, Date.parse(p.timestamp));
      const s = p.sources[0];
      if (s && !p.isNoDataBatch) offsets.set(p.batchId, [Number(s.startOffset ?? 0), Number(s.endOffset)]);
    }
    const warmupEnd = start + o.warmup * 1000;
    const afterWarmup = (batchId: number) => (batchStart.get(batchId) ?? Infinity) >= warmupEnd;

    // Per output row.
    const rowAll: number[] = [];
    const rowHeadline: number[] = [];
    for (let i = 0; i < rowAt.length; i++) {
      const arrival = start + (rowNewest[i]! - BASE_TIME);
      const l = rowAt[i]! - arrival;
      rowAll.push(l);
      if (afterWarmup(rowBatch[i]!)) rowHeadline.push(l);
    }
    // Per event (bids only).
    const eventHeadline: number[] = [];
    const msPerEvent = 1000 / o.rate;
    for (const r of receipts) {
      const range = offsets.get(r.batchId);
      if (!range || !afterWarmup(r.batchId)) continue;
      for (let n = range[0]; n < range[1]; n++) {
        if (kindOf(n) !== 'bid') continue;
        eventHeadline.push(r.at - (start + (n + 1) * msPerEvent));
      }
    }
    const sorted = (xs: number[]) => Float64Array.from(xs).sort();
    const rowsSorted = sorted(rowHeadline);
    const rowsAllSorted = sorted(rowAll);
    const eventsSorted = sorted(eventHeadline);
    const dataBatches = progress.filter((p) => !p.isNoDataBatch);
    const durations = Float64Array.from(dataBatches.map((p) => p.batchDuration)).sort();
    const round = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);

    const result = {
      bench: 'latency',
      query: 'count per (tumbling 1 s window, auction), update mode, watermark 4 s',
      rate: o.rate,
      events: maxEvents,
      seconds: o.seconds,
      trigger: o.trigger === 'default' ? 'default' : `processingTime(${o.trigger} ms)`,
      warmupSeconds: o.warmup,
      p50LatencyMs: round(percentile(rowsSorted, 50)),
      p99LatencyMs: round(percentile(rowsSorted, 99)),
      maxLatencyMs: round(percentile(rowsSorted, 100)),
      rowsMeasured: rowsSorted.length,
      p99LatencyMsWithWarmup: round(percentile(rowsAllSorted, 99)),
      eventP50LatencyMs: round(percentile(eventsSorted, 50)),
      eventP99LatencyMs: round(percentile(eventsSorted, 99)),
      eventMaxLatencyMs: round(percentile(eventsSorted, 100)),
      eventsMeasured: eventsSorted.length,
      batches: dataBatches.length,
      batchesTotal: progress.length,
      p50BatchMs: round(percentile(durations, 50)),
      p99BatchMs: round(percentile(durations, 99)),
      rowsOut: rowAt.length,
      wallSeconds,
      cpuSeconds,
      cpuPerWallSecond: cpuSeconds / wallSeconds,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      nodeVersion: process.version,
      timestamp: new Date().toISOString(),
      goalP99Ms: 100,
      goalMet: (percentile(rowsSorted, 99) ?? Infinity) < 100,
    };

    // Where the slowest 1% of batches spend their time (a diagnosis of the p99).
    const slowest = [...dataBatches].sort((a, b) => b.batchDuration - a.batchDuration);
    const slow = slowest.slice(0, Math.max(1, Math.ceil(slowest.length / 100)));
    const avg = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, x) => a + x, 0) / xs.length);
    const phases = ['latestOffset', 'walCommit', 'getBatch', 'addBatch', 'commitOffsets'] as const;
    const slowBreakdown = Object.fromEntries(
      phases.map((ph) => [ph, round(avg(slow.map((p) => p.durationMs[ph] ?? 0)))]),
    ) as Record<string, number | null>;
    slowBreakdown.stateCommit = round(avg(slow.map((p) => p.stateOperators[0]?.commitTimeMs ?? 0)));
    slowBreakdown.snapshots = slow.filter(
      (p) => (p.stateOperators[0]?.customMetrics.snapshotsWritten ?? 0) > 0,
    ).length;
    slowBreakdown.inputRows = round(avg(slow.map((p) => p.numInputRows)));

    const f = (x: number | null) => (x === null ? '—' : `${x.toFixed(1)} ms`);
    const lines = [
      `Latency: ${result.query}`,
      `${o.rate.toLocaleString('en-US')} events/s for ${o.seconds} s (${maxEvents.toLocaleString('en-US')} events), trigger ${result.trigger}, node ${process.version}`,
      '',
      `${'measure'.padEnd(34)}${'p50'.padStart(10)}${'p99'.padStart(10)}${'max'.padStart(10)}${'count'.padStart(11)}`,
      `${'output row (newest event → sink)'.padEnd(34)}${f(result.p50LatencyMs).padStart(10)}${f(result.p99LatencyMs).padStart(10)}${f(result.maxLatencyMs).padStart(10)}${rowsSorted.length.toLocaleString('en-US').padStart(11)}`,
      `${'event (arrival → first row)'.padEnd(34)}${f(result.eventP50LatencyMs).padStart(10)}${f(result.eventP99LatencyMs).padStart(10)}${f(result.eventMaxLatencyMs).padStart(10)}${eventsSorted.length.toLocaleString('en-US').padStart(11)}`,
      `${'batch duration'.padEnd(34)}${f(result.p50BatchMs).padStart(10)}${f(result.p99BatchMs).padStart(10)}${''.padStart(10)}${durations.length.toLocaleString('en-US').padStart(11)}`,
      '',
      `first ${o.warmup} s left out (p99 of rows including it: ${f(result.p99LatencyMsWithWarmup)}); ${result.batches} batches; ` +
        `${cpuSeconds.toFixed(2)} CPU-s in ${wallSeconds.toFixed(2)} s (${(result.cpuPerWallSecond * 100).toFixed(0)}% of a core); peak RSS ${Math.round(result.peakRssBytes / 2 ** 20)} MiB`,
      `slowest 1% of batches (${slow.length}), average ms per phase: ` +
        Object.entries(slowBreakdown)
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
      `goal p99 < 100 ms: ${result.goalMet ? 'met' : 'NOT met'}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
    const json = JSON.stringify({ ...result, slowestBatches: slowBreakdown });
    if (o.save) {
      const dir = path.join(REPO, 'bench', 'out');
      mkdirSync(dir, { recursive: true });
      const file = path.join(dir, `latency-${result.timestamp.replace(/[:.]/g, '-')}.json`);
      writeFileSync(file, json + '\n');
      process.stdout.write(`saved ${path.relative(REPO, file)}\n`);
    }
    process.stdout.write(json + '\n');
    return 0;
  } finally {
    if (query?.isActive) await query.stop().catch(() => undefined);
    rmSync(checkpointLocation, { recursive: true, force: true });
  }
}
