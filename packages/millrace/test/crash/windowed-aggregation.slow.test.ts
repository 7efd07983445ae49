/**
 * Crash tests of stateful queries: file source → watermark → windowed or
 * session-window aggregation (append mode) → file sink, SIGKILLed at random
 * points of the micro-batch protocol, including between the state commit
 * (version N+1) and commits/N (docs/architecture.md). Plus a graceful restart
 * that must change nothing but the process.
 *
 *   test process                          child (windowed-aggregation.child.ts)
 *   ────────────                          ─────────────────────────────────────
 *   write 30 input files ───────────────► fileSource(maxFilesPerTrigger 2)
 *   repeat 28 times:                        → withWatermark('t', 8 s)
 *     spawn child; add 1–4 more files       → groupBy(window(t, 10 s[, 5 s]), k)
 *     SIGKILL: early, at a random time,        or groupBy(sessionWindow(t, g), k)
 *     in the sink's write, after it, or     → agg(count, sum, min, max, max t)
 *     with the child stalled right after    → fileSink(jsonl)          append mode
 *     a state commit (any batch, or a
 *     no-data batch)
 *     inspect checkpoint + state + sink: where did the kill land?
 *     committed results ⊆ possible results, and ⊇ those before the kill
 *     every progress record matches the model (watermark, input rows,
 *     state rows, rows dropped as late)
 *   final file: one far-future event, so the watermark closes everything else
 *   final run with Trigger.availableNow(), clean exit
 *   output == expected (multiset, exact counts/sums/min/max), no temp files,
 *   a bounded number of state versions on disk
 *
 * Three variants: tumbling 10 s windows, sliding 10 s / 5 s windows, session
 * windows with a per-row gap of 2–5 s (sessionWindow($.t, $.g)).
 *
 * How the expected output is independent of the batching. In Spark 3.4+
 * semantics a (row, window) pair is late when window.end <= the watermark of
 * the batch before the one the row is in (for a session window: when
 * t + gap <= it), and that watermark (max event time of all earlier batches
 * minus the delay) depends on where batch boundaries fall — which depends on
 * when files appear and where the kills land. But files are read in a fixed
 * order (their mtimes increase with their index), a batch holds at most
 * maxFilesPerTrigger = m consecutive files, and a batch starting at file s
 * runs with watermark W(s) = max(0, max event time of files < s − delay); the
 * batch before it (with data: it started at a file ≥ s − m; or without data:
 * it ran with W(s)) ran with a watermark in [W(s−m), W(s)]. So the rows of
 * file i are judged by a watermark in [W(i−2m+1), W(i)], whatever the
 * batching. The generator draws each row's event time and redraws it while
 * any of its windows (its session [t, t + g)) has an end in the ambiguous
 * range (W(i−2m+1), W(i)]: every pair is then late under every batching
 * (end <= W(i−2m+1)) or under none (end > W(i)). Rows are mostly a little out
 * of order (file i spans [B_i − 7 s, B_i + 2 s], B_i = T0 + 2 s·i, delay 8 s);
 * about one in seven is a straggler 8–45 s behind, which is late for some or
 * all of its windows, or still on time for a window that ends late enough.
 *
 * Sessions need one more rule: sessions merge, so an on-time row that
 * touches a session the watermark may already have closed (and emitted)
 * would extend it under one batching and start a new session under another.
 * Such rows are redrawn too (a row must not touch a session, of the rows so
 * far, whose end is <= W(i)); then the sessions are exactly the connected
 * components of each key's on-time rows, in any batching. Keys are active
 * 10 s out of every 24 s, so sessions close and new ones start.
 *
 * The expected output is: the windows (sessions) of the on-time rows,
 * aggregated, whose end is <= the final watermark (all but the far-future
 * event's). The same model predicts every progress record exactly: a batch
 * over files [s, e) has watermark W(s), reads the rows of those files, drops
 * their late pairs (rows), and its state holds the windows (sessions) of
 * on-time rows of files < e that end after W(s) — one state row per window
 * and key, one per open session.
 *
 * Kills are classified by what is on disk afterwards: before STARTED
 * (startup), offsets/N without commits/N (split by how far batch N got: not
 * to the sink, sink part files, sink manifest, state version N+1 written by
 * this child), or no uncommitted batch (between batches).
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
  countBy,
  inspectCheckpoint,
  killAll,
  listTree,
  logUniform,
  multisetDiff,
  partFileBatch,
  prng,
  randInt,
  rowKey,
  seedFromEnv,
  sinkManifestIds,
  sinkPartFiles,
  sleep,
  progressOf,
  spawnChild,
  stateVersions,
  writeJsonlInput,
} from './harness.ts';

const CHILD = path.join(CRASH_DIR, 'windowed-aggregation.child.ts');
const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
const STEP_MS = 2_000;
const DELAY_MS = 8_000;
const WINDOW_MS = 10_000;
const MAX_FILES = 2;
const ROWS_PER_FILE = 40;
const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4'] as const;
const SESSION_ROWS_PER_FILE = 16;
const SESSION_KEYS = Array.from({ length: 12 }, (_, j) => `u${String(j).padStart(2, '0')}`);
/** minBatchesToRetain of the child; the memory store snapshots every 10 versions (its default). */
const RETAIN = 5;
const SNAPSHOT_INTERVAL = 10;

