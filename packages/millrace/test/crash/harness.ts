/**
 * Shared machinery of the crash tests (docs/architecture.md): a seeded PRNG, a child
 * pipeline process that can be SIGKILLed at any moment and restarted, and
 * read-only views of a query's checkpoint and of a file sink's directory.
 *
 * A child is a pipeline script run as `node <bundle of script>` (see
 * childEntry) — one process (no wrapper), so SIGKILL hits the engine itself.
 * Children talk to the test through stdout lines (`READY`, `STARTED`,
 * `BATCH <id> …`, `DONE`); everything else they print is kept for failure
 * messages.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fsp, mkdirSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type Sink, type StreamingQueryProgress, readFileSinkOutput } from '../../src/index.ts';
import type { StateStore, StateStoreProvider } from '../../src/state/index.ts';

/** The repository root (package resolution of `tsx` works from here). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
export const CRASH_DIR = path.dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------------------
// Seeded randomness

export { prng } from '../../src/testing/prng.ts';

/** The seed of a test: `CRASH_SEED` from the environment, else the given default. */
export function seedFromEnv(fallback: number): number {
  const s = process.env.CRASH_SEED;
  if (s === undefined || s === '') return fallback;
  const n = Number(s);
  if (!Number.isInteger(n)) throw new Error(`CRASH_SEED must be an integer, got ${JSON.stringify(s)}`);
  return n;
}

export function randInt(rng: () => number, lo: number, hiInclusive: number): number {
  return lo + Math.floor(rng() * (hiInclusive - lo + 1));
}

/** Log-uniform in [lo, hi]: as many kills at 2–20 ms as at 20–200 ms. */
export function logUniform(rng: () => number, lo: number, hi: number): number {
  return Math.round(Math.exp(Math.log(lo) + rng() * (Math.log(hi) - Math.log(lo))));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs: number,
  pollMs = 20,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}

// ---------------------------------------------------------------------------
// Child processes

export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running pipeline script. */
export class Child {
  readonly lines: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<ChildExit>;
  readonly spawnedAt = performance.now();
  private exit: ChildExit | undefined;
  private waiters: { test: (line: string) => boolean; resolve: (line: string | null) => void }[] = [];

  constructor(
    readonly script: string,
    readonly proc: ChildProcess,
  ) {
    let out = '';
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (chunk: string) => {
      out += chunk;
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => {
          if (!w.test(line)) return true;
          w.resolve(line);
          return false;
        });
      }
    });
    let err = '';
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => {
      err += chunk;
      const parts = err.split('\n');
      err = parts.pop()!;
      this.stderr.push(...parts);
    });
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': by then every line the child wrote has been read.
      proc.on('close', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  /**
   * The first stdout line matching `test` among those from line number `from`
   * on (already seen or still to come), or null if none came within
   * `timeoutMs` or the child exited first.
   */
  nextLine(test: (line: string) => boolean, timeoutMs: number, from = 0): Promise<string | null> {
    const seen = this.lines.slice(from).find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const waiter = {
        test,
        resolve: (l: string | null) => {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((w) => w !== waiter);
          resolve(l);
        },
      };
      const timer = setTimeout(() => waiter.resolve(null), timeoutMs);
      this.waiters.push(waiter);
      void this.exited.then(() => waiter.resolve(null));
    });
  }

  /** Like nextLine, but a timeout or an early exit is an error. */
  async waitForLine(
    test: (line: string) => boolean,
    what: string,
    timeoutMs = 30_000,
    from = 0,
  ): Promise<string> {
    const line = await this.nextLine(test, timeoutMs, from);
    if (line === null)
      throw new Error(
        `${this.alive ? 'timed out waiting for' : 'exited before'} ${what}: ${this.describe()}`,
      );
    return line;
  }

  /**
   * Wait for the n-th line starting with `prefix` from now on. Returns early (not an error) when
   * none comes within `timeoutMs`: the input may have run out, and the kill then lands while idle.
   */
  async waitForNth(prefix: string, n: number, timeoutMs: number): Promise<void> {
    let from = this.lines.length;
    for (let k = 0; k < n; k++) {
      const line = await this.nextLine((l) => l.startsWith(prefix), timeoutMs, from);
      if (line === null) return;
      from = this.lines.indexOf(line, from) + 1;
    }
  }

  /** SIGKILL mid-run; fails if the child had already exited by itself (the kill would prove nothing). */
  async killMidRun(): Promise<ChildExit> {
    const exit = await this.kill();
    if (exit.signal !== 'SIGKILL') {
      throw new Error(`the child should have been killed, but it exited by itself: ${this.describe()}`);
    }
    return exit;
  }

  /** SIGKILL and wait until the process is gone (its files are then stable). */
  async kill(): Promise<ChildExit> {
    if (this.alive) this.proc.kill('SIGKILL');
    return this.exited;
  }

  describe(): string {
    const tail = [...this.lines.slice(-5), ...this.stderr.slice(-15)].join('\n    ');
    return `child ${path.basename(this.script)} (pid ${this.proc.pid})${tail ? `\n    ${tail}` : ''}`;
  }
}

