/**
 * The crash test of the exactly-once SQL sinks (docs/architecture.md), shared by @millrace/postgres and
 * @millrace/mariadb (each supplies a SqlSinkCrashTarget; both sinks run millrace/sql-sink's core):
 * a child process runs Nexmark bids → count/sum/max per (window, auction) → the database, and is
 * SIGKILLed at random points — at startup, mid-run, inside the sink's transaction, and between the
 * database COMMIT and the checkpoint's commits/N (the child stalls there on request) — then
 * restarted on the same checkpoint. A final run (Trigger.availableNow) finishes the input.
 *
 * Checked after EVERY kill, against an answer computed here from the Nexmark
 * generator (not by the engine):
 *   - update mode (upsert): the table is exactly the aggregate of the events
 *     up to the end offset of the batch the database has recorded — no batch half
 *     in, none twice;
 *   - append mode (INSERT): every row is a final window with exactly the
 *     expected figures, and no window appears twice;
 *   - the batch id the database recorded lies between the checkpoint's last
 *     commit and its last offsets entry.
 * At the end the table equals the expected rows exactly.
 */
import { afterAll, expect, it } from 'vitest';
import { type Bid, generateBids, nexmarkConfig } from 'millrace';
import {
  type Child,
  PhaseTally,
  WorkDir,
  inspectCheckpoint,
  killAll,
  logUniform,
  prng,
  randInt,
  readOffsetsEntry,
  seedFromEnv,
  sleep,
  spawnChild,
} from '../../crash/harness.ts';

type CrashMode = 'update' | 'append';

/** What the crash test needs of one database. */
export interface SqlSinkCrashTarget {
  /** `PostgreSQL`, in test names and messages. */
  readonly product: string;
  /** `PG`, in the phase and kill-timing labels (`PG committed N, no commits/N`). */
  readonly short: string;
  /** `postgres`: the log line's tag and the work directory's prefix. */
  readonly tag: string;
  /** The child script (crash/pipeline.child.ts of the package). */
  readonly child: string;
  readonly seeds: { readonly update: number; readonly append: number };
  /** Environment of the child: the database URL. */
  readonly env: Record<string, string>;
  uniqueName(prefix: string): string;
  /** Rows of the table as text: s, e (window start/end, epoch ms), a (auction), bids, volume, top. */
  readRows(table: string): Promise<Record<string, string>[]>;
  /** The error a missing table gives (the child has not created it yet). */
  readonly noTable: RegExp;
  recordedBatch(sinkName: string): Promise<number>;
  sinkPhaseAfterKill(
    recorded: number,
    cp: Awaited<ReturnType<typeof inspectCheckpoint>>,
    started: boolean,
    where: string,
  ): string;
  dropTable(table: string, sinkName: string): Promise<void>;
  cleanup(): Promise<void>;
}

const KILLS = 20;
const MAX_EVENTS = 150_000;
const EVENTS_PER_TRIGGER = 1_000;
/** Event time advances 1 s per 1,000 events (one batch): 150 s in all. */
const EVENTS_PER_SECOND = 1_000;
const CONFIG = nexmarkConfig({ eventsPerSecond: EVENTS_PER_SECOND });
/**
 * update: 10 s windows (every batch updates rows of the open windows).
 * append: 1 s windows, 2 s watermark delay — with 1 s of event time per batch nearly every batch
 * closes a window and INSERTs its rows, so a replayed batch written twice would show.
 */
const WINDOW = { update: 10_000, append: 1_000 } as const;
const DELAY_MS = 2_000;
const SOURCE = 'nexmark-bid';

interface Figures {
  bids: number;
  volume: number;
  top: number;
}
/** `window_start/auction` → figures. */
type Table = Map<string, Figures>;

/** The answer, computed from the generator: per (10 s window, auction) over the bids among events [0, end). */
function expectedUpTo(end: number, windowMs: number): Table {
  const bids: Bid[] = [];
  generateBids(0, end, CONFIG, bids);
  const m: Table = new Map();
  for (const b of bids) {
    const k = `${Math.floor(b.dateTime / windowMs) * windowMs}/${b.auction}`;
    const f = m.get(k);
    if (f) {
      f.bids++;
      f.volume += b.price;
      f.top = Math.max(f.top, b.price);
    } else m.set(k, { bids: 1, volume: b.price, top: b.price });
  }
  return m;
}

