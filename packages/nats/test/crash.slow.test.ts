/**
 * Crash test of the NATS connectors (docs/architecture.md): a child process copies a JetStream stream
 * (30,000 messages) to a subject of another stream, and is SIGKILLed 20 times at random points —
 * at startup, mid-run, inside the sink's publishing, and between the publish and the checkpoint's
 * commits/N (the child stalls there on request) — then restarted on the same checkpoint; a final
 * run (Trigger.availableNow) finishes the input.
 *
 * Checked after EVERY kill: the output holds each message at most once, in input order — a prefix of
 * the input (a batch may be cut short by the kill; its replay resumes after the last row stored).
 * At the end the output is exactly the input.
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
  seedFromEnv,
  sleep,
  spawnChild,
} from '../../millrace/test/crash/harness.ts';
import { NATS_URL, cleanup, createStream, publish, readAll, uniqueName } from './helpers.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash', 'pipeline.child.ts');
const KILLS = 20;
const MESSAGES = 30_000;
const PER_TRIGGER = 200;

const children: Child[] = [];
afterAll(async () => {
  await killAll(children);
  await cleanup();
});

it(`JetStream stream → query → JetStream subject: ${KILLS} SIGKILLs at random points, every message exactly once`, async () => {
  const seed = seedFromEnv(20261209);
  const rng = prng(seed);
  const work = await WorkDir.create('nats');
  const IN = uniqueName('CRASH_IN');
  const OUT = uniqueName('CRASH_OUT');
  await createStream(IN);
  // A 100 ms duplicate window: a replay after a restart is never caught by Nats-Msg-Id, so the sink's
  // resume-after-the-last-stored-row is what is tested.
  await createStream(OUT, { duplicate_window: 100_000_000 });
  for (let k = 0; k < MESSAGES; k += 5_000) {
    await publish(
      `${IN}.x`,
      Array.from({ length: 5_000 }, (_, j) => JSON.stringify({ i: k + j })),
    );
  }
  const checkpoint = work.sub('checkpoint');
  const env = {
    NATS_URL,
    CRASH_IN: IN,
    CRASH_OUT: `${OUT}.copy`,
    CRASH_CHECKPOINT: checkpoint,
    CRASH_PER_TRIGGER: String(PER_TRIGGER),
  };
  const output = async () => (await readAll(OUT)).map((m) => (JSON.parse(m.data) as { i: number }).i);
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
              : 'after publish (stalled)';
      strategies.add(strategy);
      const nth = randInt(rng, 1, 4);
      const child = spawnChild(CHILD, {
        ...env,
        ...(strategy === 'after publish (stalled)' ? { CRASH_STALL_AT: String(nth) } : {}),
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
      const cp = await inspectCheckpoint(checkpoint);
      const got = await output();
      const where = `kill ${kill} (seed ${seed})`;
      expect(
        got,
        `${where}: the output is not a prefix of the input (a message twice, or out of order)`,
      ).toEqual([...Array(got.length).keys()]);
      expect(got.length, `${where}: more output than the planned batches hold`).toBeLessThanOrEqual(
        ((cp.offsets.at(-1) ?? -1) + 1) * PER_TRIGGER,
      );
      expect(got.length, `${where}: less output than the committed batches hold`).toBeGreaterThanOrEqual(
        ((cp.lastCommitted ?? -1) + 1) * PER_TRIGGER,
      );
      phases.add(
        !child.lines.includes('STARTED')
          ? 'startup'
          : cp.uncommitted === null
            ? 'between batches'
            : got.length === (cp.uncommitted + 1) * PER_TRIGGER
              ? 'published N, no commits/N'
              : 'batch N in flight',
      );
    }
    const killLoopMs = performance.now() - started;
    const beforeFinal = (await inspectCheckpoint(checkpoint)).lastCommitted ?? -1;
    expect(beforeFinal + 1, 'the kills did not leave input for the final run').toBeLessThan(
      MESSAGES / PER_TRIGGER,
    );
    const last = spawnChild(CHILD, { ...env, CRASH_FINAL: '1' });
    children.push(last);
    const exit = await Promise.race([last.exited, sleep(90_000).then(() => null)]);
    if (exit === null) await last.kill();
    expect(exit, `the final run did not finish in 90 s: ${last.describe()}`).not.toBeNull();
    expect(exit!.code, `the final run failed: ${last.describe()}`).toBe(0);
    expect(await output(), `final (seed ${seed})`).toEqual([...Array(MESSAGES).keys()]);
    const cp = await inspectCheckpoint(checkpoint);
    console.log(
      `[crash:nats] seed ${seed}: ${KILLS} kills in ${(killLoopMs / 1000).toFixed(1)} s; phases: ${phases}; kill timing: ${strategies}; ` +
        `${beforeFinal + 1} batches committed before the final run, ${cp.lastCommitted! + 1} in all; ${MESSAGES} messages, exact`,
    );
    expect(
      phases.get('published N, no commits/N'),
      'no kill landed between the publish and commits/N',
    ).toBeGreaterThan(0);
    passed = true;
  } finally {
    await killAll(children);
    await work.finish(passed);
  }
});
