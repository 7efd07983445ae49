/**
 * The micro-batch loop (docs/architecture.md). The checkpoint protocol, per batch N:
 *
 *   1. latestOffset    ask every source where batch N ends (within its read limit)
 *   2. walCommit       write offsets/N  {end offsets by source name, watermark, batch time}
 *                      ── durable BEFORE anything is processed (write-ahead)
 *   3. getBatch        read (start, end] from each source that moved
 *   4. addBatch        run the plan; sink.addBatch(rows, N) — idempotent per N
 *                      (on workers, a sink with task writers: each task writes its part where
 *                      it runs, then sink.tasks.commitTasks(reports, N) — the commit point)
 *   5. commit          write commits/N {watermark for N+1}
 *   6. commitOffsets   source.commit(end): sources may release data up to N
 *
 *   crash before 2 → batch N never existed; recomputed from scratch
 *   crash in 2..5  → offsets/N without commits/N: on restart batch N re-runs with
 *                    exactly the recorded offsets, watermark and timestamp; the sink
 *                    sees batch id N again and skips or overwrites it
 *   crash after 5  → N is done; 6 is repeated by the next commit (commits are cumulative)
 *
 * Recovery is the pure decision in checkpoint/recovery.ts. The loop itself
 * reads like the algorithm; per-batch mutable state lives in one BatchRun.
 */
import type {
  Offset,
  ReadLimit,
  Sink,
  SinkWriteResult,
  ChunkedBatch,
  Source,
  SourceBatch,
} from '../connectors/contracts.ts';
import { MillraceError, internalError, userError } from '../errors/index.ts';
import type { Row } from '../schema/index.ts';
import {
  Checkpoint,
  type OffsetEntry,
  type RecoveryDecision,
  type StateLayout,
  addedAt,
  checkLayout,
  decideRecovery,
  mergeLayout,
} from '../checkpoint/index.ts';
import { type EventTimeStats, newEventTimeStats } from '../operators/pipeline.ts';
import type { PhysicalPlan, PhysicalQuery } from '../plan/physical.ts';
import type { StateStoreProvider } from '../state/StateStore.ts';
import { type PartitionStateReport, StatefulTasks, stateDirOf, stateProgressOf } from './statefulTasks.ts';
import { WorkerPool } from './workers/WorkerPool.ts';
import { PARTITIONER } from '../plan/partitioning.ts';
import type { QueryModule, SourceRange, TaskResult } from './workers/protocol.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { canonicalJson } from '../util/json.ts';
import { formatTimestampIso } from '../expr/temporal.ts';
import type { OutputMode } from '../connectors/contracts.ts';
import {
  type StateOperatorProgress,
  type StreamingQueryProgress,
  type StreamingQueryStatus,
  type SourceProgress,
  rate,
} from './progress.ts';
import { type Chunks, collectChunks, runPlan } from './runPlan.ts';
import { type Trigger, nextTriggerTime } from './trigger.ts';
import { type WatermarkPolicy, WatermarkTracker } from './watermark.ts';
import { WaitingBoard, withWaiting } from './waiting.ts';

export interface ExecutionOptions {
  readonly queryName: string;
  readonly runId: string;
  readonly checkpointLocation: string;
  readonly trigger: Trigger;
  readonly outputMode: OutputMode;
  readonly clock: Clock;
  readonly log: Logger;
  readonly watermarkPolicy: WatermarkPolicy;
  /**
   * Spark's `spark.sql.streaming.noDataMicroBatches.enabled`: run a batch without new data when the
   * watermark moved and a stateful operator has windows to emit or state to evict. Off: batches
   * run only for new data, and state is evicted only then.
   */
  readonly noDataMicroBatches: boolean;
  /** How long the default trigger sleeps when no source has new data. */
  readonly idlePollMs: number;
  /** Offsets/commit log entries and state versions kept (Spark's minBatchesToRetain). */
  readonly minBatchesToRetain: number;
  /** Where stateful operators keep their state. */
  readonly stateStore: StateStoreProvider;
  /** Run batches as tasks on worker threads (the plan was made with `distributed: true`). */
  readonly workers?: WorkersSetup;
}

export interface WorkersSetup {
  readonly count: number;
  /** Where workers get the query's plan from. */
  readonly query: QueryModule;
  /** The plan's fingerprint (plan/fingerprint.ts): each worker's must equal it. */
  readonly fingerprint: string;
}

export interface ExecutionHooks {
  onStarted(queryId: string): void;
  onProgress(p: StreamingQueryProgress): void;
  onStatus(s: StreamingQueryStatus): void;
  /** A check of the sources begins; returns its sequence number. */
  onCheck(): number;
  /** Check number `check` found no new data (processAllAvailable waits for it). */
  onIdle(check: number): void;
}

