/**
 * Group members (kafkaGroupMember): one stateful query — per user, count and sum of the events'
 * amounts, update mode, transactional Kafka sink — run as tasks over the input's partitions, dealt
 * to members by Kafka's group protocol. Members join and leave while events arrive; every task moves
 * with its checkpoint, and the output topic ends with each user's exact totals, written once per
 * batch (no count ever repeats or goes back).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Trigger, count, createSession, schema, silentLogger, sum, t } from 'millrace';
import {
  type GroupTask,
  type KafkaGroupMember,
  kafkaGroupMember,
  kafkaSink,
  kafkaSource,
} from '../src/index.ts';
import { type MockCluster, TestProducer, readTopic, startMockCluster, uniqueTopic } from './mockCluster.ts';
import { cleanupDirs, tempDir } from './helpers.ts';

let kafka: MockCluster;
let producer: TestProducer;
const members: KafkaGroupMember[] = [];

beforeAll(async () => {
  kafka = await startMockCluster({ debug: false });
  producer = await TestProducer.connect(kafka.bootstrap);
});
afterEach(async () => {
  await Promise.all(members.splice(0).map((m) => m.close().catch(() => undefined)));
  cleanupDirs();
});
afterAll(async () => {
  await producer?.close();
  await kafka?.stop();
});

const eventSchema = schema({ user: t.string, amount: t.long });
const USERS = ['ann', 'bob', 'cy', 'dee', 'eve', 'fay', 'gus', 'hal'];
/** Records are keyed by user and each user stays in one partition (as a keyed producer puts them). */
const partitionOf = (user: string) => USERS.indexOf(user) % 4;

function startTask(input: string, output: string) {
  return (task: GroupTask) =>
    createSession({ log: silentLogger })
      .readStream(
        kafkaSource({
          name: 'events',
          bootstrapServers: kafka.bootstrap,
          assign: task.assign,
          startingOffsets: 'earliest',
          format: { json: eventSchema },
          maxOffsetsPerTrigger: 7,
        }),
      )
      .groupBy('user')
      .agg(($) => ({ n: count(), total: sum($.amount) }))
      .map((r) => ({ key: r.user, value: `${r.n}:${r.total}` }), schema({ key: t.string, value: t.string }))
      .writeStream({
        queryName: task.queryName,
        sink: kafkaSink({ name: 'totals', bootstrapServers: kafka.bootstrap, topic: output }),
        outputMode: 'update',
        checkpointLocation: task.checkpointLocation,
        trigger: Trigger.processingTime(50),
      })
      .start();
}

async function produce(input: string, from: number, count: number, truth: Map<string, [number, number]>) {
  const records = Array.from({ length: count }, (_, i) => {
    const user = USERS[(from + i * 3) % USERS.length]!;
    const amount = from + i;
    const [n, total] = truth.get(user) ?? [0, 0];
    truth.set(user, [n + 1, total + amount]);
    return { key: user, value: JSON.stringify({ user, amount }), partition: partitionOf(user) };
  });
  await producer.send(input, records);
}

