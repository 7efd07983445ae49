/**
 * The Millrace service: what the HTTP API, the SSE stream, /metrics and the CLI
 * observe and act on. It holds no global state — sessions are given to it
 * (`attach`) or made by it (`createSession`), and two services in one process
 * are independent (their own metrics registry, logger, events, alerts).
 *
 *   sessions ──listener──▶ QueryRegistry ──▶ metrics, events (SSE), logs
 *   sinks (dashboard, tapped) ──rows──▶ RowBus ──▶ AlertManager ──▶ events, webhooks
 *                                  └──▶ DashboardSink views ──▶ events
 */
import {
  MemorySink,
  createSession,
  systemClock,
  type Clock,
  type Logger,
  type Session,
  type Sink,
  type Stream,
  type StreamingQuery,
  type WriteStreamOptions,
} from 'millrace';
import { AlertManager, type AlertEvent } from './alerts/AlertManager.ts';
import { WebhookDispatcher } from './alerts/webhook.ts';
import { isDashboardSink, type DashboardSink, type DashboardUpdate } from './dashboards/DashboardSink.ts';
import { EventHub, type EventHubOptions } from './events/EventHub.ts';
import {
  createLogger,
  withServiceHooks,
  type LogDestination,
  type LogLevel,
  type ServiceLogger,
} from './logging/logger.ts';
import { ServiceMetrics } from './metrics/ServiceMetrics.ts';
import { QueryRegistry, type QueryEntry } from './queries/QueryRegistry.ts';
import { querySummary, type SinkView } from './queries/views.ts';
import { Redactor } from './redact.ts';
import { RowBus } from './rows/RowBus.ts';
import { ServiceState } from './state/ServiceState.ts';
import { tapSink } from './rows/tapSink.ts';
import { messageOf, userError } from './util/errors.ts';

export interface MillraceServiceOptions {
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** Default 'info'. */
  readonly logLevel?: LogLevel;
  /** Where JSON log lines go (default stderr). */
  readonly logDestination?: LogDestination;
  /** Progress summaries kept per query (default 10,000). */
  readonly historySize?: number;
  /** Full progress records kept per query (default 100). */
  readonly fullProgressRetained?: number;
  /** Ended queries remembered (default 100). */
  readonly maxTerminatedQueries?: number;
  /** Alert firing/resolved events kept (default 1,000). */
  readonly alertHistorySize?: number;
  /**
   * A directory for the service's durable state — alert history, firing/pending alerts and
   * cooldowns, dashboard contents — restored at the next start (LMDB; e.g. `.millrace/service`,
   * beside the checkpoints). Default: none, everything in memory (a restart forgets it).
   */
  readonly stateDir?: string;
  readonly events?: Omit<EventHubOptions, 'onClients' | 'onDropped'>;
  /** Export prom-client's default process metrics (default true). */
  readonly defaultMetrics?: boolean;
}

/** Rows at most per `dashboard.rows` event (a client fetches the rest from the API). */
const MAX_ROWS_PER_EVENT = 1_000;

/** A memory sink, also from another copy of the engine (instanceof alone would miss it). */
export function isMemorySink(x: unknown): x is MemorySink {
  return (
    x instanceof MemorySink ||
    (typeof x === 'object' &&
      x !== null &&
      typeof (x as MemorySink).allRows === 'function' &&
      typeof (x as MemorySink).describe === 'function' &&
      (x as MemorySink).describe().startsWith('MemorySink['))
  );
}

export class MillraceService {
  readonly clock: Clock;
  readonly redactor = new Redactor();
  readonly log: ServiceLogger;
  readonly metrics: ServiceMetrics;
  readonly events: EventHub;
  readonly queries: QueryRegistry;
  readonly rows = new RowBus();
  readonly webhooks: WebhookDispatcher;
  readonly alerts: AlertManager;
  /** The logger to give `createSession` so the engine logs here and dashboard sinks find this service. */
  readonly sessionLog: Logger;
  /** Durable state (alerts, dashboards) when the service has a stateDir. */
  readonly state: ServiceState | undefined;
  private readonly dashboardSinks = new Map<string, { sink: DashboardSink; unsubscribe: () => void }>();
  private readonly startedAt: number;

