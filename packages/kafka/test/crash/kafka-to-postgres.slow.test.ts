/**
 * Crash test: Kafka → Millrace → PostgreSQL. A child process (kafka-to-postgres.child.ts) reads
 * JSON events from a mock-cluster topic, aggregates them and writes the result to PostgreSQL;
 * it is SIGKILLed at random points of the micro-batch protocol and restarted on the same
 * checkpoint (docs/architecture.md).
 *
 *   test process                          child
 *   ────────────                          ─────
 *   produce {id, k, v, at} events ──────► kafkaSource (offsets in the checkpoint)
 *   (partition id % 4; the acknowledged     update: groupBy(k) n = count, total = sum(v)
 *    offset of each is kept;                        → postgresSink upsert on k
 *    at = T0 + id × 50 ms)                  append: 1 s windows of `at` per k, watermark 10 s
 *                                                   → postgresSink INSERT (no key: a window
 *   repeat KILLS times:                               written twice is two rows)
 *     spawn; produce more meanwhile         rows + batch id in one transaction (millrace_sink_batches)
 *     SIGKILL: early (loading, recovery), at a random time, inside the sink's write, or
 *     between the PostgreSQL COMMIT and commits/N (the child stalls there on request)
 *     check: PostgreSQL's batch B lies between the checkpoint's last commit and last offsets;
 *       update: the table is EXACTLY the aggregate of the events below offsets/B's end
 *               offsets (computed here from what was produced, not by the engine): no batch
 *               half in, no state lost or counted twice
 *       append: every row is a closed window with exactly its events' count and sum, and no
 *               window is there twice
 *   final run with Trigger.availableNow(), clean exit: the table equals the expected result
 *   from every event produced, exactly (append: every window the final watermark closed)
 *
 * Reproduce a failure with CRASH_SEED=<seed printed in the summary>.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
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
} from '../../../millrace/test/crash/harness.ts';
import {
  DB_URL,
  adminPool,
  cleanup,
  recordedBatch,
  sinkPhaseAfterKill,
  uniqueName,
} from '../../../postgres/test/helpers.ts';
import { type MockCluster, TestProducer, startMockCluster, uniqueTopic } from '../mockCluster.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'kafka-to-postgres.child.ts');
const KILLS = 22;
const KEYS = 9;
const PARTITIONS = 4;
const SOURCE = 'events';
const T0 = Date.UTC(2025, 0, 1);
/** Event time advances 50 ms per event: a 1 s window holds 20 events, a 40-offset batch 2 s. */
const EVENT_MS = 50;
const WINDOW_MS = 1_000;
/** Far more than a batch spans, so no event is ever late (the expected result is exact). */
const DELAY_MS = 10_000;

let kafka: MockCluster;
let producer: TestProducer;
const children: Child[] = [];
const admin = adminPool();

beforeAll(async () => {
  kafka = await startMockCluster({ debug: false });
  producer = await TestProducer.connect(kafka.bootstrap);
});
afterAll(async () => {
  await killAll(children);
  await producer?.close();
  await kafka?.stop();
  await cleanup();
});

interface Event {
  readonly id: number;
  readonly k: string;
  readonly v: number;
  readonly at: number;
  readonly partition: number;
  readonly offset: number;
}

/** The input topic and every event written to it, with where it landed. */
class Input {
  readonly events: Event[] = [];
  constructor(
    readonly topic: string,
    private readonly rng: () => number,
  ) {}

  async add(n: number): Promise<void> {
    const batch = Array.from({ length: n }, (_, i) => {
      const id = this.events.length + i;
      const k = `k${randInt(this.rng, 0, KEYS - 1)}`;
      return { id, k, v: randInt(this.rng, -500, 99_999), at: T0 + id * EVENT_MS };
    });
    const offsets = await producer.send(
      this.topic,
      batch.map((e) => ({
        value: JSON.stringify({ ...e, at: new Date(e.at).toISOString() }),
        partition: e.id % PARTITIONS,
      })),
    );
    batch.forEach((e, i) => this.events.push({ ...e, partition: e.id % PARTITIONS, offset: offsets[i]! }));
  }
}

/** Row key (update: k; append: "<window start ms>/k") → "n/total". */
type Table = Map<string, string>;
type Mode = 'update' | 'append';

const rowKey = (mode: Mode, e: Event): string =>
  mode === 'update' ? e.k : `${Math.floor(e.at / WINDOW_MS) * WINDOW_MS}/${e.k}`;

/** The answer, computed from the events: count and sum per row key of those `include` keeps. */
function aggregate(mode: Mode, events: readonly Event[], include: (e: Event) => boolean): Table {
  const acc = new Map<string, { n: number; total: number }>();
  for (const e of events) {
    if (!include(e)) continue;
    const k = rowKey(mode, e);
    const a = acc.get(k) ?? { n: 0, total: 0 };
    a.n++;
    a.total += e.v;
    acc.set(k, a);
  }
  return new Map([...acc].map(([k, a]) => [k, `${a.n}/${a.total}`]));
}