type Offsets = Record<string, Offset | null>;

/** Everything one batch accumulates, in one place. */
interface BatchRun {
  readonly batchId: number;
  readonly start: Readonly<Offsets>;
  readonly end: Readonly<Offsets>;
  readonly timestampMs: number;
  readonly watermarkMs: number;
  /** The watermark the previous batch ran with: what decides lateness (Spark 3.4+). */
  readonly previousWatermarkMs: number;
  readonly triggerStartMs: number;
  readonly durations: Record<string, number>;
  readonly sourceBatches: Map<string, SourceBatch<Row>>;
  readonly rowCounts: Map<string, number>;
  readonly eventTime: EventTimeStats[];
  numOutputRows: number;
  sinkMetrics: Record<string, number | string>;
  /** A batch with no new offsets, run because the watermark moved (Spark's no-data batch). */
  readonly isNoDataBatch: boolean;
  stateProgress: StateOperatorProgress[];
}

const everyPartition = (): boolean => true;

export class MicroBatchExecution {
  private checkpoint: Checkpoint | undefined;
  /** Runs the stateful operators' partitions (opened with the checkpoint). */
  private tasks!: StatefulTasks;
  /** The worker threads that run the batches' tasks, when the query runs on workers. */
  private pool: WorkerPool | undefined;
  private committed: Offsets = {};
  private nextBatchId = 0;
  private watermark: WatermarkTracker;
  private readonly stopController = new AbortController();
  private abandon = false;
  private lastTriggerStartMs: number | undefined;
  /** The watermark the last batch ran with (no-data batches run when the current one is past it). */
  private lastBatchWatermarkMs = 0;
  private opened: { sources: Source<any>[]; sink: boolean } = { sources: [], sink: false };
  /** What the connectors report waiting for; folded into every status published. */
  private readonly waiting: WaitingBoard;
  private baseStatus: StreamingQueryStatus = {
    message: 'Initializing',
    isDataAvailable: false,
    isTriggerActive: false,
  };

  constructor(
    private readonly plan: PhysicalQuery,
    private readonly sink: Sink,
    private readonly options: ExecutionOptions,
    private readonly hooks: ExecutionHooks,
  ) {
    this.watermark = new WatermarkTracker(plan.watermarks, options.watermarkPolicy);
    this.waiting = new WaitingBoard(
      () => options.clock.now(),
      () => this.publishStatus(),
    );

    this.scanCounts = countScans(plan.root);
  }

  /** How many times the plan reads each source (more than once: a self-union). */
  private readonly scanCounts: Map<Source<any>, number>;

  get queryId(): string {
    return this.checkpoint?.metadata.id ?? '';
  }

  /** Ask the loop to end. `abandon`: do not wait for the batch in flight to commit. */
  requestStop(abandon: boolean): void {
    this.abandon ||= abandon;
    this.stopController.abort();
  }

  private get stopping(): boolean {
    return this.stopController.signal.aborted;
  }

  /** Runs until stopped, finished (once / availableNow) or failed (throws). Always cleans up. */
  async run(): Promise<void> {
    try {
      this.status('Initializing sources', false, false);
      await this.open();
      // Decide recovery before reporting "started": a checkpoint that does not fit fails start().
      const decision = await this.decideRecovery();
      this.hooks.onStarted(this.queryId);
      const replayed = await this.recover(decision);
      // Spark: Trigger.once after a crash only re-runs the batch that was in flight.
      if (replayed && this.options.trigger.kind === 'once') return;
      await this.loop();
    } finally {
      await this.cleanup();
      this.status('Stopped', false, false);
    }
  }

