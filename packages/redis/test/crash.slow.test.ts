/**
 * Crash test of the Redis connectors (docs/architecture.md): a child process reads 3 Redis streams (the
 * source's partitions) and writes either an aggregation per key into hashes (update mode,
 * redisHashSink) or every entry into another stream (append mode, redisStreamSink). It is
 * SIGKILLed at random points — at startup, mid-run, inside the sink's write, and between the
 * Redis write and the checkpoint's commits/N (the child stalls there on request) — then restarted
 * on the same checkpoint; a final run (Trigger.availableNow) finishes the input.
 *
 * Checked after EVERY kill, against answers computed here from the entries written to the input:
 *   - the batch id Redis recorded lies between the checkpoint's last commit and its last offsets entry;
 *   - update: the hashes are exactly the aggregate of the entries up to the end offsets of that batch;
 *   - append: the output stream holds exactly the entries up to those offsets, each once, in order
 *     within each input stream.
 * At the end the output equals the expected result exactly.
 */
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
  readOffsetsEntry,
  seedFromEnv,
  sleep,
  spawnChild,
} from '../../millrace/test/crash/harness.ts';
import { REDIS_URL, adminClient, cleanup, deleteKeys, uniqueName } from './helpers.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash', 'pipeline.child.ts');
const KILLS = 20;
const ENTRIES = 60_000;
const STREAMS = 3;
const PER_TRIGGER = 300;
const KEYS = 40;
const SOURCE = 'crash-input';

const children: Child[] = [];
afterAll(async () => {
  await killAll(children);
  await cleanup();
});
const admin = adminClient();

interface Entry {
  stream: string;
  id: string;
  i: number;
  k: string;
  v: number;
}

const cmpId = (a: string, b: string) => {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am < bm ? -1 : am > bm ? 1 : as < bs ? -1 : as > bs ? 1 : 0;
};

/** The entries up to `end` ({ stream: { id } }), or none when end is null. */
function upTo(entries: readonly Entry[], end: Record<string, { id: string }> | null): Entry[] {
  if (!end) return [];
  return entries.filter((e) => end[e.stream] !== undefined && cmpId(e.id, end[e.stream]!.id) <= 0);
}

function aggregate(entries: readonly Entry[]): Map<string, string> {
  const m = new Map<string, { n: number; total: number }>();
  for (const e of entries) {
    const a = m.get(e.k) ?? { n: 0, total: 0 };
    a.n++;
    a.total += e.v;
    m.set(e.k, a);
  }
  return new Map([...m].map(([k, a]) => [k, `${a.n}/${a.total}`]));
}