/** The table's rows by row key, and the keys found more than once. */
async function readTable(table: string, mode: Mode): Promise<{ rows: Table; duplicates: string[] }> {
  const exists = (await admin.query('SELECT to_regclass($1) AS r', [`"${table}"`])).rows[0].r;
  if (!exists) return { rows: new Map(), duplicates: [] };
  const key = mode === 'update' ? 'k' : `(extract(epoch from window_start) * 1000)::bigint::text || '/' || k`;
  const r = await admin.query(`SELECT ${key} AS key, n::text AS n, total::text AS total FROM "${table}"`);
  const rows: Table = new Map();
  const duplicates: string[] = [];
  for (const x of r.rows as { key: string; n: string; total: string }[]) {
    if (rows.has(x.key)) duplicates.push(x.key);
    rows.set(x.key, `${x.n}/${x.total}`);
  }
  return { rows, duplicates };
}

/** Keys missing, extra or different (a few examples). */
function diff(expected: Table, actual: Table): string[] {
  const out: string[] = [];
  for (const [k, v] of expected) {
    if (!actual.has(k)) out.push(`missing ${k} (expected ${v})`);
    else if (actual.get(k) !== v) out.push(`${k}: ${actual.get(k)} ≠ expected ${v}`);
  }
  for (const k of actual.keys()) if (!expected.has(k)) out.push(`unexpected ${k}`);
  return out.slice(0, 5).concat(out.length > 5 ? [`… ${out.length} differences`] : []);
}

const VARIANTS = [
  { mode: 'update', seed: 20251201, what: 'count/sum per key (update, upsert)' },
  { mode: 'append', seed: 20251202, what: 'count/sum per 1 s window and key (append, INSERT)' },
] as const;

