/**
 * Crash test of the RabbitMQ source (docs/architecture.md): the test publishes numbers
 * 0 … N−1 (message id = the number) to a durable queue in steps while a child
 * (crash/pipeline.child.ts: rabbitmqSource → fileSink) runs, and SIGKILLs the
 * child at random points — while it opens, mid-run, inside the sink's write,
 * and between a write-ahead-log fsync and the broker acknowledgement (the
 * child stalls there on request) — then restarts it on the same checkpoint.
 *
 * Checked after EVERY kill, from outside, while no child runs:
 *   - no number appears twice in the committed output (readFileSinkOutput);
 *   - every output number was published;
 *   - the committed output only grows (nothing committed is lost).
 * At the end (a last child runs until the queue is drained, then SIGTERM):
 *   - the output is exactly 0 … N−1, each once, and the queue is empty;
 *   - the kills that landed between WAL fsync and ack made the broker
 *     redeliver messages the WAL already held, and the source dropped them by
 *     message id (counted, required > 0, so the check has teeth).
 *
 * Reproduce a failure with CRASH_SEED=<seed printed in the summary>.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { readFileSinkOutput } from 'millrace';
import {
  type Child,
  PhaseTally,
  WorkDir,
  killAll,
  logUniform,
  prng,
  randInt,
  seedFromEnv,
  sleep,
  spawnChild,
} from '../../millrace/test/crash/harness.ts';
import { URL, cleanup, publish, queueDepth, uniqueQueue } from './helpers.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash', 'pipeline.child.ts');
const KILLS = 22;
const PER_STEP = 2_000;

const children: Child[] = [];
afterAll(async () => {
  await killAll(children);
  await cleanup();
});

async function committed(output: string): Promise<number[]> {
  const rows = (await readFileSinkOutput(output).catch((e: NodeJS.ErrnoException) =>
    e.code === 'ENOENT' ? [] : Promise.reject(e),
  )) as { n: number }[];
  return rows.map((r) => r.n);
}

function duplicatesIn(ns: readonly number[]): number[] {
  const seen = new Set<number>();
  return ns.filter((n) => (seen.has(n) ? true : (seen.add(n), false)));
}

function dropped(child: Child): number {
  // BATCH lines carry the source's running count of messages dropped by id in this process.
  const last = child.lines.filter((l) => l.startsWith('BATCH ')).at(-1);
  return last ? Number(last.split(' ')[3]) : 0;
}

it(`rabbitmqSource → fileSink: ${KILLS} SIGKILLs at random points, every message exactly once`, async () => {
  const seed = seedFromEnv(20261207);
  const rng = prng(seed);
  const work = await WorkDir.create('rabbitmq');
  const queue = uniqueQueue('crash');
  const env = {
    CRASH_URL: URL,
    CRASH_QUEUE: queue,
    CRASH_OUTPUT: work.sub('output'),
    CRASH_CHECKPOINT: work.sub('checkpoint'),
  };
  let published = 0;
  const publishStep = async () => {
    const from = published;
    published += PER_STEP;
    const ns = Array.from({ length: PER_STEP }, (_, k) => from + k);
    await publish(
      queue,
      ns.map((n) => JSON.stringify({ n })),
      ns.map((n) => `n-${n}`),
    );
  };
  let passed = false;
  try {
    const strategies = new PhaseTally();
    let redeliveredDropped = 0;
    let previous: number[] = [];
    const started = performance.now();
    for (let kill = 0; kill < KILLS; kill++) {
      const how = rng();
      const strategy =
        how < 0.1
          ? 'after READY'
          : how < 0.45
            ? 'after STARTED'
            : how < 0.7
              ? 'in sink write'
              : 'after WAL fsync, before ack';
      strategies.add(strategy);
      const nth = randInt(rng, 1, 4);
      const child = spawnChild(CHILD, {
        ...env,
        ...(strategy === 'after WAL fsync, before ack' ? { CRASH_STALL_AT: String(nth) } : {}),
      });
      children.push(child);
      const feeding = publishStep();
      await child.waitForLine((l) => l === 'READY', 'READY');
      if (strategy === 'after READY') await sleep(logUniform(rng, 1, 100));
      else {
        await child.waitForLine((l) => l === 'STARTED', 'STARTED');
        if (strategy === 'after STARTED') await sleep(logUniform(rng, 1, 600));
        else if (strategy === 'in sink write') {
          await child.waitForNth('SINK_BEGIN ', nth, 5_000);
          await sleep(randInt(rng, 0, 8));
        } else await child.waitForLine((l) => l.startsWith('STALL '), 'STALL', 10_000);
      }
      await child.killMidRun();
      await feeding;
      redeliveredDropped += dropped(child);

      const now = await committed(env.CRASH_OUTPUT);
      expect(duplicatesIn(now), `kill ${kill} (seed ${seed}): numbers committed twice`).toEqual([]);
      expect(
        now.filter((n) => n < 0 || n >= published),
        `kill ${kill} (seed ${seed}): numbers never published`,
      ).toEqual([]);
      const have = new Set(now);
      expect(
        previous.filter((n) => !have.has(n)),
        `kill ${kill} (seed ${seed}): committed output lost`,
      ).toEqual([]);
      previous = now;
    }
    const killLoopMs = performance.now() - started;
    expect(previous.length, 'the kills left nothing for the final run').toBeLessThan(published);

    // Final run: until every number is out, then a clean stop.
    const last = spawnChild(CHILD, env);
    children.push(last);
    await last.waitForLine((l) => l === 'STARTED', 'STARTED');
    const until = Date.now() + 60_000;
    let out = await committed(env.CRASH_OUTPUT);
    while (out.length < published && Date.now() < until) {
      await sleep(200);
      out = await committed(env.CRASH_OUTPUT);
    }
    last.proc.kill('SIGTERM');
    const exit = await Promise.race([last.exited, sleep(30_000).then(() => null)]);
    expect(exit, `the final run did not stop: ${last.describe()}`).not.toBeNull();
    expect(exit!.code, `the final run failed: ${last.describe()}`).toBe(0);
    expect(last.lines).toContain('DONE');
    redeliveredDropped += dropped(last);

    out = await committed(env.CRASH_OUTPUT);
    expect(duplicatesIn(out)).toEqual([]);
    expect(out.length).toBe(published);
    expect([...out].sort((a, b) => a - b)).toEqual(Array.from({ length: published }, (_, n) => n));
    expect(await queueDepth(queue), 'messages left unacknowledged in the queue').toBe(0);
    console.log(
      `[crash:rabbitmq] seed ${seed}: ${KILLS} kills in ${(killLoopMs / 1000).toFixed(1)} s; kill timing: ${strategies}; ` +
        `${published} messages, exactly once; ${redeliveredDropped} redelivered messages dropped by message id`,
    );
    expect(
      strategies.get('after WAL fsync, before ack'),
      'no kill landed between WAL fsync and ack',
    ).toBeGreaterThan(0);
    expect(
      redeliveredDropped,
      'no redelivered message was dropped: the fsync-to-ack window went untested',
    ).toBeGreaterThan(0);
    passed = true;
  } finally {
    await killAll(children);
    await work.finish(passed);
  }
}, 240_000);
