/**
 * The pipeline the file crash test kills (file-pipeline.slow.test.ts):
 *
 *   fileSource(jsonl, CRASH_INPUT, maxFilesPerTrigger 2)
 *     → filter v % 7 != 0
 *     → withColumn score = v * 3 + 1
 *     → withColumn tag = concat(upper(name), '-', grp)
 *     → flatMap: rows with id % 5 == 0 twice (copy 0 and 1), others once (copy 0)
 *     → fileSink(jsonl, CRASH_OUTPUT, partitionBy grp), checkpoint CRASH_CHECKPOINT
 *
 * Default trigger; with CRASH_FINAL=1, Trigger.availableNow() and a clean exit
 * when everything is processed. Prints READY (engine loaded, about to start),
 * STARTED (checkpoint open, recovery next), BATCH <id> <in> <out> after each
 * committed batch, DONE at the end of a final run, and around the sink's
 * write of batch N: SINK_BEGIN N / SINK_DONE N (the manifest is written; the
 * commit log entry is next). Stdout is a pipe, written synchronously on Linux,
 * so a marker is out before the next protocol step starts.
 */
import {
  type Sink,
  Trigger,
  callFunction,
  createSession,
  fileSink,
  fileSource,
  lit,
  schema,
  t,
} from '../../src/index.ts';
import { tracedSink } from './harness.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const input = env('CRASH_INPUT');
const output = env('CRASH_OUTPUT');
const checkpoint = env('CRASH_CHECKPOINT');
const final = process.env.CRASH_FINAL === '1';

const out = (line: string) => process.stdout.write(line + '\n');
const traced = (sink: Sink) => tracedSink(sink, out);

const session = createSession();
session.streams.addListener({
  onQueryProgress: ({ progress: p }) => out(`BATCH ${p.batchId} ${p.numInputRows} ${p.sink.numOutputRows}`),
});

const events = session.readStream(
  fileSource({
    name: 'events',
    path: input,
    format: 'jsonl',
    schema: schema({ id: t.long, grp: t.string, v: t.long, name: t.string }),
    maxFilesPerTrigger: 2,
    mode: 'failFast',
  }),
);

const outSchema = schema({
  id: t.long,
  grp: t.string,
  v: t.long,
  name: t.string,
  score: t.long,
  tag: t.string,
  copy: t.long,
});

const result = events
  .filter(($) => $.v.mod(7).neq(0))
  .withColumn('score', ($) => $.v.mul(3).plus(1))
  .withColumn('tag', ($) =>
    callFunction<string>('concat', callFunction<string>('upper', $.name), lit('-'), $.grp),
  )
  .flatMap((r) => {
    const row = { id: r.id, grp: r.grp, v: r.v, name: r.name, score: r.score, tag: r.tag, copy: 0 };
    return r.id % 5 === 0 ? [row, { ...row, copy: 1 }] : [row];
  }, outSchema);

out('READY');
const query = await result
  .writeStream({
    queryName: 'crash-file-pipeline',
    sink: traced(fileSink({ name: 'out', path: output, format: 'jsonl', partitionBy: ['grp'] })),
    checkpointLocation: checkpoint,
    trigger: final ? Trigger.availableNow() : Trigger.default(),
  })
  .start();
out('STARTED');

process.once('SIGTERM', () => void query.stop());
await query.awaitTermination();
out('DONE');
