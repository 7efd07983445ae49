/**
 * Crash test of the Kinesis source: a child process reads a stream from kinesalite (in its own
 * process, which survives the kills) into an idempotent file sink, and is SIGKILLed at random
 * points — at startup, mid-run, inside the sink's write — then restarted on the same checkpoint.
 * Meanwhile the stream is resharded: shard 0 is split (after kill 6) and its two children merged
 * again (after kill 13), with new records after each, so restarts land before, during and after
 * parents are finished. A final run (Trigger.availableNow) finishes the input.
 *
 * Checked after EVERY kill, against the records put (each one's shard and sequence number):
 *   - the committed output is exactly the records up to the source offsets of the last batch the
 *     sink committed (per shard: up to that sequence number; all of it at SHARD_END), each once;
 *   - per partition key, the records come in the order they were written (parents before children).
 * At the end the output is every record, exactly once.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { readFileSinkManifest, readFileSinkOutput } from 'millrace';
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
import {
  type Kinesalite,
  adminClient,
  createStream,
  mergeShards,
  putRecords,
  shardsOf,
  splitShard,
  startKinesalite,
  uniqueName,
} from './helpers.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash', 'pipeline.child.ts');
const KILLS = 20;
const PHASES = [1_500, 1_000, 1_000];
const PER_TRIGGER = 100;
const KEYS = 12;

const children: Child[] = [];
let kl: Kinesalite | undefined;
afterAll(async () => {
  await killAll(children);
  await kl?.stop();
});

/** The last batch id the file sink committed (its manifest), -1 for none. */
const written = (manifest: readonly { batchId: number }[]) =>
  manifest.length ? Math.max(...manifest.map((m) => m.batchId)) : -1;

interface Put {
  i: number;
  k: string;
  shardId: string;
  seq: string;
}

