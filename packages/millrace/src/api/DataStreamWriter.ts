/**
 * Assembles and starts a query: checks the plan against the output mode,
 * sink and sources (failing at start() with a clear message), compiles the
 * physical plan, opens the checkpoint and runs the micro-batch loop.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import type { JsonValue, OutputMode, Sink } from '../connectors/contracts.ts';
import { MillraceError, internalError, userError } from '../errors/index.ts';
import type { LogicalPlan } from '../plan/logical.ts';
import { explainPlans } from '../plan/explain.ts';
import { claimSources } from './sourceClaims.ts';
import { type PhysicalPlan, planPhysical } from '../plan/physical.ts';
import { checkOutputMode, checkSink, checkSourceNames } from '../plan/streamingChecks.ts';
import { MicroBatchExecution } from '../execution/MicroBatchExecution.ts';
import { planFingerprint } from '../plan/fingerprint.ts';
import { Checkpoint } from '../checkpoint/index.ts';
import { StreamingQuery } from '../execution/StreamingQuery.ts';
import { type Trigger, describeTrigger } from '../execution/trigger.ts';
import type { WatermarkPolicy } from '../execution/watermark.ts';
import { type Session, checkPartitions } from './Session.ts';
import type { StateStoreProvider } from '../state/StateStore.ts';
import { memoryStateStore } from '../state/index.ts';

export interface WriteStreamOptions {
  readonly sink: Sink;
  /** Shown in progress, logs and the UI; unique among active queries. Default: `query-<n>`. */
  readonly queryName?: string;
  /**
   * Where offsets, commits and state live. Required for exactly-once across restarts;
   * without it a temporary directory is used and removed when the query stops.
   */
  readonly checkpointLocation?: string;
  readonly trigger?: Trigger;
  /** Default `append`. */
  readonly outputMode?: OutputMode;
  /**
   * How several watermarks combine: `min` (default, safe) or `max`. Fixed when the checkpoint is
   * created: a restart keeps the recorded policy (as Spark), with a warning if asked for another.
   */
  readonly watermarkPolicy?: WatermarkPolicy;
  /**
   * Run batches without new data when the watermark moved and a window is due or state can be
   * evicted (Spark's `spark.sql.streaming.noDataMicroBatches.enabled`). Default true; with false,
   * results and eviction wait for the next batch with data.
   */
  readonly noDataMicroBatches?: boolean;
  /** Progress records kept in memory (`recentProgress`). Default 100. */
  readonly maxRecentProgress?: number;
  /** Offsets/commit entries kept in the checkpoint. Default 100. */
  readonly minBatchesToRetain?: number;
  /** Default trigger: how long to wait before asking idle sources again. Default 10 ms. */
  readonly idlePollMs?: number;
  /** Where stateful operators keep state: `memoryStateStore()` (default) or `lmdbStateStore()` for state larger than memory. */
  readonly stateStore?: StateStoreProvider;
  /**
   * State partitions: each stateful operator's rows are split by key into this many partitions,
   * each with its own state (Spark's `spark.sql.shuffle.partitions`). Fixed when the checkpoint is
   * created; a restart without this option uses the checkpoint's number, one with another number
   * is refused. Default: the session's `shufflePartitions` (1).
   */
  readonly partitions?: number;
  /**
   * Run each batch as tasks on this many worker threads (one process, every core). Each worker
   * builds the query again by importing `module` and calling its export `export` with
   * `session, args`: closures and UDFs cannot cross threads. That function must build the same
   * query as the one started (checked at start), and the module must not start queries itself
   * when imported. Worker w runs the state partitions p with p mod count = w, so set `partitions`
   * to a multiple of `count` (default: `count`).
   */
  readonly workers?: WorkersOption;
}

export interface WorkersOption {
  readonly count: number;
  /** The query's module: a file path or a URL (`import.meta.url` of the module itself). */
  readonly module: string | URL;
  /** The export that builds the query: `(session, args) => Stream`. Default `default`; `a.b` reaches into an object. */
  readonly export?: string;
  /** Plain data (JSON) passed to that function in every worker. */
  readonly args?: JsonValue;
}