/**
 * How a child script starts. A bundle of the script with the repository's own TypeScript (esbuild,
 * the compiler tsx uses; third-party packages stay external) starts in ~0.3 s of CPU where
 * `node --import tsx` takes ~1.2 s loading module by module — minutes of CI over the few hundred
 * children the crash tests start. Scripts whose queries run on worker threads keep tsx: a worker
 * finds its bootstrap next to the engine's own module (import.meta.url), which a bundle moves.
 * CRASH_TSX=1 starts every child with tsx.
 */
function childEntry(script: string): string[] {
  if (process.env.CRASH_TSX === '1' || readFileSync(script, 'utf8').includes('workers:')) {
    return ['--import', 'tsx', script];
  }
  let bundle = bundles.get(script);
  if (!bundle) {
    // Under node_modules, so the external packages resolve from the bundle as from the script.
    const dir = path.join(REPO_ROOT, 'node_modules', '.cache', 'millrace-children');
    mkdirSync(dir, { recursive: true });
    const name = path.relative(REPO_ROOT, script).replace(/[^A-Za-z0-9_.-]/g, '_');
    bundle = path.join(dir, `${name}.${process.pid}.mjs`);
    esbuild().buildSync({
      entryPoints: [script],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: `${bundle}.tmp`,
      external: thirdPartyPackages(),
      logLevel: 'error',
    });
    renameSync(`${bundle}.tmp`, bundle);
    bundles.set(script, bundle);
  }
  return [bundle];
}
const bundles = new Map<string, string>();

function esbuild(): typeof import('esbuild') {
  return createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
}

/** Every dependency named by the repository's package.json files, except its own packages (bundled). */
function thirdPartyPackages(): string[] {
  const files = [
    path.join(REPO_ROOT, 'package.json'),
    ...readdirSync(path.join(REPO_ROOT, 'packages')).map((p) =>
      path.join(REPO_ROOT, 'packages', p, 'package.json'),
    ),
  ];
  const names = new Set<string>();
  for (const f of files) {
    let pkg: Record<string, Record<string, string> | undefined>;
    try {
      pkg = JSON.parse(readFileSync(f, 'utf8')) as typeof pkg;
    } catch {
      continue;
    }
    for (const field of ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies']) {
      for (const n of Object.keys(pkg[field] ?? {})) {
        if (n !== 'millrace' && !n.startsWith('@millrace/')) names.add(n);
      }
    }
  }
  return [...names].flatMap((n) => [n, `${n}/*`]);
}