for (const mode of ['update', 'append'] as const) {
  it(`3 Redis streams → ${mode === 'update' ? 'aggregation → hashes' : 'stream'} (${mode}): ${KILLS} SIGKILLs at random points, every entry exactly once`, async () => {
    const seed = seedFromEnv(mode === 'update' ? 20261207 : 20261208);
    const rng = prng(seed);
    const work = await WorkDir.create(`redis-${mode}`);
    const prefix = uniqueName(`crash_${mode}`);
    const streams = Array.from({ length: STREAMS }, (_, s) => `${prefix}:in${s}`);
    const checkpoint = work.sub('checkpoint');
    const env = {
      REDIS_URL,
      CRASH_PREFIX: prefix,
      CRASH_STREAMS: streams.join(','),
      CRASH_PER_TRIGGER: String(PER_TRIGGER),
      CRASH_CHECKPOINT: checkpoint,
      CRASH_MODE: mode,
    };
    // The input, written once; ids read back for the expected results.
    const entries: Entry[] = [];
    for (let from = 0; from < ENTRIES; from += 5_000) {
      const p = admin.pipeline();
      const batch: Omit<Entry, 'id'>[] = [];
      for (let i = from; i < from + 5_000; i++) {
        const e = { stream: streams[i % STREAMS]!, i, k: `k${(i * 7) % KEYS}`, v: i % 97 };
        batch.push(e);
        p.xadd(e.stream, '*', 'i', String(i), 'k', e.k, 'v', String(e.v));
      }
      const ids = (await p.exec())!.map(([err, id]) => (err ? Promise.reject(err) : (id as string)));
      batch.forEach((e, n) => entries.push({ ...e, id: ids[n] as string }));
    }
    const markerPattern = `millrace:batches:*${prefix}*`;
    const scanAll = async (pattern: string): Promise<string[]> => {
      const out: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 10_000);
        cursor = next;
        out.push(...keys);
      } while (cursor !== '0');
      return out;
    };
    const recordedBatch = async (): Promise<number> => {
      const markers = (await scanAll(markerPattern)).filter((k) => !k.endsWith(':keys'));
      expect(markers.length, 'one batch marker per (query, sink)').toBeLessThanOrEqual(1);
      return markers.length ? Number(await admin.get(markers[0]!)) : -1;
    };
    const readOutput = async (): Promise<{ agg: Map<string, string>; out: number[] }> => {
      if (mode === 'update') {
        const agg = new Map<string, string>();
        for (const key of await scanAll(`${prefix}:agg:*`)) {
          const h = await admin.hgetall(key);
          agg.set(h.k!, `${h.n}/${h.total}`);
        }
        return { agg, out: [] };
      }
      const out = (await admin.xrange(`${prefix}:out`, '-', '+')).map(([, kv]) =>
        Number(kv[kv.indexOf('i') + 1]),
      );
      return { agg: new Map(), out };
    };
    const check = (got: { agg: Map<string, string>; out: number[] }, expected: Entry[], where: string) => {
      if (mode === 'update') {
        expect(
          Object.fromEntries(got.agg),
          `${where}: the hashes are not the aggregate of the entries read`,
        ).toEqual(Object.fromEntries(aggregate(expected)));
      } else {
        expect(new Set(got.out).size, `${where}: entries written twice`).toBe(got.out.length);
        expect(
          [...got.out].sort((a, b) => a - b),
          `${where}: the output is not the entries read`,
        ).toEqual(expected.map((e) => e.i).sort((a, b) => a - b));
        for (const s of streams) {
          const mine = new Set(entries.filter((e) => e.stream === s).map((e) => e.i));
          const seq = got.out.filter((i) => mine.has(i));
          expect(seq, `${where}: ${s} out of order`).toEqual([...seq].sort((a, b) => a - b));
        }
      }
    };
    let passed = false;
    try {
      const phases = new PhaseTally();
      const strategies = new PhaseTally();
      const started = performance.now();
      for (let kill = 0; kill < KILLS; kill++) {
        const how = rng();
        const strategy =
          how < 0.1
            ? 'after READY'
            : how < 0.45
              ? 'after STARTED'
              : how < 0.75
                ? 'in sink write'
                : 'after Redis write (stalled)';
        strategies.add(strategy);
        const nth = randInt(rng, 1, 4);
        const child = spawnChild(CHILD, {
          ...env,
          ...(strategy === 'after Redis write (stalled)' ? { CRASH_STALL_AT: String(nth) } : {}),
          // The Redis write is one fast script: a kill sent on SINK_BEGIN lands after it more often
          // than not, so the child holds before the write and the kill lands with batch N in flight.
          ...(strategy === 'in sink write' ? { CRASH_STALL_BEFORE: String(nth) } : {}),
        });
        children.push(child);
        await child.waitForLine((l) => l === 'READY', 'READY');
        if (strategy === 'after READY') await sleep(logUniform(rng, 1, 100));
        else {
          await child.waitForLine((l) => l === 'STARTED', 'STARTED');
          if (strategy === 'after STARTED') await sleep(logUniform(rng, 1, 600));
          else if (strategy === 'in sink write') {
            await child.waitForLine((l) => l.startsWith('STALL_BEFORE '), 'STALL_BEFORE', 10_000);
          } else await child.waitForLine((l) => l.startsWith('STALL '), 'STALL', 10_000);
        }
        await child.killMidRun();

        const where = `kill ${kill} (seed ${seed})`;
        const cp = await inspectCheckpoint(checkpoint);
        const recorded = await recordedBatch();
        expect(
          recorded,
          `${where}: Redis has batch ${recorded}, the checkpoint's last commit is ${cp.lastCommitted}`,
        ).toBeGreaterThanOrEqual(cp.lastCommitted ?? -1);
        expect(
          recorded,
          `${where}: Redis has batch ${recorded} beyond the last planned batch`,
        ).toBeLessThanOrEqual(cp.offsets.at(-1) ?? -1);
        phases.add(
          !child.lines.includes('STARTED')
            ? 'startup'
            : cp.uncommitted === null
              ? 'between batches'
              : recorded === cp.uncommitted
                ? 'Redis has N, no commits/N'
                : 'batch N in flight, not in Redis',
        );
        const end =
          recorded < 0
            ? null
            : ((await readOffsetsEntry(checkpoint, recorded))[SOURCE] as Record<string, { id: string }>);
        check(await readOutput(), upTo(entries, end), where);
      }
      const killLoopMs = performance.now() - started;
      const beforeFinal = (await inspectCheckpoint(checkpoint)).lastCommitted ?? -1;
      expect(beforeFinal + 1, 'the kills did not leave input for the final run').toBeLessThan(
        ENTRIES / PER_TRIGGER,
      );

      const last = spawnChild(CHILD, { ...env, CRASH_FINAL: '1' });
      children.push(last);
      const exit = await Promise.race([last.exited, sleep(90_000).then(() => null)]);
      if (exit === null) await last.kill();
      expect(exit, `the final run did not finish in 90 s: ${last.describe()}`).not.toBeNull();
      expect(exit!.code, `the final run failed: ${last.describe()}`).toBe(0);
      expect(last.lines).toContain('DONE');
      const cp = await inspectCheckpoint(checkpoint);
      expect(cp.uncommitted).toBeNull();
      expect(await recordedBatch(), 'the last batch Redis recorded').toBe(cp.lastCommitted);
      check(await readOutput(), entries, `final (seed ${seed})`);
      console.log(
        `[crash:redis ${mode}] seed ${seed}: ${KILLS} kills in ${(killLoopMs / 1000).toFixed(1)} s; phases: ${phases}; ` +
          `kill timing: ${strategies}; ${beforeFinal + 1} batches committed before the final run, ${cp.lastCommitted! + 1} in all; ${ENTRIES} entries, exact`,
      );
      expect(
        phases.get('Redis has N, no commits/N'),
        'no kill landed between the Redis write and commits/N',
      ).toBeGreaterThan(0);
      expect(
        phases.get('batch N in flight, not in Redis'),
        'no kill landed inside a batch before its Redis write',
      ).toBeGreaterThan(0);
      passed = true;
    } finally {
      await killAll(children);
      await work.finish(passed);
      if (passed) {
        await deleteKeys(admin, `${prefix}:*`);
        await deleteKeys(admin, markerPattern);
      } else console.log(`crash test failed; keys ${prefix}:* are kept`);
    }
  });
}
