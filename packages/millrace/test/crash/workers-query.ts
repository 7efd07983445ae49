/**
 * The query of the worker-thread crash test (workers-aggregation.slow.test.ts), imported by its
 * child (the driver, workers-aggregation.child.ts) and by each of the child's worker threads,
 * which rebuild the plan from it. Importing it starts nothing.
 *
 *   fileSource(jsonl {k, id, v, t: timestamp}, args.input, maxFilesPerTrigger args.maxFiles)
 *     → withWatermark('t', args.delayMs)
 *     [→ dropDuplicates('k', 'id', 't')                          with args.dedup]
 *     → groupBy(window(t, args.windowMs), k)
 *     → agg(n: count, s: sum v, lo: min v, hi: max v, last: max t)
 *     → map(stallOnce)                                           every row unchanged
 *
 * The file source cannot be split: the driver reads each batch's files and hands each worker a
 * contiguous slice of the rows.
 *
 * Markers, from worker threads (a worker's stdout reaches the process's, through the main thread):
 *   WORKER_PLAN <threadId>   a worker built the plan
 *   WORKER_STALL <threadId>  with CRASH_STALL_WORKER=<file> in the environment: the first worker
 *                            to emit an output row (a closed window) creates that file, prints
 *                            this and blocks for 10 s, before the rest of its output and so
 *                            before it commits its partitions' state; the other worker (which
 *                            finds the file there) goes on and commits its own
 */
import { closeSync, openSync } from 'node:fs';
import { isMainThread, threadId } from 'node:worker_threads';
import { type Session, count, fileSource, max, min, schema, sum, t, window } from '../../src/index.ts';

export interface WorkersQueryArgs {
  readonly [key: string]: string | number | boolean;
  readonly input: string;
  readonly maxFiles: number;
  readonly delayMs: number;
  readonly windowMs: number;
  readonly dedup: boolean;
}

export const eventSchema = schema({ k: t.string, id: t.long, v: t.long, t: t.timestamp });

const stallFile = isMainThread ? undefined : process.env.CRASH_STALL_WORKER;
let stallDecided = stallFile === undefined;

/** A row on its way out of a worker: the first one may stall the thread (see the header). */
function stallOnce<R>(row: R): R {
  if (stallDecided) return row;
  stallDecided = true;
  let won = false;
  try {
    closeSync(openSync(stallFile!, 'wx'));
    won = true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  if (won) {
    process.stdout.write(`WORKER_STALL ${threadId}\n`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
  }
  return row;
}

export function windowedCounts(session: Session, args: WorkersQueryArgs) {
  if (!isMainThread) process.stdout.write(`WORKER_PLAN ${threadId}\n`);
  const events = session
    .readStream(
      fileSource({
        name: 'events',
        path: args.input,
        format: 'jsonl',
        schema: eventSchema,
        maxFilesPerTrigger: args.maxFiles,
        mode: 'failFast',
      }),
    )
    .withWatermark('t', args.delayMs);
  const windows = (args.dedup ? events.dropDuplicates('k', 'id', 't') : events)
    .groupBy(($) => ({ window: window($.t, args.windowMs), k: $.k }))
    .agg(($) => ({ n: count(), s: sum($.v), lo: min($.v), hi: max($.v), last: max($.t) }));
  return windows.map(stallOnce, windows.schema, { name: 'stallOnce' });
}