/** Start a child script (see childEntry) with the given environment, cwd = repository root. */
export function spawnChild(script: string, env: Record<string, string>): Child {
  const proc = spawn(process.execPath, childEntry(script), {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Child(script, proc);
}

/** Ends a child left running when a test fails (never leave orphans). */
export async function killAll(children: readonly Child[]): Promise<void> {
  await Promise.all(children.filter((c) => c.alive).map((c) => c.kill()));
}

/** The progress records a child printed (`PROGRESS <json>` lines), in order. */
export function progressOf(child: Child): StreamingQueryProgress[] {
  return child.lines
    .filter((l) => l.startsWith('PROGRESS '))
    .map((l) => JSON.parse(l.slice('PROGRESS '.length)) as StreamingQueryProgress);
}

/**
 * Run a child to its clean end (exit code 0 and a `DONE` line) within `timeoutMs`, e.g. a final
 * run with Trigger.availableNow(); throws with the child's output otherwise (killing it if it hangs).
 */
export async function runToEnd(
  script: string,
  env: Record<string, string>,
  children: Child[],
  timeoutMs = 60_000,
): Promise<Child> {
  const child = spawnChild(script, env);
  children.push(child);
  const exit = await Promise.race([child.exited, sleep(timeoutMs).then(() => null)]);
  if (exit === null) {
    await child.kill();
    throw new Error(`the run did not finish in ${timeoutMs} ms: ${child.describe()}`);
  }
  if (exit.code !== 0 || !child.lines.includes('DONE'))
    throw new Error(`the run failed (exit code ${exit.code}, signal ${exit.signal}): ${child.describe()}`);
  return child;
}

// ---------------------------------------------------------------------------
// Temp directories: removed on success, kept (and printed) on failure

export class WorkDir {
  private constructor(readonly root: string) {}

  static async create(prefix: string): Promise<WorkDir> {
    return new WorkDir(await mkdtemp(path.join(tmpdir(), `millrace-crash-${prefix}-`)));
  }

  sub(...parts: string[]): string {
    return path.join(this.root, ...parts);
  }

  async finish(passed: boolean): Promise<void> {
    if (passed) await rm(this.root, { recursive: true, force: true });
    else console.log(`crash test failed; its files are kept in ${this.root}`);
  }
}

// ---------------------------------------------------------------------------
// Checkpoint and sink inspection (read-only; only while no child is running)

async function listNumeric(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return names
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
}

export interface CheckpointView {
  readonly offsets: number[];
  readonly commits: number[];
  /** offsets/N present and commits/N absent: a batch planned but not committed. */
  readonly uncommitted: number | null;
  readonly lastCommitted: number | null;
}

export async function inspectCheckpoint(dir: string): Promise<CheckpointView> {
  const offsets = await listNumeric(path.join(dir, 'offsets'));
  const commits = await listNumeric(path.join(dir, 'commits'));
  const last = offsets.at(-1);
  const uncommitted = last !== undefined && !commits.includes(last) ? last : null;
  return { offsets, commits, uncommitted, lastCommitted: commits.at(-1) ?? null };
}

/** The end offsets (by source name) recorded in `offsets/<batchId>` (format: version line, meta line, offsets line). */
export async function readOffsetsEntry(dir: string, batchId: number): Promise<Record<string, unknown>> {
  const lines = (await fsp.readFile(path.join(dir, 'offsets', String(batchId)), 'utf8')).split('\n');
  if (lines[0] !== 'v1' || lines[2] === undefined)
    throw new Error(`unexpected format of ${dir}/offsets/${batchId}`);
  return JSON.parse(lines[2]) as Record<string, unknown>;
}

/**
 * Versions of one operator/partition of the memory state store
 * (`<checkpoint>/state/<operatorId>/<partition>/<V>.delta|snapshot`), and its
 * leftover temp files.
 */
export async function stateVersions(
  checkpoint: string,
  operatorId: string,
  partition = 0,
): Promise<{ deltas: number[]; snapshots: number[]; temps: string[] }> {
  const dir = path.join(checkpoint, 'state', operatorId, String(partition));
  const names = await fsp.readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    throw e;
  });
  const pick = (ext: string) =>
    names
      .filter((n) => new RegExp(`^\\d+\\.${ext}$`).test(n))
      .map((n) => Number(n.split('.')[0]))
      .sort((a, b) => a - b);
  return {
    deltas: pick('delta'),
    snapshots: pick('snapshot'),
    temps: names.filter((n) => n.endsWith('.tmp')),
  };
}

/** Batch ids with a file sink manifest entry (`_millrace_manifest/<N>`). */
export async function sinkManifestIds(outputDir: string): Promise<number[]> {
  return listNumeric(path.join(outputDir, '_millrace_manifest'));
}

/** Every file under `dir` (relative, '/'-separated), including hidden ones. */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    let entries;
    try {
      entries = await fsp.readdir(d, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(path.join(d, e.name), r);
      else out.push(r);
    }
  };
  await walk(dir, '');
  return out.sort();
}

/** Data files of a file sink (`part-<batch>-<k>.<ext>`, any partition directory), relative paths. */
export async function sinkPartFiles(outputDir: string): Promise<string[]> {
  return (await listTree(outputDir)).filter(
    (f) => /(^|\/)part-\d+-\d+\.[a-z]+$/.test(f) && !f.startsWith('_'),
  );
}

