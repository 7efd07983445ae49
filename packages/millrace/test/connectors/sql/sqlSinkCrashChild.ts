/**
 * The pipeline the SQL sink crash test (sqlSinkCrash.ts) kills and restarts, run by each package's
 * crash/pipeline.child.ts with its sink:
 *
 *   nexmarkSource(bid, maxEvents CRASH_MAX_EVENTS, eventsPerTrigger CRASH_EVENTS_PER_TRIGGER,
 *                 eventsPerSecond CRASH_EVENTS_PER_SECOND)
 *     [append: withWatermark(dateTime, CRASH_DELAY_MS)]
 *     → groupBy(window(dateTime, CRASH_WINDOW_MS), auction) → agg(bids: count, volume: sum price, top: max price)
 *     → map to flat rows { window_start, window_end, auction, bids, volume, top }
 *     → the package's sink (table CRASH_TABLE, createTable)
 *          CRASH_MODE=update: output mode update, mode upsert on (window_start, auction)
 *          CRASH_MODE=append: output mode append, mode append (plain INSERTs: a duplicate would show)
 *
 * Default trigger; with CRASH_FINAL=1, Trigger.availableNow() and a clean exit.
 * Stdout markers (a pipe, written synchronously on Linux):
 *   READY / STARTED           engine loaded / checkpoint open, recovery decided
 *   SINK_BEGIN N / SINK_DONE N   around the sink's write of batch N (DONE: the database committed)
 *   STALL N                   with CRASH_STALL_AT=k: after the k-th SINK_DONE of this process the
 *                             process blocks for 10 s, so a kill lands between the database's
 *                             commit and commits/N
 *   BATCH N <watermark ms|-> <rows out>   after each committed batch
 *   DONE                      the query ended without error
 */
import {
  type Sink,
  Trigger,
  count,
  createSession,
  max,
  nexmarkSource,
  schema,
  sum,
  t,
  window,
} from 'millrace';
import { tracedSink } from '../../crash/harness.ts';

/** The options both SQL sinks take alike (what the crash pipeline sets). */
export interface CrashSinkOptions {
  readonly connectionString: string;
  readonly table: string;
  readonly name: string;
  readonly createTable: true;
  readonly mode?: 'upsert';
  readonly keyColumns?: string[];
  readonly batchSize: number;
  readonly initialBackoffMs: number;
}

/** Runs the pipeline (in the child process) until it ends or is killed. */
export async function runSqlSinkCrashChild(
  makeSink: (o: CrashSinkOptions) => Sink,
  queryName: string,
): Promise<void> {
  const env = (name: string): string => {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set`);
    return v;
  };
  const table = env('CRASH_TABLE');
  const checkpoint = env('CRASH_CHECKPOINT');
  const mode = env('CRASH_MODE') as 'update' | 'append';
  const final = process.env.CRASH_FINAL === '1';
  const stallAt = process.env.CRASH_STALL_AT ? Number(process.env.CRASH_STALL_AT) : undefined;
  const out = (line: string) => process.stdout.write(line + '\n');

  const inner = makeSink({
    connectionString: env('DATABASE_URL'),
    table,
    name: `crash-${table}`,
    createTable: true,
    ...(mode === 'update' ? { mode: 'upsert' as const, keyColumns: ['window_start', 'auction'] } : {}),
    batchSize: 300,
    initialBackoffMs: 20,
  });
  const sink = tracedSink(inner, out, { stallAtWrite: stallAt });

  const session = createSession();
  session.streams.addListener({
    onQueryProgress: ({ progress: p }) =>
      out(
        `BATCH ${p.batchId} ${p.eventTime.watermark ? Date.parse(p.eventTime.watermark) : '-'} ${p.sink.numOutputRows}`,
      ),
  });

  const outSchema = schema({
    window_start: t.timestamp,
    window_end: t.timestamp,
    auction: t.long,
    bids: t.long,
    volume: t.long,
    top: t.long,
  });
  let bids = session.readStream(
    nexmarkSource({
      kind: 'bid',
      maxEvents: Number(env('CRASH_MAX_EVENTS')),
      eventsPerTrigger: Number(env('CRASH_EVENTS_PER_TRIGGER')),
      eventsPerSecond: Number(env('CRASH_EVENTS_PER_SECOND')),
    }),
  );
  if (mode === 'append') bids = bids.withWatermark('dateTime', Number(env('CRASH_DELAY_MS')));
  const perWindow = bids
    .groupBy(($) => ({
      window: window($.dateTime, `${Number(env('CRASH_WINDOW_MS'))} milliseconds`),
      auction: $.auction,
    }))
    .agg(($) => ({ bids: count(), volume: sum($.price), top: max($.price) }))
    .map((r) => {
      const w = r.window as { start: number; end: number };
      return {
        window_start: w.start,
        window_end: w.end,
        auction: r.auction,
        bids: r.bids,
        volume: r.volume ?? 0,
        top: r.top ?? 0,
      };
    }, outSchema);

  out('READY');
  const query = await perWindow
    .writeStream({
      queryName,
      sink,
      outputMode: mode,
      checkpointLocation: checkpoint,
      trigger: final ? Trigger.availableNow() : Trigger.default(),
    })
    .start();
  out('STARTED');
  process.once('SIGTERM', () => void query.stop());
  await query.awaitTermination();
  out('DONE');
}
