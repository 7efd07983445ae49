/**
 * One member of a scaled-out query (run it several times, on one machine or several):
 *
 *   KAFKA=127.0.0.1:9092 npx tsx examples/scale-out/member.ts
 *
 * Every member joins the consumer group `scale-out-totals` and runs, for each partition of the
 * `orders` topic that the group gives it, one task: orders of that partition → dropDuplicates(id)
 * → per customer, count and sum (update mode) → the `customer-totals` topic, exactly once (one
 * Kafka transaction per batch). The tasks' checkpoints live under CHECKPOINTS (default
 * .millrace/scale-out): storage every member can reach. Start a second member and the tasks split;
 * stop or kill one and the others take its tasks over from their checkpoints.
 *
 * `orders` must be keyed by customer (each customer's orders in one partition), as a producer that
 * sets the record key does.
 */
import { Trigger, count, createSession, jsonLogger, schema, sum, t } from 'millrace';
import { type GroupTask, kafkaGroupMember, kafkaSink, kafkaSource } from '@millrace/kafka';

const bootstrapServers = process.env.KAFKA ?? '127.0.0.1:9092';
const log = jsonLogger('info');
const orderSchema = schema({ id: t.long, customer: t.string, amount: t.double });

/** The query of one task: it reads only its partition and keeps its own checkpoint. */
export function startTotalsTask(
  task: GroupTask,
  options = { bootstrapServers, input: 'orders', output: 'customer-totals' },
) {
  return createSession({ log })
    .readStream(
      kafkaSource({
        name: 'orders',
        bootstrapServers: options.bootstrapServers,
        assign: task.assign,
        startingOffsets: 'earliest',
        format: { json: orderSchema },
      }),
    )
    .dropDuplicates('id')
    .groupBy('customer')
    .agg(($) => ({ orders: count(), spent: sum($.amount) }))
    .writeStream({
      queryName: task.queryName,
      sink: kafkaSink({
        name: 'totals',
        bootstrapServers: options.bootstrapServers,
        topic: options.output,
        format: { json: true, keyColumn: 'customer' },
      }),
      outputMode: 'update',
      checkpointLocation: task.checkpointLocation,
      trigger: Trigger.processingTime(500),
    })
    .start();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const member = await kafkaGroupMember({
    bootstrapServers,
    groupId: 'scale-out-totals',
    topics: 'orders',
    checkpointRoot: process.env.CHECKPOINTS ?? '.millrace/scale-out',
    startTask: (task) => startTotalsTask(task),
    log,
  });
  const report = setInterval(() => {
    const s = member.status();
    console.log(
      `member ${s.memberId ?? '?'}: ${s.tasks.map((x) => `${x.id} ${x.state} (${x.numInputRows} rows)`).join(', ') || 'no tasks'}; rebalances ${s.rebalances}`,
    );
  }, 5000);
  process.once('SIGINT', () => void member.close());
  process.once('SIGTERM', () => void member.close());
  await member.done().finally(() => clearInterval(report));
}
