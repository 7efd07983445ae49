/**
 * One member of the group the scale-out crash test (group-members.slow.test.ts) kills and restarts:
 *
 *   kafkaGroupMember(CRASH_GROUP, topic CRASH_INPUT, checkpoints under CRASH_ROOT/task-<p>)
 *     task p: kafkaSource(assign: CRASH_INPUT partition p, json {id, user, amount}, 25 per trigger)
 *       → dropDuplicates(id) → groupBy(user).agg(n: count, total: sum(amount))  update mode
 *       → kafkaSink "totals" to CRASH_OUTPUT, transactional, value "n:total", key user
 *
 * Stdout: READY (loaded), JOINED (member of the group), TASKS <partitions> whenever the tasks it
 * runs change, FAILED <message> if the member fails.
 */
import { Trigger, count, createSession, jsonLogger, schema, sum, t } from 'millrace';
import { kafkaGroupMember, kafkaSink, kafkaSource } from '../../src/index.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const bootstrap = env('CRASH_BOOTSTRAP');
const out = (line: string) => process.stdout.write(line + '\n');
const eventSchema = schema({ id: t.long, user: t.string, amount: t.long });

out('READY');
const member = await kafkaGroupMember({
  bootstrapServers: bootstrap,
  groupId: env('CRASH_GROUP'),
  topics: env('CRASH_INPUT'),
  checkpointRoot: env('CRASH_ROOT'),
  sessionTimeoutMs: 3000,
  log: jsonLogger('warn'),
  startTask: (task) =>
    createSession({ log: jsonLogger('warn') })
      .readStream(
        kafkaSource({
          name: 'events',
          bootstrapServers: bootstrap,
          assign: task.assign,
          startingOffsets: 'earliest',
          maxOffsetsPerTrigger: 25,
          format: { json: eventSchema, mode: 'failFast' },
          requestTimeoutMs: 10_000,
        }),
      )
      .dropDuplicates('id')
      .groupBy('user')
      .agg(($) => ({ n: count(), total: sum($.amount) }))
      .map((r) => ({ key: r.user, value: `${r.n}:${r.total}` }), schema({ key: t.string, value: t.string }))
      .writeStream({
        queryName: task.queryName,
        sink: kafkaSink({
          name: 'totals',
          bootstrapServers: bootstrap,
          topic: env('CRASH_OUTPUT'),
          requestTimeoutMs: 10_000,
        }),
        outputMode: 'update',
        checkpointLocation: task.checkpointLocation,
        trigger: Trigger.processingTime(100),
      })
      .start(),
});
out('JOINED');
let last = '';
const report = setInterval(() => {
  const now = member
    .status()
    .tasks.filter((x) => x.state === 'running')
    .map((x) => x.partition)
    .join(',');
  if (now !== last) out(`TASKS ${(last = now)}`);
}, 200);
process.once('SIGTERM', () => void member.close());
try {
  await member.done();
} catch (e) {
  out(`FAILED ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  clearInterval(report);
}