/** Batch id of a part file path. */
export function partFileBatch(rel: string): number {
  const m = /part-(\d+)-\d+\.[a-z]+$/.exec(rel);
  if (!m) throw new Error(`not a part file: ${rel}`);
  return Number(m[1]);
}

/**
 * Input file `in-<index>.jsonl` of a file source: written under a dot name (which the source
 * skips), its mtime set to `index` seconds after a fixed base (the reading order), renamed in.
 */
export async function writeJsonlInput(dir: string, index: number, rows: readonly object[]): Promise<void> {
  const file = `in-${String(index).padStart(5, '0')}.jsonl`;
  const tmp = path.join(dir, `.${file}.tmp`);
  await fsp.writeFile(tmp, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const mtime = 1_700_000_000 + index;
  await fsp.utimes(tmp, mtime, mtime);
  await fsp.rename(tmp, path.join(dir, file));
}

/**
 * A file sink's committed output (readFileSinkOutput: what its manifest names) against the
 * expected rows, as multisets; and its directory against its manifest: files no manifest entry
 * names (`unmanifested`; an interrupted write leaves them, a later write of the batch must not
 * commit them twice), and temp or hidden files left. Read only while no child is running.
 */
export async function compareFileSinkOutput(
  outputDir: string,
  expectedRows: readonly Record<string, unknown>[],
): Promise<ReturnType<typeof multisetDiff> & { rows: number; unmanifested: string[]; tempFiles: string[] }> {
  const rows = await readFileSinkOutput(outputDir);
  const diff = multisetDiff(countBy(expectedRows, rowKey), countBy(rows, rowKey));
  const manifested = new Set<string>();
  for (const id of await sinkManifestIds(outputDir)) {
    const entry = JSON.parse(
      (await fsp.readFile(path.join(outputDir, '_millrace_manifest', String(id)), 'utf8')).split('\n')[1]!,
    ) as { files: { path: string }[] };
    for (const f of entry.files) manifested.add(f.path);
  }
  const tree = await listTree(outputDir);
  return {
    ...diff,
    rows: rows.length,
    unmanifested: (await sinkPartFiles(outputDir)).filter((f) => !manifested.has(f)),
    tempFiles: tree.filter((f) => f.split('/').some((seg) => seg.startsWith('.') || seg.endsWith('.tmp'))),
  };
}

// ---------------------------------------------------------------------------
// Multisets of rows

/** A canonical text for a row: keys sorted, so column order does not matter. */
export function rowKey(row: Record<string, unknown>): string {
  return JSON.stringify(
    Object.keys(row)
      .sort()
      .map((k) => [k, row[k]]),
  );
}

export function countBy<T>(items: Iterable<T>, key: (x: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of items) {
    const k = key(x);
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

/** What `actual` has too many of and too few of, compared with `expected` (a few examples each). */
export function multisetDiff(
  expected: Map<string, number>,
  actual: Map<string, number>,
  examples = 5,
): { missing: number; extra: number; missingExamples: string[]; extraExamples: string[] } {
  let missing = 0;
  let extra = 0;
  const missingExamples: string[] = [];
  const extraExamples: string[] = [];
  for (const [k, n] of expected) {
    const d = n - (actual.get(k) ?? 0);
    if (d > 0) {
      missing += d;
      if (missingExamples.length < examples) missingExamples.push(`${k} ×${d}`);
    }
  }
  for (const [k, n] of actual) {
    const d = n - (expected.get(k) ?? 0);
    if (d > 0) {
      extra += d;
      if (extraExamples.length < examples) extraExamples.push(`${k} ×${d}`);
    }
  }
  return { missing, extra, missingExamples, extraExamples };
}

/** A tally printed in the summary: how many kills landed in each protocol phase. */
export class PhaseTally {
  private readonly counts = new Map<string, number>();

  add(phase: string): void {
    this.counts.set(phase, (this.counts.get(phase) ?? 0) + 1);
  }

  get(phase: string): number {
    return this.counts.get(phase) ?? 0;
  }

  toString(): string {
    return [...this.counts].map(([k, n]) => `${k}: ${n}`).join(', ');
  }
}

// ---------------------------------------------------------------------------
// Child side

/**
 * A sink, unchanged, that prints `SINK_BEGIN N` before and `SINK_DONE N` after
 * writing batch N (for a file sink: after its manifest, before commits/N).
 * A child's stdout is a pipe, written synchronously on Linux, so a marker is
 * out before the next protocol step starts. With `stallAtWrite: k`, the k-th
 * write of this process then prints `STALL N` and blocks the whole process
 * (Atomics.wait: no timer, no I/O runs) for 10 s, so a kill sent on seeing the
 * marker lands right after the sink committed and before commits/N.
 */
export function tracedSink(
  sink: Sink,
  out: (line: string) => void,
  options: { stallAtWrite?: number; stallBeforeWrite?: number } = {},
): Sink {
  let writes = 0;
  let begun = 0;
  const block = () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
  const traced = async <T>(batchId: number, write: () => Promise<T>): Promise<T> => {
    out(`SINK_BEGIN ${batchId}`);
    // Before the k-th write: the batch is in flight and nothing of it reached the sink.
    if (options.stallBeforeWrite !== undefined && ++begun === options.stallBeforeWrite) {
      out(`STALL_BEFORE ${batchId}`);
      block();
    }
    const r = await write();
    out(`SINK_DONE ${batchId}`);
    if (options.stallAtWrite !== undefined && ++writes === options.stallAtWrite) {
      out(`STALL ${batchId}`);
      block();
    }
    return r;
  };
  const chunks = sink.addBatchChunks?.bind(sink);
  const tasks = sink.tasks;
  return {
    name: sink.name,
    guarantee: sink.guarantee,
    ...(sink.supportedOutputModes ? { supportedOutputModes: sink.supportedOutputModes } : {}),
    describe: () => sink.describe(),
    open: (ctx) => sink.open(ctx),
    addBatch: (rows, info) => traced(info.batchId, () => sink.addBatch(rows, info)),
    ...(chunks ? { addBatchChunks: (c, info) => traced(info.batchId, () => chunks(c, info)) } : {}),
    // On workers, tasks write their parts; the driver's step is the commit (e.g. the file manifest).
    ...(tasks
      ? {
          tasks: {
            writer: tasks.writer,
            commitTasks: (reports, info) => traced(info.batchId, () => tasks.commitTasks(reports, info)),
          },
        }
      : {}),
    close: () => sink.close(),
  };
}

/**
 * A state store provider, unchanged, whose stores print `STATE_COMMITTED N V`
 * once the store opened for batch N has made version V = N+1 durable (the
 * next protocol step is commits/N). With `stall`, the first commit for which
 * `stall.when` holds then blocks the whole process (Atomics.wait: no timer,
 * no I/O runs) for `stall.ms`, so a kill sent on seeing the marker lands
 * exactly between the state commit and commits/N (it prints `STALL N` first).
 * `when` sees the batch id, how many
 * commits this process made (1 = the first) and the batch's puts and deletes.
 */
export function tracedStateStore(
  inner: StateStoreProvider,
  out: (line: string) => void,
  stall?: {
    readonly when: (c: {
      readonly batchId: number;
      readonly nth: number;
      readonly puts: number;
      readonly deletes: number;
    }) => boolean;
    readonly ms: number;
  },
): StateStoreProvider {
  let commits = 0;
  let stalled = false;
  const wrap = (s: StateStore): StateStore => {
    let puts = 0;
    let deletes = 0;
    return {
      get operatorId() {
        return s.operatorId;
      },
      get partition() {
        return s.partition;
      },
      get version() {
        return s.version;
      },
      get: (key) => s.get(key),
      getForUpdate: (key) => s.getForUpdate(key),
      put: (key, value) => {
        puts++;
        s.put(key, value);
      },
      delete: (key) => {
        deletes++;
        s.delete(key);
      },
      range: (options) => s.range(options),
      commit: async () => {
        const v = await s.commit();
        out(`STATE_COMMITTED ${s.version} ${v}`);
        if (stall && !stalled && stall.when({ batchId: s.version, nth: ++commits, puts, deletes })) {
          stalled = true;
          out(`STALL ${s.version}`);
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, stall.ms);
        }
        return v;
      },
      abort: () => s.abort(),
      metrics: () => s.metrics(),
    };
  };
  return {
    kind: inner.kind,
    open: async (options) => wrap(await inner.open(options)),
    cleanup: (options) => inner.cleanup(options),
    close: () => inner.close(),
  };
}
