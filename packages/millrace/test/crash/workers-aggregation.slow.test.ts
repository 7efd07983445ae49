/**
 * Crash test of a query on worker threads: file source → watermark [→ dropDuplicates] → tumbling
 * windows + key → count/sum/min/max (append) → file sink, with `partitions: 4` and
 * `workers: { count: 2 }`, SIGKILLed at random points and restarted. The driver (the child's main
 * thread) plans the files, commits the sink's manifest from the workers' part files (SinkTasks)
 * and writes offsets/N and commits/N; worker w exchanges rows by key with the other worker, runs
 * state partitions p ≡ w (mod 2) and commits their stores (version N+1) at the end of its task.
 *
 *   test process                          child (workers-aggregation.child.ts, workers-query.ts)
 *   ────────────                          ──────────────────────────────────────────────────────
 *   write 30 input files ───────────────► fileSource(maxFilesPerTrigger 2)    driver
 *   repeat 14 times (per variant):          → withWatermark('t', 8 s)         ┐
 *     spawn child; add 1–6 more files       [→ dropDuplicates(k, id, t)]      │ 2 worker threads,
 *     SIGKILL (7 kinds, each twice):        → groupBy(window(t, 10 s), k)     │ 4 state partitions
 *     - while the workers start             → agg(count, sum, min, max, max t)│
 *     - at a random time                    → map (unchanged; may stall)      ┘
 *     - in the sink's commit (×2): the      → fileSink(jsonl), append mode: each worker writes its
 *       workers wrote their part files,       part files, the driver commits them in manifest N
 *       manifest N is being written
 *     - one worker stalled before its output and commit, once the other committed its
 *       partitions: exactly one worker's partitions (p mod 2) must be at N+1
 *     - the driver stalled right after the sink's write: state N+1 and manifest N on disk,
 *       commits/N not
 *     - just after a batch's progress record
 *     inspect checkpoint + state (per partition) + sink: where did the kill land?
 *     committed results ⊆ possible results, and ⊇ those before the kill
 *     every progress record matches the model: watermark, input rows, per operator state rows,
 *     rows dropped as late, duplicates, partitions 0..3 reported, their input rows summing to
 *     the rows that reach the operator (for an aggregation that receives partial aggregates
 *     from the workers: at most that many)
 *   final run (Trigger.availableNow(), clean exit): 10 more files, then one far-future event,
 *   so the watermark closes every other window
 *   output == expected (multiset, exact counts/sums/min/max), every part file in a manifest; the
 *   layout says 4 partitions; state/<operator>/0..3, each at the last version, old versions
 *   removed, no temp files; partitions of both parities (both workers) had input; the final
 *   run's two worker threads built the plan
 *
 * The model is the one of windowed-aggregation.slow.test.ts (see its header), for tumbling windows
 * only: file i's rows are judged late by a watermark somewhere in [W(i−2m+1), W(i)] whatever the
 * batching (W(s) = max event time of files < s − delay, m = maxFilesPerTrigger), so event times
 * are redrawn until each row is late under every batching or under none: for the aggregation a
 * row is late when its window's end is ≤ that watermark; with dropDuplicates before it, when its
 * event time is (dedup drops it; a row it lets through has a window end > t, on time too). The
 * dedup variant also copies earlier rows (15%): the copy is late, or a duplicate of an on-time
 * row still in the dedup state (copies whose fate would depend on the batching are not made);
 * either way it adds nothing to the output.
 *
 * Reproduce a failure with CRASH_SEED=<seed printed in the summary>.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { type StreamingQueryProgress, readFileSinkOutput } from '../../src/index.ts';
import {
  CRASH_DIR,
  type Child,
  PhaseTally,
  WorkDir,
  compareFileSinkOutput,
  countBy,
  inspectCheckpoint,
  killAll,
  listTree,
  logUniform,
  multisetDiff,
  partFileBatch,
  progressOf,
  prng,
  randInt,
  rowKey,
  runToEnd,
  seedFromEnv,
  sinkPartFiles,
  sleep,
  spawnChild,
  stateVersions,
  waitFor,
  writeJsonlInput,
} from './harness.ts';
import type { WorkersQueryArgs } from './workers-query.ts';

const CHILD = path.join(CRASH_DIR, 'workers-aggregation.child.ts');
const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
const STEP_MS = 2_000;
const DELAY_MS = 8_000;
const WINDOW_MS = 10_000;
const MAX_FILES = 2;
const ROWS_PER_FILE = 40;
const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7'] as const;
const PARTITIONS = 4;
const WORKERS = 2;
/** minBatchesToRetain of the child; the memory store snapshots every 10 versions (its default). */
const RETAIN = 5;
const SNAPSHOT_INTERVAL = 10;
const KILLS = 14;
const PRE_FILES = 30;
/** Files added before the final run's far-future event (more batches on the final run's workers). */
const FINAL_FILES = 10;