async function readTable(
  target: SqlSinkCrashTarget,
  table: string,
  windowMs: number,
): Promise<{ rows: Table; duplicates: string[]; badEnds: number }> {
  const r = await target.readRows(table);
  const rows: Table = new Map();
  const duplicates: string[] = [];
  let badEnds = 0;
  for (const x of r) {
    const k = `${x.s}/${x.a}`;
    if (rows.has(k)) duplicates.push(k);
    if (Number(x.e) - Number(x.s) !== windowMs) badEnds++;
    rows.set(k, { bids: Number(x.bids), volume: Number(x.volume), top: Number(x.top) });
  }
  return { rows, duplicates, badEnds };
}

/** Keys missing, extra or different between two tables (a few examples). */
function diff(expected: Table, actual: Table): string[] {
  const out: string[] = [];
  for (const [k, f] of expected) {
    const g = actual.get(k);
    if (!g) out.push(`missing ${k}`);
    else if (g.bids !== f.bids || g.volume !== f.volume || g.top !== f.top)
      out.push(`${k}: ${JSON.stringify(g)} ≠ expected ${JSON.stringify(f)}`);
  }
  for (const k of actual.keys()) if (!expected.has(k)) out.push(`unexpected ${k}`);
  return out.slice(0, 5).concat(out.length > 5 ? [`… ${out.length} differences`] : []);
}