interface InputRow {
  k: string;
  v: number;
  t: number;
  /** Session gap (ms), in the session test's input only. */
  g?: number;
}

type FileKind = 'normal' | 'late' | 'farFuture';

interface Prediction {
  watermark: number;
  inputRows: number;
  stateRows: number;
  dropped: number;
}

/**
 * The input files, in reading order, and what the query must do with them.
 * Subclasses decide what a row's "units" are (window model: its (row,
 * window) pairs; session model: the row's own session [t, t + g)) and accept
 * a drawn row only if each unit is late under every batching or under none
 * (see the header).
 */
abstract class InputModel {
  readonly files: InputRow[][] = [];
  /** prefixMax[i]: the max event time of files 0..i-1 (-Infinity for i = 0). */
  protected readonly prefixMax: number[] = [-Infinity];
  /** Per file: how many late units (rows dropped and counted by the operator) it has. */
  private readonly lateUnits: number[] = [];
  /** Units seen, and rows older than an event of an earlier file yet on time. */
  totalUnits = 0;
  outOfOrderOnTime = 0;

  constructor(protected readonly rng: () => number) {}

  /** The watermark of a batch that starts at file s. */
  watermarkAt(s: number): number {
    return Math.max(0, this.prefixMax[s]! - DELAY_MS);
  }

  /**
   * Draw the next file. `normal`: mostly slightly out of order, some
   * stragglers; `late`: every unit late; `farFuture`: one event an hour after
   * everything, to move the watermark past every other window or session.
   */
  addFile(kind: FileKind, rows = this.rowsPerFile): InputRow[] {
    const i = this.files.length;
    // The range of watermarks that can judge the lateness of file i's rows (see the header).
    const lo = this.watermarkAt(Math.max(0, i - 2 * MAX_FILES + 1));
    const hi = this.watermarkAt(i);
    const base = T0 + i * STEP_MS;
    const out: InputRow[] = [];
    let late = 0;
    for (let r = 0; r < (kind === 'farFuture' ? 1 : rows); r++) {
      for (let tries = 0; ; tries++) {
        if (tries > 1000) throw new Error(`cannot draw an unambiguous event time for file ${i}`);
        const t =
          kind === 'farFuture'
            ? this.prefixMax[i]! + 3_600_000
            : kind === 'late'
              ? lo - randInt(this.rng, 10_000, 60_000)
              : this.rng() < 0.15
                ? base - randInt(this.rng, 8_000, 45_000)
                : base + randInt(this.rng, -7_000, 2_000);
        const row = this.drawRow(t);
        const units = this.accept(row, lo, hi, kind === 'late');
        if (units === null) continue;
        out.push(row);
        late += units.late;
        this.totalUnits += units.total;
        if (units.late === 0 && row.t < this.prefixMax[i]!) this.outOfOrderOnTime++;
        break;
      }
    }
    this.files.push(out);
    this.lateUnits.push(late);
    this.prefixMax.push(Math.max(this.prefixMax[i]!, ...out.map((r) => r.t)));
    return out;
  }

  lateCount(from = 0, to = this.files.length): number {
    return this.lateUnits.slice(from, to).reduce((a, n) => a + n, 0);
  }

  /**
   * numRowsDroppedByWatermark of a batch over files [from, to): what the operator counts. The
   * session operator counts late rows; the window model overrides it (late groups, see there).
   */
  droppedIn(from: number, to: number): number {
    return this.lateCount(from, to);
  }

  /** The final output: every result the final watermark closes. */
  expectedOutput(): Record<string, unknown>[] {
    const wm = this.watermarkAt(this.files.length);
    return [...this.results().values()].filter((r) => this.endOf(r) <= wm);
  }

  /** What a progress record must say, for a batch over files [s, e). */
  predict(s: number, e: number): Prediction {
    const watermark = this.watermarkAt(s);
    return {
      watermark,
      inputRows: this.files.slice(s, e).reduce((a, f) => a + f.length, 0),
      stateRows: this.stateRows(e, watermark),
      dropped: this.droppedIn(s, e),
    };
  }