interface InputRow {
  k: string;
  /** Unique per drawn row; a copy (dedup variant) keeps its original's. */
  id: number;
  v: number;
  t: number;
}

interface Prediction {
  watermark: number;
  inputRows: number;
  /**
   * Per operator, in plan order: state rows, rows dropped as late, the rows that reach it (the
   * partitions' input rows summed; an aggregation on workers may get partial aggregates instead,
   * one per group and task: then at most that many, and some if any of them is on time).
   */
  operators: {
    stateRows: number;
    /** numRowsDroppedByWatermark: late rows (dedup), late (window, key) groups (aggregation). */
    dropped: number;
    /** The late rows behind `dropped` (they still reach an aggregation's partitions, in partials). */
    lateRows?: number;
    partitionInput: number | string;
    duplicates?: number;
  }[];
}

const windowStart = (t: number) => Math.floor(t / WINDOW_MS) * WINDOW_MS;

/** A window the query emits (as readFileSinkOutput reads it back: timestamps in ms). */
interface WindowResult extends Record<string, unknown> {
  window: { start: number; end: number };
  k: string;
  n: number;
  s: number;
  lo: number;
  hi: number;
  last: number;
}

/** The input files, in reading order, and what the query must make of them (see the header). */
class Model {
  readonly files: InputRow[][] = [];
  /** prefixMax[i]: the max event time of files 0..i-1 (-Infinity for i = 0). */
  private readonly prefixMax: number[] = [-Infinity];
  /** Per file: the rows that reach the aggregation (on time, not copies). */
  private readonly counted: InputRow[][] = [];
  /** Per file: rows dropped as late; copies dropped as duplicates. */
  private readonly late: number[] = [];
  /** Per file: the (window, key) groups of its late rows. */
  private readonly lateGroups: string[][] = [];
  private readonly duplicates: number[] = [];
  private nextId = 0;
  outOfOrderOnTime = 0;

  constructor(
    private readonly rng: () => number,
    readonly dedup: boolean,
  ) {}

  /** The watermark of a batch that starts at file s. */
  watermarkAt(s: number): number {
    return Math.max(0, this.prefixMax[s]! - DELAY_MS);
  }

  /** A row is late under watermark wm: its event time (dedup) or its window's end (aggregation) ≤ wm. */
  private lateUnder(row: InputRow, wm: number): boolean {
    return (this.dedup ? row.t : windowStart(row.t) + WINDOW_MS) <= wm;
  }

  /** Draw the next file: mostly slightly out of order, some stragglers; or one far-future event. */
  addFile(farFuture = false): InputRow[] {
    const i = this.files.length;
    const lo = this.watermarkAt(Math.max(0, i - 2 * MAX_FILES + 1));
    const hi = this.watermarkAt(i);
    const fate = (r: InputRow) =>
      this.lateUnder(r, lo) ? 'late' : this.lateUnder(r, hi) ? 'ambiguous' : 'on time';
    const base = T0 + i * STEP_MS;
    const rows: InputRow[] = [];
    const counted: InputRow[] = [];
    let late = 0;
    const lateGroups: string[] = [];
    let duplicates = 0;
    const draw = (t: number): InputRow => ({
      k: KEYS[randInt(this.rng, 0, KEYS.length - 1)]!,
      id: this.nextId++,
      v: randInt(this.rng, -500, 1000),
      t,
    });
    if (farFuture) {
      const row = draw(this.prefixMax[i]! + 3_600_000);
      rows.push(row);
      counted.push(row);
    }
    while (!farFuture && rows.length < ROWS_PER_FILE) {
      if (this.dedup && this.rng() < 0.15) {
        // A copy of a row of this file or of the last four: late, or a duplicate of an on-time row.
        const pool = [...this.files.slice(-4).flat(), ...rows];
        const original = pool[randInt(this.rng, 0, pool.length - 1)];
        if (original !== undefined && fate(original) !== 'ambiguous') {
          rows.push({ ...original });
          if (fate(original) === 'late') late++;
          else duplicates++;
        }
        continue;
      }
      const t =
        this.rng() < 0.15 ? base - randInt(this.rng, 8_000, 45_000) : base + randInt(this.rng, -7_000, 2_000);
      const row = draw(t);
      const f = fate(row);
      if (f === 'ambiguous') continue;
      rows.push(row);
      if (f === 'late') {
        late++;
        lateGroups.push(`${windowStart(row.t)}|${row.k}`);
      } else {
        counted.push(row);
        if (row.t < this.prefixMax[i]!) this.outOfOrderOnTime++;
      }
    }
    this.files.push(rows);
    this.counted.push(counted);
    this.late.push(late);
    this.lateGroups.push(lateGroups);
    this.duplicates.push(duplicates);
    this.prefixMax.push(Math.max(this.prefixMax[i]!, ...rows.map((r) => r.t)));
    return rows;
  }

