/**
 * The pipeline the Kafka crash tests kill and restart (kafka-exactly-once.slow.test.ts):
 *
 *   kafkaSource(CRASH_INPUT, json {id, k, v}, failFast, maxOffsetsPerTrigger 40)
 *     CRASH_MODE=map:   → withColumn w = v * 3 + 1 → kafkaSink(json, key k)     append
 *     CRASH_MODE=count: → groupBy(k).count() → kafkaSink(key k, value count)   update
 *   transactional sink "out" to CRASH_OUTPUT, checkpoint CRASH_CHECKPOINT, mock cluster
 *   CRASH_BOOTSTRAP
 *
 * Default trigger; with CRASH_FINAL=1, Trigger.availableNow() and a clean exit. Stdout
 * markers: READY (loaded), STARTED <queryId> (checkpoint open, recovery decided),
 * SINK_BEGIN N / SINK_DONE N around the sink's write of batch N (SINK_DONE: the transaction
 * is committed; commits/N is next), BATCH N <rows in> after each committed batch, DONE.
 */
import { type Sink, Trigger, createSession, jsonLogger, schema, t } from 'millrace';
import { kafkaSink, kafkaSource } from '../../src/index.ts';
import { tracedSink } from '../../../millrace/test/crash/harness.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const bootstrap = env('CRASH_BOOTSTRAP');
const mode = env('CRASH_MODE');
const final = process.env.CRASH_FINAL === '1';
const out = (line: string) => process.stdout.write(line + '\n');

const session = createSession({ log: jsonLogger('warn') });
session.streams.addListener({
  onQueryProgress: ({ progress: p }) => out(`BATCH ${p.batchId} ${p.numInputRows}`),
});

const events = session.readStream(
  kafkaSource({
    name: 'events',
    bootstrapServers: bootstrap,
    subscribe: env('CRASH_INPUT'),
    startingOffsets: 'earliest',
    maxOffsetsPerTrigger: 40,
    format: { json: schema({ id: t.long, k: t.string, v: t.long }), mode: 'failFast' },
    requestTimeoutMs: 10_000,
  }),
);

const sink = (options: Parameters<typeof kafkaSink>[0]): Sink => tracedSink(kafkaSink(options), out);
const common = {
  name: 'out',
  bootstrapServers: bootstrap,
  topic: env('CRASH_OUTPUT'),
  requestTimeoutMs: 10_000,
};

const writer =
  mode === 'map'
    ? events
        .withColumn('w', ($) => $.v.mul(3).plus(1))
        .writeStream({
          queryName: 'crash-kafka-map',
          sink: sink({ ...common, format: { json: true, keyColumn: 'k' } }),
          checkpointLocation: env('CRASH_CHECKPOINT'),
          trigger: final ? Trigger.availableNow() : Trigger.default(),
        })
    : events
        .groupBy('k')
        .count()
        .select(($) => ({ key: $.k, value: $.count.cast('string') }))
        .writeStream({
          queryName: 'crash-kafka-count',
          sink: sink(common),
          outputMode: 'update',
          checkpointLocation: env('CRASH_CHECKPOINT'),
          trigger: final ? Trigger.availableNow() : Trigger.default(),
        });

out('READY');
const query = await writer.start();
out(`STARTED ${query.id}`);
process.once('SIGTERM', () => void query.stop());
await query.awaitTermination();
out('DONE');
process.exit(0);