/** Registers the test, once per output mode. */
export function sqlSinkCrashTest(target: SqlSinkCrashTarget): void {
  const children: Child[] = [];
  afterAll(async () => {
    await killAll(children);
    await target.cleanup();
  });
  const CHILD = target.child;
  const committedPhase = `${target.short} committed N, no commits/N`;
  const inFlightPhase = `batch N in flight, not in ${target.short}`;
  const stalled = `after ${target.short} commit (stalled)`;
  for (const mode of ['update', 'append'] as const satisfies readonly CrashMode[]) {
    it(`nexmark → windowed aggregation (${mode}) → ${target.product}: ${KILLS} SIGKILLs at random points, every row exactly once`, async () => {
      const seed = seedFromEnv(target.seeds[mode]);
      const rng = prng(seed);
      const work = await WorkDir.create(`${target.tag}-${mode}`);
      const table = target.uniqueName(`crash_${mode}`);
      const sinkName = `crash-${table}`;
      const checkpoint = work.sub('checkpoint');
      const env = {
        ...target.env,
        CRASH_TABLE: table,
        CRASH_CHECKPOINT: checkpoint,
        CRASH_MODE: mode,
        CRASH_MAX_EVENTS: String(MAX_EVENTS),
        CRASH_EVENTS_PER_TRIGGER: String(EVENTS_PER_TRIGGER),
        CRASH_EVENTS_PER_SECOND: String(EVENTS_PER_SECOND),
        CRASH_WINDOW_MS: String(WINDOW[mode]),
        CRASH_DELAY_MS: String(DELAY_MS),
      };
      const windowMs = WINDOW[mode];
      const all = expectedUpTo(MAX_EVENTS, windowMs);
      let passed = false;
      try {
        const phases = new PhaseTally();
        const strategies = new PhaseTally();
        const started = performance.now();
        for (let kill = 0; kill < KILLS; kill++) {
          const how = rng();
          const strategy =
            how < 0.1 ? 'after READY' : how < 0.45 ? 'after STARTED' : how < 0.75 ? 'in sink write' : stalled;
          strategies.add(strategy);
          const nth = randInt(rng, 1, 4);
          const child = spawnChild(CHILD, {
            ...env,
            ...(strategy === stalled ? { CRASH_STALL_AT: String(nth) } : {}),
          });
          children.push(child);
          await child.waitForLine((l) => l === 'READY', 'READY');
          if (strategy === 'after READY') await sleep(logUniform(rng, 1, 100));
          else {
            await child.waitForLine((l) => l === 'STARTED', 'STARTED');
            if (strategy === 'after STARTED') await sleep(logUniform(rng, 1, 600));
            else if (strategy === 'in sink write') {
              await child.waitForNth('SINK_BEGIN ', nth, 5_000);
              await sleep(randInt(rng, 0, 12));
            } else await child.waitForLine((l) => l.startsWith('STALL '), 'STALL', 10_000);
          }
          await child.killMidRun();

          // Where did the kill land, and is everything consistent?
          const cp = await inspectCheckpoint(checkpoint);
          const recorded = await target.recordedBatch(sinkName);
          phases.add(
            target.sinkPhaseAfterKill(
              recorded,
              cp,
              child.lines.includes('STARTED'),
              `kill ${kill} (seed ${seed})`,
            ),
          );

          const now = await readTable(target, table, windowMs).catch((e: Error) =>
            target.noTable.test(e.message)
              ? { rows: new Map(), duplicates: [], badEnds: 0 }
              : Promise.reject(e),
          );
          expect(now.duplicates, `kill ${kill} (seed ${seed}): rows written twice`).toEqual([]);
          expect(now.badEnds).toBe(0);
          if (mode === 'update') {
            const end = recorded < 0 ? 0 : Number((await readOffsetsEntry(checkpoint, recorded))[SOURCE]);
            expect(
              diff(expectedUpTo(end, windowMs), now.rows),
              `kill ${kill} (seed ${seed}): the table is not the aggregate of events [0, ${end}) (batch ${recorded})`,
            ).toEqual([]);
          } else {
            const wrong = [...now.rows].filter(([k, f]) => {
              const e = all.get(k);
              return !e || e.bids !== f.bids || e.volume !== f.volume || e.top !== f.top;
            });
            expect(
              wrong.slice(0, 5),
              `kill ${kill} (seed ${seed}): windows that are not final or not expected`,
            ).toEqual([]);
          }
        }
        const killLoopMs = performance.now() - started;
        const beforeFinal = (await inspectCheckpoint(checkpoint)).lastCommitted ?? -1;
        expect(beforeFinal + 1, 'the kills did not leave input for the final run').toBeLessThan(
          MAX_EVENTS / EVENTS_PER_TRIGGER,
        );

        // Final run: everything left, then a clean exit.
        const last = spawnChild(CHILD, { ...env, CRASH_FINAL: '1' });
        children.push(last);
        const exit = await Promise.race([last.exited, sleep(90_000).then(() => null)]);
        if (exit === null) await last.kill();
        expect(exit, `the final run did not finish in 90 s: ${last.describe()}`).not.toBeNull();
        expect(exit!.code, `the final run failed: ${last.describe()}`).toBe(0);
        expect(last.lines).toContain('DONE');
        const cp = await inspectCheckpoint(checkpoint);
        expect(cp.uncommitted).toBeNull();
        expect(Number((await readOffsetsEntry(checkpoint, cp.lastCommitted!))[SOURCE])).toBe(MAX_EVENTS);
        expect(await target.recordedBatch(sinkName), `the last batch ${target.product} recorded`).toBe(
          cp.lastCommitted,
        );

        const final = await readTable(target, table, windowMs);
        expect(final.duplicates).toEqual([]);
        let expected = all;
        if (mode === 'append') {
          // Windows are final once the watermark (newest bid − 2 s) passes their end; the rest stay open.
          const bids: Bid[] = [];
          generateBids(0, MAX_EVENTS, CONFIG, bids);
          const watermark = bids.reduce((m, b) => Math.max(m, b.dateTime), -Infinity) - DELAY_MS;
          const reported = last.lines
            .filter((l) => l.startsWith('BATCH '))
            .map((l) => Number(l.split(' ')[2]));
          expect(Math.max(...reported), 'the final watermark').toBe(watermark);
          expected = new Map([...all].filter(([k]) => Number(k.split('/')[0]) + windowMs <= watermark));
          expect(expected.size).toBeLessThan(all.size);
          expect(expected.size, 'append mode closed no window: the test would prove nothing').toBeGreaterThan(
            all.size / 2,
          );
        }
        expect(diff(expected, final.rows), `final table (seed ${seed})`).toEqual([]);
        expect(final.rows.size).toBe(expected.size);
        console.log(
          `[crash:${target.tag} ${mode}] seed ${seed}: ${KILLS} kills in ${(killLoopMs / 1000).toFixed(1)} s; phases: ${phases}; ` +
            `kill timing: ${strategies}; ${beforeFinal + 1} batches committed before the final run, ${cp.lastCommitted! + 1} in all; ` +
            `${final.rows.size} rows, exact`,
        );
        expect(
          phases.get(committedPhase),
          `no kill landed between the ${target.product} commit and commits/N`,
        ).toBeGreaterThan(0);
        expect(
          phases.get(inFlightPhase),
          `no kill landed inside a batch before its ${target.product} commit`,
        ).toBeGreaterThan(0);
        passed = true;
      } finally {
        await killAll(children);
        await work.finish(passed);
        if (passed) {
          await target.dropTable(table, sinkName);
        } else console.log(`crash test failed; table ${table} is kept`);
      }
    });
  }
}