/** Most worker threads a query may have. */
const MAX_WORKERS = 256;

let unnamed = 0;

function positiveInteger(name: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= 1)) {
    throw userError('INVALID_OPTIONS', `writeStream: ${name} must be an integer ≥ 1, got ${String(v)}`);
  }
}

/** The workers option checked, its module as a string. */
function checkWorkers(w: WorkersOption): WorkersOption & { readonly module: string } {
  if (!w || typeof w !== 'object') {
    throw userError(
      'INVALID_OPTIONS',
      'writeStream: workers must be an object { count, module, export?, args? }',
    );
  }
  if (!Number.isInteger(w.count) || w.count < 1 || w.count > MAX_WORKERS) {
    throw userError(
      'INVALID_OPTIONS',
      `writeStream: workers.count must be an integer from 1 to ${MAX_WORKERS}, got ${JSON.stringify(w.count)}`,
    );
  }
  const module = w.module instanceof URL ? w.module.href : w.module;
  if (typeof module !== 'string' || module === '') {
    throw userError(
      'INVALID_OPTIONS',
      'writeStream: workers.module must name the module that builds the query (a path, or import.meta.url)',
    );
  }
  if (w.args !== undefined) {
    try {
      structuredClone(w.args);
    } catch {
      throw userError(
        'INVALID_OPTIONS',
        'writeStream: workers.args must be plain data (JSON), it is sent to each worker',
      );
    }
  }
  return { ...w, module };
}

export class DataStreamWriter {
  constructor(
    private readonly session: Session,
    private readonly plan: LogicalPlan,
    private readonly options: WriteStreamOptions,
  ) {}

  explain(): string {
    const workers = this.options?.workers;
    const numPartitions = this.options?.partitions ?? workers?.count ?? this.session.shufflePartitions;
    return this.explainWith(
      planPhysical(this.plan, { numPartitions, distributed: workers !== undefined }).root,
    );
  }

  private explainWith(physical: PhysicalPlan): string {
    return `${explainPlans(this.plan, physical)}\n+- to ${this.options.sink?.describe?.() ?? '?'}`;
  }