  /** Model-specific figures for the summary line. */
  notes(): string {
    return '';
  }

  protected abstract readonly rowsPerFile: number;
  /** A row at event time t (key, value, …). */
  protected abstract drawRow(t: number): InputRow;
  /** Its late and total units if no unit is ambiguous (and, with allLate, all are late), else null; records it. */
  protected abstract accept(
    row: InputRow,
    lo: number,
    hi: number,
    allLate: boolean,
  ): { late: number; total: number } | null;
  /** Every result the query can ever emit from the rows of files < `files`, by a unique key. */
  abstract results(files?: number): Map<string, Record<string, unknown>>;
  protected abstract endOf(result: Record<string, unknown>): number;
  /** numRowsTotal of the state after a batch over files < e that ran with `watermark`. */
  protected abstract stateRows(e: number, watermark: number): number;
}

interface Agg extends Record<string, unknown> {
  k: string;
  n: number;
  s: number;
  lo: number;
  hi: number;
  last: number;
}

function aggAdd(a: Agg | undefined, r: InputRow, extra: object): Agg {
  if (a === undefined) return { ...extra, k: r.k, n: 1, s: r.v, lo: r.v, hi: r.v, last: r.t };
  a.n++;
  a.s += r.v;
  a.lo = Math.min(a.lo, r.v);
  a.hi = Math.max(a.hi, r.v);
  a.last = Math.max(a.last, r.t);
  return a;
}

/** window(t, size, slide) + k: a pair is late when its window's end <= the batch's watermark. */
class WindowModel extends InputModel {
  protected readonly rowsPerFile = ROWS_PER_FILE;
  /** Per file: the pairs of its rows, and whether each is late. */
  private readonly pairs: { row: InputRow; start: number; end: number; late: boolean }[][] = [];

  constructor(
    rng: () => number,
    readonly sizeMs: number,
    readonly slideMs: number,
  ) {
    super(rng);
  }

  /** Every window [start, end) that contains t (start on the slide grid, offset 0). */
  windowsOf(t: number): [number, number][] {
    const out: [number, number][] = [];
    for (
      let start = Math.floor(t / this.slideMs) * this.slideMs;
      start > t - this.sizeMs;
      start -= this.slideMs
    )
      out.push([start, start + this.sizeMs]);
    return out;
  }

  protected drawRow(t: number): InputRow {
    return { k: KEYS[randInt(this.rng, 0, KEYS.length - 1)]!, v: randInt(this.rng, -500, 1000), t };
  }

  protected accept(row: InputRow, lo: number, hi: number, allLate: boolean) {
    const ws = this.windowsOf(row.t);
    if (!ws.every(([, e]) => (allLate ? e <= lo : e <= lo || e > hi))) return null;
    if (this.pairs.length < this.files.length + 1) this.pairs.push([]);
    const pairs = ws.map(([start, end]) => ({ row, start, end, late: end <= lo }));
    this.pairs[this.files.length]!.push(...pairs);
    return { late: pairs.filter((p) => p.late).length, total: pairs.length };
  }

  results(files = this.files.length): Map<string, Record<string, unknown>> {
    const m = new Map<string, Agg>();
    for (const p of this.pairs.slice(0, files).flat()) {
      if (p.late) continue;
      const key = `${p.start}|${p.row.k}`;
      m.set(key, aggAdd(m.get(key), p.row, { window: { start: p.start, end: p.end } }));
    }
    return m;
  }

  protected endOf(r: Record<string, unknown>): number {
    return (r as { window: { end: number } }).window.end;
  }

  /** The aggregation counts late (window, key) groups, each once per batch (Spark's count after partial aggregation). */
  override droppedIn(from: number, to: number): number {
    const groups = new Set<string>();
    for (const p of this.pairs.slice(from, to).flat()) if (p.late) groups.add(`${p.start}|${p.row.k}`);
    return groups.size;
  }

  /** One state row per (window, key) not yet closed. */
  protected stateRows(e: number, watermark: number): number {
    return [...this.results(e).values()].filter((r) => this.endOf(r) > watermark).length;
  }
}

/**
 * sessionWindow(t, g) + k, with a per-row gap g: a row is the session
 * [t, t + g), late when t + g <= the batch's watermark; sessions of a key
 * that overlap or touch merge. Merging is order independent, so the
 * sessions are the connected components of the key's on-time rows — as long
 * as no on-time row touches a session that may already have been closed and
 * emitted (then it would start a new session instead of extending the old
 * one, depending on the batching). So a row is also redrawn when it touches
 * a session (of the rows drawn so far) whose end is <= the highest watermark
 * its batch can have: such a session may be gone.
 */