  private async open(): Promise<void> {
    const { options } = this;
    this.checkpoint = await Checkpoint.open(options.checkpointLocation, { queryName: options.queryName });
    const layout = await this.checkStateLayout(this.checkpoint);
    this.tasks = new StatefulTasks({
      addedAt: addedAt(layout),
      plan: this.plan,
      stateStore: options.stateStore,
      stateDir: stateDirOf(this.checkpoint.dir),
      outputMode: options.outputMode,
      minBatchesToRetain: options.minBatchesToRetain,
    });
    if (options.workers) this.pool = await this.startWorkers(options.workers, this.checkpoint, layout);
    const base = {
      queryId: this.checkpoint.metadata.id,
      queryName: options.queryName,
      clock: options.clock,
      log: options.log,
    };
    for (const source of this.plan.sources) {
      const stateDir = await this.checkpoint.sourceDir(source.name);
      await this.guard(
        () =>
          source.open({ ...base, stateDir, reportWaiting: this.waiting.reporter(`source "${source.name}"`) }),
        'SOURCE_FAILED',
        `source "${source.name}" failed to open`,
        {
          source: source.name,
        },
      );
      this.opened.sources.push(source);
    }
    const stateDir = await this.checkpoint.sinkDir(this.sink.name);
    const schema = this.plan.root.schema;
    await this.guard(
      () =>
        this.sink.open({
          ...base,
          stateDir,
          schema,
          outputMode: options.outputMode,
          reportWaiting: this.waiting.reporter(`sink "${this.sink.name}"`),
        }),
      'SINK_FAILED',
      `sink "${this.sink.name}" failed to open`,
      { sink: this.sink.name },
    );
    this.opened.sink = true;
    if (options.trigger.kind === 'availableNow') {
      for (const source of this.plan.sources) {
        if (!source.prepareForAvailableNow) {
          throw userError(
            'TRIGGER_NOT_SUPPORTED',
            `source "${source.name}" (${source.describe()}) cannot run with Trigger.availableNow(); use Trigger.once() or another trigger`,
          );
        }
        await source.prepareForAvailableNow();
      }
    }
  }

  /**
   * Refuse a checkpoint whose state this plan would misread (another partition count, operators
   * added, removed, reordered or changed: checkpoint/layout.ts), before anything runs; record the
   * layout in a new checkpoint. One written before layouts were recorded has one partition.
   */
  private async checkStateLayout(cp: Checkpoint): Promise<StateLayout> {
    const current: StateLayout = {
      numPartitions: this.plan.numPartitions,
      partitioner: PARTITIONER,
      operators: this.plan.statefulOperators.map((o) => o.stateInfo),
    };
    let recorded = await cp.readLayout();
    if (recorded === undefined && (await cp.readState()).lastOffsets !== null) {
      recorded = { numPartitions: 1, operators: current.operators };
    }
    if (recorded !== undefined) {
      const mismatch = checkLayout(recorded, current, cp.dir);
      if (mismatch) throw mismatch.withContext({ query: this.options.queryName });
    }
    // Operators added now start with empty state at the next batch (the one after the last commit).
    const state = await cp.readState();
    const layout = mergeLayout(
      recorded,
      current,
      state.lastCommit === null ? 0 : state.lastCommit.batchId + 1,
    );
    if (recorded === undefined || canonicalJson(recorded as never) !== canonicalJson(layout as never)) {
      await cp.writeLayout(layout);
    }
    return layout;
  }

  /** Start the worker threads; each builds the plan from the query's module, as this one. */
  private async startWorkers(
    workers: WorkersSetup,
    cp: Checkpoint,
    layout: StateLayout,
  ): Promise<WorkerPool> {
    const { stateStore, outputMode, minBatchesToRetain, queryName } = this.options;
    if (!stateStore.recipe) {
      throw userError(
        'WORKERS_UNSUPPORTED',
        `query "${queryName}" cannot run on workers: its state store (${stateStore.kind}) cannot be made again in a worker thread; use memoryStateStore() or lmdbStateStore()`,
      );
    }
    return WorkerPool.start({
      count: workers.count,
      fingerprint: workers.fingerprint,
      outputSchema: this.plan.root.schema,
      init: {
        query: workers.query,
        queryName,
        numPartitions: this.plan.numPartitions,
        stateStore: stateStore.recipe,
        stateDir: stateDirOf(cp.dir),
        outputMode,
        minBatchesToRetain,
        addedAt: addedAt(layout),
        ...(this.sink.tasks ? { sinkWriter: this.sink.tasks.writer } : {}),
      },
    });
  }

  /** Read the checkpoint and decide how to go on; refuses checkpoints that do not fit this query. */
  private async decideRecovery(): Promise<RecoveryDecision> {
    const cp = this.checkpoint!;
    const decision = decideRecovery(await cp.readState(), cp.dir);
    const names = new Set(this.plan.sources.map((s) => s.name));
    const checkKnown = (offsets: Readonly<Record<string, Offset>>) => {
      for (const name of Object.keys(offsets)) {
        if (!names.has(name)) {
          throw userError(
            'CHECKPOINT_MISMATCH',
            `the checkpoint ${cp.dir} has offsets for a source named "${name}", which this query does not have ` +
              `(it has: ${[...names].join(', ')}); keep source names stable across restarts, or use a new checkpointLocation`,
          );
        }
      }
    };
    if (decision.kind === 'resume') checkKnown(decision.startOffsets);
    if (decision.kind === 'replay') checkKnown(decision.entry.offsets);
    return decision;
  }