  /**
   * Start the query. Resolves once its checkpoint is open and its sources and
   * sink are ready; rejects with a MillraceError for anything wrong in the
   * plan, options or environment. Later failures end the query and surface
   * through `awaitTermination()` and `exception`.
   */
  async start(): Promise<StreamingQuery> {
    const o = this.options;
    if (!o || typeof o !== 'object')
      throw userError('INVALID_OPTIONS', 'writeStream: give an options object with at least { sink }');
    checkSink(o.sink);
    const outputMode = o.outputMode ?? 'append';
    checkOutputMode(this.plan, outputMode, o.sink);
    checkSourceNames(this.plan);
    positiveInteger('minBatchesToRetain', o.minBatchesToRetain);
    positiveInteger('maxRecentProgress', o.maxRecentProgress);
    if (o.idlePollMs !== undefined && !(Number.isFinite(o.idlePollMs) && o.idlePollMs >= 0)) {
      throw userError(
        'INVALID_OPTIONS',
        `writeStream: idlePollMs must be a number of milliseconds ≥ 0, got ${String(o.idlePollMs)}`,
      );
    }
    if (o.watermarkPolicy !== undefined && o.watermarkPolicy !== 'min' && o.watermarkPolicy !== 'max') {
      throw userError(
        'INVALID_OPTIONS',
        `writeStream: watermarkPolicy must be 'min' or 'max', got ${JSON.stringify(o.watermarkPolicy)}`,
      );
    }
    if (o.noDataMicroBatches !== undefined && typeof o.noDataMicroBatches !== 'boolean') {
      throw userError(
        'INVALID_OPTIONS',
        `writeStream: noDataMicroBatches must be true or false, got ${JSON.stringify(o.noDataMicroBatches)}`,
      );
    }
    const name = o.queryName ?? `query-${++unnamed}`;
    if (this.session.streams.active.some((q) => q.name === name)) {
      throw userError(
        'QUERY_NAME_IN_USE',
        `a query named "${name}" is already active; stop it or choose another queryName`,
      );
    }
    const trigger = o.trigger ?? { kind: 'default' };
    const requestedPartitions =
      o.partitions === undefined ? undefined : checkPartitions(o.partitions, 'writeStream: partitions');

    let checkpointLocation = o.checkpointLocation;
    let temporary = false;
    if (!checkpointLocation) {
      checkpointLocation = mkdtempSync(path.join(os.tmpdir(), `millrace-${name.replace(/[^\w-]/g, '_')}-`));
      temporary = true;
      this.session.log.warn(
        'no checkpointLocation: using a temporary one; the query cannot resume after a restart',
        {
          query: name,
          checkpointLocation,
        },
      );
    }

    // The checkpoint's partition count wins over the session's default (Spark: the offset log's
    // spark.sql.shuffle.partitions); an explicit other number is refused when the query opens it.
    const recorded = temporary ? undefined : await Checkpoint.readLayoutAt(checkpointLocation);
    const workers = o.workers === undefined ? undefined : checkWorkers(o.workers);
    const numPartitions =
      requestedPartitions ??
      recorded?.numPartitions ??
      (workers ? workers.count : this.session.shufflePartitions);
    const physical = planPhysical(this.plan, { numPartitions, distributed: workers !== undefined });

    const runId = randomUUID();
    const query = new StreamingQuery(
      name,
      runId,
      o.maxRecentProgress ?? 100,
      this.explainWith(physical.root),
    );
    const manager = this.session.streams;
    let started!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    const execution = new MicroBatchExecution(
      physical,
      o.sink,
      {
        queryName: name,
        runId,
        checkpointLocation,
        trigger,
        outputMode,
        clock: this.session.clock,
        log: this.session.log,
        watermarkPolicy: o.watermarkPolicy ?? 'min',
        noDataMicroBatches: o.noDataMicroBatches ?? true,
        idlePollMs: o.idlePollMs ?? 10,
        minBatchesToRetain: o.minBatchesToRetain ?? 100,
        stateStore: o.stateStore ?? memoryStateStore(),
        ...(workers
          ? {
              workers: {
                count: workers.count,
                query: {
                  module: workers.module,
                  ...(workers.export === undefined ? {} : { export: workers.export }),
                  ...(workers.args === undefined ? {} : { args: workers.args }),
                },
                fingerprint: planFingerprint(physical),
              },
            }
          : {}),
      },
      {
        onStarted: (id) => {
          query.onStarted(id);
          manager.notifyStarted({
            id,
            runId,
            name,
            timestamp: new Date(this.session.clock.now()).toISOString(),
          });
          this.session.log.info('query started', {
            query: name,
            id,
            trigger: describeTrigger(trigger),
            checkpointLocation,
          });
          started();
        },
        onProgress: (p) => {
          query.onProgress(p);
          manager.notifyProgress({ progress: p });
        },
        onStatus: (s) => query.onStatus(s),
        onCheck: () => query.onCheck(),
        onIdle: (n) => query.onIdle(n),
      },
    );
    query.attach(execution);
    const releaseSources = claimSources(physical.sources, name);
    manager.register(query);

    const finished = execution.run().then(
      () => null,
      (e: unknown) =>
        e instanceof MillraceError
          ? e
          : internalError(
              `query "${name}" failed: ${e instanceof Error ? e.message : String(e)}`,
              { query: name },
              e,
            ),
    );
    void finished.then((failure) => {
      releaseSources();
      if (temporary) rmSync(checkpointLocation!, { recursive: true, force: true });
      if (failure)
        this.session.log.error('query failed', { query: name, code: failure.code, error: failure.message });
      else this.session.log.info('query stopped', { query: name });
      query.onTerminated(failure);
      // A query that failed before it started gets no events: start() rejects instead.
      if (query.id) manager.notifyTerminated(query, { id: query.id, runId, name, exception: failure });
      else manager.forget(query);
    });

    // start() resolves when the query is running, and rejects if it could not get there.
    const outcome = await Promise.race([startedP.then(() => null), finished]);
    if (outcome) {
      await query.awaitTermination().catch(() => undefined);
      throw outcome;
    }
    return query;
  }
}
