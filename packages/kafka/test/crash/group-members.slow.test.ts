/**
 * Scale-out crash test: three processes, members of one group (kafkaGroupMember), run a dedup +
 * aggregation query as tasks over the input's 4 partitions; members are SIGKILLed at random
 * times and a new one joins in its place, while events keep arriving.
 *
 *   test process                              3 × child (group-member.child.ts)
 *   ────────────                              ─────────────────────────────────
 *   produce events {id, user, amount} ──────► task p = partition p: dropDuplicates(id)
 *     (each user keyed to one partition;        → groupBy(user) count, sum → kafkaSink "totals"
 *      ~15% are copies of an earlier id)          (transactional, update: "n:total" per user)
 *   repeat KILLS times:                         checkpoint CRASH_ROOT/task-<p>
 *     wait until the 4 tasks run, produce 30
 *     more, wait 0.2–1.5 s; SIGKILL a member
 *     running tasks, start another   the group drops the dead member after its
 *   then wait until the committed output       session timeout (3 s) and deals its tasks to
 *   holds every user's totals                  the others, which resume from the checkpoints
 *
 * "Committed output": the mock cluster keeps the records of transactions a kill cut short visible
 * to read_committed readers (a real broker aborts them), so the test keeps only the offset ranges
 * the sink's commit markers name, as the other Kafka crash tests do. Checked: per task (query id),
 * each batch id committed once, 0..n in order; per user, the committed totals only grow (a batch
 * is never written twice) and end at the exact count and sum over distinct ids.
 *
 * Reproduce a failure with CRASH_SEED=<seed printed in the summary>.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type Child,
  WorkDir,
  killAll,
  prng,
  randInt,
  seedFromEnv,
  sleep,
  spawnChild,
} from '../../../millrace/test/crash/harness.ts';
import { type CommitMarker, readKafkaSinkCommits } from '../../src/index.ts';
import { type MockCluster, TestProducer, readTopic, startMockCluster, uniqueTopic } from '../mockCluster.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'group-member.child.ts');
const KILLS = 20;
const MEMBERS = 3;
const USERS = Array.from({ length: 12 }, (_, i) => `u${i}`);

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
  readonly user: string;
  readonly amount: number;
}

it(`${MEMBERS} members of one group, ${KILLS} SIGKILLs and joins: every user's totals exact, no batch written twice`, async () => {
  const seed = seedFromEnv(20261208);
  const rng = prng(seed);
  const work = await WorkDir.create('group');
  const input = uniqueTopic('group-in');
  const output = uniqueTopic('group-out');
  const env = {
    CRASH_BOOTSTRAP: kafka.bootstrap,
    CRASH_GROUP: uniqueTopic('group'),
    CRASH_INPUT: input,
    CRASH_OUTPUT: output,
    CRASH_ROOT: work.sub('checkpoints'),
  };
  const events: Event[] = [];
  const produce = async (n: number) => {
    const batch: Event[] = [];
    for (let i = 0; i < n; i++) {
      const all = [...events, ...batch];
      // A copy of an earlier event (same id, same user: the same partition), or a new one.
      const e =
        all.length > 0 && rng() < 0.15
          ? all[randInt(rng, 0, all.length - 1)]!
          : {
              id: all.length + 1_000,
              user: USERS[randInt(rng, 0, USERS.length - 1)]!,
              amount: randInt(rng, 1, 999),
            };
      batch.push(e);
    }
    await producer.send(
      input,
      batch.map((e) => ({ key: e.user, value: JSON.stringify(e), partition: USERS.indexOf(e.user) % 4 })),
    );
    events.push(...batch);
  };
  const spawn = () => {
    const c = spawnChild(CHILD, env);
    children.push(c);
    return c;
  };

  const t0 = performance.now();
  let passed = false;
  try {
    await produce(200);
    const live: Child[] = [];
    for (let i = 0; i < MEMBERS; i++) live.push(spawn());
    await Promise.all(live.map((c) => c.waitForLine((l) => l === 'JOINED', 'JOINED', 60_000)));
    let killedWithTasks = 0;
    const settleMs: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      // Once the group has settled (the 4 tasks running), kill within the next moments: mid-batch.
      const settling = performance.now();
      await waitUntil(() => live.map(taskCount).reduce((a, b) => a + b, 0) === 4, 60_000);
      settleMs.push(performance.now() - settling);
      await produce(30);
      await sleep(Math.round(200 + rng() * 1300));
      const running = (c: Child) => taskCount(c) > 0;
      const candidates = live.filter(running);
      const pick = candidates.length > 0 ? candidates : live;
      const victim = pick[randInt(rng, 0, pick.length - 1)]!;
      live.splice(live.indexOf(victim), 1);
      if (running(victim)) killedWithTasks++;
      const exit = await victim.kill();
      expect(exit.signal, `member exited before its kill: ${victim.describe()}`).toBe('SIGKILL');
      live.push(spawn());
    }
    await produce(50);

    // Distinct events decide the totals: dropDuplicates keeps the first of each id.
    const truth = new Map<string, [number, number]>();
    const seen = new Set<number>();
    for (const e of events) {
      if (seen.has(e.id)) continue;
      seen.add(e.id);
      const [n, total] = truth.get(e.user) ?? [0, 0];
      truth.set(e.user, [n + 1, total + e.amount]);
    }

    let committed = await committedOutput(output);
    const deadline = Date.now() + 120_000;
    while (!caughtUp(committed.latest, truth)) {
      if (Date.now() > deadline) break;
      for (const c of live) {
        const failed = c.lines.find((l) => l.startsWith('FAILED '));
        expect(failed, `a member failed: ${c.describe()}`).toBeUndefined();
      }
      await sleep(1000);
      committed = await committedOutput(output);
    }

    // Per task, batches 0..n committed once each, in order.
    const byQuery = new Map<string, number[]>();
    for (const m of committed.markers) byQuery.set(m.queryId, [...(byQuery.get(m.queryId) ?? []), m.batchId]);
    expect(byQuery.size, 'one query id per task').toBe(4);
    for (const [queryId, ids] of byQuery) {
      expect(ids, `task query ${queryId}: a batch committed twice or out of order (seed ${seed})`).toEqual(
        ids.map((_, i) => i),
      );
    }
    // Per user, committed totals only grow, and end exact.
    for (const [user, seq] of committed.perUser) {
      for (let i = 1; i < seq.length; i++) {
        expect(
          seq[i]![0],
          `${user} written twice or backwards (seed ${seed}): ${JSON.stringify(seq)}`,
        ).toBeGreaterThan(seq[i - 1]![0]);
      }
    }
    expect(Object.fromEntries(committed.latest), `final totals (seed ${seed})`).toEqual(
      Object.fromEntries(truth),
    );
    console.log(
      `[crash:group] seed ${seed}: ${KILLS} kills (${killedWithTasks} of a member running tasks) in ${((performance.now() - t0) / 1000).toFixed(1)} s; ` +
        `${events.length} events (${seen.size} distinct), ${USERS.length} users; ${committed.markers.length} batches committed over 4 tasks; ` +
        `${committed.residue} records of cut-short transactions left aside; ${children.length} member processes; ` +
        `the group settled (4 tasks running) ${(settleMs.reduce((a, b) => a + b, 0) / settleMs.length / 1000).toFixed(1)} s after a kill on average`,
    );
    expect(killedWithTasks, 'kills of a member running tasks').toBe(KILLS);
    passed = true;
  } finally {
    await killAll(children);
    await work.finish(passed);
  }
}, 600_000);

/** The tasks a member said it runs last (its `TASKS p,q` lines). */
function taskCount(c: Child): number {
  const last = c.lines.filter((l) => l.startsWith('TASKS ')).at(-1);
  return last === undefined || last === 'TASKS ' ? 0 : last.slice(6).split(',').length;
}