  /**
   * The multiple-watermark policy is the checkpoint's, as in Spark (its offset log's conf): a
   * restart asking for another one keeps the recorded one, so results do not change mid-stream.
   */
  private keepRecordedPolicy(recorded: WatermarkPolicy | undefined): void {
    if (recorded === undefined || recorded === this.watermark.policy) return;
    this.options.log.warn('keeping the checkpoint’s watermarkPolicy', {
      query: this.options.queryName,
      recorded,
      asked: this.watermark.policy,
      hint: 'the policy is fixed when a checkpoint is created; start a new checkpointLocation to change it',
    });
    this.watermark = new WatermarkTracker(this.plan.watermarks, recorded);
  }

  /** Apply the decision: resume after the last commit, or re-run the uncommitted batch. Returns whether it re-ran one. */
  private async recover(decision: RecoveryDecision): Promise<boolean> {
    switch (decision.kind) {
      case 'fresh':
        this.nextBatchId = 0;
        this.committed = {};
        return false;
      case 'resume':
        this.nextBatchId = decision.nextBatchId;
        this.committed = { ...decision.startOffsets };
        this.keepRecordedPolicy(decision.watermarkPolicy);
        this.watermark.restore(decision.watermarkMs);
        this.lastBatchWatermarkMs = decision.lastBatchWatermarkMs;
        this.options.log.info('resuming query', {
          query: this.options.queryName,
          batch: decision.nextBatchId,
        });
        return false;
      case 'replay': {
        const start: Offsets = { ...(decision.startOffsets ?? {}) };
        this.keepRecordedPolicy(decision.entry.watermarkPolicy);
        this.watermark.restore(decision.entry.batchWatermarkMs);
        this.lastBatchWatermarkMs = decision.previousBatchWatermarkMs;
        this.options.log.info('re-running uncommitted batch', {
          query: this.options.queryName,
          batch: decision.batchId,
        });
        await this.runBatch({
          ...this.newRun(decision.batchId, start, { ...decision.entry.offsets }, this.options.clock.now()),
          timestampMs: decision.entry.batchTimestampMs,
          watermarkMs: decision.entry.batchWatermarkMs,
        });
        return true;
      }
    }
  }

  private async loop(): Promise<void> {
    const { trigger, clock } = this.options;
    const limit: ReadLimit = trigger.kind === 'once' ? { kind: 'all' } : { kind: 'default' };
    while (!this.stopping) {
      const triggerStart = clock.now();
      const check = this.hooks.onCheck();
      const ran = await this.tryBatch(limit, triggerStart);
      if (this.stopping) break;
      if (trigger.kind === 'once') break;
      if (!ran) {
        this.hooks.onIdle(check);
        if (trigger.kind === 'availableNow') break;
      }
      if (trigger.kind === 'processingTime') {
        this.status(ran ? 'Waiting for next trigger' : 'Waiting for data to arrive', false, false);
        // From the trigger's start: a batch that overran its interval is followed at once (Spark).
        await clock.sleepUntil(nextTriggerTime(triggerStart, trigger.intervalMs), this.stopController.signal);
      } else if (!ran) {
        this.status('Waiting for data to arrive', false, false);
        await sleep(this.options.idlePollMs, this.stopController.signal);
      }
    }
  }

  /** Plan batch N (steps 1–2) if any source has new data, then run it. Returns whether a batch ran. */
  private async tryBatch(limit: ReadLimit, triggerStartMs: number): Promise<boolean> {
    this.status('Getting offsets from sources', false, true);
    const t0 = performance.now();
    const end: Offsets = {};
    let hasData = false;
    for (const source of this.plan.sources) {
      const start = this.committed[source.name] ?? null;
      const latest = await this.guard(
        () => source.latestOffset(start, limit),
        'SOURCE_FAILED',
        `source "${source.name}" failed to report its latest offset`,
        { source: source.name },
      );
      end[source.name] = latest ?? start;
      if (latest !== null && canonicalJson(latest) !== canonicalJson(start)) hasData = true;
    }
    const latestOffsetMs = performance.now() - t0;
    const noDataBatch = !hasData && (await this.needsNoDataBatch());
    if (!hasData && !noDataBatch) {
      this.status('Waiting for data to arrive', false, false);
      return false;
    }
    const run = {
      ...this.newRun(
        this.nextBatchId,
        { ...this.committed },
        noDataBatch ? { ...this.committed } : end,
        triggerStartMs,
      ),
      isNoDataBatch: noDataBatch,
    };
    run.durations.latestOffset = latestOffsetMs;

    const t1 = performance.now();
    await this.checkpoint!.writeOffsets(run.batchId, this.offsetEntry(run));
    run.durations.walCommit = performance.now() - t1;
    await this.runBatch(run);
    return true;
  }

