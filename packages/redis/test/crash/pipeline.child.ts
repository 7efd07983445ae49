/**
 * The pipeline the Redis crash test (../crash.slow.test.ts) kills and restarts:
 *
 *   redisStreamSource(CRASH_STREAMS, maxEntriesPerTrigger CRASH_PER_TRIGGER, name crash-input)
 *     → { i, k, v } from the entry's fields
 *     CRASH_MODE=update: groupBy(k).agg(n: count, total: sum v) → redisHashSink(keyPrefix CRASH_PREFIX:agg:)
 *     CRASH_MODE=append: the rows as they are              → redisStreamSink(stream CRASH_PREFIX:out)
 *
 * Default trigger; with CRASH_FINAL=1, Trigger.availableNow() and a clean exit.
 * Stdout markers (a pipe, written synchronously on Linux):
 *   READY / STARTED            engine loaded / checkpoint open, recovery decided
 *   SINK_BEGIN N / SINK_DONE N around the sink's write of batch N (DONE: Redis has it)
 *   STALL_BEFORE N             with CRASH_STALL_BEFORE=k: at the k-th SINK_BEGIN the process blocks
 *                              before writing (batch N in flight, nothing of it in Redis)
 *   STALL N                    with CRASH_STALL_AT=k: after the k-th SINK_DONE the process blocks
 *                              for 10 s, so a kill lands between the Redis write and commits/N
 *   DONE                       the query ended without error
 */
import { Trigger, count, createSession, schema, sum, t } from 'millrace';
import { tracedSink } from '../../../millrace/test/crash/harness.ts';
import { redisHashSink, redisStreamSink, redisStreamSource } from '../../src/index.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const url = env('REDIS_URL');
const prefix = env('CRASH_PREFIX');
const mode = env('CRASH_MODE') as 'update' | 'append';
const final = process.env.CRASH_FINAL === '1';
const stallAt = process.env.CRASH_STALL_AT ? Number(process.env.CRASH_STALL_AT) : undefined;
const stallBefore = process.env.CRASH_STALL_BEFORE ? Number(process.env.CRASH_STALL_BEFORE) : undefined;
const out = (line: string) => process.stdout.write(line + '\n');
const retry = { initialBackoffMs: 20, maxBackoffMs: 500 };

const session = createSession();
const rows = session
  .readStream(
    redisStreamSource({
      url,
      streams: env('CRASH_STREAMS').split(','),
      maxEntriesPerTrigger: Number(env('CRASH_PER_TRIGGER')),
      name: 'crash-input',
      ...retry,
    }),
  )
  .map(
    (e) => ({ i: Number(e.fields.i), k: e.fields.k!, v: Number(e.fields.v) }),
    schema({ i: t.long, k: t.string, v: t.long }),
  );

const inner =
  mode === 'update'
    ? redisHashSink({
        url,
        keyPrefix: `${prefix}:agg:`,
        keyColumns: ['k'],
        name: `crash-${prefix}`,
        ...retry,
      })
    : redisStreamSink({ url, stream: `${prefix}:out`, name: `crash-${prefix}`, ...retry });
const sink = tracedSink(inner, out, { stallAtWrite: stallAt, stallBeforeWrite: stallBefore });
const result = mode === 'update' ? rows.groupBy('k').agg(($) => ({ n: count(), total: sum($.v) })) : rows;

out('READY');
const query = await result
  .writeStream({
    queryName: 'crash-redis',
    sink,
    outputMode: mode,
    checkpointLocation: env('CRASH_CHECKPOINT'),
    trigger: final ? Trigger.availableNow() : Trigger.default(),
  })
  .start();
out('STARTED');
process.once('SIGTERM', () => void query.stop());
await query.awaitTermination();
out('DONE');