class SessionModel extends InputModel {
  protected readonly rowsPerFile = SESSION_ROWS_PER_FILE;
  /** Per file: its on-time rows. */
  private readonly onTime: InputRow[][] = [];

  /** Key k is active (has events) 10 s out of every 24 s, shifted by 7 s per key. */
  protected drawRow(t: number): InputRow {
    const active = SESSION_KEYS.filter((_, j) => (Math.floor(t / 1000) + 7 * j) % 24 < 10);
    const keys = active.length > 0 ? active : SESSION_KEYS;
    return {
      k: keys[randInt(this.rng, 0, keys.length - 1)]!,
      v: randInt(this.rng, -500, 1000),
      t,
      g: randInt(this.rng, 2_000, 5_000),
    };
  }

  protected accept(row: InputRow, lo: number, hi: number, allLate: boolean) {
    const end = row.t + row.g!;
    if (this.onTime.length < this.files.length + 1) this.onTime.push([]);
    if (end <= lo) return { late: 1, total: 1 };
    if (allLate || end <= hi) return null;
    const sessions = this.sessionsOf(this.onTime.flat().filter((r) => r.k === row.k));
    const touched = sessions.filter((s) => row.t <= s.end && s.start <= end);
    if (touched.some((s) => s.end <= hi)) return null;
    if (touched.some((s) => s.rows.some((r) => !this.onTime[this.files.length]!.includes(r))))
      this.extendsOlder++;
    if (touched.length >= 2) this.bridges++;
    this.onTime[this.files.length]!.push(row);
    return { late: 0, total: 1 };
  }

  /** Rows that extend a session holding rows of earlier files; rows that merge two sessions into one. */
  private extendsOlder = 0;
  private bridges = 0;

  override notes(): string {
    return `${this.extendsOlder} rows extend a session of earlier files, ${this.bridges} merge two or more sessions; `;
  }

  /** The sessions of some rows of one key: connected components of [t, t + g] under touching. */
  private sessionsOf(rows: readonly InputRow[]): { start: number; end: number; rows: InputRow[] }[] {
    const sorted = [...rows].sort((a, b) => a.t - b.t);
    const out: { start: number; end: number; rows: InputRow[] }[] = [];
    for (const r of sorted) {
      const cur = out.at(-1);
      if (cur !== undefined && r.t <= cur.end) {
        cur.end = Math.max(cur.end, r.t + r.g!);
        cur.rows.push(r);
      } else out.push({ start: r.t, end: r.t + r.g!, rows: [r] });
    }
    return out;
  }

  results(files = this.files.length): Map<string, Record<string, unknown>> {
    const byKey = new Map<string, InputRow[]>();
    for (const r of this.onTime.slice(0, files).flat()) {
      const l = byKey.get(r.k);
      if (l === undefined) byKey.set(r.k, [r]);
      else l.push(r);
    }
    const m = new Map<string, Record<string, unknown>>();
    for (const [k, rows] of byKey) {
      for (const s of this.sessionsOf(rows)) {
        let a: Agg | undefined;
        for (const r of s.rows) a = aggAdd(a, r, { session: { start: s.start, end: s.end } });
        m.set(`${k}|${s.start}`, a!);
      }
    }
    return m;
  }

  protected endOf(r: Record<string, unknown>): number {
    return (r as { session: { end: number } }).session.end;
  }

  /** One state row per session not yet closed (numRowsTotal counts sessions, not store entries). */
  protected stateRows(e: number, watermark: number): number {
    let n = 0;
    for (const r of this.results(e).values()) if (this.endOf(r) > watermark) n++;
    return n;
  }
}

/** Check one progress record against the model; returns a problem or null. */
function checkProgress(model: InputModel, p: StreamingQueryProgress): string | null {
  const src = p.sources[0]!;
  const s = src.startOffset === null ? 0 : Number(src.startOffset);
  const e = src.endOffset === null ? 0 : Number(src.endOffset);
  const want = model.predict(s, e);
  const op = p.stateOperators[0];
  const got = {
    watermark: Date.parse(p.eventTime.watermark!),
    inputRows: p.numInputRows,
    stateRows: op?.numRowsTotal,
    dropped: op?.numRowsDroppedByWatermark,
  };
  if (JSON.stringify(got) === JSON.stringify(want)) return null;
  return `batch ${p.batchId} over files [${s}, ${e}): expected ${JSON.stringify(want)}, progress says ${JSON.stringify(got)}`;
}