  /** Spark's shouldRunAnotherBatch: a stateful operator has groups to emit or evict at the new watermark. */
  private async needsNoDataBatch(): Promise<boolean> {
    if (this.options.trigger.kind === 'once' || !this.options.noDataMicroBatches) return false;
    if (this.pool) {
      return this.pool.needsNoDataBatch(
        this.watermark.current,
        this.lastBatchWatermarkMs,
        this.options.clock.now(),
      );
    }
    return this.tasks.needsNoDataBatch(
      this.watermark.current,
      this.lastBatchWatermarkMs,
      this.options.clock.now(),
      everyPartition,
    );
  }

  private newRun(batchId: number, start: Offsets, end: Offsets, triggerStartMs: number): BatchRun {
    return {
      batchId,
      start,
      end,
      timestampMs: this.options.clock.now(),
      watermarkMs: this.watermark.current,
      previousWatermarkMs: this.lastBatchWatermarkMs,
      triggerStartMs,
      durations: {},
      sourceBatches: new Map(),
      rowCounts: new Map(),
      eventTime: this.plan.watermarks.map(() => newEventTimeStats()),
      numOutputRows: 0,
      sinkMetrics: {},
      isNoDataBatch: false,
      stateProgress: [],
    };
  }

  private offsetEntry(run: BatchRun): OffsetEntry {
    const offsets: Record<string, Offset> = {};
    for (const [name, o] of Object.entries(run.end)) if (o !== null) offsets[name] = o;
    return {
      batchWatermarkMs: run.watermarkMs,
      batchTimestampMs: run.timestampMs,
      watermarks: this.watermark.slots,
      watermarkPolicy: this.watermark.policy,
      offsets,
    };
  }

  /** Steps 3–6 for a batch whose offsets are already in the log; state not committed is aborted. */
  private async runBatch(run: BatchRun): Promise<void> {
    try {
      await this.runBatchSteps(run);
    } finally {
      this.tasks?.abort();
    }
  }

