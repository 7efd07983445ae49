/**
 * The pipeline the Kafka → PostgreSQL crash test (kafka-to-postgres.slow.test.ts) kills and
 * restarts:
 *
 *   kafkaSource(CRASH_INPUT, json {id, k, v, at}, failFast, maxOffsetsPerTrigger 40)
 *     CRASH_MODE=update: → groupBy(k).agg(n: count(), total: sum(v))
 *                        → postgresSink(CRASH_TABLE, upsert on k)                  update mode
 *     CRASH_MODE=append: → withWatermark(at, CRASH_DELAY_MS)
 *                        → groupBy(window(at, CRASH_WINDOW_MS), k).agg(n, total)
 *                        → { window_start, k, n, total } → postgresSink(CRASH_TABLE) INSERT, append mode
 *                          (a window written twice would be two rows)
 *   createTable; one transaction per batch; checkpoint CRASH_CHECKPOINT, mock cluster
 *   CRASH_BOOTSTRAP, PostgreSQL DATABASE_URL
 *
 * Default trigger; with CRASH_FINAL=1, Trigger.availableNow() and a clean exit.
 * Stdout markers (a pipe, written synchronously on Linux):
 *   READY / STARTED              engine loaded / checkpoint open, recovery decided
 *   SINK_BEGIN N / SINK_DONE N   around the sink's write of batch N (DONE: PostgreSQL committed,
 *                                or skipped a batch it already has)
 *   STALL N                      with CRASH_STALL_AT=k: after the k-th SINK_DONE of this process
 *                                the process blocks for 10 s, so a kill lands between the
 *                                PostgreSQL commit and commits/N
 *   BATCH N <rows in> <watermark ms|->   after each committed batch
 *   DONE                         the query ended without error
 */
import { Trigger, count, createSession, jsonLogger, schema, sum, t, window } from 'millrace';
import { tracedSink } from '../../../millrace/test/crash/harness.ts';
import { postgresSink } from '@millrace/postgres';
import { kafkaSource } from '../../src/index.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const table = env('CRASH_TABLE');
const mode = env('CRASH_MODE') as 'update' | 'append';
const final = process.env.CRASH_FINAL === '1';
const stallAt = process.env.CRASH_STALL_AT ? Number(process.env.CRASH_STALL_AT) : undefined;
const out = (line: string) => process.stdout.write(line + '\n');

const inner = postgresSink({
  connectionString: env('DATABASE_URL'),
  table,
  name: `crash-${table}`,
  ...(mode === 'update' ? { mode: 'upsert' as const, keyColumns: ['k'] } : {}),
  createTable: true,
  initialBackoffMs: 20,
});
const sink = tracedSink(inner, out, { stallAtWrite: stallAt });

const session = createSession({ log: jsonLogger('warn') });
session.streams.addListener({
  onQueryProgress: ({ progress: p }) =>
    out(
      `BATCH ${p.batchId} ${p.numInputRows} ${p.eventTime.watermark ? Date.parse(p.eventTime.watermark) : '-'}`,
    ),
});

const events = session.readStream(
  kafkaSource({
    name: 'events',
    bootstrapServers: env('CRASH_BOOTSTRAP'),
    subscribe: env('CRASH_INPUT'),
    startingOffsets: 'earliest',
    maxOffsetsPerTrigger: 40,
    format: { json: schema({ id: t.long, k: t.string, v: t.long, at: t.timestamp }), mode: 'failFast' },
    requestTimeoutMs: 10_000,
  }),
);

const perKey = events.groupBy('k').agg(($) => ({ n: count(), total: sum($.v) }));
const perWindow = events
  .withWatermark('at', Number(env('CRASH_DELAY_MS')))
  .groupBy(($) => ({ window: window($.at, `${Number(env('CRASH_WINDOW_MS'))} milliseconds`), k: $.k }))
  .agg(($) => ({ n: count(), total: sum($.v) }))
  .map(
    (r) => ({
      window_start: (r.window as { start: number }).start,
      k: r.k,
      n: r.n,
      total: r.total ?? 0,
    }),
    schema({ window_start: t.timestamp, k: t.string, n: t.long, total: t.long }),
  );
const options = {
  queryName: 'crash-kafka-postgres',
  sink,
  outputMode: mode,
  checkpointLocation: env('CRASH_CHECKPOINT'),
  trigger: final ? Trigger.availableNow() : Trigger.default(),
};

out('READY');
const query = await (
  mode === 'update' ? perKey.writeStream(options) : perWindow.writeStream(options)
).start();
out('STARTED');
process.once('SIGTERM', () => void query.stop());
await query.awaitTermination();
out('DONE');
process.exit(0);
