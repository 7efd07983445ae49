/**
 * `npm run bench -- ingest [options]`: the embedded log and its HTTP ingest
 * (@millrace/log). Prints a report and, as the last line, one JSON object.
 *
 * 1. http: an ingest server (bench/ingest/server.ts, its own process, fsync
 *    'always') and `--clients` concurrent clients in this process POSTing
 *    NDJSON batches of `--batch` Nexmark bids (generateBids, JSON lines) for
 *    `--seconds`. Sustained events/s counts acknowledged events only (a 200
 *    is sent once the batch is fsynced); latency is per request, p50/p99.
 *    The bodies are generated before the clock starts (a pool of 64 batches
 *    of distinct bids, reused), so the clients' CPU goes to HTTP only.
 * 2. append: `log.append` in this process, fsync 'always', batches of
 *    `--batch` pre-serialised bids, 8 appends in flight (they share fsyncs).
 * 3. engine: the appended `--events` bids read back by a query —
 *    logSource(format { json: bidSchema }) → noopSink, Trigger.availableNow().
 * 4. baseline: the same records read with Log.scan, JSON.parse'd and counted
 *    in a plain loop (the ceiling for 3).
 *
 * JSON fields: httpEventsPerSecond, httpRequestsPerSecond, httpP50Ms,
 * httpP99Ms, httpServerCpuSeconds, httpEventsPerServerCpuSecond, httpErrors,
 * appendEventsPerSecond, engineEventsPerSecond, engineEventsPerCpuSecond,
 * baselineEventsPerSecond, baselineEventsPerCpuSecond, engineVsBaseline,
 * events, batch, clients, seconds, nodeVersion, timestamp.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');

export const USAGE = `usage: npm run bench -- ingest [options]

The embedded log: HTTP ingest of NDJSON Nexmark bids (fsync 'always'), raw appends,
and reading the log back through a query beside a plain-JS loop.

options:
  --seconds N   how long the HTTP clients post, default 10
  --clients N   concurrent HTTP clients, default 8
  --batch N     events per request / per append, default 1000
  --events N    events appended and read back in phases 2–4, default 1,000,000`;

interface Options {
  seconds: number;
  clients: number;
  batch: number;
  events: number;
}

function parseArgs(args: string[]): Options | string {
  const o: Options = { seconds: 10, clients: 8, batch: 1000, events: 1_000_000 };
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
      case '--seconds':
        o.seconds = num(flag, value(), 0.1);
        break;
      case '--clients':
        o.clients = Math.round(num(flag, value(), 1));
        break;
      case '--batch':
        o.batch = Math.round(num(flag, value(), 1));
        break;
      case '--events':
        o.events = Math.round(num(flag, value(), 1));
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

function percentile(sorted: Float64Array, p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const round = (x: number | null, digits = 0): number | null => (x === null ? null : +x.toFixed(digits));

/** `count` bids from `from`, one JSON text each. */
async function bidTexts(from: number, count: number): Promise<string[]> {
  const { generateBids } = await import('millrace');
  const bids: import('millrace').Bid[] = [];
  // Bids are 92% of the interleaved stream: generate enough events to get `count` bids.
  let n = from;
  while (bids.length < count) {
    generateBids(n, n + count * 2, undefined, bids);
    n += count * 2;
  }
  return bids.slice(0, count).map((b) => JSON.stringify(b));
}

interface HttpResult {
  events: number;
  requests: number;
  seconds: number;
  p50: number | null;
  p99: number | null;
  serverCpuSeconds: number | null;
  errors: string[];
}