  private async runBatchSteps(run: BatchRun): Promise<void> {
    // current_timestamp() is the batch's timestamp (the recorded one on a replay).
    this.plan.batchTime.ms = run.timestampMs;
    const { batchId } = run;
    const ctx = { query: this.options.queryName, batch: batchId };
    this.status('Processing new data', true, true);

    // Static tables of stream–table joins: loaded at the first batch, refreshed when due (by each
    // worker for itself when the plan runs on workers).
    for (const table of this.pool ? [] : this.plan.lookupTables) {
      await this.guard(
        () => table.prepare(run.timestampMs, this.options.clock, this.options.log),
        'TABLE_LOAD_FAILED',
        `table "${table.source.name}" could not be loaded`,
        { ...ctx, table: table.source.name },
      );
    }

    // 3. getBatch: sources with chunked reads are read lazily, as the plan pulls (step 4). On
    // workers: a source that splits is read by the workers, any other here, whole.
    let t = performance.now();
    const scans = new Map<Source<any>, () => Chunks>();
    const rowCounts = new Map<string, number>();
    const ranges: SourceRange[] = [];
    const driverRows = new Map<string, readonly Row[]>();
    /** Sources read in splits by the workers: what their plans reported. */
    const planMetrics = new Map<string, Record<string, number | string>>();
    for (const source of this.plan.sources) {
      const start = run.start[source.name] ?? null;
      const end = run.end[source.name] ?? null;
      if (end === null || canonicalJson(start) === canonicalJson(end)) continue;
      const sctx = { ...ctx, source: source.name };
      rowCounts.set(source.name, 0);
      if (this.pool) {
        if (source.planSplits && source.readSplit) {
          const count = this.pool.size;
          const planned = await this.guard(
            () => source.planSplits!(start, end, count, { batchId }),
            'SOURCE_FAILED',
            `source "${source.name}" failed to plan the splits of batch ${batchId}`,
            sctx,
          );
          if (!Array.isArray(planned?.splits) || planned.splits.length > count) {
            throw internalError(
              `source "${source.name}" planned ${String(planned?.splits?.length)} splits for ${count} tasks`,
              sctx,
            );
          }
          planMetrics.set(source.name, planned.metrics ?? {});
          ranges.push({ name: source.name, splits: planned.splits });
        } else {
          ranges.push({ name: source.name });
          const rows: Row[] = [];
          for await (const c of this.readWhole(source, start, end, run, rowCounts, sctx)) rows.push(...c);
          driverRows.set(source.name, rows);
        }
      } else if (source.getBatchChunks) {
        const read = () => this.readWhole(source, start, end, run, rowCounts, sctx);
        // A source scanned more than once (a self-union) is read once and its chunks replayed.
        scans.set(source, (this.scanCounts.get(source) ?? 0) > 1 ? replayable(read) : read);
      } else {
        const batch = await this.guard(
          () => source.getBatch(start, end, { batchId }),
          'SOURCE_FAILED',
          `source "${source.name}" failed to read batch ${batchId}`,
          sctx,
        );
        run.sourceBatches.set(source.name, batch);
        rowCounts.set(source.name, batch.rows.length);
        scans.set(source, () => oneChunk(batch.rows));
      }
    }
    run.durations.getBatch = performance.now() - t;
    if (this.stopping && this.abandon) return;

    // 4. addBatch: run the plan chunk by chunk into the sink
    t = performance.now();
    const batch = {
      batchId,
      watermarkMs: run.watermarkMs,
      previousWatermarkMs: run.previousWatermarkMs,
      timestampMs: run.timestampMs,
    };
    let output: Chunks;
    /** The workers' task results, when the sink's tasks write the output where they run. */
    let taskResults: Promise<TaskResult[]> | undefined;
    /** Step 5's state commit: the stores here, or what the workers committed at the end of their tasks. */
    let commitState: () => Promise<PartitionStateReport[]>;
    if (this.pool) {
      const pool = this.pool.runBatch({ ...batch, sources: ranges }, driverRows);
      output = pool.output;
      if (this.sink.tasks) taskResults = pool.results;
      commitState = async () => {
        const results = await pool.results;
        for (const r of results) mergeEventTime(run.eventTime, r.eventTime);
        for (const [name, metrics] of planMetrics) {
          // Counters add up over the tasks; what only the plan knows (lag) is the plan's.
          const summed: Record<string, number | string> = {};
          let rows = 0;
          let malformedRows = 0;
          for (const r of results) {
            const read = r.read[name];
            if (!read) continue;
            rows += read.rows;
            malformedRows += read.malformedRows;
            for (const [k, v] of Object.entries(read.metrics)) summed[k] = ((summed[k] as number) ?? 0) + v;
          }
          rowCounts.set(name, rows);
          run.sourceBatches.set(name, { rows: [], malformedRows, metrics: { ...summed, ...metrics } });
        }
        for (const [name, n] of rowCounts) run.rowCounts.set(name, n);
        return results.flatMap((r) => r.state);
      };
    } else {
      this.tasks.begin(batch);
      output = runPlan(this.plan.root, {
        scan: (s) => scans.get(s)?.() ?? oneChunk([]),
        eventTime: run.eventTime,
        stateful: (op, partition, input) => this.tasks.run(op, partition, input),
        partial: (op, input) => this.tasks.partial(op, input),
      });
      commitState = () => this.tasks.commit(everyPartition);
    }
    let produced = 0;
    const counted = this.abandonable(output, (n) => (produced += n));
    const info = { batchId, outputMode: this.options.outputMode };
    let result: SinkWriteResult | void;
    try {
      result = await this.guard(
        async () => {
          if (taskResults) {
            // The tasks wrote their parts (nothing reaches this thread): complete the batch.
            for await (const _ of counted);
            const reports = (await taskResults).map((r) => r.sink!);
            return this.sink.tasks!.commitTasks(reports, info);
          }
          if (this.sink.addBatchChunks) return this.sink.addBatchChunks(counted, info);
          return this.sink.addBatch(await collectChunks(counted), info);
        },
        'SINK_FAILED',
        `sink "${this.sink.name}" failed to write batch ${batchId}`,
        { ...ctx, sink: this.sink.name },
      );
    } catch (e) {
      if (e instanceof MillraceError && e.code === ABANDONED) return;
      throw e;
    }
    run.durations.addBatch = performance.now() - t;
    run.numOutputRows = result?.rowsWritten ?? produced;
    run.sinkMetrics = { ...(result?.metrics ?? {}) };
    for (const [name, n] of rowCounts) run.rowCounts.set(name, n);
    if (this.stopping && this.abandon) return;

    // 5. commit: state versions N+1, then commits/N
    t = performance.now();
    const reports = await this.guard(commitState, 'STATE_FAILED', 'the state could not be committed', ctx);
    run.stateProgress.push(...stateProgressOf(this.plan, reports));
    this.lastBatchWatermarkMs = run.watermarkMs;
    this.watermark.update(run.eventTime);
    await this.checkpoint!.writeCommit(batchId, {
      nextBatchWatermarkMs: this.watermark.current,
      watermarks: this.watermark.slots,
    });
    this.committed = { ...run.end };
    this.nextBatchId = batchId + 1;

    // 6. release source data up to this batch
    for (const source of this.plan.sources) {
      const end = run.end[source.name];
      if (end === null || end === undefined) continue;
      await this.guard(
        () => source.commit(end),
        'SOURCE_FAILED',
        `source "${source.name}" failed to commit`,
        {
          ...ctx,
          source: source.name,
        },
      );
    }
    if (batchId % 10 === 0) await this.checkpoint!.purge(this.options.minBatchesToRetain);
    run.durations.commitOffsets = performance.now() - t;
    this.reportProgress(run);
  }

