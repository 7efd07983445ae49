/**
 * Crash test of the MQTT source (docs/architecture.md): the test publishes numbers
 * 0, 1, 2, … (QoS 1) to a topic in steps while a child
 * (crash/pipeline.child.ts: mqttSource → fileSink, persistent session) runs,
 * and SIGKILLs the child at random points — while it opens, mid-run, inside
 * the sink's write, and between a write-ahead-log fsync and the PUBACKs (the
 * child stalls there on request) — then restarts it on the same checkpoint
 * and client id.
 *
 * Mosquitto keeps at most max_queued_messages (default 1,000) per session
 * and drops the rest, so a step is published only while fewer than 400
 * published numbers are not yet in the committed output (≤ 800 waiting).
 *
 * Checked after EVERY kill, from outside, while no child runs:
 *   - no number appears twice in the committed output;
 *   - every output number was published;
 *   - the committed output only grows.
 * At the end (a last child runs until every number is out, then SIGTERM):
 *   - the output is exactly 0 … N−1, each once;
 *   - kills between WAL fsync and PUBACK made the broker re-send (DUP)
 *     messages the WAL already held, and the source dropped them (counted,
 *     required > 0, so the check has teeth).
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
import { URL, dropSession, prepareSession, publish, uniqueClientId, uniqueTopic } from './helpers.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash', 'pipeline.child.ts');
const KILLS = 20;
const PER_STEP = 400;

const children: Child[] = [];
const clientId = uniqueClientId('crash');
afterAll(async () => {
  await killAll(children);
  await dropSession(clientId).catch(() => {});
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
  const last = child.lines.filter((l) => l.startsWith('BATCH ')).at(-1);
  return last ? Number(last.split(' ')[3]) : 0;
}

it(`mqttSource → fileSink: ${KILLS} SIGKILLs at random points, every message exactly once`, async () => {
  const seed = seedFromEnv(20261208);
  const rng = prng(seed);
  const work = await WorkDir.create('mqtt');
  const topic = uniqueTopic('crash');
  await prepareSession(clientId, topic);
  const env = {
    CRASH_URL: URL,
    CRASH_TOPIC: topic,
    CRASH_CLIENT_ID: clientId,
    CRASH_OUTPUT: work.sub('output'),
    CRASH_CHECKPOINT: work.sub('checkpoint'),
  };
  let published = 0;
  let previous: number[] = [];
  const publishStep = async () => {
    if (published - previous.length >= PER_STEP) return; // the session's queue would overflow
    const from = published;
    published += PER_STEP;
    await publish(
      topic,
      Array.from({ length: PER_STEP }, (_, k) => JSON.stringify({ n: from + k })),
    );
  };
  let passed = false;
  try {
    const strategies = new PhaseTally();
    let redeliveredDropped = 0;
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
              : 'after WAL fsync, before PUBACK';
      const nth = randInt(rng, 1, 3);
      let label: string = strategy;
      const child = spawnChild(CHILD, {
        ...env,
        ...(strategy === 'after WAL fsync, before PUBACK' ? { CRASH_STALL_AT: String(nth) } : {}),
      });
      children.push(child);
      await child.waitForLine((l) => l === 'READY', 'READY');
      const feeding = publishStep();
      if (strategy === 'after READY') await sleep(logUniform(rng, 1, 100));
      else {
        await child.waitForLine((l) => l === 'STARTED', 'STARTED');
        if (strategy === 'after STARTED') await sleep(logUniform(rng, 1, 600));
        else if (strategy === 'in sink write') {
          await child.waitForNth('SINK_BEGIN ', nth, 2_000);
          await sleep(randInt(rng, 0, 8));
        } else if ((await child.nextLine((l) => l.startsWith('STALL '), 3_000)) === null) {
          label = 'stall not reached (no input)';
        }
      }
      strategies.add(label);
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
    console.log(
      `[crash:mqtt] seed ${seed}: ${KILLS} kills in ${(killLoopMs / 1000).toFixed(1)} s; kill timing: ${strategies}; ` +
        `${published} messages, exactly once; ${redeliveredDropped} re-sent messages dropped as duplicates`,
    );
    expect(
      strategies.get('after WAL fsync, before PUBACK'),
      'no kill landed between WAL fsync and PUBACK',
    ).toBeGreaterThan(0);
    expect(
      redeliveredDropped,
      'no re-sent message was dropped: the fsync-to-PUBACK window went untested',
    ).toBeGreaterThan(0);
    passed = true;
  } finally {
    await killAll(children);
    await work.finish(passed);
  }
}, 240_000);