function baseEnv(work: WorkDir, query: Record<string, string>): Record<string, string> {
  return {
    CRASH_INPUT: work.sub('input'),
    CRASH_OUTPUT: work.sub('output'),
    CRASH_CHECKPOINT: work.sub('checkpoint'),
    CRASH_MAX_FILES: String(MAX_FILES),
    CRASH_DELAY_MS: String(DELAY_MS),
    CRASH_RETAIN: String(RETAIN),
    ...query,
  };
}

/** Run a child with Trigger.availableNow() to its clean end. */
async function finalRun(env: Record<string, string>, children: Child[]): Promise<Child> {
  const last = spawnChild(CHILD, { ...env, CRASH_FINAL: '1' });
  children.push(last);
  const exit = await Promise.race([last.exited, sleep(60_000).then(() => null)]);
  if (exit === null) await last.kill();
  expect(exit, `the final run did not finish in 60 s: ${last.describe()}`).not.toBeNull();
  expect(exit!.code, `the final run failed: ${last.describe()}`).toBe(0);
  expect(last.lines).toContain('DONE');
  return last;
}

/** The output must equal the model's expected windows exactly; no temp files; manifests name every part file. */
async function checkFinalOutput(model: InputModel, output: string, seed: number): Promise<number> {
  const expectedRows = model.expectedOutput();
  const expected = countBy(expectedRows, rowKey);
  const outputRows = await readFileSinkOutput(output);
  const diff = multisetDiff(expected, countBy(outputRows, rowKey));
  expect(
    diff,
    `committed output vs expected (seed ${seed}): missing ${diff.missingExamples.join('; ')} / extra ${diff.extraExamples.join('; ')}`,
  ).toMatchObject({ missing: 0, extra: 0 });
  expect(outputRows.length).toBe(expectedRows.length);
  const tree = await listTree(output);
  expect(tree.filter((f) => f.split('/').some((seg) => seg.startsWith('.') || seg.endsWith('.tmp')))).toEqual(
    [],
  );
  const manifested = new Set<string>();
  for (const id of await sinkManifestIds(output)) {
    const entry = JSON.parse(
      (await fsp.readFile(path.join(output, '_millrace_manifest', String(id)), 'utf8')).split('\n')[1]!,
    ) as { files: { path: string }[] };
    for (const f of entry.files) manifested.add(f.path);
  }
  expect(new Set(await sinkPartFiles(output))).toEqual(manifested);
  return outputRows.length;
}

const children: Child[] = [];
afterAll(() => killAll(children));

const KILLS = 28;
const PRE_FILES = 30;

interface Variant {
  readonly name: string;
  readonly seed: number;
  /** Child environment that picks the grouping (window size/slide or session gap). */
  readonly query: Record<string, string>;
  readonly operatorId: string;
  readonly model: (rng: () => number) => InputModel;
}

const VARIANTS: readonly Variant[] = [
  {
    name: 'tumbling 10 s windows',
    seed: 20250701,
    query: { CRASH_WINDOW_MS: String(WINDOW_MS) },
    operatorId: 'aggregate-0',
    model: (rng) => new WindowModel(rng, WINDOW_MS, WINDOW_MS),
  },
  {
    name: 'sliding 10 s / 5 s windows',
    seed: 20250702,
    query: { CRASH_WINDOW_MS: String(WINDOW_MS), CRASH_SLIDE_MS: '5000' },
    operatorId: 'aggregate-0',
    model: (rng) => new WindowModel(rng, WINDOW_MS, 5_000),
  },
  {
    name: 'session windows (per-row gap 2–5 s)',
    seed: 20250704,
    query: { CRASH_SESSION_GAP: 'column' },
    operatorId: 'sessionAggregate-0',
    model: (rng) => new SessionModel(rng),
  },
];