  /** A source's rows of this batch, in chunks however it reads them (counted, failures attributed). */
  private readWhole(
    source: Source<any>,
    start: Offset | null,
    end: Offset,
    run: BatchRun,
    rowCounts: Map<string, number>,
    context: Record<string, unknown>,
  ): Chunks {
    const { batchId } = run;
    if (source.getBatchChunks) {
      return this.countedChunks(
        source,
        () => source.getBatchChunks!(start, end, { batchId }),
        rowCounts,
        context,
        (summary) => run.sourceBatches.set(source.name, { rows: [], ...summary }),
      );
    }
    const read = () =>
      this.guard(
        () => source.getBatch(start, end, { batchId }),
        'SOURCE_FAILED',
        `source "${source.name}" failed to read batch ${batchId}`,
        context,
      );
    return (async function* () {
      const batch = await read();
      run.sourceBatches.set(source.name, batch);
      rowCounts.set(source.name, batch.rows.length);
      yield batch.rows;
    })();
  }

  /** A source's chunks, counted, with failures attributed to the source. */
  private async *countedChunks(
    source: Source<any>,
    open: () => ChunkedBatch<Row>,
    counts: Map<string, number>,
    context: Record<string, unknown>,
    onSummary: (summary: Omit<SourceBatch<Row>, 'rows'>) => void,
  ): Chunks {
    let it: AsyncIterator<Row[]>;
    let batch: ChunkedBatch<Row>;
    try {
      batch = open();
      it = batch[Symbol.asyncIterator]();
    } catch (e) {
      throw this.sourceFailure(source, e, context);
    }
    while (true) {
      let next: IteratorResult<Row[]>;
      try {
        next = await it.next();
      } catch (e) {
        throw this.sourceFailure(source, e, context);
      }
      if (next.done) {
        // What getBatch would have reported besides rows (malformed records, lag, …).
        if (typeof batch.summary === 'function') {
          try {
            onSummary(batch.summary());
          } catch (e) {
            throw this.sourceFailure(source, e, context);
          }
        }
        return;
      }
      counts.set(source.name, (counts.get(source.name) ?? 0) + next.value.length);
      yield next.value;
    }
  }

  private sourceFailure(source: Source<any>, e: unknown, context: Record<string, unknown>): MillraceError {
    return this.failure(e, 'SOURCE_FAILED', `source "${source.name}" failed to read`, context);
  }

  /** Pass chunks through, counting rows; stop the batch between chunks when asked to abandon it. */
  private async *abandonable(chunks: Chunks, count: (n: number) => void): Chunks {
    for await (const c of chunks) {
      if (this.stopping && this.abandon) {
        throw new MillraceError(ABANDONED, 'batch abandoned by stop()', { domain: 'internal' });
      }
      count(c.length);
      yield c;
    }
  }

  private reportProgress(run: BatchRun): void {
    const triggerExecution = Object.entries(run.durations)
      .filter(([k]) => ['latestOffset', 'walCommit', 'getBatch', 'addBatch', 'commitOffsets'].includes(k))
      .reduce((a, [, v]) => a + v, 0);
    const sinceLast =
      this.lastTriggerStartMs === undefined ? 0 : run.triggerStartMs - this.lastTriggerStartMs;
    this.lastTriggerStartMs = run.triggerStartMs;
    const sources: SourceProgress[] = this.plan.sources.map((s) => {
      const b = run.sourceBatches.get(s.name);
      const n = run.rowCounts.get(s.name) ?? 0;
      return {
        description: s.describe(),
        name: s.name,
        startOffset: run.start[s.name] ?? null,
        endOffset: run.end[s.name] ?? null,
        latestOffset: s.reportLatestOffset?.() ?? run.end[s.name] ?? null,
        numInputRows: n,
        inputRowsPerSecond: rate(n, sinceLast),
        processedRowsPerSecond: rate(n, triggerExecution),
        numMalformedRows: b?.malformedRows ?? 0,
        metrics: b?.metrics ?? {},
      };
    });
    const numInputRows = sources.reduce((a, s) => a + s.numInputRows, 0);
    const stats = run.eventTime.filter((s) => s.count > 0);
    const eventTime =
      stats.length === 0
        ? { watermark: formatTimestampIso(run.watermarkMs) }
        : {
            min: formatTimestampIso(Math.min(...stats.map((s) => s.min))),
            max: formatTimestampIso(Math.max(...stats.map((s) => s.max))),
            avg: formatTimestampIso(
              Math.round(stats.reduce((a, s) => a + s.sum, 0) / stats.reduce((a, s) => a + s.count, 0)),
            ),
            watermark: formatTimestampIso(run.watermarkMs),
          };
    const round = (x: number) => Math.round(x * 1000) / 1000;
    this.hooks.onProgress({
      id: this.queryId,
      runId: this.options.runId,
      name: this.options.queryName,
      timestamp: new Date(run.triggerStartMs).toISOString(),
      batchId: run.batchId,
      batchDuration: Math.round(triggerExecution),
      numInputRows,
      inputRowsPerSecond: rate(numInputRows, sinceLast),
      processedRowsPerSecond: rate(numInputRows, triggerExecution),
      durationMs: {
        ...Object.fromEntries(Object.entries(run.durations).map(([k, v]) => [k, round(v)])),
        triggerExecution: round(triggerExecution),
        queryPlanning: 0,
      },
      eventTime,
      stateOperators: run.stateProgress,
      sources,
      sink: { description: this.sink.describe(), numOutputRows: run.numOutputRows, metrics: run.sinkMetrics },
      isNoDataBatch: run.isNoDataBatch,
    });
  }