for (const variant of VARIANTS) {
  const { mode } = variant;
  it(`Kafka → ${variant.what} → PostgreSQL: ${KILLS} SIGKILLs at random points, the table exact at every kill`, async () => {
    const seed = seedFromEnv(variant.seed);
    const rng = prng(seed);
    const work = await WorkDir.create(`kafka-pg-${mode}`);
    const table = uniqueName(`crash_kafka_pg_${mode}`);
    const sinkName = `crash-${table}`;
    const checkpoint = work.sub('checkpoint');
    const input = new Input(uniqueTopic(`crash-pg-${mode}`), rng);
    const env = {
      CRASH_BOOTSTRAP: kafka.bootstrap,
      CRASH_INPUT: input.topic,
      CRASH_TABLE: table,
      CRASH_CHECKPOINT: checkpoint,
      CRASH_MODE: mode,
      CRASH_WINDOW_MS: String(WINDOW_MS),
      CRASH_DELAY_MS: String(DELAY_MS),
      DATABASE_URL: DB_URL,
    };
    let passed = false;
    try {
      await input.add(400);
      const phases = new PhaseTally();
      const strategies = new PhaseTally();
      let rowsChecked = 0;
      const started = performance.now();
      for (let kill = 0; kill < KILLS; kill++) {
        const how = rng();
        const strategy =
          how < 0.12
            ? 'after READY'
            : how < 0.45
              ? 'after STARTED'
              : how < 0.75
                ? 'in sink write'
                : 'after PG commit (stalled)';
        strategies.add(strategy);
        const nth = randInt(rng, 1, 2);
        const child = spawnChild(CHILD, {
          ...env,
          ...(strategy === 'after PG commit (stalled)' ? { CRASH_STALL_AT: String(nth) } : {}),
        });
        children.push(child);
        await child.waitForLine((l) => l === 'READY', 'READY');
        if (strategy === 'after READY') {
          await input.add(randInt(rng, 0, 40));
          await sleep(logUniform(rng, 1, 150));
        } else if (strategy === 'after STARTED') {
          await child.waitForLine((l) => l === 'STARTED', 'STARTED');
          const delay = logUniform(rng, 1, 800);
          const addAt = Math.floor(rng() * delay);
          await sleep(addAt);
          await input.add(randInt(rng, 0, 80));
          await sleep(delay - addAt);
        } else {
          // Enough new input for at least `nth` batches (40 offsets each) besides any replay.
          await input.add(randInt(rng, 80, 160));
          await child.waitForLine((l) => l === 'STARTED', 'STARTED');
          if (strategy === 'in sink write') {
            await child.waitForNth('SINK_BEGIN ', nth, 10_000);
            await sleep(randInt(rng, 0, 10));
          } else await child.waitForLine((l) => l.startsWith('STALL '), 'STALL', 20_000);
        }
        await child.killMidRun();

        // Where did the kill land, and is everything consistent?
        const cp = await inspectCheckpoint(checkpoint);
        const recorded = await recordedBatch(admin, sinkName);
        phases.add(
          sinkPhaseAfterKill(recorded, cp, child.lines.includes('STARTED'), `kill ${kill} (seed ${seed})`),
        );

        const now = await readTable(table, mode);
        expect(now.duplicates, `kill ${kill} (seed ${seed}): rows written twice`).toEqual([]);
        rowsChecked += now.rows.size;
        if (mode === 'update') {
          // Exactly the aggregate of the events batch `recorded` ends at.
          let upTo: Record<string, number> = {};
          if (recorded >= 0) {
            const end = (await readOffsetsEntry(checkpoint, recorded))[SOURCE] as Record<
              string,
              Record<string, number>
            >;
            upTo = end[input.topic] ?? {};
          }
          const expected = aggregate(mode, input.events, (e) => e.offset < (upTo[String(e.partition)] ?? 0));
          expect(
            diff(expected, now.rows),
            `kill ${kill} (seed ${seed}): the table is not the aggregate of the events up to batch ${recorded}`,
          ).toEqual([]);
        } else {
          // Every row is a closed window with all of its events (later events are later in time).
          const all = aggregate(mode, input.events, () => true);
          const wrong = [...now.rows].filter(([k, v]) => all.get(k) !== v);
          expect(
            wrong.slice(0, 5).map(([k, v]) => `${k}: ${v} ≠ expected ${all.get(k)}`),
            `kill ${kill} (seed ${seed}): windows that are not final or not expected`,
          ).toEqual([]);
        }
      }
      const killLoopMs = performance.now() - started;

      // Final run: everything produced (and a little more), then a clean exit.
      await input.add(50);
      const last = spawnChild(CHILD, { ...env, CRASH_FINAL: '1' });
      children.push(last);
      const exit = await Promise.race([last.exited, sleep(90_000).then(() => null)]);
      if (exit === null) await last.kill();
      expect(exit, `the final run did not finish in 90 s: ${last.describe()}`).not.toBeNull();
      expect(exit!.code, `the final run failed: ${last.describe()}`).toBe(0);
      expect(last.lines).toContain('DONE');
      const cp = await inspectCheckpoint(checkpoint);
      expect(cp.uncommitted).toBeNull();
      expect(await recordedBatch(admin, sinkName), 'the last batch PostgreSQL recorded').toBe(
        cp.lastCommitted,
      );
      const end = (await readOffsetsEntry(checkpoint, cp.lastCommitted!))[SOURCE] as Record<
        string,
        Record<string, number>
      >;
      const ends = Array.from({ length: PARTITIONS }, (_, p) =>
        Math.max(0, ...input.events.filter((e) => e.partition === p).map((e) => e.offset + 1)),
      );
      expect(end[input.topic], 'the last batch ends after the last event of every partition').toEqual(
        Object.fromEntries(ends.map((o, p) => [String(p), o])),
      );

      const final = await readTable(table, mode);
      expect(final.duplicates, `rows written twice (seed ${seed})`).toEqual([]);
      let expected = aggregate(mode, input.events, () => true);
      if (mode === 'append') {
        // Windows are final once the watermark (newest event time − delay) passes their end.
        const watermark = Math.max(...input.events.map((e) => e.at)) - DELAY_MS;
        const reported = last.lines
          .filter((l) => l.startsWith('BATCH '))
          .map((l) => Number(l.split(' ')[3]))
          .filter((w) => Number.isFinite(w));
        expect(Math.max(...reported), 'the final watermark').toBe(watermark);
        expected = aggregate(
          mode,
          input.events,
          (e) => Math.floor(e.at / WINDOW_MS) * WINDOW_MS + WINDOW_MS <= watermark,
        );
        expect(expected.size, 'append mode closed no window: the test would prove nothing').toBeGreaterThan(
          KEYS * 50,
        );
      } else expect(final.rows.size).toBe(KEYS);
      expect(diff(expected, final.rows), `final table (seed ${seed})`).toEqual([]);
      expect(final.rows.size).toBe(expected.size);
      console.log(
        `[crash:kafka→postgres ${mode}] seed ${seed}: ${KILLS} kills in ${(killLoopMs / 1000).toFixed(1)} s; phases: ${phases}; ` +
          `kill timing: ${strategies}; ${input.events.length} events; ${rowsChecked} rows checked after kills; ` +
          `${cp.lastCommitted! + 1} batches in all; ${final.rows.size} rows, exact`,
      );
      expect(
        phases.get('PG committed N, no commits/N'),
        'no kill landed between the PostgreSQL commit and commits/N',
      ).toBeGreaterThan(0);
      expect(
        phases.get('batch N in flight, not in PG'),
        'no kill landed inside a batch before its PostgreSQL commit',
      ).toBeGreaterThan(0);
      passed = true;
    } finally {
      await killAll(children);
      await work.finish(passed);
      if (passed) {
        await admin.query(`DROP TABLE IF EXISTS "${table}"`);
        await admin.query(`DELETE FROM millrace_sink_batches WHERE sink = $1`, [sinkName]);
      } else console.log(`crash test failed; table ${table} is kept`);
    }
  });
}
