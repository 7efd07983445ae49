/**
 * Prometheus metrics (prom-client), in a registry of this service's own — never
 * prom-client's global one, so two services in one process do not mix. Query
 * figures come from progress records, i.e. they move when a batch commits.
 * Label `query` is the query name; label values go through the Redactor.
 *
 * See README.md "Metrics" for what each one measures.
 */
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CounterConfiguration,
} from 'prom-client';
import type { Clock, StreamingQueryProgress } from 'millrace';
import type { Redactor } from '../redact.ts';
import { lagOf } from '../queries/lag.ts';

/** Most partitions a state operator exports series for (the engine allows at most 1,024). */
export const MAX_PARTITION_SERIES = 1024;

/** prom-client default metrics whose names break Prometheus' naming rules (gauges named _total). */
export const MISNAMED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export interface ServiceMetricsOptions {
  readonly redactor: Redactor;
  readonly clock: Clock;
  /** Also export prom-client's default process metrics (default true). */
  readonly defaultMetrics?: boolean;
}

export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly watermarks = new Map<string, number>();
  private readonly activeQueries = new Map<string, number>();
  /** Per query label: the partitions of each operator label that have series now. */
  private readonly partitionSeries = new Map<string, Map<string, Set<number>>>();

  readonly inputRows: Counter<'query'>;
  readonly processedRows: Counter<'query'>;
  readonly sourceInputRows: Counter<'query' | 'source'>;
  readonly sourceMalformedRows: Counter<'query' | 'source'>;
  readonly batches: Counter<'query'>;
  readonly batchDuration: Histogram<'query'>;
  readonly endToEndLatency: Histogram<'query'>;
  readonly watermarkLag: Gauge<'query'>;
  readonly stateRows: Gauge<'query' | 'operator'>;
  readonly stateMemory: Gauge<'query' | 'operator'>;
  readonly statePartitionProcessing: Gauge<'query' | 'operator' | 'partition'>;
  readonly statePartitionInputRows: Gauge<'query' | 'operator' | 'partition'>;
  readonly statePartitionRows: Gauge<'query' | 'operator' | 'partition'>;
  readonly sourceLag: Gauge<'query' | 'source'>;
  readonly sinkRows: Counter<'query' | 'sink'>;
  readonly failures: Counter<'query'>;
  readonly queryActive: Gauge<'query'>;
  readonly alertsFired: Counter<'rule' | 'severity'>;
  readonly alertsResolved: Counter<'rule' | 'severity'>;
  readonly alertsFiring: Gauge<'rule' | 'severity'>;
  readonly notifications: Counter<'webhook' | 'result'>;
  readonly notificationsDropped: Counter<'webhook'>;
  readonly sseClients: Gauge;
  readonly sseDropped: Counter;
  readonly dashboardRows: Gauge<'dashboard'>;

  constructor(private readonly options: ServiceMetricsOptions) {
    const r = [this.registry];
    if (options.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry });
      // prom-client also exports these totals as gauges named `_total`, which Prometheus reserves
      // for counters (`promtool check metrics` rejects them). The same figures remain, per type, in
      // nodejs_active_handles / _requests / _resources: the total is `sum(nodejs_active_handles)`.
      for (const name of MISNAMED_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    }
    const counter = <L extends string>(c: CounterConfiguration<L>) => new Counter<L>({ ...c, registers: r });
    this.inputRows = counter({
      name: 'millrace_query_input_rows_total',
      help: 'Records the sources delivered to committed batches, malformed records included',
      labelNames: ['query'],
    });
    this.processedRows = counter({
      name: 'millrace_query_processed_rows_total',
      help: 'Rows that went through the query plan in committed batches (input rows minus malformed records)',
      labelNames: ['query'],
    });
    this.sourceInputRows = counter({
      name: 'millrace_source_input_rows_total',
      help: 'Rows read from one source in committed batches',
      labelNames: ['query', 'source'],
    });
    this.sourceMalformedRows = counter({
      name: 'millrace_source_malformed_rows_total',
      help: 'Malformed records a source dropped or dead-lettered in committed batches',
      labelNames: ['query', 'source'],
    });
    this.batches = counter({
      name: 'millrace_query_batches_total',
      help: 'Committed micro-batches (no-data batches included)',
      labelNames: ['query'],
    });
    this.batchDuration = new Histogram({
      name: 'millrace_query_batch_duration_seconds',
      help: 'Time a micro-batch took from its trigger to its commit (progress batchDuration)',
      labelNames: ['query'],
      buckets: DURATION_BUCKETS,
      registers: r,
    });
    this.endToEndLatency = new Histogram({
      name: 'millrace_query_end_to_end_latency_seconds',
      help:
        'Per batch with input rows: from the trigger start (all of its rows were available then) to the moment the ' +
        'sink write and commit were done; excludes time rows waited in the source before the trigger',
      labelNames: ['query'],
      buckets: DURATION_BUCKETS,
      registers: r,
    });
    const watermarks = this.watermarks;
    const clock = options.clock;
    this.watermarkLag = new Gauge({
      name: 'millrace_query_watermark_lag_seconds',
      help: 'Now minus the query watermark, at scrape time (queries that have a watermark)',
      labelNames: ['query'],
      registers: r,
      collect() {
        this.reset();
        const now = clock.now();
        for (const [q, wm] of watermarks) this.set({ query: q }, Math.max(0, (now - wm) / 1000));
      },
    });
    this.stateRows = new Gauge({
      name: 'millrace_state_rows',
      help: 'Rows (keys) held in state by a stateful operator, after the last batch',
      labelNames: ['query', 'operator'],
      registers: r,
    });
    this.stateMemory = new Gauge({
      name: 'millrace_state_memory_bytes',
      help: 'Memory (in-memory store) or disk (LMDB store) used by an operator state, after the last batch',
      labelNames: ['query', 'operator'],
      registers: r,
    });
    // One series per state partition (operators with more than one): at most the partition count
    // (≤ 1,024) per operator, removed when the operator no longer reports them.
    const partitionLabels = ['query', 'operator', 'partition'] as const;
    this.statePartitionProcessing = new Gauge({
      name: 'millrace_state_partition_processing_seconds',
      help:
        "Time one state partition's operator spent on the last batch (operators with more than one " +
        'partition; the slowest partition beside the others shows skew)',
      labelNames: partitionLabels,
      registers: r,
    });
    this.statePartitionInputRows = new Gauge({
      name: 'millrace_state_partition_input_rows',
      help: "Rows one state partition's operator got in the last batch (operators with more than one partition)",
      labelNames: partitionLabels,
      registers: r,
    });
    this.statePartitionRows = new Gauge({
      name: 'millrace_state_partition_rows',
      help: 'Rows (keys) one state partition holds after the last batch (operators with more than one partition)',
      labelNames: partitionLabels,
      registers: r,
    });
    this.sourceLag = new Gauge({
      name: 'millrace_source_lag',
      help: 'Latest available offset minus the last batch end offset, in the source offset units, for sources that report it',
      labelNames: ['query', 'source'],
      registers: r,
    });
    this.sinkRows = counter({
      name: 'millrace_sink_rows_total',
      help: 'Rows the sink wrote in committed batches (a skipped replay writes 0)',
      labelNames: ['query', 'sink'],
    });
    this.failures = counter({
      name: 'millrace_query_failures_total',
      help: 'Query runs that ended with a failure',
      labelNames: ['query'],
    });
    const active = this.activeQueries;
    this.queryActive = new Gauge({
      name: 'millrace_query_active',
      help: '1 while the query runs, 0 once it stopped or failed',
      labelNames: ['query'],
      registers: r,
      collect() {
        this.reset();
        for (const [q, v] of active) this.set({ query: q }, v);
      },
    });
    this.alertsFired = counter({
      name: 'millrace_alerts_fired_total',
      help: 'Alert firings (one per rule and label set each time it starts firing)',
      labelNames: ['rule', 'severity'],
    });
    this.alertsResolved = counter({
      name: 'millrace_alerts_resolved_total',
      help: 'Alerts that stopped firing',
      labelNames: ['rule', 'severity'],
    });
    this.alertsFiring = new Gauge({
      name: 'millrace_alerts_firing',
      help: 'Alert instances firing now',
      labelNames: ['rule', 'severity'],
      registers: r,
    });
    this.notifications = counter({
      name: 'millrace_alert_notifications_total',
      help: 'Webhook notifications by outcome: sent, failed (gave up after retries), retried (one per retry)',
      labelNames: ['webhook', 'result'],
    });
    this.notificationsDropped = counter({
      name: 'millrace_alert_notifications_dropped_total',
      help: 'Webhook notifications dropped because the queue was full (oldest first)',
      labelNames: ['webhook'],
    });
    this.sseClients = new Gauge({
      name: 'millrace_sse_clients',
      help: 'Connected clients of /api/v1/events',
      registers: r,
    });
    this.sseDropped = new Counter({
      name: 'millrace_sse_dropped_clients_total',
      help: 'Event-stream clients disconnected because they did not keep up',
      registers: r,
    });
    this.dashboardRows = new Gauge({
      name: 'millrace_dashboard_rows',
      help: 'Rows (table) or points (time series) a dashboard holds',
      labelNames: ['dashboard'],
      registers: r,
    });
  }

  private label(v: string): string {
    return this.options.redactor.text(v);
  }

  queryStarted(name: string): void {
    this.activeQueries.set(this.label(name), 1);
  }

  /** A batch committed; `p` is redacted already. */
  progress(p: StreamingQueryProgress): void {
    const query = this.label(p.name);
    const malformed = p.sources.reduce((a, s) => a + (s.numMalformedRows || 0), 0);
    this.inputRows.inc({ query }, p.numInputRows + malformed);
    this.processedRows.inc({ query }, p.numInputRows);
    this.batches.inc({ query });
    this.batchDuration.observe({ query }, p.batchDuration / 1000);
    if (p.numInputRows > 0) {
      const start = Date.parse(p.timestamp);
      if (Number.isFinite(start)) {
        this.endToEndLatency.observe({ query }, Math.max(0, this.options.clock.now() - start) / 1000);
      }
    }
    const wm = Date.parse(p.eventTime?.watermark ?? '');
    if (wm > 0) this.watermarks.set(query, wm);
    for (const s of p.sources) {
      const source = this.label(s.name);
      if (s.numInputRows) this.sourceInputRows.inc({ query, source }, s.numInputRows);
      else this.sourceInputRows.inc({ query, source }, 0);
      if (s.numMalformedRows) this.sourceMalformedRows.inc({ query, source }, s.numMalformedRows);
      const lag = lagOf(s);
      if (lag !== null) this.sourceLag.set({ query, source }, lag);
    }
    for (const o of p.stateOperators) {
      const operator = this.label(o.operatorName);
      this.stateRows.set({ query, operator }, o.numRowsTotal);
      this.stateMemory.set({ query, operator }, o.memoryUsedBytes);
    }
    this.partitionProgress(query, p.stateOperators);
    const sink = this.label(sinkName(p.sink.description));
    this.sinkRows.inc({ query, sink }, p.sink.numOutputRows);
  }

  /**
   * Per-partition gauges of the operators that have more than one partition. Series of partitions
   * (or operators) a query no longer reports are removed, so each operator keeps at most its
   * partition count of series.
   */
  private partitionProgress(query: string, operators: StreamingQueryProgress['stateOperators']): void {
    const before = this.partitionSeries.get(query);
    const now = new Map<string, Set<number>>();
    for (const o of operators) {
      if (!o.partitions) continue;
      const operator = this.label(o.operatorName);
      const seen = now.get(operator) ?? new Set<number>();
      now.set(operator, seen);
      for (const t of o.partitions.tasks) {
        const ok = Number.isInteger(t.partition) && t.partition >= 0 && t.partition < MAX_PARTITION_SERIES;
        if (!ok) continue;
        const labels = { query, operator, partition: String(t.partition) };
        this.statePartitionProcessing.set(labels, t.processingMs / 1000);
        this.statePartitionInputRows.set(labels, t.numInputRows);
        this.statePartitionRows.set(labels, t.numRowsTotal);
        seen.add(t.partition);
      }
    }
    for (const [operator, partitions] of before ?? []) {
      for (const partition of partitions) {
        if (now.get(operator)?.has(partition)) continue;
        const labels = { query, operator, partition: String(partition) };
        this.statePartitionProcessing.remove(labels);
        this.statePartitionInputRows.remove(labels);
        this.statePartitionRows.remove(labels);
      }
    }
    if (now.size > 0) this.partitionSeries.set(query, now);
    else this.partitionSeries.delete(query);
  }

  queryTerminated(name: string, failed: boolean): void {
    const query = this.label(name);
    this.activeQueries.set(query, 0);
    if (failed) this.failures.inc({ query });
    else this.failures.inc({ query }, 0);
  }

  /** Forget a query's series (it was dropped from the registry). */
  async queryForgotten(name: string): Promise<void> {
    const query = this.label(name);
    this.activeQueries.delete(query);
    this.watermarks.delete(query);
    this.partitionSeries.delete(query);
    const metrics = [
      this.inputRows,
      this.processedRows,
      this.batches,
      this.batchDuration,
      this.endToEndLatency,
      this.failures,
      this.sourceInputRows,
      this.sourceMalformedRows,
      this.stateRows,
      this.stateMemory,
      this.statePartitionProcessing,
      this.statePartitionInputRows,
      this.statePartitionRows,
      this.sourceLag,
      this.sinkRows,
    ] as unknown as {
      get(): Promise<{ values: { labels: Record<string, string | number> }[] }>;
      remove(labels: Record<string, string | number>): void;
    }[];
    for (const m of metrics) {
      const seen = new Set<string>();
      for (const v of (await m.get()).values) {
        if (v.labels.query !== query) continue;
        // A histogram lists each bucket; remove by the labels without `le`.
        const { le: _le, ...labels } = v.labels;
        const key = JSON.stringify(labels);
        if (seen.has(key)) continue;
        seen.add(key);
        m.remove(labels);
      }
    }
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** `MemorySink[results]` → `MemorySink`; a sink's kind makes a stable label without its arguments. */
function sinkName(description: string): string {
  const m = /^([A-Za-z0-9_.-]+)/.exec(description);
  return m ? m[1]! : 'sink';
}
