/**
 * `npm run bench -- ecommerce [--events N] [--rate R]`: the e-commerce scenario's four queries
 * (examples/ecommerce) in one process, fed by the shop generator paced on the wall clock at R
 * events/s (event time = wall time, demo speed 1/60), with checkpoints.
 *
 * Sustained: the run keeps up when every query has read every block within a second of the
 * generator's end (`keptUp`). Latency of an event = when the batch that read it committed − when the
 * event became available (its block's due time: once the clock passed every event time in the block,
 * as the real-time shop source offers it); per query and over all, p50/p99. Results of a
 * window come out once the watermark passes its end — that wait (window + watermark delay) is the
 * query's definition, not processing latency, and is not in these figures.
 *
 * Last line: one JSON object (same shape as the other benchmarks, with p50LatencyMs/p99LatencyMs).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Trigger, createSession, noopSink, type StreamingQuery } from 'millrace';
import {
  DEFAULT_SHOP,
  type ShopConfig,
  blockDueMs,
  generateBlock,
  sessionsFor,
} from '../../examples/ecommerce/generator.ts';
import { scaledQueries, shopQueries } from '../../examples/ecommerce/queries.ts';
import { shopSource } from '../../examples/ecommerce/shopSource.ts';

export const USAGE = `usage: npm run bench -- ecommerce [--events N] [--rate R]
  --events N   events to generate (default 1,000,000)
  --rate R     events per second of wall time (default 100,000)`;

function arg(args: string[], flag: string, dflt: number): number {
  const i = args.indexOf(flag);
  if (i === -1) return dflt;
  const v = Number(args[i + 1]?.replace(/_/g, ''));
  if (!(v > 0)) throw new Error(`${flag} needs a positive number, got ${args[i + 1]}`);
  return v;
}

const pct = (sorted: Float64Array, p: number) =>
  sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const events = arg(args, '--events', 1_000_000);
  const rate = arg(args, '--rate', 100_000);
  const blockMs = 100;
  const start = Math.ceil(Date.now() / 1000) * 1000 + 1000;
  const cfg: ShopConfig = {
    ...DEFAULT_SHOP,
    baseTime: start,
    blockMs,
    timeScale: 1 / 60,
    sessionsPerBlock: sessionsFor(rate, blockMs),
  };
  const perBlock = generateBlock(0, cfg).length;
  const blocks = Math.max(1, Math.round(events / perBlock));
  const q = scaledQueries(1 / 60);
  const dir = mkdtempSync(path.join(tmpdir(), 'millrace-bench-ecommerce-'));
  const session = createSession();
  const cpu0 = process.cpuUsage();
  const queries: StreamingQuery[] = [];
  const names = ['eventCounts', 'sessions', 'funnel', 'topProducts'] as const;
  try {
    for (const name of names) {
      const src = session.readStream(shopSource({ name, config: cfg, maxBlocks: blocks, realTime: true }));
      const stream = shopQueries(src, q)[name];
      queries.push(
        await stream
          .writeStream({
            sink: noopSink(),
            queryName: name,
            checkpointLocation: path.join(dir, name),
            outputMode: 'append',
            trigger: Trigger.default(),
            maxRecentProgress: 1_000_000,
          })
          .start(),
      );
    }
    // The source offers block b once the clock passed every event time in it (blockDueMs): the
    // last block is due then, and each event's latency counts from its block's due time.
    const end = blockDueMs(blocks - 1, cfg);
    const done = () => queries.every((x) => Number(x.lastProgress?.sources[0]?.endOffset ?? 0) >= blocks);
    while (!done()) {
      if (queries.some((x) => x.exception)) throw queries.find((x) => x.exception)!.exception;
      if (Date.now() > end + 120_000) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const finishedAt = Date.now();
    const cpu = process.cpuUsage(cpu0);
    for (const x of queries) await x.stop();

    // Latency per event: commit time of its batch − its block's due time.
    const all: number[] = [];
    const perQuery: Record<string, { p50: number | null; p99: number | null }> = {};
    for (const [i, x] of queries.entries()) {
      const lat: number[] = [];
      for (const p of x.recentProgress) {
        const s = p.sources[0];
        if (!s || p.isNoDataBatch) continue;
        const committed = Date.parse(p.timestamp) + p.batchDuration;
        const from = Number(s.startOffset ?? 0);
        const to = Number(s.endOffset);
        for (let b = from; b < to; b++) {
          const due = blockDueMs(b, cfg);
          for (let k = 0; k < perBlock; k++) lat.push(Math.round(committed - due));
        }
      }
      const sorted = Float64Array.from(lat).sort();
      perQuery[names[i]!] = { p50: pct(sorted, 50), p99: pct(sorted, 99) };
      for (const l of lat) all.push(l);
    }
    const sorted = Float64Array.from(all).sort();
    const generated = blocks * perBlock;
    // From when the first block's events began (the source holds each block until it is due).
    const wallSeconds = (finishedAt - (blockDueMs(0, cfg) - blockMs)) / 1000;
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const keptUp = finishedAt <= end + 1000;
    const result = {
      bench: 'ecommerce',
      events: generated,
      rate,
      queries: names.length,
      keptUp,
      lagAtEndMs: Math.round(finishedAt - end),
      wallSeconds,
      cpuSeconds,
      eventsPerCpuSecond: generated / cpuSeconds,
      eventsPerWallSecond: generated / wallSeconds,
      p50LatencyMs: pct(sorted, 50),
      p99LatencyMs: pct(sorted, 99),
      perQuery,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      nodeVersion: process.version,
    };
    process.stdout.write(
      [
        `E-commerce scenario: ${names.length} queries, ${generated.toLocaleString('en-US')} events at ${rate.toLocaleString('en-US')} events/s`,
        `kept up: ${keptUp ? 'yes' : 'NO'} (last block read ${result.lagAtEndMs} ms after it was due)`,
        `event → committed batch: p50 ${result.p50LatencyMs} ms, p99 ${result.p99LatencyMs} ms (goal p99 < 2000 ms)`,
        ...Object.entries(perQuery).map(([n, v]) => `  ${n.padEnd(12)} p50 ${v.p50} ms, p99 ${v.p99} ms`),
        `${cpuSeconds.toFixed(1)} CPU-s in ${wallSeconds.toFixed(1)} s; peak RSS ${Math.round(result.peakRssBytes / 2 ** 20)} MiB`,
      ].join('\n') + '\n',
    );
    process.stdout.write(JSON.stringify(result) + '\n');
    return 0;
  } finally {
    for (const x of queries) if (x.isActive) await x.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
