/**
 * The pipeline the windowed-aggregation crash tests kill and restart
 * (windowed-aggregation.slow.test.ts):
 *
 *   fileSource(jsonl {k, v, t: timestamp[, g]}, CRASH_INPUT, maxFilesPerTrigger CRASH_MAX_FILES)
 *     → withWatermark('t', CRASH_DELAY_MS)
 *     → groupBy(window(t, CRASH_WINDOW_MS[, CRASH_SLIDE_MS]), k)
 *       or, with CRASH_SESSION_GAP (ms, or 'column': the row's g in ms),
 *       groupBy(session: sessionWindow(t, gap), k)
 *     → agg(n: count, s: sum v, lo: min v, hi: max v, last: max t)      append mode
 *     → fileSink(jsonl, CRASH_OUTPUT), checkpoint CRASH_CHECKPOINT,
 *       memory state store, minBatchesToRetain CRASH_RETAIN
 *
 * Default trigger; with CRASH_FINAL=1, Trigger.availableNow() and a clean exit
 * when everything is processed. SIGTERM stops the query gracefully
 * (query.stop(): the batch in flight commits first) and exits 0.
 *
 * Stdout markers (a pipe, written synchronously on Linux, so each is out
 * before the next protocol step starts):
 *   READY                   engine loaded, about to start
 *   STARTED                 checkpoint open, recovery decided (a replay runs next)
 *   SINK_BEGIN N / SINK_DONE N     around the sink's write of batch N
 *   STATE_COMMITTED N V     the aggregate's state version V = N+1 is durable;
 *                           commits/N is next. With CRASH_STALL_AT=k the k-th
 *                           such commit (CRASH_STALL_AT=nodata: the first of
 *                           a batch that read no input, a no-data batch) prints
 *                           STALL N and blocks the process for 10 s, so a kill
 *                           sent on that marker lands before commits/N.
 *   PROGRESS <json>         the progress record of each committed batch
 *   DONE                    the query ended without error
 */
import {
  type Offset,
  type Sink,
  type Source,
  Trigger,
  count,
  createSession,
  fileSink,
  fileSource,
  max,
  min,
  schema,
  sessionWindow,
  sum,
  t,
  window,
} from '../../src/index.ts';
import { memoryStateStore } from '../../src/state/index.ts';
import { tracedSink, tracedStateStore } from './harness.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const num = (name: string): number => {
  const n = Number(env(name));
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number`);
  return n;
};
const input = env('CRASH_INPUT');
const output = env('CRASH_OUTPUT');
const checkpoint = env('CRASH_CHECKPOINT');
const final = process.env.CRASH_FINAL === '1';
const slideMs = process.env.CRASH_SLIDE_MS ? num('CRASH_SLIDE_MS') : undefined;
const stallAt = process.env.CRASH_STALL_AT;

const out = (line: string) => process.stdout.write(line + '\n');
const traced = (sink: Sink) => tracedSink(sink, out);

const session = createSession();
session.streams.addListener({
  onQueryProgress: ({ progress }) => out(`PROGRESS ${JSON.stringify(progress)}`),
});

/** Batches that read input (a no-data batch reads none). */
const readBatches = new Set<number>();
const noteReads = <R>(source: Source<R>): Source<R> =>
  new Proxy(source, {
    get(target, prop) {
      if (prop === 'getBatch')
        return (start: Offset | null, end: Offset, info: { readonly batchId: number }) => {
          readBatches.add(info.batchId);
          return target.getBatch(start, end, info);
        };
      const v: unknown = Reflect.get(target, prop);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
const sourceOptions = {
  name: 'events',
  path: input,
  format: 'jsonl',
  maxFilesPerTrigger: num('CRASH_MAX_FILES'),
  mode: 'failFast',
} as const;
const delayMs = num('CRASH_DELAY_MS');

const writer = (sessionGap: string | undefined) => {
  const options = {
    queryName: 'crash-windowed-aggregation',
    sink: traced(fileSink({ name: 'out', path: output, format: 'jsonl' })),
    checkpointLocation: checkpoint,
    outputMode: 'append' as const,
    trigger: final ? Trigger.availableNow() : Trigger.default(),
    minBatchesToRetain: num('CRASH_RETAIN'),
    stateStore: tracedStateStore(
      memoryStateStore({ snapshotMinIntervalMs: 0 }),
      out,
      stallAt === undefined
        ? undefined
        : {
            when:
              stallAt === 'nodata' ? (c) => !readBatches.has(c.batchId) : (c) => c.nth === Number(stallAt),
            ms: 10_000,
          },
    ),
  };
  if (sessionGap === undefined) {
    return session
      .readStream(
        noteReads(
          fileSource({ ...sourceOptions, schema: schema({ k: t.string, v: t.long, t: t.timestamp }) }),
        ),
      )
      .withWatermark('t', delayMs)
      .groupBy(($) => ({ window: window($.t, num('CRASH_WINDOW_MS'), slideMs), k: $.k }))
      .agg(($) => ({ n: count(), s: sum($.v), lo: min($.v), hi: max($.v), last: max($.t) }))
      .writeStream(options);
  }
  const events = session
    .readStream(
      noteReads(
        fileSource({
          ...sourceOptions,
          schema: schema({ k: t.string, v: t.long, t: t.timestamp, g: t.long }),
        }),
      ),
    )
    .withWatermark('t', delayMs);
  return events
    .groupBy(($) => ({
      session: sessionWindow($.t, sessionGap === 'column' ? $.g : Number(sessionGap)),
      k: $.k,
    }))
    .agg(($) => ({ n: count(), s: sum($.v), lo: min($.v), hi: max($.v), last: max($.t) }))
    .writeStream(options);
};

out('READY');
const query = await writer(process.env.CRASH_SESSION_GAP || undefined).start();
out('STARTED');

process.once('SIGTERM', () => void query.stop());
await query.awaitTermination();
out('DONE');
