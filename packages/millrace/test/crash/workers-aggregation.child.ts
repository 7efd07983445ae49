/**
 * The process the worker-thread crash test (workers-aggregation.slow.test.ts) kills and restarts:
 * the driver of the query in workers-query.ts (built from CRASH_ARGS, JSON), run on 2 worker
 * threads over 4 state partitions:
 *
 *   windowedCounts(session, CRASH_ARGS)       (file source → watermark [→ dedup] → windows)
 *     → fileSink(jsonl, CRASH_OUTPUT)          append mode: each worker writes its part files, this
 *                                              (the main) thread commits them in manifest N
 *   checkpoint CRASH_CHECKPOINT, memory state store, minBatchesToRetain CRASH_RETAIN,
 *   partitions: 4, workers: { count: 2, module: workers-query.ts, export: 'windowedCounts' }
 *
 * Worker w runs state partitions p ≡ w (mod 2) and commits their stores at the end of its task,
 * before it tells the driver it is done, so a batch's output has ended (and the file sink's
 * manifest is written) only once every worker committed state version N+1.
 *
 * Default trigger; with CRASH_FINAL=1, Trigger.availableNow() and a clean exit when everything is
 * processed.
 *
 * Stdout markers (a pipe, written synchronously on Linux, so each is out before the next protocol
 * step starts):
 *   READY                        engine loaded, about to start (the workers start next)
 *   STARTED                      workers ready, checkpoint open, recovery decided
 *   SINK_BEGIN N / SINK_DONE N   around the sink's commit of batch N (the workers wrote their parts);
 *                                with CRASH_STALL_AT_WRITE=k the k-th write then prints STALL N
 *                                and blocks the main thread for 10 s: state N+1 and the sink's
 *                                manifest N are on disk, commits/N is not
 *   PROGRESS <json>              the progress record of each committed batch
 *   DONE                         the query ended without error
 */
import { fileURLToPath } from 'node:url';
import { Trigger, createSession, fileSink } from '../../src/index.ts';
import { memoryStateStore } from '../../src/state/index.ts';
import { tracedSink } from './harness.ts';
import { type WorkersQueryArgs, windowedCounts } from './workers-query.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const args = JSON.parse(env('CRASH_ARGS')) as WorkersQueryArgs;
const stallAt = process.env.CRASH_STALL_AT_WRITE;

const out = (line: string) => process.stdout.write(line + '\n');
const session = createSession();
session.streams.addListener({
  onQueryProgress: ({ progress }) => out(`PROGRESS ${JSON.stringify(progress)}`),
});

out('READY');
const query = await windowedCounts(session, args)
  .writeStream({
    queryName: 'crash-workers-aggregation',
    sink: tracedSink(
      fileSink({ name: 'out', path: env('CRASH_OUTPUT'), format: 'jsonl' }),
      out,
      stallAt ? { stallAtWrite: Number(stallAt) } : {},
    ),
    checkpointLocation: env('CRASH_CHECKPOINT'),
    outputMode: 'append',
    trigger: process.env.CRASH_FINAL === '1' ? Trigger.availableNow() : Trigger.default(),
    minBatchesToRetain: Number(env('CRASH_RETAIN')),
    stateStore: memoryStateStore({ snapshotMinIntervalMs: 0 }),
    partitions: 4,
    workers: {
      count: 2,
      module: fileURLToPath(new URL('./workers-query.ts', import.meta.url)),
      export: 'windowedCounts',
      args,
    },
  })
  .start();
out('STARTED');

process.once('SIGTERM', () => void query.stop());
await query.awaitTermination();
out('DONE');
