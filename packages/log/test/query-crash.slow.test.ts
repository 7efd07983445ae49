/**
 * Crash test of a query from the log to the log (docs/architecture.md): log source →
 * windowed aggregation (append mode) → log sink, in a child process
 * (crash/query.child.ts) SIGKILLed at random points of the micro-batch
 * protocol — including right after the sink's transaction (records + batch
 * marker) and before commits/N, where the restart must replay batch N and the
 * sink must skip it. The output topic must end exactly right.
 *
 *   test process (its own Log on the same directory)      child
 *   ────────────                                           ─────
 *   append 40–160 events to "events" (3 partitions) ──►    logSource(maxOffsetsPerTrigger 40)
 *   spawn; SIGKILL early / at a random time / around         → withWatermark(ts, 5 s)
 *     a sink write / while stalled after the sink wrote       → groupBy(window(ts, 1 s), k)
 *     batch N and before commits/N                              .agg(count, sum)       append
 *   after each kill: output ⊆ expected, no duplicates,      → logSink("counts", json)
 *     classify the kill (checkpoint + the sink's marker)
 *   final: a far-future event closes every window; wait for the output; SIGTERM
 *   output == expected exactly
 *
 * Why the expected output is independent of batching: event i has
 * ts = T0 + 50·i, key k(i%3), partition i%3, so each partition is in time order
 * and a batch, prorated over partitions by what each has, leaves them within a
 * few events of each other — far less than the 5 s watermark delay. No event is
 * ever late, and the output is every (1 s window, key) of all events but the
 * final one, with its count and sum.
 *
 * Reproduce a failure with CRASH_SEED=<seed printed in the summary>.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import {
  type Child,
  PhaseTally,
  WorkDir,
  inspectCheckpoint,
  killAll,
  logUniform,
  prng,
  randInt,
  seedFromEnv,
  sleep,
  spawnChild,
  waitFor,
} from '../../millrace/test/crash/harness.ts';
import { openLog, type Log } from '../src/index.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(HERE, 'crash', 'query.child.ts');
const KILLS = 22;
const T0 = Date.UTC(2025, 0, 1);

interface OutRow {
  window: { start: string; end: string };
  k: string;
  c: number;
  s: number;
}

const children: Child[] = [];
afterAll(async () => {
  await killAll(children);
});

it('log → windowed aggregation → log sink: SIGKILL at random points, the output topic ends exactly right', async () => {
  const seed = seedFromEnv(20250702);
  const rng = prng(seed);
  const work = await WorkDir.create('log-query');
  const dir = work.sub('log');
  const checkpoint = work.sub('checkpoint');
  let passed = false;
  let log: Log | undefined;
  try {
    log = await openLog({ dir, fsync: 'always', retentionCheckIntervalMs: 0 });
    const L = log;
    await L.createTopic('events', { partitions: 3 });
    let next = 0;
    const appendEvents = async (n: number) => {
      const recs = [];
      for (let i = next; i < next + n; i++) {
        recs.push({
          key: `k${i % 3}`,
          partition: i % 3,
          value: JSON.stringify({ k: `k${i % 3}`, n: i, ts: T0 + 50 * i }),
        });
      }
      next += n;
      await L.append('events', recs);
    };
    /** (window start ms | key) → { c, s } for events [0, upTo). */
    const expectedFor = (upTo: number): Map<string, { c: number; s: number }> => {
      const m = new Map<string, { c: number; s: number }>();
      for (let i = 0; i < upTo; i++) {
        const ts = T0 + 50 * i;
        const key = `${ts - (ts % 1000)}|k${i % 3}`;
        const g = m.get(key) ?? { c: 0, s: 0 };
        g.c++;
        g.s += i;
        m.set(key, g);
      }
      return m;
    };
    const output = async (): Promise<Map<string, { c: number; s: number }[]>> => {
      const m = new Map<string, { c: number; s: number }[]>();
      if (!L.topic('counts')) return m;
      for await (const chunk of L.read('counts', 0)) {
        for (const r of chunk) {
          const row = JSON.parse(r.value as string) as OutRow;
          const key = `${Date.parse(row.window.start)}|${row.k}`;
          expect(Date.parse(row.window.end) - Date.parse(row.window.start)).toBe(1000);
          m.set(key, [...(m.get(key) ?? []), { c: row.c, s: row.s }]);
        }
      }
      return m;
    };
    const queryId = (): string | undefined => {
      try {
        return (
          JSON.parse(readFileSync(path.join(checkpoint, 'metadata'), 'utf8').split('\n')[1]!) as {
            id: string;
          }
        ).id;
      } catch {
        return undefined;
      }
    };

    const env = { CRASH_LOG_DIR: dir, CRASH_CHECKPOINT: checkpoint };
    const phases = new PhaseTally();
    const strategies = new PhaseTally();
    const started = performance.now();
    for (let kill = 0; kill < KILLS; kill++) {
      await appendEvents(randInt(rng, 40, 160));
      const how = rng();
      const stallAt = how >= 0.7 ? randInt(rng, 1, 3) : undefined;
      const child = spawnChild(CHILD, { ...env, ...(stallAt ? { CRASH_STALL_AT: String(stallAt) } : {}) });
      children.push(child);
      await child.waitForLine((l) => l === 'READY', 'READY');
      if (how < 0.1) {
        strategies.add('after READY');
        await sleep(logUniform(rng, 1, 80));
      } else {
        await child.waitForLine((l) => l === 'STARTED', 'STARTED');
        if (how < 0.45) {
          strategies.add('after STARTED');
          await sleep(logUniform(rng, 1, 800));
        } else if (how < 0.7) {
          strategies.add('around a sink write');
          await child.waitForNth('SINK_BEGIN ', randInt(rng, 1, 3), 5_000);
          await sleep(randInt(rng, 0, 3));
        } else {
          strategies.add('stalled after the sink, before commits/N');
          await child.nextLine((l) => l.startsWith('STALL '), 8_000);
        }
      }
      await child.killMidRun();

      // Where did the kill land?
      const cp = await inspectCheckpoint(checkpoint);
      const id = queryId();
      const marker = id === undefined || !L.topic('counts') ? undefined : L.lastMarker('counts', `${id}/out`);
      let phase: string;
      if (!child.lines.includes('STARTED')) phase = 'startup';
      else if (cp.uncommitted !== null) {
        phase =
          marker !== undefined && marker >= cp.uncommitted
            ? 'offsets + sink transaction, no commit (replay must be skipped)'
            : 'offsets, sink not written';
      } else phase = 'between batches';
      phases.add(phase);

      // The output never holds a window twice, nor one that is wrong.
      const expected = expectedFor(next);
      for (const [key, rows] of await output()) {
        expect(
          rows.length,
          `after kill ${kill} (seed ${seed}): window ${key} written ${rows.length} times`,
        ).toBe(1);
        expect(rows[0], `after kill ${kill} (seed ${seed}): window ${key}`).toEqual(expected.get(key));
      }
    }
    const killLoopMs = performance.now() - started;

    // Final run: a far-future event closes every window.
    const total = next;
    const far = { k: 'kend', n: -1, ts: T0 + 50 * total + 3_600_000 };
    await L.append('events', [{ key: 'kend', partition: 0, value: JSON.stringify(far) }]);
    const last = spawnChild(CHILD, env);
    children.push(last);
    await last.waitForLine((l) => l === 'STARTED', 'STARTED');
    const expected = expectedFor(total);
    await waitFor(
      async () => (await output()).size >= expected.size,
      `all ${expected.size} windows in the output`,
      60_000,
      100,
    );
    last.proc.kill('SIGTERM');
    const exit = await Promise.race([last.exited, sleep(20_000).then(() => null)]);
    expect(exit?.code, `the final run did not stop cleanly: ${last.describe()}`).toBe(0);

    const out = await output();
    const dups = [...out].filter(([, rows]) => rows.length > 1).map(([k]) => k);
    expect(dups.slice(0, 10), `windows written twice (seed ${seed})`).toEqual([]);
    expect(new Map([...out].map(([k, rows]) => [k, rows[0]!]))).toEqual(expected);
    const cp = await inspectCheckpoint(checkpoint);
    console.log(
      `[crash:log-query] seed ${seed}: ${KILLS} kills in ${(killLoopMs / 1000).toFixed(1)} s; phases: ${phases}; kill timing: ${strategies}; ` +
        `${total} events, ${expected.size} windows, ${cp.lastCommitted === null ? 0 : cp.lastCommitted + 1} batches`,
    );
    expect(
      phases.get('offsets + sink transaction, no commit (replay must be skipped)'),
      'no kill landed between the sink transaction and commits/N',
    ).toBeGreaterThan(0);
    passed = true;
  } finally {
    await killAll(children);
    await log?.close();
    await work.finish(passed);
  }
});
