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

export function createPipelineContext(
  service: MillraceService,
  options: { session: Session; args: readonly string[]; signal: AbortSignal },
): PipelineContext {
  return {
    session: options.session,
    args: options.args,
    signal: options.signal,
    log: service.log,
    service,
    start: (stream, o) => service.startQuery(stream, o),
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