  private status(message: string, isDataAvailable: boolean, isTriggerActive: boolean): void {
    this.baseStatus = { message, isDataAvailable, isTriggerActive };
    this.publishStatus();
  }

  private publishStatus(): void {
    this.hooks.onStatus(withWaiting(this.baseStatus, this.waiting.list()));
  }

  /** Run a connector call; wrap anything it throws with where it happened. */
  private async guard<T>(
    fn: () => Promise<T>,
    code: string,
    what: string,
    context: Record<string, unknown>,
  ): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw this.failure(e, code, what, context);
    }
  }

  /** Anything a connector or store threw, as a MillraceError saying where (its own error keeps its code). */
  private failure(e: unknown, code: string, what: string, context: Record<string, unknown>): MillraceError {
    const where = { query: this.options.queryName, ...context };
    if (e instanceof MillraceError) return e.withContext(where);
    return new MillraceError(code, `${what}: ${e instanceof Error ? e.message : String(e)}`, {
      domain: 'external',
      retryable: false,
      context: where,
      cause: e,
    });
  }

  private async cleanup(): Promise<void> {
    this.waiting.close();
    const errors: unknown[] = [];
    for (const s of this.opened.sources) {
      try {
        await s.close();
      } catch (e) {
        errors.push(e);
      }
    }
    if (this.opened.sink) {
      try {
        await this.sink.close();
      } catch (e) {
        errors.push(e);
      }
    }
    try {
      await this.pool?.close();
      await this.options.stateStore.close();
    } catch (e) {
      errors.push(e);
    }
    await this.checkpoint?.release();
    for (const e of errors) this.options.log.warn('error while closing a connector', { error: String(e) });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Internal code used to unwind a batch abandoned by stop({ abandonCurrentBatch: true }). */
const ABANDONED = 'BATCH_ABANDONED';
async function* oneChunk(rows: readonly Row[]): Chunks {
  if (rows.length > 0) yield rows;
}

/** Chunks read once (on first use) and replayed to every later reader. */
function replayable(read: () => Chunks): () => Chunks {
  let cached: Promise<(readonly Row[])[]> | undefined;
  return () =>
    (async function* () {
      cached ??= (async () => {
        const all: (readonly Row[])[] = [];
        for await (const c of read()) all.push(c);
        return all;
      })();
      yield* await cached;
    })();
}

/** Fold a task's event-time statistics into the batch's (per watermark slot). */
function mergeEventTime(into: EventTimeStats[], from: readonly EventTimeStats[]): void {
  from.forEach((s, i) => {
    const t = into[i]!;
    if (s.max > t.max) t.max = s.max;
    if (s.min < t.min) t.min = s.min;
    t.sum += s.sum;
    t.count += s.count;
  });
}

function countScans(node: PhysicalPlan, out = new Map<Source<any>, number>()): Map<Source<any>, number> {
  if (node.kind === 'scan') out.set(node.source, (out.get(node.source) ?? 0) + 1);
  else if (node.kind === 'union') for (const i of node.inputs) countScans(i, out);
  else if (node.kind === 'exchange') countScans(node.input, out);
  else if (node.kind === 'join') {
    countScans(node.left, out);
    countScans(node.right, out);
  } else countScans(node.input, out);
  return out;
}
