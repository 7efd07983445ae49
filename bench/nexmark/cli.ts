/**
 * `npm run bench -- nexmark <query> [options]`: runs the hand-written baseline and the
 * engine on the same events, each in its own process, prints a report and, as the last
 * line, one JSON object (fields: bench/README.md).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { countOfKind } from '../../packages/millrace/src/connectors/nexmark/index.ts';
import { loadQuery, queryNames } from './queries.ts';
import type { NexmarkQuery, RunOptions } from './query.ts';
import type { Measurement } from './runner.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const RUNNER = path.join(HERE, 'runner.ts');

export const USAGE = `usage: npm run bench -- nexmark <query> [options]

queries: ${queryNames().join(', ')}

options:
  --events N               events of the interleaved stream (default: the query's, 10,000,000 for q0-q2)
  --events-per-trigger N   engine micro-batch size in events (default: the query's, 100,000 for q0-q2)
  --baseline-chunk N       baseline generation chunk in events (default 10,000)
  --sink checksum|noop     engine sink: foreachBatch folding the checksum (default) or noop
  --only baseline|engine   run one side only
  --workers W              engine: run on W worker threads (default: inline, on the main thread)
  --partitions P           engine: state partitions (default: 1 inline, W on workers)
  --node-options "FLAGS"   extra node flags for both runs, e.g. "--max-semi-space-size=64"
  --save                   also write the JSON to bench/out/nexmark-<query>-<time>.json`;

interface CliOptions extends RunOptions {
  readonly query: string;
  readonly only: 'baseline' | 'engine' | undefined;
  readonly nodeOptions: string[];
  readonly save: boolean;
}

function parseArgs(args: string[]): CliOptions | string {
  let query: string | undefined;
  let events: number | undefined;
  let eventsPerTrigger = 0;
  let baselineChunk = 10_000;
  let sink: 'checksum' | 'noop' = 'checksum';
  let only: 'baseline' | 'engine' | undefined;
  let nodeOptions: string[] = [];
  let save = false;
  let workers: number | undefined;
  let partitions: number | undefined;
  const int = (flag: string, v: string | undefined): number => {
    const n = Number(v?.replace(/_/g, ''));
    if (!Number.isSafeInteger(n) || n <= 0)
      throw new Error(`${flag} needs a positive integer, got ${String(v)}`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const [flag, inline] =
      a.startsWith('--') && a.includes('=')
        ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]
        : [a, undefined];
    const value = () => inline ?? args[++i];
    switch (flag) {
      case '--events':
        events = int(flag, value());
        break;
      case '--events-per-trigger':
        eventsPerTrigger = int(flag, value());
        break;
      case '--baseline-chunk':
        baselineChunk = int(flag, value());
        break;
      case '--sink': {
        const v = value();
        if (v !== 'checksum' && v !== 'noop') return `--sink must be checksum or noop, got ${String(v)}`;
        sink = v;
        break;
      }
      case '--only': {
        const v = value();
        if (v !== 'baseline' && v !== 'engine') return `--only must be baseline or engine, got ${String(v)}`;
        only = v;
        break;
      }
      case '--node-options':
        nodeOptions = (value() ?? '').split(/\s+/).filter(Boolean);
        break;
      case '--save':
        save = true;
        break;
      case '--workers':
        workers = int(flag, value());
        break;
      case '--partitions':
        partitions = int(flag, value());
        break;
      case '-h':
      case '--help':
        return '';
      default:
        if (a.startsWith('-')) return `unknown option ${a}`;
        if (query !== undefined) return `one query per run (got ${query} and ${a})`;
        query = a;
    }
  }
  if (!query) return 'name a query';
  return {
    query,
    events: events ?? 0,
    eventsPerTrigger,
    baselineChunk,
    sink,
    only,
    nodeOptions,
    save,
    ...(workers ? { workers } : {}),
    ...(partitions ? { partitions } : {}),
  };
}

function runChild(query: string, mode: 'baseline' | 'engine', options: CliOptions): Promise<Measurement> {
  const run: RunOptions = {
    events: options.events,
    eventsPerTrigger: options.eventsPerTrigger,
    baselineChunk: options.baselineChunk,
    sink: options.sink,
    ...(mode === 'engine' && options.workers ? { workers: options.workers } : {}),
    ...(mode === 'engine' && options.partitions ? { partitions: options.partitions } : {}),
  };
  const args = [...options.nodeOptions, '--import', 'tsx', RUNNER, query, mode, JSON.stringify(run)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${mode} run of ${query} exited with code ${code}`));
      try {
        resolve(JSON.parse(last) as Measurement);
      } catch {
        reject(new Error(`${mode} run of ${query} printed no result: ${last.slice(0, 200)}`));
      }
    });
  });
}

const fmt = (x: number, digits = 0) =>
  x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const mb = (b: number) => `${fmt(b / 2 ** 20)} MiB`;
const perSec = (events: number, s: number) => (s > 0 ? events / s : 0);

export async function main(args: string[]): Promise<number> {
  let options: CliOptions;
  try {
    const parsed = parseArgs(args);
    if (typeof parsed === 'string') {
      process.stderr.write(`${parsed ? `${parsed}\n\n` : ''}${USAGE}\n`);
      return parsed ? 2 : 0;
    }
    options = parsed;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  let query: NexmarkQuery;
  try {
    query = await loadQuery(options.query);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  if (options.events === 0) options = { ...options, events: query.defaultEvents };
  if (options.eventsPerTrigger === 0) {
    options = { ...options, eventsPerTrigger: query.defaultEventsPerTrigger ?? 100_000 };
  }
  const events = options.events;

  const errors: string[] = [];
  let baseline: Measurement | null = null;
  let engine: Measurement | null = null;
  if (options.only !== 'engine') {
    baseline = await runChild(query.name, 'baseline', options).catch(
      (e: Error) => (errors.push(e.message), null),
    );
  }
  if (options.only !== 'baseline') {
    engine = await runChild(query.name, 'engine', options).catch(
      (e: Error) => (errors.push(e.message), null),
    );
  }

  const checksumsMatch =
    baseline?.checksum != null && engine?.checksum != null ? baseline.checksum === engine.checksum : null;
  const result = {
    query: query.name,
    events,
    bids: countOfKind('bid', 0, events),
    wallSeconds: engine?.wallSeconds ?? null,
    cpuSeconds: engine?.cpuSeconds ?? null,
    eventsPerCpuSecond: engine ? perSec(events, engine.cpuSeconds) : null,
    eventsPerWallSecond: engine ? perSec(events, engine.wallSeconds) : null,
    startSeconds: engine?.startSeconds ?? null,
    eventsPerWallSecondAfterStart:
      engine?.startSeconds !== undefined ? perSec(events, engine.wallSeconds - engine.startSeconds) : null,
    peakRssBytes: engine?.peakRssBytes ?? null,
    rowsOut: engine?.rowsOut ?? null,
    checksum: engine?.checksum ?? null,
    batches: engine?.batches ?? null,
    batchesTotal: engine?.batchesTotal ?? null,
    outputMode: engine?.outputMode ?? null,
    rowsEmitted: engine?.rowsEmitted ?? null,
    stateRows: engine?.stateRows ?? null,
    rowsDroppedByWatermark: engine?.rowsDroppedByWatermark ?? null,
    secondsPerBatch:
      engine?.batchesTotal || engine?.batches
        ? engine.wallSeconds / (engine.batchesTotal ?? engine.batches ?? 1)
        : null,
    baselineWallSeconds: baseline?.wallSeconds ?? null,
    baselineCpuSeconds: baseline?.cpuSeconds ?? null,
    baselineEventsPerCpuSecond: baseline ? perSec(events, baseline.cpuSeconds) : null,
    baselineEventsPerWallSecond: baseline ? perSec(events, baseline.wallSeconds) : null,
    baselinePeakRssBytes: baseline?.peakRssBytes ?? null,
    baselineRowsOut: baseline?.rowsOut ?? null,
    baselineChecksum: baseline?.checksum ?? null,
    checksumsMatch,
    engineVsBaselineCpu:
      engine && baseline && engine.cpuSeconds > 0 ? baseline.cpuSeconds / engine.cpuSeconds : null,
    eventsPerTrigger: options.eventsPerTrigger,
    sink: options.sink,
    workers: options.workers ?? 0,
    partitions: options.partitions ?? options.workers ?? 1,
    nodeVersion: process.version,
    nodeOptions: options.nodeOptions.join(' '),
    timestamp: new Date().toISOString(),
    note: query.note ?? null,
    errors,
  };

  const lines: string[] = [];
  lines.push(`Nexmark ${query.name}: ${query.description}`);
  lines.push(
    `${fmt(events)} events (${fmt(result.bids)} bids); engine: ${fmt(options.eventsPerTrigger)} events/trigger, ${options.sink} sink, ${options.workers ? `${options.workers} worker threads` : 'inline'}, ${result.partitions} state partitions; node ${process.version}${options.nodeOptions.length ? ` ${options.nodeOptions.join(' ')}` : ''}`,
  );
  lines.push('');
  lines.push(
    `${'run'.padEnd(10)}${'wall s'.padStart(9)}${'cpu s'.padStart(9)}${'events/cpu-s'.padStart(15)}${'events/wall-s'.padStart(15)}${'peak RSS'.padStart(12)}${'rows out'.padStart(13)}`,
  );
  for (const [label, m] of [
    ['baseline', baseline],
    ['engine', engine],
  ] as const) {
    if (!m) {
      lines.push(`${label.padEnd(10)}${'—'.padStart(9)}`);
      continue;
    }
    lines.push(
      `${label.padEnd(10)}${fmt(m.wallSeconds, 2).padStart(9)}${fmt(m.cpuSeconds, 2).padStart(9)}${fmt(perSec(events, m.cpuSeconds)).padStart(15)}${fmt(perSec(events, m.wallSeconds)).padStart(15)}${mb(m.peakRssBytes).padStart(12)}${fmt(m.rowsOut).padStart(13)}`,
    );
  }
  lines.push('');
  if (engine && engine.batches !== undefined) {
    const parts = [
      `${fmt(engine.batches)} batches with data`,
      `${fmt(engine.batchesTotal ?? engine.batches)} in all (state committed once per batch: every ${fmt(result.secondsPerBatch ?? 0, 1)} s)`,
    ];
    if (engine.outputMode) parts.push(`${engine.outputMode} mode`);
    if (engine.rowsEmitted !== undefined && engine.rowsEmitted !== engine.rowsOut) {
      parts.push(`${fmt(engine.rowsEmitted)} rows emitted, ${fmt(engine.rowsOut)} in the final table`);
    }
    if (engine.stateRows) parts.push(`${fmt(engine.stateRows)} state rows after the last batch`);
    if (engine.rowsDroppedByWatermark) parts.push(`${fmt(engine.rowsDroppedByWatermark)} late rows dropped`);
    lines.push(`engine: ${parts.join('; ')}`);
  }
  if (query.note) lines.push(`note: ${query.note}`);
  if (result.engineVsBaselineCpu !== null) {
    lines.push(
      `engine at ${fmt(result.engineVsBaselineCpu * 100, 1)}% of the baseline's events per CPU-second`,
    );
  }
  if (checksumsMatch === true) lines.push(`checksums match (${engine!.checksum})`);
  else if (checksumsMatch === false) {
    lines.push(`CHECKSUM MISMATCH: baseline ${baseline!.checksum}, engine ${engine!.checksum}`);
  } else if (baseline && engine) lines.push('checksums not compared (noop sink)');
  for (const e of errors) lines.push(`ERROR: ${e}`);
  process.stdout.write(lines.join('\n') + '\n');

  const json = JSON.stringify(result);
  if (options.save) {
    const dir = path.join(REPO, 'bench', 'out');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `nexmark-${query.name}-${result.timestamp.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, json + '\n');
    process.stdout.write(`saved ${path.relative(REPO, file)}\n`);
  }
  process.stdout.write(json + '\n');
  return errors.length > 0 || checksumsMatch === false ? 1 : 0;
}