  private sum(per: readonly number[], from: number, to: number): number {
    return per.slice(from, to).reduce((a, n) => a + n, 0);
  }

  lateRows(): number {
    return this.sum(this.late, 0, this.files.length);
  }

  duplicateRows(): number {
    return this.sum(this.duplicates, 0, this.files.length);
  }

  /** Every window the query can ever emit from the rows of files < `files`, by window and key. */
  results(files = this.files.length): Map<string, WindowResult> {
    const m = new Map<string, WindowResult>();
    for (const r of this.counted.slice(0, files).flat()) {
      const start = windowStart(r.t);
      const key = `${start}|${r.k}`;
      const a = m.get(key);
      if (a === undefined)
        m.set(key, {
          window: { start, end: start + WINDOW_MS },
          k: r.k,
          n: 1,
          s: r.v,
          lo: r.v,
          hi: r.v,
          last: r.t,
        });
      else {
        a.n++;
        a.s += r.v;
        a.lo = Math.min(a.lo, r.v);
        a.hi = Math.max(a.hi, r.v);
        a.last = Math.max(a.last, r.t);
      }
    }
    return m;
  }

  /** The final output: every window the final watermark closes. */
  expectedOutput(): WindowResult[] {
    const wm = this.watermarkAt(this.files.length);
    return [...this.results().values()].filter((r) => r.window.end <= wm);
  }

  /** What a progress record must say, for a batch over files [s, e). */
  predict(s: number, e: number): Prediction {
    const watermark = this.watermarkAt(s);
    const inputRows = this.sum(
      this.files.map((f) => f.length),
      s,
      e,
    );
    const late = this.sum(this.late, s, e);
    const aggregate = {
      // One state row per (window, key) the watermark has not closed.
      stateRows: [...this.results(e).values()].filter((r) => r.window.end > watermark).length,
      // The aggregation counts each late (window, key) group once per batch (Spark's count after
      // partial aggregation); behind the dedup, late rows never reach it.
      dropped: this.dedup ? 0 : new Set(this.lateGroups.slice(s, e).flat()).size,
      lateRows: this.dedup ? 0 : late,
      partitionInput: this.dedup ? inputRows - late - this.sum(this.duplicates, s, e) : inputRows,
    };
    if (!this.dedup) return { watermark, inputRows, operators: [aggregate] };
    const dedup = {
      // One state row per on-time (k, id, t) the watermark has not passed.
      stateRows: this.counted.slice(0, e).reduce((a, f) => a + f.filter((r) => r.t > watermark).length, 0),
      dropped: late,
      partitionInput: inputRows,
      duplicates: this.sum(this.duplicates, s, e),
    };
    return { watermark, inputRows, operators: [dedup, aggregate] };
  }
}

/** The partitions' input rows summed, replaced by the expected figure when they agree (see Prediction). */
function partitionInputOk(
  operator: string,
  got: number,
  want: Prediction['operators'][number] | undefined,
): number | string {
  if (want === undefined || typeof want.partitionInput !== 'number') return got;
  const reaching = want.partitionInput;
  const onTime = reaching - (want.lateRows ?? want.dropped);
  const ok = operator.startsWith('aggregate')
    ? got <= reaching && (onTime === 0 || got > 0)
    : got === reaching;
  return ok ? reaching : `${got} (of ${reaching} rows reaching it)`;
}