for (const variant of VARIANTS) {
  it(`file source → watermark → ${variant.name} + key → count/sum/min/max (append) → file sink: SIGKILL at random points, every result once, exact`, async () => {
    const seed = seedFromEnv(variant.seed);
    const rng = prng(seed);
    const work = await WorkDir.create('winagg');
    let passed = false;
    try {
      const env = baseEnv(work, variant.query);
      const {
        CRASH_INPUT: input,
        CRASH_OUTPUT: output,
        CRASH_CHECKPOINT: checkpoint,
      } = env as Record<string, string>;
      await fsp.mkdir(input!, { recursive: true });
      await fsp.mkdir(output!, { recursive: true });
      const model = variant.model(rng);
      const addFile = async (kind: FileKind = 'normal') =>
        writeJsonlInput(input!, model.files.length, model.addFile(kind));
      for (let i = 0; i < PRE_FILES; i++) await addFile();

      const phases = new PhaseTally();
      const strategies = new PhaseTally();
      const progressProblems: string[] = [];
      let progressChecked = 0;
      let killsWithUncommitted = 0;
      let killsInNoDataBatch = 0;
      let stallMissed = 0;
      let previous = new Map<string, number>();
      const started = performance.now();
      for (let kill = 0; kill < KILLS; kill++) {
        const how = rng();
        const strategy =
          how < 0.1
            ? 'after READY'
            : how < 0.4
              ? 'after STARTED'
              : how < 0.55
                ? 'in sink write'
                : how < 0.65
                  ? 'after SINK_DONE'
                  : how < 0.85
                    ? 'after state commit (stalled)'
                    : 'no-data batch after state commit (stalled)';
        strategies.add(strategy);
        const nth = randInt(rng, 1, 2);
        const stallAt =
          strategy === 'after state commit (stalled)'
            ? String(nth)
            : strategy === 'no-data batch after state commit (stalled)'
              ? 'nodata'
              : undefined;
        const spawnedAtWall = Date.now();
        const child = spawnChild(CHILD, { ...env, ...(stallAt ? { CRASH_STALL_AT: stallAt } : {}) });
        children.push(child);
        await child.waitForLine((l) => l === 'READY', 'READY');
        const adds = randInt(rng, 1, 4);
        if (strategy === 'after READY') {
          for (let i = 0; i < adds; i++) await addFile();
          await sleep(logUniform(rng, 1, 80));
        } else {
          await child.waitForLine((l) => l === 'STARTED', 'STARTED');
          if (strategy === 'after STARTED') {
            const delay = logUniform(rng, 1, 1000);
            const addAt = Math.floor(rng() * delay);
            await sleep(addAt);
            for (let i = 0; i < adds; i++) await addFile();
            await sleep(delay - addAt);
          } else if (stallAt !== undefined) {
            // The child blocks right after the state commit it stalls at: kill it there.
            for (let i = 0; i < adds; i++) await addFile();
            if ((await child.nextLine((l) => l.startsWith('STALL '), 5_000)) === null) stallMissed++;
          } else {
            for (let i = 0; i < adds; i++) await addFile();
            const marker = strategy === 'in sink write' ? 'SINK_BEGIN ' : 'SINK_DONE ';
            const gap = strategy === 'in sink write' ? randInt(rng, 0, 20) : 0;
            // no more input within the wait: kill while idle
            await child.waitForNth(marker, nth, 5_000);
            if (gap > 0) await sleep(gap);
          }
        }
        await child.killMidRun();

        // Where did the kill land?
        const cp = await inspectCheckpoint(checkpoint!);
        const sawStart = child.lines.includes('STARTED');
        let phase: string;
        if (!sawStart) phase = 'startup';
        else if (cp.uncommitted !== null) {
          killsWithUncommitted++;
          const n = cp.uncommitted;
          const stateFile = path.join(checkpoint!, 'state', variant.operatorId, '0', `${n + 1}.delta`);
          const stateMtime = await fsp.stat(stateFile).then(
            (s) => s.mtimeMs,
            () => -1,
          );
          const parts = (await sinkPartFiles(output!)).filter((f) => partFileBatch(f) === n);
          if (stateMtime >= spawnedAtWall - 1) phase = 'state N+1 committed, no commits/N';
          else if ((await sinkManifestIds(output!)).includes(n)) phase = 'sink manifest N, no state N+1';
          else if (parts.length > 0) phase = 'sink part files of N';
          else phase = 'offsets/N, before the sink';
          const entry = async (id: number) =>
            (await fsp.readFile(path.join(checkpoint!, 'offsets', String(id)), 'utf8').catch(() => '')).split(
              '\n',
            )[2];
          if (n > 0 && (await entry(n)) === (await entry(n - 1))) killsInNoDataBatch++;
        } else phase = 'between batches';
        phases.add(phase);

        // Invariants at every kill.
        for (const p of progressOf(child)) {
          progressChecked++;
          const problem = checkProgress(model, p);
          if (problem !== null) progressProblems.push(`kill ${kill}: ${problem}`);
        }
        const now = countBy(await readFileSinkOutput(output!), rowKey);
        const vsExpected = multisetDiff(countBy(model.results().values(), rowKey), now);
        expect(
          vsExpected.extra,
          `after kill ${kill} (seed ${seed}): windows not expected, wrong or duplicated: ${vsExpected.extraExamples.join('; ')}`,
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
      await addFile('farFuture');
      const last = await finalRun(env, children);
      for (const p of progressOf(last)) {
        progressChecked++;
        const problem = checkProgress(model, p);
        if (problem !== null) progressProblems.push(`final run: ${problem}`);
      }
      const outputRows = await checkFinalOutput(model, output!, seed);
      expect(progressProblems, `progress records that do not match the model (seed ${seed})`).toEqual([]);

      // State: all committed, a bounded number of versions kept.
      const cp = await inspectCheckpoint(checkpoint!);
      expect(cp.uncommitted).toBeNull();
      const batches = cp.lastCommitted! + 1;
      const sv = await stateVersions(checkpoint!, variant.operatorId);
      const versions = [...new Set([...sv.deltas, ...sv.snapshots])].sort((a, b) => a - b);
      const tempLeft = (await listTree(checkpoint!)).filter((f) =>
        f.split('/').some((seg) => seg.endsWith('.tmp')),
      );
      console.log(
        `[crash:winagg ${variant.name}] seed ${seed}: ${KILLS} kills in ${(killLoopMs / 1000).toFixed(1)} s; ` +
          `${killsWithUncommitted} with an uncommitted batch (${killsInNoDataBatch} of them a no-data batch); ${stallMissed} stalls not reached; ` +
          `phases: ${phases}; kill timing: ${strategies}; ` +
          `input ${model.files.length} files / ${model.files.flat().length} rows, ${model.lateCount()} of ${model.totalUnits} units late, ` +
          `${model.outOfOrderOnTime} rows out of order but on time; ${model.notes()}output ${outputRows} rows; ${batches} batches; ` +
          `${progressChecked} progress records checked; state versions on disk ${versions[0]}..${versions.at(-1)} (${versions.length}); ` +
          `temp files left in the checkpoint: ${tempLeft.length ? tempLeft.join(', ') : 'none'}`,
      );
      expect(batches, 'too few batches to tell whether old state versions are removed').toBeGreaterThan(
        RETAIN + 2 * SNAPSHOT_INTERVAL + 5,
      );
      expect(versions.at(-1)).toBe(batches);
      expect(
        versions.length,
        `state versions kept: ${versions.join(', ')} (minBatchesToRetain ${RETAIN}, a snapshot every ${SNAPSHOT_INTERVAL})`,
      ).toBeLessThanOrEqual(RETAIN + 2 * SNAPSHOT_INTERVAL + 2);
      expect(tempLeft, 'interrupted-write temp files left in the checkpoint after the final run').toEqual([]);
      expect(killsWithUncommitted, 'no kill landed inside a batch').toBeGreaterThan(0);
      expect(
        phases.get('state N+1 committed, no commits/N'),
        'no kill landed between the state commit and commits/N',
      ).toBeGreaterThan(0);
      passed = true;
    } finally {
      await killAll(children);
      await work.finish(passed);
    }
  });
}

/**
 * A graceful restart (SIGTERM → query.stop(), a new process on the same
 * checkpoint) must change nothing but the process: the new process's first
 * batch has the next batch id, the watermark the old one reached, and the
 * state it left. Its first input is a file of late rows only, so that batch
 * adds no state: numRowsTotal must equal the old process's last figure, and
 * every row must be dropped — which only happens if the watermark was
 * restored (with a watermark of 0 they would all be on time). Then more data,
 * another graceful restart, and a final run: the output is exactly the
 * model's, and every progress record of the three processes matches it.
 */
it('a restart that switches nothing but the process: batch id, watermark and state continue', async () => {
  const seed = seedFromEnv(20250703);
  const rng = prng(seed);
  const work = await WorkDir.create('winagg-restart');
  let passed = false;
  try {
    const env = baseEnv(work, { CRASH_WINDOW_MS: String(WINDOW_MS) });
    const input = env.CRASH_INPUT!;
    await fsp.mkdir(input, { recursive: true });
    const model = new WindowModel(rng, WINDOW_MS, WINDOW_MS);
    const addFile = async (kind: FileKind = 'normal') =>
      writeJsonlInput(input, model.files.length, model.addFile(kind));
    const all: StreamingQueryProgress[] = [];

    /** Start a child; once it has processed every file and has nothing left to do, SIGTERM it. */
    const runThenStop = async (
      whileRunning?: (child: Child) => Promise<void>,
    ): Promise<StreamingQueryProgress[]> => {
      const child = spawnChild(CHILD, env);
      children.push(child);
      await child.waitForLine((l) => l === 'STARTED', 'STARTED');
      if (whileRunning) await whileRunning(child);
      const files = model.files.length;
      const wm = model.watermarkAt(files);
      await child.waitForLine((l) => {
        if (!l.startsWith('PROGRESS ')) return false;
        const p = JSON.parse(l.slice('PROGRESS '.length)) as StreamingQueryProgress;
        return p.sources[0]!.endOffset === files && Date.parse(p.eventTime.watermark!) === wm;
      }, `the batch over all ${files} files with the final watermark`);
      const seen = child.lines.length;
      await sleep(300);
      expect(
        child.lines.slice(seen).filter((l) => l.startsWith('PROGRESS ')),
        'a batch ran although there was nothing to do',
      ).toEqual([]);
      child.proc.kill('SIGTERM');
      const exit = await Promise.race([child.exited, sleep(10_000).then(() => null)]);
      expect(exit, `the child did not exit within 10 s of SIGTERM: ${child.describe()}`).not.toBeNull();
      expect(exit!.code, `the child failed: ${child.describe()}`).toBe(0);
      expect(child.lines).toContain('DONE');
      const cp = await inspectCheckpoint(env.CRASH_CHECKPOINT!);
      expect(cp.uncommitted, 'a graceful stop left an uncommitted batch').toBeNull();
      const progress = progressOf(child);
      all.push(...progress);
      return progress;
    };

    /** The first batch of a new process continues where the last one of the old process left off. */
    const expectContinues = (last: StreamingQueryProgress, first: StreamingQueryProgress) => {
      expect(first.id, 'query id').toBe(last.id);
      expect(first.runId, 'run id').not.toBe(last.runId);
      expect(first.batchId, 'batch id').toBe(last.batchId + 1);
      expect(first.sources[0]!.startOffset, 'start offset').toBe(last.sources[0]!.endOffset);
      // The old process went idle, so its last batch already ran with the newest watermark.
      expect(first.eventTime.watermark, 'watermark').toBe(last.eventTime.watermark);
      expect(Date.parse(first.eventTime.watermark!)).toBe(
        model.watermarkAt(Number(last.sources[0]!.endOffset)),
      );
    };

    // Process A: 10 files.
    for (let i = 0; i < 10; i++) await addFile();
    const a = await runThenStop();
    const lastA = a.at(-1)!;
    expect(Date.parse(lastA.eventTime.watermark!)).toBeGreaterThan(0);
    expect(lastA.stateOperators[0]!.numRowsTotal).toBeGreaterThan(0);

    // Process B: first a file of late rows only (its own batch: nothing else is there), then 6 more files.
    await addFile('late');
    const lateRows = model.files.at(-1)!.length;
    const lateGroups = model.droppedIn(model.files.length - 1, model.files.length);
    const b = await runThenStop(async (child) => {
      await child.waitForLine((l) => l.startsWith('PROGRESS '), 'the first batch');
      for (let i = 0; i < 6; i++) await addFile();
    });
    const firstB = b[0]!;
    expectContinues(lastA, firstB);
    expect(firstB.isNoDataBatch).toBe(false);
    expect(firstB.numInputRows).toBe(lateRows);
    expect(
      firstB.stateOperators[0]!.numRowsDroppedByWatermark,
      'every row of the late file dropped (counted by late group)',
    ).toBe(lateGroups);
    expect(firstB.stateOperators[0]!.numRowsTotal, 'state rows after the restart').toBe(
      lastA.stateOperators[0]!.numRowsTotal,
    );
    expect(firstB.stateOperators[0]!.numRowsUpdated).toBe(0);
    expect(firstB.sink.numOutputRows).toBe(0);

    // Process C: a far-future event closes every window; Trigger.availableNow().
    await addFile('farFuture');
    const c = progressOf(await finalRun(env, children));
    all.push(...c);
    expectContinues(b.at(-1)!, c[0]!);

    const problems = all.map((p) => checkProgress(model, p)).filter((x) => x !== null);
    expect(problems, `progress records that do not match the model (seed ${seed})`).toEqual([]);
    const outputRows = await checkFinalOutput(model, env.CRASH_OUTPUT!, seed);
    console.log(
      `[crash:winagg restart] seed ${seed}: batches A ${a[0]!.batchId}..${lastA.batchId}, ` +
        `B ${firstB.batchId}..${b.at(-1)!.batchId}, C ${c[0]!.batchId}..${c.at(-1)!.batchId}; ` +
        `state rows across the first restart ${lastA.stateOperators[0]!.numRowsTotal}; ` +
        `watermark ${lastA.eventTime.watermark}; ${outputRows} windows out; ${all.length} progress records checked`,
    );
    passed = true;
  } finally {
    await killAll(children);
    await work.finish(passed);
  }
});