  constructor(options: MillraceServiceOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.startedAt = Date.now();
    this.log = createLogger({
      level: options.logLevel ?? 'info',
      redactor: this.redactor,
      destination: options.logDestination,
    });
    this.metrics = new ServiceMetrics({
      redactor: this.redactor,
      clock: this.clock,
      defaultMetrics: options.defaultMetrics,
    });
    this.events = new EventHub({
      ...options.events,
      onClients: (n) => this.metrics.sseClients.set(n),
      onDropped: () => {
        this.metrics.sseDropped.inc();
        this.log.warn('an event-stream client did not keep up and was disconnected');
      },
    });
    this.queries = new QueryRegistry({
      redactor: this.redactor,
      clock: this.clock,
      historySize: options.historySize,
      fullProgressRetained: options.fullProgressRetained,
      maxTerminatedQueries: options.maxTerminatedQueries,
      observer: {
        started: (e) => {
          this.metrics.queryStarted(e.name);
          this.events.publish('query.started', { query: querySummary(e) });
        },
        progress: (e, p) => {
          this.metrics.progress(p);
          this.events.publish('query.progress', { query: querySummary(e), entry: e.history.latest() });
          this.log.debug('query progress', {
            query: p.name,
            batchId: p.batchId,
            numInputRows: p.numInputRows,
            numOutputRows: p.sink?.numOutputRows,
            batchDurationMs: p.batchDuration,
            watermark: p.eventTime?.watermark,
          });
        },
        terminated: (e) => {
          this.metrics.queryTerminated(e.name, e.health === 'failed');
          this.events.publish('query.terminated', { query: querySummary(e) });
        },
        evicted: (e) => {
          // Another query may carry the same name (a new checkpoint): its series stay.
          if (!this.queries.list().some((x) => x.name === e.name)) void this.metrics.queryForgotten(e.name);
        },
      },
    });
    this.webhooks = new WebhookDispatcher({
      sent: (h) => this.metrics.notifications.inc({ webhook: h.display, result: 'sent' }),
      retried: (h, attempt, reason) => {
        this.metrics.notifications.inc({ webhook: h.display, result: 'retried' });
        this.log.warn('webhook failed; retrying', { webhook: h.display, attempt, reason });
      },
      failed: (h, reason) => {
        this.metrics.notifications.inc({ webhook: h.display, result: 'failed' });
        this.log.error('webhook notification given up', { webhook: h.display, reason });
      },
      dropped: (h) => this.metrics.notificationsDropped.inc({ webhook: h.display }),
    });
    this.state = options.stateDir === undefined ? undefined : ServiceState.open(options.stateDir);
    this.alerts = new AlertManager({
      store: this.state,
      clock: this.clock,
      redactor: this.redactor,
      dispatcher: this.webhooks,
      historySize: options.alertHistorySize,
      onEvent: (e) => this.onAlert(e),
      onError: (rule, message) => this.log.warn('alert condition failed on a row', { rule, error: message }),
    });
    this.rows.watch(this.alerts);
    this.sessionLog = withServiceHooks(this.log, {
      dashboardOpened: (sink) => {
        if (isDashboardSink(sink)) this.registerDashboard(sink, false);
      },
    });
  }

  /** A new session whose queries this service watches (and whose engine logs go to its logger). */
  createSession(options: { clock?: Clock } = {}): Session {
    const session = createSession({ clock: options.clock ?? this.clock, log: this.sessionLog });
    this.attach(session);
    return session;
  }

  /** Watch the queries of a session made elsewhere. */
  attach(session: Session): void {
    this.queries.attach(session);
  }

  detach(session: Session): void {
    this.queries.detach(session);
  }

  /**
   * Start a query and keep what is needed to restart it from the API: the stream,
   * the options and the sink. Its result rows reach alert rules over this query.
   */
  async startQuery<R>(stream: Stream<R>, options: WriteStreamOptions): Promise<StreamingQuery> {
    if (!options || typeof options !== 'object' || !options.sink) {
      throw userError('INVALID_OPTIONS', 'startQuery: give the writeStream options, with at least { sink }');
    }
    const original: Sink = options.sink;
    if (isDashboardSink(original)) this.registerDashboard(original, false);
    const sink = isDashboardSink(original)
      ? original
      : tapSink(original, this.rows, (e) => this.log.warn('an alert rule failed', { error: messageOf(e) }));
    const start = () => stream.writeStream({ ...options, sink }).start();
    // The stream's session must be watched, or the service would not see the query start.
    const session = stream.session;
    this.attach(session);
    const query = await start();
    this.queries.bindHandle(query, {
      session,
      sink: original,
      trigger: options.trigger ?? { kind: 'default' },
      checkpointLocation: options.checkpointLocation,
      start,
    });
    return query;
  }