async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`the group did not settle within ${timeoutMs} ms`);
    await sleep(50);
  }
}

interface Committed {
  readonly markers: CommitMarker[];
  /** Per user, the committed "n:total" values in the order written. */
  readonly perUser: Map<string, [number, number][]>;
  readonly latest: Map<string, [number, number]>;
  readonly residue: number;
}

async function committedOutput(output: string): Promise<Committed> {
  // This file's cluster has one sink named "totals" (one query id per task).
  const markers = (await readKafkaSinkCommits({ bootstrapServers: kafka.bootstrap })).filter(
    (m) => m.sink === 'totals',
  );
  const perUser = new Map<string, [number, number][]>();
  let residue = 0;
  for (const r of await readTopic(kafka.bootstrap, output)) {
    const inBatch = markers.some((m) => {
      const range = m.partitions[output]?.[String(r.partition)];
      return range !== undefined && r.offset >= range[0] && r.offset <= range[1];
    });
    if (!inBatch) {
      residue++;
      continue;
    }
    const [n, total] = r.value!.toString().split(':').map(Number) as [number, number];
    const user = r.key!.toString();
    perUser.set(user, [...(perUser.get(user) ?? []), [n, total]]);
  }
  const latest = new Map([...perUser].map(([u, seq]) => [u, seq.at(-1)!] as [string, [number, number]]));
  return { markers, perUser, latest, residue };
}

function caughtUp(latest: Map<string, [number, number]>, truth: Map<string, [number, number]>): boolean {
  return [...truth].every(([u, [n, total]]) => latest.get(u)?.[0] === n && latest.get(u)?.[1] === total);
}
