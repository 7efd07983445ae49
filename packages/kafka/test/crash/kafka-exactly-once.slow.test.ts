/**
 * Crash tests: Kafka → Millrace → Kafka with the transactional sink, the pipeline process
 * SIGKILLed at random points of the micro-batch protocol and restarted (docs/architecture.md).
 *
 *   test process                          child (kafka-pipeline.child.ts)
 *   ────────────                          ───────────────────────────────
 *   produce JSON events ────────────────► kafkaSource(maxOffsetsPerTrigger 40)
 *   repeat KILLS times:                     map:   → w = v * 3 + 1 → kafkaSink(json)
 *     spawn child; produce more meanwhile   count: → groupBy(k).count() → kafkaSink  (update)
 *     SIGKILL: early (loading, recovery),   transactional sink, one transaction per batch
 *     at a random time, inside the sink's
 *     transaction, or right after its commit (before commits/N)
 *     where did the kill land? (checkpoint + sink markers)
 *     committed output ⊆ expected, and ⊇ what was committed before the kill
 *   final run with Trigger.availableNow(), clean exit
 *   committed output == expected, exactly; one commit marker per batch id, 0..last
 *
 * "Committed output": what a read_committed consumer of the output topic sees on a real
 * broker. The mock cluster (librdkafka 2.0.2 behind kcat) implements the transaction
 * protocol but writes no control records, so records of a transaction the kill cut short
 * stay visible there (a real broker aborts them when the restarted producer calls
 * initTransactions()). The test therefore reads the output with read_committed AND keeps
 * only the offset ranges the sink's commit markers name (each marker is written inside its
 * batch's transaction, after all of the batch's records are acknowledged); the records of
 * cut-short attempts outside those ranges are counted and reported. What this checks is the
 * connector's part of exactly-once: every batch is committed by exactly one attempt, a
 * replayed batch whose marker exists writes nothing, and the markers cover exactly the
 * expected output. Broker-side isolation is Kafka's part and is not exercised by the mock.
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
  countBy,
  inspectCheckpoint,
  killAll,
  logUniform,
  multisetDiff,
  prng,
  randInt,
  seedFromEnv,
  sleep,
  spawnChild,
} from '../../../millrace/test/crash/harness.ts';
import { type CommitMarker, readKafkaSinkCommits } from '../../src/index.ts';
import {
  type MockCluster,
  type ReadRecord,
  TestProducer,
  readTopic,
  startMockCluster,
  uniqueTopic,
} from '../mockCluster.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'kafka-pipeline.child.ts');
const KEYS = 9;

let kafka: MockCluster;
let producer: TestProducer;
const children: Child[] = [];

beforeAll(async () => {
  kafka = await startMockCluster({ debug: false });
  producer = await TestProducer.connect(kafka.bootstrap);
});
afterAll(async () => {
  await killAll(children);
  await producer?.close();
  await kafka?.stop();
});

interface Event {
  readonly id: number;
  readonly k: string;
  readonly v: number;
}

/** The input topic and what was written to it. */
class Input {
  readonly events: Event[] = [];
  constructor(
    readonly topic: string,
    private readonly rng: () => number,
  ) {}

  async add(n: number): Promise<void> {
    const batch: Event[] = [];
    for (let i = 0; i < n; i++) {
      const id = this.events.length + batch.length;
      batch.push({ id, k: `k${randInt(this.rng, 0, KEYS - 1)}`, v: randInt(this.rng, 0, 99_999) });
    }
    await producer.send(
      this.topic,
      batch.map((e) => ({ value: JSON.stringify(e), partition: e.id % 4 })),
    );
    this.events.push(...batch);
  }
}

interface Committed {
  readonly markers: CommitMarker[];
  /** Records of the output inside the ranges the markers name, with the batch that wrote each. */
  readonly accepted: (ReadRecord & { batchId: number })[];
  /** Records outside every marker's range: left by transactions a kill cut short. */
  readonly residue: ReadRecord[];
}

/** What a read_committed reader of a real broker would see: the records of committed batches. */
async function committedOutput(output: string, queryId: string | null): Promise<Committed> {
  if (queryId === null)
    return { markers: [], accepted: [], residue: await readTopic(kafka.bootstrap, output) };
  const markers = await readKafkaSinkCommits({ bootstrapServers: kafka.bootstrap, queryId, sink: 'out' });
  const records = await readTopic(kafka.bootstrap, output);
  const accepted: (ReadRecord & { batchId: number })[] = [];
  const residue: ReadRecord[] = [];
  for (const r of records) {
    const m = markers.find((mk) => {
      const range = mk.partitions[output]?.[String(r.partition)];
      return range !== undefined && r.offset >= range[0] && r.offset <= range[1];
    });
    if (m) accepted.push({ ...r, batchId: m.batchId });
    else residue.push(r);
  }
  return { markers, accepted, residue };
}