async function benchHttp(o: Options, dir: string): Promise<HttpResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(HERE, 'server.ts')], {
    cwd: REPO,
    env: { ...process.env, BENCH_LOG_DIR: dir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  try {
    const deadline = Date.now() + 30_000;
    while (!/LISTENING (\d+)/.test(out)) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`the ingest server did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const url = `http://127.0.0.1:${/LISTENING (\d+)/.exec(out)![1]}/topics/bids`;
    const pool: string[] = [];
    for (let i = 0; i < 64; i++) pool.push((await bidTexts(i * o.batch * 2, o.batch)).join('\n'));
    const latencies: number[] = [];
    const errors: string[] = [];
    let events = 0;
    let next = 0;
    // Warm up: one request per client, not counted.
    await Promise.all(
      Array.from({ length: o.clients }, () =>
        fetch(url, {
          method: 'POST',
          body: pool[0]!,
          headers: { 'content-type': 'application/x-ndjson' },
        }).then((r) => r.text()),
      ),
    );
    const start = performance.now();
    const end = start + o.seconds * 1000;
    const client = async () => {
      while (performance.now() < end) {
        const body = pool[next++ % pool.length]!;
        const t = performance.now();
        const res = await fetch(url, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/x-ndjson' },
        });
        const text = await res.text();
        if (res.status !== 200) {
          if (errors.length < 5) errors.push(`${res.status} ${text.slice(0, 200)}`);
          continue;
        }
        latencies.push(performance.now() - t);
        events += o.batch;
      }
    };
    await Promise.all(Array.from({ length: o.clients }, client));
    const seconds = (performance.now() - start) / 1000;
    child.kill('SIGTERM');
    await exited;
    const cpu = /CPU ([\d.]+)/.exec(out);
    const sorted = Float64Array.from(latencies).sort();
    return {
      events,
      requests: latencies.length,
      seconds,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      serverCpuSeconds: cpu ? Number(cpu[1]) / 1000 : null,
      errors,
    };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  }
}

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
  const { openLog, logSource } = await import('@millrace/log');
  const { createSession, noopSink, bidSchema, Trigger } = await import('millrace');
  const work = mkdtempSync(path.join(tmpdir(), 'millrace-bench-ingest-'));
  try {
    // 1. HTTP ingest
    process.stderr.write(`http: ${o.clients} clients, ${o.batch} bids a request, ${o.seconds} s…\n`);
    const http = await benchHttp(o, path.join(work, 'http'));

    // 2. raw appends
    process.stderr.write(`append: ${o.events} bids…\n`);
    const log = await openLog({ dir: path.join(work, 'raw'), fsync: 'always', retentionCheckIntervalMs: 0 });
    const poolBatches = Math.max(1, Math.min(200, Math.ceil(o.events / o.batch)));
    const pool: { value: string }[][] = [];
    for (let i = 0; i < poolBatches; i++)
      pool.push((await bidTexts(i * o.batch * 2, o.batch)).map((value) => ({ value })));
    let appended = 0;
    let k = 0;
    const t0 = performance.now();
    const appender = async () => {
      while (appended < o.events) {
        const batch = pool[k++ % pool.length]!;
        const take = Math.min(batch.length, o.events - appended);
        appended += take;
        await log.append('bids', take === batch.length ? batch : batch.slice(0, take));
      }
    };
    await Promise.all(Array.from({ length: 8 }, appender));
    const appendSeconds = (performance.now() - t0) / 1000;
    const stored = log.watermarks('bids', 0).high;

    // 3. engine: log → source → query → noop
    process.stderr.write(`engine: reading ${stored} bids through a query…\n`);
    const cpuE = process.cpuUsage();
    const tE = performance.now();
    const q = await createSession()
      .readStream(
        logSource({
          log,
          topics: 'bids',
          startingOffsets: 'earliest',
          format: { json: bidSchema, mode: 'failFast' },
        }),
      )
      .writeStream({
        sink: noopSink(),
        checkpointLocation: path.join(work, 'cp'),
        trigger: Trigger.availableNow(),
      })
      .start();
    await q.awaitTermination();
    const engineSeconds = (performance.now() - tE) / 1000;
    const engineCpu = process.cpuUsage(cpuE);
    const engineRows = q.recentProgress.reduce((a, p) => a + p.numInputRows, 0);

    // 4. baseline: the same records, JSON.parse + count in a plain loop
    process.stderr.write('baseline…\n');
    const topic = log.topic('bids')!;
    const cpuB = process.cpuUsage();
    const tB = performance.now();
    let count = 0;
    let priceSum = 0;
    for (let from = 0; from < stored;) {
      from = log.scan(topic, 0, from, stored, 10_000, (_offset, raw, size) => {
        // A keyless record's value starts after the 10-byte header and its 4-byte length (recordFormat.ts).
        const bid = JSON.parse(raw.toString('utf8', 14, size)) as { price: number };
        priceSum += bid.price;
        count++;
      });
    }
    const baselineSeconds = (performance.now() - tB) / 1000;
    const baselineCpu = process.cpuUsage(cpuB);
    await log.close();

    const cpuSec = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1e6;
    const result = {
      httpEventsPerSecond: round(http.events / http.seconds),
      httpRequestsPerSecond: round(http.requests / http.seconds, 1),
      httpP50Ms: round(http.p50, 2),
      httpP99Ms: round(http.p99, 2),
      httpServerCpuSeconds: round(http.serverCpuSeconds, 2),
      httpEventsPerServerCpuSecond: http.serverCpuSeconds ? round(http.events / http.serverCpuSeconds) : null,
      httpErrors: http.errors,
      appendEventsPerSecond: round(stored / appendSeconds),
      engineEventsPerSecond: round(engineRows / engineSeconds),
      engineEventsPerCpuSecond: round(engineRows / cpuSec(engineCpu)),
      baselineEventsPerSecond: round(count / baselineSeconds),
      baselineEventsPerCpuSecond: round(count / cpuSec(baselineCpu)),
      engineVsBaseline: round(baselineSeconds / engineSeconds, 3),
      events: stored,
      engineRows,
      baselineRows: count,
      baselinePriceSum: priceSum,
      batch: o.batch,
      clients: o.clients,
      seconds: o.seconds,
      nodeVersion: process.version,
      timestamp: new Date().toISOString(),
    };
    const fmt = (n: number | null) => (n === null ? 'n/a' : n.toLocaleString('en-US'));
    process.stdout.write(
      [
        `HTTP ingest (fsync 'always', ${o.clients} clients, ${o.batch} bids/request, ${http.seconds.toFixed(1)} s):`,
        `  ${fmt(result.httpEventsPerSecond)} events/s acknowledged, ${fmt(result.httpRequestsPerSecond)} requests/s, ` +
          `latency p50 ${fmt(result.httpP50Ms)} ms, p99 ${fmt(result.httpP99Ms)} ms; ` +
          `server ${fmt(result.httpEventsPerServerCpuSecond)} events per CPU-second${http.errors.length ? `; errors: ${http.errors.join(' | ')}` : ''}`,
        `log.append (fsync 'always', 8 in flight): ${fmt(result.appendEventsPerSecond)} events/s`,
        `log → logSource(json) → query → noop: ${fmt(result.engineEventsPerSecond)} events/s (${fmt(result.engineEventsPerCpuSecond)} per CPU-s)`,
        `plain JS (scan + JSON.parse + count):  ${fmt(result.baselineEventsPerSecond)} events/s (${fmt(result.baselineEventsPerCpuSecond)} per CPU-s)`,
        `engine ÷ baseline speed: ${result.engineVsBaseline}`,
      ].join('\n') + '\n',
    );
    process.stdout.write(JSON.stringify(result) + '\n');
    return engineRows === count && http.errors.length === 0 ? 0 : 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
