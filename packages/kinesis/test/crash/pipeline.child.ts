/**
 * The pipeline the Kinesis crash test (../crash.slow.test.ts) kills and restarts:
 *
 *   kinesisSource(CRASH_STREAM at CRASH_ENDPOINT, maxRecordsPerTrigger CRASH_PER_TRIGGER, name crash-input)
 *     → { i, k, shardId, seq } (i and k from the record's JSON)
 *     → fileSink(jsonl, CRASH_OUTPUT): idempotent per batch id (its manifest), so the output is
 *       exactly what the source delivered, batch by batch
 *
 * Default trigger; with CRASH_FINAL=1, Trigger.availableNow() and a clean exit.
 * Stdout markers: READY / STARTED / SINK_BEGIN N / SINK_DONE N / DONE (see the harness's tracedSink).
 */
import { Trigger, createSession, fileSink, schema, t } from 'millrace';
import { tracedSink } from '../../../millrace/test/crash/harness.ts';
import { kinesisSource } from '../../src/index.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const final = process.env.CRASH_FINAL === '1';
const out = (line: string) => process.stdout.write(line + '\n');

const session = createSession();
const rows = session
  .readStream(
    kinesisSource({
      streamName: env('CRASH_STREAM'),
      endpoint: env('CRASH_ENDPOINT'),
      credentials: { accessKeyId: 'AKIDCRASH', secretAccessKey: 'crash-secret' },
      maxRecordsPerTrigger: Number(env('CRASH_PER_TRIGGER')),
      name: 'crash-input',
      minReadIntervalMs: 20,
      initialBackoffMs: 20,
      maxBackoffMs: 200,
    }),
  )
  .map(
    (r) => {
      const o = JSON.parse(r.data) as { i: number; k: string };
      return { i: o.i, k: o.k, shardId: r.shardId, seq: r.sequenceNumber };
    },
    schema({ i: t.long, k: t.string, shardId: t.string, seq: t.string }),
  );

const sink = tracedSink(fileSink({ path: env('CRASH_OUTPUT'), format: 'jsonl' }), out);
out('READY');
const query = await rows
  .writeStream({
    queryName: 'crash-kinesis',
    sink,
    outputMode: 'append',
    checkpointLocation: env('CRASH_CHECKPOINT'),
    trigger: final ? Trigger.availableNow() : Trigger.default(),
  })
  .start();
out('STARTED');
process.once('SIGTERM', () => void query.stop());
await query.awaitTermination();
out('DONE');
