/**
 * `npm run bench -- state --store memory|lmdb --keys K`: large state (issue 20). A child process
 * runs `groupBy(userId).agg(count, sum)` in update mode, 100k events per batch, 75% of events
 * adding a new key (./traffic.ts), with the chosen store, until K keys are held; then it is
 * SIGKILLed, started again on the same checkpoint, and a last batch with one event for each of
 * `--samples` users shows their counts and sums, checked against a recount of the traffic.
 * Beside it, the same aggregation in a plain JS Map loop (./baseline.ts).
 *
 * Figures: events/s over the first and last 5 batches, batch p99 and max, the child's peak RSS
 * (VmHWM), restart → first commit (process start, state load, one batch). Last line: JSON.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { amountOf, eventsForKeys, sampleUsers, userOf } from './traffic.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export const USAGE = `usage: npm run bench -- state [--store memory|lmdb] [--keys K] [--batch N] [--samples S] [--heap MiB]
  --store    memory (default) or lmdb
  --keys     keys to reach before the SIGKILL (default 1,000,000)
  --batch    events per batch (default 100,000)
  --samples  users whose counts are checked after the restart (default 1,000)
  --heap     the child's --max-old-space-size in MiB (default 16,384)
  --dir      the checkpoint's parent directory (default the OS temp directory)`;

function arg(args: string[], flag: string, dflt: number): number {
  const i = args.indexOf(flag);
  if (i === -1) return dflt;
  const v = Number(args[i + 1]?.replace(/_/g, ''));
  if (!(v > 0)) throw new Error(`${flag} needs a positive number, got ${args[i + 1]}`);
  return v;
}

interface BatchLine {
  batchId: number;
  ms: number;
  rows: number;
  end: number;
  keys: number;
  commitMs: number;
  snapshots: number;
  rss: number;
  sinceStartMs: number;
}

interface Output {
  batches: BatchLine[];
  probe?: { userId: number; n: number; total: number }[];
}

function startChild(heapMiB: number, script: string, args: string[]): ChildProcess {
  return spawn(
    process.execPath,
    [`--max-old-space-size=${heapMiB}`, '--import', 'tsx', path.join(HERE, script), ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
}

/** Read the child's JSON lines; `onBatch` may kill it. Resolves when it exits. */
function follow(
  child: ChildProcess,
  onBatch: (b: BatchLine) => void,
): Promise<Output & { code: number | null }> {
  const out: Output = { batches: [] };
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    if (!line.startsWith('{')) return;
    const o = JSON.parse(line) as BatchLine | { probe: Output['probe'] };
    if ('probe' in o) out.probe = o.probe;
    else {
      out.batches.push(o);
      onBatch(o);
    }
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ ...out, code })));
}

/** Peak resident set of a running process (Linux VmHWM), in bytes. */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
};