/** Check one progress record against the model; returns a problem or null. */
function checkProgress(model: Model, p: StreamingQueryProgress): string | null {
  const src = p.sources[0]!;
  const s = src.startOffset === null ? 0 : Number(src.startOffset);
  const e = src.endOffset === null ? 0 : Number(src.endOffset);
  const want = model.predict(s, e);
  const got: Prediction = {
    watermark: Date.parse(p.eventTime.watermark!),
    inputRows: p.numInputRows,
    operators: p.stateOperators.map((op, j) => {
      const tasks = op.partitions?.tasks ?? [];
      const duplicates = op.customMetrics?.numDroppedDuplicateRows;
      return {
        stateRows: op.numRowsTotal,
        dropped: op.numRowsDroppedByWatermark,
        partitionInput: partitionInputOk(
          op.operatorName,
          tasks.reduce((a, t) => a + t.numInputRows, 0),
          want.operators[j],
        ),
        ...(want.operators[j]?.duplicates === undefined ? {} : { duplicates }),
      };
    }),
  };
  const problems: string[] = [];
  // lateRows only explains partitionInput; progress does not report it.
  const shown = { ...want, operators: want.operators.map(({ lateRows: _lateRows, ...op }) => op) };
  if (JSON.stringify(got) !== JSON.stringify(shown))
    problems.push(`expected ${JSON.stringify(shown)}, progress says ${JSON.stringify(got)}`);
  for (const op of p.stateOperators) {
    const parts = op.partitions?.tasks.map((t) => t.partition);
    if (op.partitions?.numPartitions !== PARTITIONS || JSON.stringify(parts) !== JSON.stringify([0, 1, 2, 3]))
      problems.push(
        `${op.operatorName}: partitions ${JSON.stringify(op.partitions?.numPartitions)} ${JSON.stringify(parts)}`,
      );
  }
  return problems.length === 0 ? null : `batch ${p.batchId} over files [${s}, ${e}): ${problems.join('; ')}`;
}

/** The kinds of kill, in a cycle: each kill takes the next, the cycle shuffled (14 kills: each kind twice). */
const STRATEGIES = [
  'while the workers start',
  'at a random time',
  'in the sink write',
  'one worker stalled before its commit',
  'after the sink write (stalled)',
  'after a progress record',
  'in the sink write',
] as const;
type Strategy = (typeof STRATEGIES)[number];

function killPlan(rng: () => number): Strategy[] {
  const plan = Array.from({ length: KILLS }, (_, j) => STRATEGIES[j % STRATEGIES.length]!);
  for (let j = plan.length - 1; j > 0; j--) {
    const r = randInt(rng, 0, j);
    [plan[j], plan[r]] = [plan[r]!, plan[j]!];
  }
  return plan;
}

/** `<operator>/<partition>` of each store whose `version` was written at or after `sinceWallMs` (by the last child). */
async function stateWritten(
  checkpoint: string,
  operators: readonly string[],
  version: number,
  sinceWallMs: number,
): Promise<string[]> {
  const out: string[] = [];
  for (const op of operators) {
    for (let p = 0; p < PARTITIONS; p++) {
      for (const ext of ['delta', 'snapshot']) {
        const file = path.join(checkpoint, 'state', op, String(p), `${version}.${ext}`);
        const mtime = await fsp.stat(file).then(
          (st) => st.mtimeMs,
          () => -1,
        );
        if (mtime >= sinceWallMs - 1) {
          out.push(`${op}/${p}`);
          break;
        }
      }
    }
  }
  return out;
}

/** Where a kill inside batch N landed, from the stores of version N+1 and the sink files this child wrote. */
async function phaseInBatch(
  checkpoint: string,
  output: string,
  operators: readonly string[],
  n: number,
  sinceWallMs: number,
): Promise<string> {
  const written = await stateWritten(checkpoint, operators, n + 1, sinceWallMs);
  const ofWorker = (w: number) =>
    operators.flatMap((op) => [0, 1, 2, 3].filter((p) => p % WORKERS === w).map((p) => `${op}/${p}`));
  const state =
    written.length === 0
      ? 'no state N+1'
      : written.length === operators.length * PARTITIONS
        ? 'state N+1 in all'
        : [0, 1].some((w) => JSON.stringify(written) === JSON.stringify(ofWorker(w)))
          ? `state N+1 of one worker's partitions only`
          : `state N+1 in partitions ${written.join(' ')} only`;
  const manifest = await fsp.stat(path.join(output, '_millrace_manifest', String(n))).then(
    (st) => st.mtimeMs,
    () => -1,
  );
  const sink =
    manifest >= sinceWallMs - 1
      ? 'sink manifest N'
      : manifest >= 0
        ? 'sink manifest N (an earlier run)'
        : (await sinkPartFiles(output)).some((f) => partFileBatch(f) === n)
          ? 'sink part files of N'
          : 'nothing in the sink';
  return `${state}, ${sink}`;
}

