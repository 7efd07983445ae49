/**
 * Pipeline queries on worker threads (`millrace run pipeline.ts --workers N`).
 *
 * A worker thread cannot receive a query's functions (filters, UDFs) from the main thread, so it
 * builds the same plan again (docs/architecture.md, "Partitions, tasks and worker threads"). For a
 * pipeline file that means running its function once more in each worker, with a context whose
 * `role` is 'worker':
 *
 *   main thread (role 'driver')                 worker thread (role 'worker')
 *   fn(ctx) ─► ctx.start(stream, {queryName})   buildPipelineQuery(session, ref)
 *             └► writeStream({ workers: {         └► fn(workerCtx) ─► workerCtx.start(stream, …)
 *                  module: this file,                 the n-th call / the call named ref.queryName
 *                  export: 'buildPipelineQuery',      resolves with its stream; every other call
 *                  args: ref } })                     gets a stand-in and starts nothing
 *
 * So `ctx.start` must be reached with the same queries in the same order on every run, and what
 * the function does besides building queries (servers, files, ingest, alert rules) should be
 * guarded with `if (ctx.role === 'driver')`; the dashboards and alert helpers do nothing in a worker.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Session, type Stream, type StreamingQuery, type WriteStreamOptions, userError } from 'millrace';
import { DashboardSink } from '../dashboards/DashboardSink.ts';
import type { PipelineContext, PipelineFunction } from './context.ts';

/** Which of a pipeline's queries a worker builds: plain data, sent to every worker. */
export interface PipelineQueryRef {
  /** The pipeline file, absolute. */
  readonly file: string;
  /** The arguments after `--`, as the main thread got them. */
  readonly args: readonly string[];
  /** The query's name (`queryName` of its options), or null when it has none. */
  readonly queryName: string | null;
  /** Its place among the pipeline's `ctx.start` calls (0 = first): used when it has no name. */
  readonly ordinal: number;
}

/** The `workers` option that runs the `ordinal`-th query of a pipeline file on `count` threads. */
export function pipelineWorkers(
  count: number,
  ref: PipelineQueryRef,
): NonNullable<WriteStreamOptions['workers']> {
  return {
    count,
    module: new URL(import.meta.url),
    export: 'buildPipelineQuery',
    args: { ...ref, args: [...ref.args] },
  };
}

/** A value that says where it came from when used: what ctx.start and ctx.service give in a worker. */
function standIn<T extends object>(what: string): T {
  return new Proxy({} as T, {
    get(_target, prop) {
      // Not a thenable: `await ctx.start(…)` must give the stand-in itself.
      if (prop === 'then' || typeof prop === 'symbol') return undefined;
      throw userError(
        'WORKERS_PIPELINE',
        `${what}.${prop} was used while the pipeline ran on a worker thread (to rebuild a query's plan), ` +
          `where queries are not started and the service is not there; guard that code with ` +
          `\`if (ctx.role === 'driver')\``,
      );
    },
  });
}

/**
 * The export a worker calls (`workers.export`): run the pipeline's function with a worker context
 * and return the stream of the query `ref` names.
 */
export async function buildPipelineQuery(session: Session, ref: PipelineQueryRef): Promise<Stream<unknown>> {
  const mod = (await import(pathToFileURL(path.resolve(ref.file)).href)) as { default?: unknown };
  if (typeof mod.default !== 'function') {
    throw userError('WORKERS_PIPELINE', `${ref.file} has no default export function on the worker thread`);
  }
  const fn = mod.default as PipelineFunction;
  const wanted = ref.queryName === null ? `query #${ref.ordinal + 1}` : `query "${ref.queryName}"`;
  return new Promise<Stream<unknown>>((resolve, reject) => {
    let calls = 0;
    let found = false;
    const ctx: PipelineContext = {
      role: 'worker',
      session,
      args: ref.args,
      signal: new AbortController().signal,
      log: session.log,
      start: <R>(stream: Stream<R>, options: WriteStreamOptions) => {
        const ordinal = calls++;
        const match = ref.queryName === null ? ordinal === ref.ordinal : options?.queryName === ref.queryName;
        if (match && !found) {
          found = true;
          resolve(stream as Stream<unknown>);
        }
        return Promise.resolve(standIn<StreamingQuery>('the query ctx.start() returned'));
      },
      dashboards: { sink: (o) => new DashboardSink(o), register: (s) => s },
      alerts: { rule: () => standIn('the alert rule ctx.alerts.rule() returned') },
      service: standIn('ctx.service'),
    };
    Promise.resolve()
      .then(() => fn(ctx))
      .then(
        () => {
          if (!found) {
            reject(
              userError(
                'WORKERS_PIPELINE',
                `the pipeline ${ref.file} returned on a worker thread without starting ${wanted}: a pipeline ` +
                  `must start the same queries, in the same order, whatever thread it runs on ` +
                  `(ctx.start was called ${calls} time(s) there)`,
              ),
            );
          }
        },
        (e: unknown) => {
          if (!found) reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
  });
}
