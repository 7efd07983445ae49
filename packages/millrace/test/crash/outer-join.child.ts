/**
 * The pipeline the outer-join crash test kills and restarts (outer-join.slow.test.ts):
 *
 *   fileSource(jsonl {ad, impAt}, CRASH_INPUT/imps, 1 file per trigger) → withWatermark('impAt', CRASH_DELAY_MS)
 *   fileSource(jsonl {ad, clickAt}, CRASH_INPUT/clicks, 1 file per trigger) → withWatermark('clickAt', …)
 *     → left outer join on ad, clickAt BETWEEN impAt AND impAt + CRASH_RANGE_MS
 *     → fileSink(jsonl, CRASH_OUTPUT)        append mode, checkpoint CRASH_CHECKPOINT
 *
 * Default trigger; with CRASH_FINAL=1, Trigger.availableNow() and a clean exit.
 * Stdout markers: READY, STARTED, SINK_BEGIN N / SINK_DONE N (harness.tracedSink), DONE.
 */
import { Trigger, createSession, fileSink, fileSource, interval, schema, t } from '../../src/index.ts';
import { tracedSink } from './harness.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const out = (line: string) => process.stdout.write(line + '\n');
const delay = Number(env('CRASH_DELAY_MS'));

const session = createSession();
const imps = session
  .readStream(
    fileSource({
      name: 'imps',
      path: `${env('CRASH_INPUT')}/imps`,
      format: 'jsonl',
      schema: schema({ ad: t.long, impAt: t.timestamp }),
      maxFilesPerTrigger: 1,
      mode: 'failFast',
    }),
  )
  .withWatermark('impAt', delay);
const clicks = session
  .readStream(
    fileSource({
      name: 'clicks',
      path: `${env('CRASH_INPUT')}/clicks`,
      format: 'jsonl',
      schema: schema({ ad: t.long, clickAt: t.timestamp }),
      maxFilesPerTrigger: 1,
      mode: 'failFast',
    }),
  )
  .withWatermark('clickAt', delay);

out('READY');
const query = await imps
  .join(clicks, {
    on: ['ad'],
    where: (l, r) => r.clickAt.between(l.impAt, l.impAt.plus(interval(Number(env('CRASH_RANGE_MS'))))),
    type: 'leftOuter',
  })
  .writeStream({
    queryName: 'crash-outer-join',
    sink: tracedSink(fileSink({ name: 'out', path: env('CRASH_OUTPUT'), format: 'jsonl' }), out),
    checkpointLocation: env('CRASH_CHECKPOINT'),
    outputMode: 'append',
    trigger: process.env.CRASH_FINAL === '1' ? Trigger.availableNow() : Trigger.default(),
  })
  .start();
out('STARTED');
process.once('SIGTERM', () => void query.stop());
await query.awaitTermination();
out('DONE');