interface Variant {
  readonly name: string;
  readonly seed: number;
  readonly dedup: boolean;
  /** The stateful operators' ids, in plan order. */
  readonly operators: readonly string[];
}

const VARIANTS: readonly Variant[] = [
  { name: 'windows', seed: 20250801, dedup: false, operators: ['aggregate-0'] },
  { name: 'dropDuplicates then windows', seed: 20250802, dedup: true, operators: ['dedup-0', 'aggregate-1'] },
];

const children: Child[] = [];
afterAll(() => killAll(children));

for (const variant of VARIANTS) {
  it(`on ${WORKERS} worker threads, ${PARTITIONS} partitions: file source → watermark → ${variant.name} + key → count/sum/min/max (append) → file sink: SIGKILL at random points, every window once, exact`, async () => {
    const seed = seedFromEnv(variant.seed);
    const rng = prng(seed);
    const work = await WorkDir.create('workers');
    let passed = false;
    try {
      const input = work.sub('input');
      const output = work.sub('output');
      const checkpoint = work.sub('checkpoint');
      await fsp.mkdir(input, { recursive: true });
      await fsp.mkdir(output, { recursive: true });
      const args: WorkersQueryArgs = {
        input,
        maxFiles: MAX_FILES,
        delayMs: DELAY_MS,
        windowMs: WINDOW_MS,
        dedup: variant.dedup,
      };
      const env = {
        CRASH_ARGS: JSON.stringify(args),
        CRASH_OUTPUT: output,
        CRASH_CHECKPOINT: checkpoint,
        CRASH_RETAIN: String(RETAIN),
      };
      const model = new Model(rng, variant.dedup);
      const addFile = async (farFuture = false) =>
        writeJsonlInput(input, model.files.length, model.addFile(farFuture));
      for (let i = 0; i < PRE_FILES; i++) await addFile();

      const phases = new PhaseTally();
      const strategies = new PhaseTally();
      const progressProblems: string[] = [];
      const allProgress: StreamingQueryProgress[] = [];
      const checkProgressOf = (child: Child, when: string) => {
        for (const p of progressOf(child)) {
          allProgress.push(p);
          const problem = checkProgress(model, p);
          if (problem !== null) progressProblems.push(`${when}: ${problem}`);
        }
      };
      let killsWithUncommitted = 0;
      let stallMissed = 0;
      let workerStallMissed = 0;
      /** Where each kill made while a worker stalled before its commit landed. */
      const workerStallPhases: string[] = [];
      let previous = new Map<string, number>();
      const started = performance.now();
      for (const [kill, strategy] of killPlan(rng).entries()) {
        strategies.add(strategy);
        const nth = randInt(rng, 1, 2);
        const stalled = strategy === 'after the sink write (stalled)';
        const workerStalled = strategy === 'one worker stalled before its commit';
        const spawnedAtWall = Date.now();
        const child = spawnChild(CHILD, {
          ...env,
          ...(stalled ? { CRASH_STALL_AT_WRITE: String(nth) } : {}),
          ...(workerStalled ? { CRASH_STALL_WORKER: work.sub(`stall-${kill}`) } : {}),
        });
        children.push(child);
        await child.waitForLine((l) => l === 'READY', 'READY');
        // A stall needs batches: nth sink writes, or a batch whose watermark closes a window (> 10 s of event time).
        const adds = stalled ? randInt(rng, 3, 5) : workerStalled ? 6 : randInt(rng, 1, 4);
        if (strategy === 'while the workers start') {
          // READY → STARTED: the workers load tsx and build the plan (~0.5 s)
          for (let i = 0; i < adds; i++) await addFile();
          await sleep(logUniform(rng, 1, 600));
        } else {
          await child.waitForLine((l) => l === 'STARTED', 'STARTED');
          if (strategy === 'at a random time') {
            const delay = logUniform(rng, 1, 1000);
            const addAt = Math.floor(rng() * delay);
            await sleep(addAt);
            for (let i = 0; i < adds; i++) await addFile();
            await sleep(delay - addAt);
          } else if (stalled) {
            // The driver blocks right after the sink's write (state N+1 committed by the workers): kill it there.
            for (let i = 0; i < adds; i++) await addFile();
            if ((await child.nextLine((l) => l.startsWith('STALL '), 5_000)) === null) stallMissed++;
          } else if (workerStalled) {
            // One worker blocks before its output and commit; kill once the other has committed its partitions.
            for (let i = 0; i < adds; i++) await addFile();
            if ((await child.nextLine((l) => l.startsWith('WORKER_STALL '), 5_000)) === null)
              workerStallMissed++;
            else {
              const cp = await inspectCheckpoint(checkpoint);
              const n = cp.uncommitted;
              if (n === null) workerStallPhases.push('no batch in flight at WORKER_STALL');
              else {
                const half = (variant.operators.length * PARTITIONS) / WORKERS;
                await waitFor(
                  async () =>
                    (await stateWritten(checkpoint, variant.operators, n + 1, spawnedAtWall)).length >= half,
                  `the other worker's commit of batch ${n}`,
                  3_000,
                ).catch(() => undefined);
                await child.killMidRun();
                workerStallPhases.push(
                  await phaseInBatch(checkpoint, output, variant.operators, n, spawnedAtWall),
                );
              }
            }
          } else {
            for (let i = 0; i < adds; i++) await addFile();
            const marker = strategy === 'in the sink write' ? 'SINK_BEGIN ' : 'PROGRESS ';
            // no more input within the wait: kill while idle
            await child.waitForNth(marker, nth, 2_000);
            const gap = randInt(rng, 0, strategy === 'in the sink write' ? 20 : 5);
            if (gap > 0) await sleep(gap);
          }
        }
        await child.killMidRun();

        // Where did the kill land?
        const cp = await inspectCheckpoint(checkpoint);
        let phase: string;
        if (!child.lines.includes('STARTED')) phase = 'startup';
        else if (cp.uncommitted !== null) {
          killsWithUncommitted++;
          phase = await phaseInBatch(checkpoint, output, variant.operators, cp.uncommitted, spawnedAtWall);
        } else phase = 'between batches';
        phases.add(phase);

        // Invariants at every kill.
        checkProgressOf(child, `kill ${kill} (${strategy})`);
        const now = countBy(await readFileSinkOutput(output), rowKey);
        const vsPossible = multisetDiff(countBy(model.results().values(), rowKey), now);
        expect(
          vsPossible.extra,
          `after kill ${kill} (seed ${seed}): windows not expected, wrong or duplicated: ${vsPossible.extraExamples.join('; ')}`,
        ).toBe(0);
        const vsBefore = multisetDiff(previous, now);
        expect(
          vsBefore.missing,
          `after kill ${kill} (seed ${seed}): committed windows disappeared: ${vsBefore.missingExamples.join('; ')}`,
        ).toBe(0);
        previous = now;
      }
      const killLoopMs = performance.now() - started;

      // -- final run: a far-future event closes every window ---------------------
      for (let i = 0; i < FINAL_FILES; i++) await addFile();
      await addFile(true);
      const last = await runToEnd(CHILD, { ...env, CRASH_FINAL: '1' }, children);
      checkProgressOf(last, 'final run');
      const workerThreads = new Set(last.lines.filter((l) => l.startsWith('WORKER_PLAN ')));
      expect(
        workerThreads.size,
        `worker threads that built the plan in the final run: ${[...workerThreads].join(', ')}`,
      ).toBe(WORKERS);

      const expected = model.expectedOutput();
      const out = await compareFileSinkOutput(output, expected);
      expect(
        out,
        `committed output vs expected (seed ${seed}): missing ${out.missingExamples.join('; ')} / extra ${out.extraExamples.join('; ')}`,
      ).toMatchObject({ missing: 0, extra: 0, unmanifested: [], tempFiles: [] });
      expect(out.rows).toBe(expected.length);
      expect(progressProblems, `progress records that do not match the model (seed ${seed})`).toEqual([]);

      // The checkpoint: everything committed, 4 partitions per operator, all at the last version.
      const cp = await inspectCheckpoint(checkpoint);
      expect(cp.uncommitted).toBeNull();
      const batches = cp.lastCommitted! + 1;
      const layout = JSON.parse(
        (await fsp.readFile(path.join(checkpoint, 'layout'), 'utf8')).split('\n')[1]!,
      ) as {
        numPartitions: number;
      };
      expect(layout.numPartitions, 'partitions recorded in the checkpoint layout').toBe(PARTITIONS);
      const stateTree = await listTree(path.join(checkpoint, 'state'));
      const stateDirs = [...new Set(stateTree.map((f) => f.split('/').slice(0, 2).join('/')))].sort();
      expect(stateDirs).toEqual(
        variant.operators.flatMap((op) => Array.from({ length: PARTITIONS }, (_, p) => `${op}/${p}`)).sort(),
      );
      let maxKept = 0;
      for (const op of variant.operators) {
        for (let p = 0; p < PARTITIONS; p++) {
          const sv = await stateVersions(checkpoint, op, p);
          const versions = [...new Set([...sv.deltas, ...sv.snapshots])];
          expect(Math.max(...versions), `last state version of ${op}/${p}`).toBe(batches);
          maxKept = Math.max(maxKept, versions.length);
          expect(sv.temps, `temp files in ${op}/${p}`).toEqual([]);
        }
      }
      expect(batches, 'too few batches to tell whether old state versions are removed').toBeGreaterThan(
        RETAIN + 2 * SNAPSHOT_INTERVAL + 5,
      );
      expect(maxKept, 'state versions kept in a partition').toBeLessThanOrEqual(
        RETAIN + 2 * SNAPSHOT_INTERVAL + 2,
      );
      const tempLeft = (await listTree(checkpoint)).filter((f) =>
        f.split('/').some((seg) => seg.endsWith('.tmp')),
      );
      expect(tempLeft, 'interrupted-write temp files left in the checkpoint').toEqual([]);

      // Both workers did work: partitions of both parities (p mod 2 = worker) had input, per operator.
      const withInput = variant.operators.map((id) => {
        const ps = new Set<number>();
        for (const p of allProgress)
          for (const t of p.stateOperators.find((o) => o.operatorName === id)?.partitions?.tasks ?? [])
            if (t.numInputRows > 0) ps.add(t.partition);
        return [...ps].sort();
      });
      const summary =
        `[crash:workers ${variant.name}] seed ${seed}: ${KILLS} kills in ${(killLoopMs / 1000).toFixed(1)} s; ` +
        `${killsWithUncommitted} with an uncommitted batch; stalls not reached: ${stallMissed} of the driver, ${workerStallMissed} of a worker; phases: ${phases}; ` +
        `kill timing: ${strategies}; input ${model.files.length} files / ${model.files.flat().length} rows, ` +
        `${model.lateRows()} late, ${model.duplicateRows()} duplicates, ${model.outOfOrderOnTime} out of order but on time; ` +
        `output ${out.rows} windows; ${batches} batches; ${allProgress.length} progress records checked; ` +
        `partitions with input: ${variant.operators.map((op, j) => `${op} [${withInput[j]!.join(',')}]`).join(', ')}; ` +
        `state versions kept per partition ≤ ${maxKept}`;
      console.log(summary);
      for (const [j, op] of variant.operators.entries()) {
        expect(withInput[j], `partitions of ${op} that had input rows`).toEqual([0, 1, 2, 3]);
      }
      expect(killsWithUncommitted, 'no kill landed inside a batch').toBeGreaterThan(0);
      expect(
        phases.get('state N+1 in all, sink manifest N'),
        'no kill landed between the sink write and commits/N',
      ).toBeGreaterThan(0);
      // A kill while one worker stalls before its commit: exactly the other worker's partitions (p mod 2) are at N+1.
      expect(workerStallPhases.length, 'no kill landed while one worker stalled').toBeGreaterThan(0);
      for (const ph of workerStallPhases)
        expect(ph, 'where a kill landed while one worker stalled before its commit').toMatch(
          /^state N\+1 of one worker's partitions only, /,
        );
      passed = true;
    } finally {
      await killAll(children);
      await work.finish(passed);
    }
  });
}