it(`a Kinesis stream resharded twice → file sink: ${KILLS} SIGKILLs at random points, every record exactly once`, async () => {
  const seed = seedFromEnv(20261209);
  const rng = prng(seed);
  kl = await startKinesalite();
  const admin = adminClient(kl.endpoint);
  const stream = uniqueName('crash');
  await createStream(admin, stream, 2);
  const work = await WorkDir.create('kinesis');
  const checkpoint = work.sub('checkpoint');
  const output = work.sub('output');
  const env = {
    CRASH_STREAM: stream,
    CRASH_ENDPOINT: kl.endpoint,
    CRASH_PER_TRIGGER: String(PER_TRIGGER),
    CRASH_CHECKPOINT: checkpoint,
    CRASH_OUTPUT: output,
  };
  const puts: Put[] = [];
  const put = async (n: number) => {
    const from = puts.length;
    const recs = Array.from({ length: n }, (_, j) => ({ i: from + j, k: `k${(from + j) % KEYS}` }));
    const acks = await putRecords(
      admin,
      stream,
      recs.map((r) => ({ key: r.k, data: JSON.stringify(r) })),
    );
    recs.forEach((r, j) => puts.push({ ...r, shardId: acks[j]!.shardId, seq: acks[j]!.seq }));
  };
  /** The records up to the offsets `end` ({ shardId: position }). */
  const upTo = (end: Record<string, string> | null) =>
    puts.filter((p) => {
      const pos = end?.[p.shardId];
      if (pos === undefined || !/^\d+$/.test(pos)) return pos === 'SHARD_END';
      return BigInt(p.seq) <= BigInt(pos);
    });
  const check = async (where: string, expected: readonly Put[]) => {
    const rows = (written(await readFileSinkManifest(output).catch(() => [])) < 0
      ? []
      : await readFileSinkOutput(output)) as unknown as Put[];
    const got = rows.map((r) => r.i);
    expect(new Set(got).size, `${where}: records written twice`).toBe(got.length);
    expect(
      [...got].sort((a, b) => a - b),
      `${where}: the output is not the records up to the committed offsets`,
    ).toEqual(expected.map((p) => p.i).sort((a, b) => a - b));
    for (let k = 0; k < KEYS; k++) {
      const seq = rows.filter((r) => r.k === `k${k}`).map((r) => r.i);
      expect(seq, `${where}: key k${k} out of order`).toEqual([...seq].sort((a, b) => a - b));
    }
  };
  let passed = false;
  try {
    await put(PHASES[0]!);
    const phases = new PhaseTally();
    const strategies = new PhaseTally();
    const started = performance.now();
    for (let kill = 0; kill < KILLS; kill++) {
      if (kill === 7) {
        await splitShard(admin, stream, 'shardId-000000000000');
        await put(PHASES[1]!);
      }
      if (kill === 14) {
        const kids = (await shardsOf(admin, stream)).filter((s) => s.parent === 'shardId-000000000000');
        const [a, b] = kids.sort((x, y) => (BigInt(x.start) < BigInt(y.start) ? -1 : 1));
        await mergeShards(admin, stream, a!.id, b!.id);
        await put(PHASES[2]!);
      }
      const how = rng();
      const strategy = how < 0.15 ? 'after READY' : how < 0.6 ? 'after STARTED' : 'in sink write';
      strategies.add(strategy);
      const child = spawnChild(CHILD, env);
      children.push(child);
      await child.waitForLine((l) => l === 'READY', 'READY');
      if (strategy === 'after READY') await sleep(logUniform(rng, 1, 100));
      else {
        await child.waitForLine((l) => l === 'STARTED', 'STARTED');
        if (strategy === 'after STARTED') await sleep(logUniform(rng, 1, 500));
        else {
          await child.waitForNth('SINK_BEGIN ', randInt(rng, 1, 3), 10_000).catch(() => undefined);
          await sleep(randInt(rng, 0, 8));
        }
      }
      await child.killMidRun();

      const where = `kill ${kill} (seed ${seed})`;
      const cp = await inspectCheckpoint(checkpoint);
      const last = written(await readFileSinkManifest(output).catch(() => []));
      phases.add(
        !child.lines.includes('STARTED')
          ? 'startup'
          : cp.uncommitted === null
            ? 'between batches'
            : last === cp.uncommitted
              ? 'sink has N, no commits/N'
              : 'batch N in flight',
      );
      const end =
        last < 0
          ? null
          : ((await readOffsetsEntry(checkpoint, last))['crash-input'] as Record<string, string>);
      await check(where, upTo(end));
    }
    const killLoopMs = performance.now() - started;
    const final = spawnChild(CHILD, { ...env, CRASH_FINAL: '1' });
    children.push(final);
    const exit = await Promise.race([final.exited, sleep(60_000).then(() => null)]);
    if (exit === null) await final.kill();
    expect(exit, `the final run did not finish in 60 s: ${final.describe()}`).not.toBeNull();
    expect(exit!.code, `the final run failed: ${final.describe()}`).toBe(0);
    expect(final.lines).toContain('DONE');
    await check(`final (seed ${seed})`, puts);
    const cp = await inspectCheckpoint(checkpoint);
    const endOffsets = (await readOffsetsEntry(checkpoint, cp.lastCommitted!))['crash-input'] as Record<
      string,
      string
    >;
    expect(endOffsets['shardId-000000000000'], 'the split parent was read to its end').toBe('SHARD_END');
    console.log(
      `[crash:kinesis] seed ${seed}: ${KILLS} kills in ${(killLoopMs / 1000).toFixed(1)} s; phases: ${phases}; ` +
        `kill timing: ${strategies}; ${cp.lastCommitted! + 1} batches; ${puts.length} records over ${Object.keys(endOffsets).length} shards, exact`,
    );
    expect(phases.get('batch N in flight') + phases.get('sink has N, no commits/N')).toBeGreaterThan(0);
    passed = true;
  } finally {
    admin.destroy();
    await killAll(children);
    await work.finish(passed);
  }
}, 300_000);
