/**
 * The contract of a pipeline file run by `millrace run <file.ts> [-- args…]`:
 *
 *   import { definePipeline, dashboardSink } from '@millrace/server';
 *   export default definePipeline(async (ctx) => {
 *     const bids = ctx.session.readStream(nexmarkSource({ kind: 'bid', wallRate: 1000 }));
 *     await ctx.start(bids.groupBy('channel').count(), {
 *       queryName: 'bids-per-channel',
 *       outputMode: 'complete',
 *       sink: ctx.dashboards.sink({ name: 'channels', kind: 'table', key: 'channel' }),
 *       checkpointLocation: '.millrace/bids-per-channel',
 *     });
 *   });
 *
 * The function starts queries and returns; the CLI keeps serving until every
 * query has finished by itself or a signal arrives (see README.md "millrace run").
 */
import type { Logger, Session, Stream, StreamingQuery, WriteStreamOptions } from 'millrace';
import type { AlertRuleOptions, AlertRuleView } from '../alerts/AlertManager.ts';
import { DashboardSink, type DashboardSinkOptions } from '../dashboards/DashboardSink.ts';
import type { MillraceService } from '../service.ts';
import { pipelineWorkers } from './onWorkers.ts';

export interface PipelineDashboards {
  /** Create a dashboard sink and show it in the UI at once (before its query runs). */
  sink(options: DashboardSinkOptions): DashboardSink;
  /** Show an existing dashboard sink in the UI. */
  register(sink: DashboardSink): DashboardSink;
}

export interface PipelineAlerts {
  /** Add an alert rule over a query's (or a sink's) result rows. */
  rule(options: AlertRuleOptions): AlertRuleView;
}

export interface PipelineContext {
  /**
   * 'driver' in the service. With `millrace run --workers N`, the function also runs in each
   * worker thread to rebuild its queries' plans, with 'worker' here: there `start` only hands over
   * the stream, and code with side effects (servers, files, ingest) must not run — guard it with
   * `if (ctx.role === 'driver')` (pipeline/onWorkers.ts).
   */
  readonly role: 'driver' | 'worker';
  /** The session to build queries on (its logs are the service's JSON logs). */
  readonly session: Session;
  /** The command-line arguments after `--`. */
  readonly args: readonly string[];
  /** Aborted when the service begins to shut down (SIGINT/SIGTERM). */
  readonly signal: AbortSignal;
  /** The service's structured logger. */
  readonly log: Logger;
  /**
   * Start a query (like `stream.writeStream(options).start()`) so that the service can
   * restart it from the API and feed its rows to alert rules. Prefer this to calling
   * writeStream yourself.
   */
  start<R>(stream: Stream<R>, options: WriteStreamOptions): Promise<StreamingQuery>;
  readonly dashboards: PipelineDashboards;
  readonly alerts: PipelineAlerts;
  /** The service itself, for what the helpers above do not cover. */
  readonly service: MillraceService;
}

export type PipelineFunction = (ctx: PipelineContext) => void | Promise<void>;

/** Identity, for typing: `export default definePipeline(async (ctx) => { … })`. */
export function definePipeline(fn: PipelineFunction): PipelineFunction {
  return fn;
}

/** `millrace run --workers N [--partitions P]`: how the pipeline's queries run. */
export interface PipelineParallelism {
  /** The pipeline file (absolute): each worker thread imports it. */
  readonly file: string;
  /** Worker threads per query; a query whose options name `workers` keeps its own. */
  readonly workers?: number;
  /** State partitions of a new checkpoint, unless a query's options say `partitions`. */
  readonly partitions?: number;
}

export function createPipelineContext(
  service: MillraceService,
  options: {
    session: Session;
    args: readonly string[];
    signal: AbortSignal;
    parallelism?: PipelineParallelism;
  },
): PipelineContext {
  let starts = 0;
  const parallel = options.parallelism;
  /** The options with the command line's workers and partitions, where the query sets neither. */
  const withParallelism = (o: WriteStreamOptions): WriteStreamOptions => {
    const ordinal = starts++;
    if (!parallel || !o || typeof o !== 'object') return o;
    return {
      ...o,
      ...(parallel.partitions !== undefined && o.partitions === undefined
        ? { partitions: parallel.partitions }
        : {}),
      ...(parallel.workers !== undefined && o.workers === undefined
        ? {
            workers: pipelineWorkers(parallel.workers, {
              file: parallel.file,
              args: options.args,
              queryName: o.queryName ?? null,
              ordinal,
            }),
          }
        : {}),
    };
  };
  return {
    role: 'driver',
    session: options.session,
    args: options.args,
    signal: options.signal,
    log: service.log,
    service,
    start: (stream, o) => service.startQuery(stream, withParallelism(o)),
    dashboards: {
      sink: (o) => {
        const s = new DashboardSink(o);
        service.registerDashboard(s);
        return s;
      },
      register: (s) => {
        service.registerDashboard(s);
        return s;
      },
    },
    alerts: { rule: (o) => service.alerts.rule(o) },
  };
}