function checkMarkers(markers: readonly CommitMarker[], seed: number): void {
  const ids = markers.map((m) => m.batchId);
  expect(new Set(ids).size, `a batch was committed twice (seed ${seed}): ${ids.join(',')}`).toBe(ids.length);
  expect(ids, `commit markers are not the batches 0..n in order (seed ${seed})`).toEqual(
    ids.map((_, i) => i),
  );
}

interface Variant {
  readonly name: string;
  readonly mode: 'map' | 'count';
  readonly seed: number;
  readonly kills: number;
  readonly preEvents: number;
  /** The committed output so far is consistent with the input (throws otherwise). */
  readonly check: (input: Input, c: Committed, seed: number, final: boolean) => void;
}

const mapKey = (r: { key: string | null; value: string | null }) => `${r.key}|${r.value}`;
const mapExpected = (events: readonly Event[]) =>
  events.map((e) =>
    mapKey({ key: e.k, value: JSON.stringify({ id: e.id, k: e.k, v: e.v, w: e.v * 3 + 1 }) }),
  );

const VARIANTS: Variant[] = [
  {
    name: 'map (append)',
    mode: 'map',
    seed: 20250801,
    kills: 22,
    preEvents: 600,
    check(input, c, seed, final) {
      const expected = countBy(mapExpected(input.events), (x) => x);
      const diff = multisetDiff(
        expected,
        countBy(c.accepted.map(mapKey), (x) => x),
      );
      expect(
        diff.extra,
        `committed records not expected or duplicated (seed ${seed}): ${diff.extraExamples.join('; ')}`,
      ).toBe(0);
      if (final) {
        expect(
          diff.missing,
          `records missing from the committed output (seed ${seed}): ${diff.missingExamples.join('; ')}`,
        ).toBe(0);
      }
      // Records of cut-short transactions are copies of expected records (each attempt of a
      // replayed batch wrote them again), never anything else.
      const strange = c.residue.map(mapKey).filter((x) => !expected.has(x));
      expect(strange, `output records that no input explains (seed ${seed})`).toEqual([]);
    },
  },
  {
    name: 'groupBy count (update)',
    mode: 'count',
    seed: 20250802,
    kills: 12,
    preEvents: 400,
    check(input, c, seed, final) {
      const total = countBy(input.events, (e) => e.k);
      const byKey = new Map<string, { batchId: number; offset: number; n: number }[]>();
      for (const r of c.accepted) {
        byKey.set(r.key!, [
          ...(byKey.get(r.key!) ?? []),
          { batchId: r.batchId, offset: r.offset, n: Number(r.value) },
        ]);
      }
      for (const [k, list] of byKey) {
        list.sort((a, b) => a.batchId - b.batchId || a.offset - b.offset);
        const counts = list.map((x) => x.n);
        // One row per key per batch, counts only grow: a duplicated batch would repeat a count.
        for (let i = 1; i < counts.length; i++) {
          expect(counts[i]!, `counts of ${k} (seed ${seed}): ${counts.join(',')}`).toBeGreaterThan(
            counts[i - 1]!,
          );
        }
        expect(counts.at(-1)!, `count of ${k} (seed ${seed})`).toBeLessThanOrEqual(total.get(k) ?? 0);
        expect(new Set(list.map((x) => x.batchId)).size, `a batch wrote ${k} twice (seed ${seed})`).toBe(
          list.length,
        );
      }
      if (final) {
        expect(new Map([...byKey].map(([k, l]) => [k, l.at(-1)!.n])), `final counts (seed ${seed})`).toEqual(
          total,
        );
      }
    },
  },
];