/** Events per second over some batches (rows / summed batch time). */
const rate = (bs: BatchLine[]): number =>
  bs.reduce((n, b) => n + b.rows, 0) / (bs.reduce((n, b) => n + b.ms, 0) / 1000);

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const storeIndex = args.indexOf('--store');
  const store = storeIndex === -1 ? 'memory' : args[storeIndex + 1];
  if (store !== 'memory' && store !== 'lmdb') throw new Error(`--store must be memory or lmdb, got ${store}`);
  const keys = arg(args, '--keys', 1_000_000);
  const batch = arg(args, '--batch', 100_000);
  const samples = arg(args, '--samples', 1_000);
  const heap = arg(args, '--heap', 16_384);
  const dirIndex = args.indexOf('--dir');
  const events = eventsForKeys(keys);
  const dir = mkdtempSync(
    path.join(dirIndex === -1 ? tmpdir() : args[dirIndex + 1]!, 'millrace-bench-state-'),
  );
  const checkpoint = path.join(dir, 'cp');
  try {
    // 1. Until K keys, then SIGKILL.
    const first = startChild(heap, 'child.ts', [store, checkpoint, String(events), String(batch)]);
    let peak = 0;
    const run1 = await follow(first, (b) => {
      peak = Math.max(peak, peakRss(first.pid!));
      if (b.end >= events) first.kill('SIGKILL');
    });
    if (run1.batches.at(-1)?.end !== events) {
      throw new Error(`the first run stopped (exit ${run1.code}) before reaching ${keys} keys`);
    }
    // 2. Restart on the same checkpoint: one batch of probe events.
    const users = sampleUsers(keys, samples);
    const t0 = performance.now();
    const second = startChild(heap, 'child.ts', [
      store,
      checkpoint,
      String(events),
      String(batch),
      users.join(','),
    ]);
    let firstCommitMs: number | undefined;
    const run2 = await follow(second, () => {
      firstCommitMs ??= performance.now() - t0;
    });
    if (run2.code !== 0 || run2.probe === undefined) {
      throw new Error(`the restarted run failed (exit ${run2.code})`);
    }
    // 3. Recount the sampled users over the traffic (+1 event of amount 1 each: the probe).
    const expected = new Map<number, { n: number; total: number }>(users.map((u) => [u, { n: 1, total: 1 }]));
    for (let i = 0; i < events; i++) {
      const e = expected.get(userOf(i));
      if (e !== undefined) {
        e.n++;
        e.total += amountOf(i);
      }
    }
    const got = new Map(run2.probe.map((r) => [Number(r.userId), r]));
    let wrong = 0;
    for (const [u, e] of expected) {
      const g = got.get(u);
      if (g === undefined || Number(g.n) !== e.n || Number(g.total) !== e.total) wrong++;
    }
    // 4. The plain-JS baseline.
    const base = startChild(heap, 'baseline.ts', [String(events)]);
    let baseline:
      { eventsPerSecond: number; eventsPerSecondEnd: number; heapBytesPerKey: number } | undefined;
    createInterface({ input: base.stdout! }).on('line', (l) => {
      if (l.startsWith('{')) baseline = JSON.parse(l) as typeof baseline;
    });
    await new Promise((r) => base.on('exit', r));

    const bs = run1.batches.filter((b) => b.rows > 0);
    const ms = bs.map((b) => b.ms);
    const result = {
      bench: 'state',
      store,
      keys: run1.batches.at(-1)!.keys,
      events,
      batchEvents: batch,
      batches: bs.length,
      eventsPerSecondStart: Math.round(rate(bs.slice(0, 5))),
      eventsPerSecondEnd: Math.round(rate(bs.slice(-5))),
      eventsPerSecondAll: Math.round(rate(bs)),
      p50BatchMs: Math.round(pct(ms, 50)),
      p99BatchMs: Math.round(pct(ms, 99)),
      maxBatchMs: Math.round(Math.max(...ms)),
      peakRssBytes: peak,
      rssBytesPerKey: Math.round(peak / keys),
      snapshotsWritten: bs.reduce((n, b) => n + b.snapshots, 0),
      restartSeconds: Number(((firstCommitMs ?? 0) / 1000).toFixed(2)),
      sampled: expected.size,
      countsCorrect: wrong === 0 && got.size === expected.size,
      baselineEventsPerSecond: Math.round(baseline?.eventsPerSecond ?? 0),
      baselineEventsPerSecondEnd: Math.round(baseline?.eventsPerSecondEnd ?? 0),
      baselineHeapBytesPerKey: Math.round(baseline?.heapBytesPerKey ?? 0),
      nodeVersion: process.version,
      loadAverage: (await import('node:os')).loadavg()[0],
    };
    const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
    process.stdout.write(
      [
        `Large state, ${store} store: ${result.keys.toLocaleString('en-US')} keys after ${events.toLocaleString('en-US')} events in ${bs.length} batches of ${batch.toLocaleString('en-US')}`,
        `events/s ${result.eventsPerSecondStart.toLocaleString('en-US')} (first 5 batches) → ${result.eventsPerSecondEnd.toLocaleString('en-US')} (last 5); plain JS Map ${result.baselineEventsPerSecond.toLocaleString('en-US')}`,
        `batch p50 ${result.p50BatchMs} ms, p99 ${result.p99BatchMs} ms, max ${result.maxBatchMs} ms; peak RSS ${mib(peak)} (${result.rssBytesPerKey} B/key; plain Map heap ${result.baselineHeapBytesPerKey} B/key)`,
        `SIGKILL, restart → first commit ${result.restartSeconds} s; ${expected.size} sampled users' counts ${result.countsCorrect ? 'correct' : `WRONG for ${wrong}`}`,
      ].join('\n') + '\n',
    );
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return result.countsCorrect ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