  /** Make a dashboard sink visible in the API (also done when its query starts in a service session). */
  registerDashboard(sink: DashboardSink, explicit = true): void {
    const known = this.dashboardSinks.get(sink.name);
    if (known?.sink === sink) return;
    if (known) {
      if (explicit) {
        throw userError(
          'DASHBOARD_NAME_IN_USE',
          `a dashboard named "${sink.name}" is registered already; give each dashboardSink its own name`,
        );
      }
      this.log.warn('a dashboard with this name was replaced by another sink', { dashboard: sink.name });
      known.unsubscribe();
    }
    const saved = known ? undefined : this.state?.dashboard(sink.name);
    if (saved && sink.restoreState(saved)) {
      this.log.info('dashboard restored from the service state', { dashboard: sink.name, rows: sink.size });
    }
    const unsubscribe = sink.subscribe((u) => {
      this.state?.saveDashboard(sink.name, sink.exportState());
      this.onDashboardRows(sink, u);
    });
    this.dashboardSinks.set(sink.name, { sink, unsubscribe });
    this.events.publish('dashboard.registered', { dashboard: this.redactor.redact(sink.info()) });
  }

  private onDashboardRows(sink: DashboardSink, u: DashboardUpdate): void {
    this.metrics.dashboardRows.set({ dashboard: sink.name }, u.size);
    if (u.rows.length === 0 && !u.replaced) return; // nothing changed: no event
    const rows = u.rows.length > MAX_ROWS_PER_EVENT ? u.rows.slice(-MAX_ROWS_PER_EVENT) : u.rows;
    this.events.publish('dashboard.rows', {
      dashboard: sink.name,
      query: u.queryName,
      batchId: u.batchId,
      replaced: u.replaced,
      size: u.size,
      truncated: rows.length < u.rows.length,
      rows: this.redactor.redact(rows),
    });
    if (this.rows.wants(u.queryName, sink.name)) {
      this.rows.publish(
        {
          queryId: '',
          queryName: u.queryName,
          sinkName: sink.name,
          batchId: u.batchId,
          outputMode: u.outputMode,
          rows: u.sourceRows,
        },
        (e) => this.log.warn('an alert rule failed', { dashboard: sink.name, error: messageOf(e) }),
      );
    }
  }

  get dashboards(): DashboardSink[] {
    return [...this.dashboardSinks.values()].map((d) => d.sink);
  }

  dashboard(name: string): DashboardSink {
    const d = this.dashboardSinks.get(name);
    if (!d) {
      throw userError(
        'DASHBOARD_NOT_FOUND',
        `no dashboard named "${name}"; dashboards: ${[...this.dashboardSinks.keys()].join(', ') || 'none'}`,
      );
    }
    return d.sink;
  }

  private onAlert(e: AlertEvent): void {
    const labels = { rule: e.rule, severity: e.severity };
    if (e.status === 'firing') this.metrics.alertsFired.inc(labels);
    else this.metrics.alertsResolved.inc(labels);
    this.metrics.alertsFiring.set(labels, this.alerts.firingCount(e.rule));
    this.events.publish(e.status === 'firing' ? 'alert.fired' : 'alert.resolved', { alert: e });
    const fields = {
      rule: e.rule,
      severity: e.severity,
      labels: e.labels,
      query: e.query,
      batchId: e.batchId,
    };
    if (e.status === 'firing') this.log.warn('alert fired', { ...fields, summary: e.summary });
    else this.log.info('alert resolved', fields);
  }

  /** Which sink a query writes to, as far as the service knows (for the detail view and /rows). */
  sinkOf(e: QueryEntry): (Pick<SinkView, 'name' | 'kind' | 'rowsAvailable'> & { sink: Sink | null }) | null {
    const s = e.handle?.sink;
    if (isMemorySink(s)) return { name: s.name, kind: 'memory', rowsAvailable: true, sink: s };
    if (isDashboardSink(s)) return { name: s.name, kind: 'dashboard', rowsAvailable: true, sink: s };
    for (const { sink } of this.dashboardSinks.values()) {
      if (sink.info().query === e.name)
        return { name: sink.name, kind: 'dashboard', rowsAvailable: true, sink };
    }
    if (s) return { name: s.name, kind: 'other', rowsAvailable: false, sink: s };
    return null;
  }

  /** Every active query of every attached session. */
  activeQueries(): StreamingQuery[] {
    return this.queries.sessions.flatMap((s) => s.streams.active);
  }

  /** Stop every active query (marking them stopped by request); resolves when all ended. */
  async stopAll(options: { abandonCurrentBatch?: boolean } = {}): Promise<void> {
    const active = this.activeQueries();
    for (const q of active) {
      const e = this.queries.find(q.id);
      if (e) e.stopRequested = true;
    }
    await Promise.all(active.map((q) => q.stop(options).catch(() => undefined)));
  }

  get uptimeMs(): number {
    return Date.now() - this.startedAt;
  }

  /** Deliver queued webhooks (up to `flushMs`), end event streams, stop watching sessions. */
  async close(options: { flushMs?: number } = {}): Promise<void> {
    await this.webhooks.close(options.flushMs ?? 2_000);
    this.events.close();
    for (const s of this.queries.sessions) this.detach(s);
    for (const d of this.dashboardSinks.values()) d.unsubscribe();
    await this.state?.close();
  }
}