for (const variant of VARIANTS) {
  it(`Kafka → ${variant.name} → transactional Kafka sink: SIGKILL at random points, every record committed exactly once`, async () => {
    const seed = seedFromEnv(variant.seed);
    const rng = prng(seed);
    const work = await WorkDir.create(`kafka-${variant.mode}`);
    let passed = false;
    try {
      const input = new Input(uniqueTopic(`crash-in-${variant.mode}`), rng);
      const output = uniqueTopic(`crash-out-${variant.mode}`);
      const checkpoint = work.sub('checkpoint');
      const env = {
        CRASH_BOOTSTRAP: kafka.bootstrap,
        CRASH_MODE: variant.mode,
        CRASH_INPUT: input.topic,
        CRASH_OUTPUT: output,
        CRASH_CHECKPOINT: checkpoint,
      };
      await input.add(variant.preEvents);

      const phases = new PhaseTally();
      const strategies = new PhaseTally();
      let queryId: string | null = null;
      let previous = new Map<string, number>();
      let maxResidue = 0;
      let killsWithUncommitted = 0;
      const started = performance.now();
      for (let kill = 0; kill < variant.kills; kill++) {
        const child = spawnChild(CHILD, env);
        children.push(child);
        await child.waitForLine((l) => l === 'READY', 'READY');
        const how = rng();
        const strategy =
          how < 0.15
            ? 'after READY'
            : how < 0.55
              ? 'after STARTED'
              : how < 0.8
                ? 'in the transaction'
                : 'after commit';
        strategies.add(strategy);
        const adds = randInt(rng, 0, 3);
        if (strategy === 'after READY') {
          for (let i = 0; i < adds; i++) await input.add(randInt(rng, 10, 60));
          await sleep(logUniform(rng, 1, 150));
        } else {
          const line = await child.waitForLine((l) => l.startsWith('STARTED '), 'STARTED', 60_000);
          queryId ??= line.slice('STARTED '.length);
          if (strategy === 'after STARTED') {
            const delay = logUniform(rng, 1, 1_000);
            const addAt = Math.floor(rng() * delay);
            await sleep(addAt);
            for (let i = 0; i < adds; i++) await input.add(randInt(rng, 10, 60));
            await sleep(delay - addAt);
          } else {
            for (let i = 0; i < adds; i++) await input.add(randInt(rng, 10, 60));
            const nth = randInt(rng, 1, 3);
            if (strategy === 'in the transaction') {
              await child.waitForNth('SINK_BEGIN ', nth, 5_000);
              await sleep(randInt(rng, 0, 8));
            } else {
              await child.waitForNth('SINK_DONE ', nth, 5_000);
            }
          }
        }
        await child.killMidRun();

        // Where did the kill land?
        const cp = await inspectCheckpoint(checkpoint);
        const began = new Set(
          child.lines.filter((l) => l.startsWith('SINK_BEGIN ')).map((l) => Number(l.split(' ')[1])),
        );
        const doneIds = new Set(
          child.lines.filter((l) => l.startsWith('SINK_DONE ')).map((l) => Number(l.split(' ')[1])),
        );
        let phase: string;
        if (!child.lines.some((l) => l.startsWith('STARTED '))) phase = 'startup';
        else if (cp.uncommitted !== null) {
          killsWithUncommitted++;
          const n = cp.uncommitted;
          phase = doneIds.has(n)
            ? 'transaction of N committed, no commits/N'
            : began.has(n)
              ? 'inside the transaction of N'
              : 'offsets/N, before the sink';
        } else phase = 'between batches';
        phases.add(phase);

        // Invariants at every kill.
        const c = await committedOutput(output, queryId);
        checkMarkers(c.markers, seed);
        variant.check(input, c, seed, false);
        maxResidue = Math.max(maxResidue, c.residue.length);
        const now = countBy(c.accepted, (r) => `${r.partition}:${r.offset}`);
        const lost = multisetDiff(previous, now);
        expect(lost.missing, `after kill ${kill} (seed ${seed}): committed records disappeared`).toBe(0);
        previous = now;
      }
      const killLoopMs = performance.now() - started;

      // Final run: everything there is, then a clean exit.
      await input.add(50);
      const last = spawnChild(CHILD, { ...env, CRASH_FINAL: '1' });
      children.push(last);
      const exit = await Promise.race([last.exited, sleep(90_000).then(() => null)]);
      if (exit === null) await last.kill();
      expect(exit, `the final run did not finish in 90 s: ${last.describe()}`).not.toBeNull();
      expect(exit!.code, `the final run failed: ${last.describe()}`).toBe(0);
      expect(last.lines).toContain('DONE');
      queryId ??= last.lines.find((l) => l.startsWith('STARTED '))!.slice('STARTED '.length);

      const c = await committedOutput(output, queryId);
      checkMarkers(c.markers, seed);
      variant.check(input, c, seed, true);
      const cp = await inspectCheckpoint(checkpoint);
      expect(cp.uncommitted).toBeNull();
      expect(c.markers.at(-1)!.batchId, 'the last marker is the last committed batch').toBe(cp.lastCommitted);
      expect(killsWithUncommitted, 'no kill landed inside a batch').toBeGreaterThan(0);
      expect(
        phases.get('inside the transaction of N') + phases.get('transaction of N committed, no commits/N'),
        'no kill landed in or right after the sink transaction',
      ).toBeGreaterThan(0);
      console.log(
        `[crash:kafka ${variant.name}] seed ${seed}: ${variant.kills} kills in ${(killLoopMs / 1000).toFixed(1)} s; ` +
          `phases: ${phases}; kill timing: ${strategies}; input ${input.events.length} events; ` +
          `${c.markers.length} batches committed, ${c.accepted.length} records committed; ` +
          `${c.residue.length} records of cut-short transactions visible on the mock (max ${maxResidue} during the loop; a real broker aborts them)`,
      );
      passed = true;
    } finally {
      await killAll(children);
      await work.finish(passed);
    }
  });
}