/** Wait until `cond` holds (polling), or fail with `what`. */
async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 40_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Per user, every "n:total" written, in order (one user's records stay in one output partition). */
async function written(output: string): Promise<Map<string, [number, number][]>> {
  const out = new Map<string, [number, number][]>();
  for (const r of await readTopic(kafka.bootstrap, output)) {
    const [n, total] = r.value!.toString().split(':').map(Number) as [number, number];
    out.set(r.key!.toString(), [...(out.get(r.key!.toString()) ?? []), [n, total]]);
  }
  return out;
}

const caughtUp = (truth: Map<string, [number, number]>, output: string) => async () => {
  const w = await written(output);
  return [...truth].every(([u, [n, total]]) => {
    const last = w.get(u)?.at(-1);
    return last !== undefined && last[0] === n && last[1] === total;
  });
};

const taskIds = (m: KafkaGroupMember) =>
  m
    .status()
    .tasks.filter((t) => t.state === 'running')
    .map((t) => t.partition);

describe('kafkaGroupMember', () => {
  it('members join and leave: tasks move with their checkpoints, totals stay exact, nothing is written twice', async () => {
    const input = uniqueTopic('group-in');
    const output = uniqueTopic('group-out');
    const groupId = uniqueTopic('group');
    const checkpointRoot = tempDir();
    const truth = new Map<string, [number, number]>();
    await produce(input, 0, 40, truth);
    const join = () =>
      kafkaGroupMember({
        bootstrapServers: kafka.bootstrap,
        groupId,
        topics: input,
        checkpointRoot,
        startTask: startTask(input, output),
        sessionTimeoutMs: 3000,
      }).then((m) => (members.push(m), m));

    const a = await join();
    await until('member a runs the 4 tasks', () => taskIds(a).length === 4);
    await until('the first events are counted', caughtUp(truth, output));

    const b = await join();
    await until(
      'the tasks are split between a and b',
      () => taskIds(a).length === 2 && taskIds(b).length === 2 && a.status().rebalances >= 2,
    );
    expect([...taskIds(a), ...taskIds(b)].sort()).toEqual([0, 1, 2, 3]);
    await produce(input, 40, 60, truth);
    await until('the second events are counted', caughtUp(truth, output));

    await a.close();
    await until('b took over every task', () => taskIds(b).length === 4);
    await produce(input, 100, 50, truth);
    await until('the third events are counted', caughtUp(truth, output));

    const status = b.status();
    expect(status.partitions).toBe(4);
    expect(status.tasks.map((t) => t.id)).toEqual(['task-0', 'task-1', 'task-2', 'task-3']);
    expect(status.tasks.every((t) => t.startMs !== null && t.startMs >= 0)).toBe(true);

    // Update mode writes a user's totals after each batch with its events: every write moves on,
    // none repeats (a batch replayed after a move would write its totals again).
    for (const [user, seq] of await written(output)) {
      for (let i = 1; i < seq.length; i++) {
        expect(seq[i]![0], `${user}: ${JSON.stringify(seq)}`).toBeGreaterThan(seq[i - 1]![0]);
      }
      expect(seq.at(-1)).toEqual(truth.get(user));
    }
  });

  it('refuses an input topic that does not exist, naming it', async () => {
    const missing = uniqueTopic('nothing-here');
    await producer.send(uniqueTopic('other'), [{ value: 'x' }]);
    await expect(
      kafkaGroupMember({
        bootstrapServers: kafka.bootstrap,
        groupId: uniqueTopic('group'),
        topics: [missing],
        checkpointRoot: tempDir(),
        startTask: () => Promise.reject(new Error('never')),
      }),
    ).rejects.toMatchObject({ code: 'GROUP_TOPIC_MISSING', message: expect.stringContaining(missing) });
  });

  it('a task whose query fails fails the member with the task named, and stops its other tasks', async () => {
    const input = uniqueTopic('group-in');
    const truth = new Map<string, [number, number]>();
    await produce(input, 0, 8, truth);
    const member = await kafkaGroupMember({
      bootstrapServers: kafka.bootstrap,
      groupId: uniqueTopic('group'),
      topics: input,
      checkpointRoot: tempDir(),
      sessionTimeoutMs: 3000,
      startTask: (task) =>
        createSession({ log: silentLogger })
          .readStream(
            kafkaSource({
              name: 'events',
              bootstrapServers: kafka.bootstrap,
              assign: task.assign,
              startingOffsets: 'earliest',
              format: { json: eventSchema },
            }),
          )
          .map((r) => {
            if (task.partition === 2) throw new Error('bad row in partition 2');
            return r;
          }, eventSchema)
          .writeStream({
            queryName: task.queryName,
            sink: kafkaSink({
              name: 'x',
              bootstrapServers: kafka.bootstrap,
              topic: uniqueTopic('x'),
              format: { json: true },
            }),
            checkpointLocation: task.checkpointLocation,
            trigger: Trigger.processingTime(50),
          })
          .start(),
    });
    members.push(member);
    const err = await member.done().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ context: expect.objectContaining({ task: 'task-2' }) });
    expect((err as Error).message).toMatch(/task task-2 failed/);
    expect(member.status().tasks).toEqual([]);
  });
});
