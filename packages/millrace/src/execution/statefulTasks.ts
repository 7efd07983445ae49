/**
 * The stateful part of a task: running operator instances on their state partitions for one
 * batch, and committing their stores. Used the same way by the inline runner (every partition, in
 * the driver's thread) and by a worker thread (the partitions it owns):
 *
 *   begin(batch N)
 *   run(op, p, input) ─► store (op.operatorId, p) opened at version N on first pull ─► op.run(…)
 *   commit(owned)     ─► every owned (op, p) committed to N+1, also those never pulled (their
 *                        state carries over); what each did, as a PartitionStateReport
 *   abort()           ─► stores not committed are discarded
 *
 * Nothing here knows about checkpoints' logs, sinks or sources: the driver orders the steps.
 */
import * as path from 'node:path';
import { MillraceError } from '../errors/index.ts';
import type { OutputMode } from '../connectors/contracts.ts';
import type { PhysicalQuery } from '../plan/physical.ts';
import {
  type StatefulBatchMetrics,
  type StatefulOperator,
  newStatefulMetrics,
} from '../operators/StatefulOperator.ts';
import type { StateStore, StateStoreProvider } from '../state/StateStore.ts';
import type { StreamingAggregate } from '../operators/aggregate/StreamingAggregate.ts';
import type { StateOperatorProgress } from './progress.ts';
import type { Chunks } from './runPlan.ts';

/** The batch a task runs: plain data (it crosses to worker threads). */
export interface StatefulBatch {
  readonly batchId: number;
  /** The watermark this batch evicts and emits by. */
  readonly watermarkMs: number;
  /** The previous batch's: what decides lateness. */
  readonly previousWatermarkMs: number;
  readonly timestampMs: number;
}

/** What one operator instance did in a batch on one partition (plain data): its progress figures, and more. */
export interface PartitionStateReport extends Omit<StateOperatorProgress, 'operatorName' | 'partitions'> {
  readonly operatorId: string;
  readonly partition: number;
  readonly numInputRows: number;
  /** Time the instance spent on the batch (its own work, not what consumed its output). */
  readonly processingMs: number;
}

interface OpenStore {
  readonly store: StateStore;
  readonly metrics: StatefulBatchMetrics;
  readonly partition: number;
  committed: boolean;
  numInputRows: number;
  processingMs: number;
}

export interface StatefulTasksOptions {
  readonly plan: PhysicalQuery;
  readonly stateStore: StateStoreProvider;
  /** `<checkpoint>/state`. */
  readonly stateDir: string;
  readonly outputMode: OutputMode;
  /** State versions kept (Spark's minBatchesToRetain). */
  readonly minBatchesToRetain: number;
  /**
   * Operators added to a running query's checkpoint, by id: the batch they first ran in. Their
   * stores count versions from there (checkpoint/layout.ts, `since`).
   */
  readonly addedAt?: Readonly<Record<string, number>>;
}

export class StatefulTasks {
  private batch: StatefulBatch | undefined;
  private readonly open = new Map<StatefulOperator, OpenStore>();
  /** What partial aggregation did in this task, by operator id. */
  private readonly partialMetrics = new Map<string, StatefulBatchMetrics>();

  constructor(private readonly options: StatefulTasksOptions) {}

  begin(batch: StatefulBatch): void {
    this.abort();
    this.batch = batch;
  }

  /** The instance for partition `partition` over its input, its store opened at this batch's version. */
  async *run(op: StatefulOperator, partition: number, input: Chunks): Chunks {
    const batch = this.current();
    const store = await this.openStore(op, partition, batch.batchId);
    const entry: OpenStore = {
      store,
      metrics: newStatefulMetrics(),
      partition,
      committed: false,
      numInputRows: 0,
      processingMs: 0,
    };
    this.open.set(op, entry);
    const delay = this.options.plan.watermarkDelays.get(op.operatorId) ?? 0;
    // Time waiting for input (rows still being read or exchanged) is not this partition's work.
    let waiting = 0;
    const output = op.run(
      timedInput(
        input,
        (n) => (entry.numInputRows += n),
        (ms) => (waiting += ms),
      ),
      {
        batchId: batch.batchId,
        watermarkMs: batch.watermarkMs - delay,
        lateEventsWatermarkMs: batch.previousWatermarkMs - delay,
        batchTimestampMs: batch.timestampMs,
        outputMode: this.options.outputMode,
        store,
      },
      entry.metrics,
    );
    // Timed by hand, not yield*: what consumes the output between chunks is not this partition's time.
    const it = output[Symbol.asyncIterator]();
    try {
      while (true) {
        const t = performance.now();
        waiting = 0;
        const next = await it.next();
        entry.processingMs += performance.now() - t - waiting;
        if (next.done) return;
        yield next.value;
      }
    } finally {
      await it.return?.();
    }
  }

  /**
   * An aggregation's partial groups of this task's rows (before its exchange; late groups included:
   * the partitions drop and count them). Its metrics are reported with the operator's first
   * partition this task commits (progress sums them).
   */
  partial(op: StreamingAggregate, input: Chunks): Chunks {
    this.current();
    const metrics = newStatefulMetrics();
    this.partialMetrics.set(op.operatorId, metrics);
    return op.partial(input, metrics);
  }

  /**
   * Commit the stores of every operator's partitions that `owns` (version N+1), opening those this
   * batch never pulled (their state carries over), and delete versions no longer needed.
   */
  async commit(owns: (partition: number) => boolean): Promise<PartitionStateReport[]> {
    const batch = this.current();
    const reports: PartitionStateReport[] = [];
    for (const { operatorId, partitions } of this.options.plan.statefulOperators) {
      let dropped = this.partialMetrics.get(operatorId)?.numRowsDroppedByWatermark ?? 0;
      for (let p = 0; p < partitions.length; p++) {
        if (!owns(p)) continue;
        const op = partitions[p]!;
        let entry = this.open.get(op);
        if (!entry) {
          entry = {
            store: await this.openStore(op, p, batch.batchId),
            metrics: newStatefulMetrics(),
            partition: p,
            committed: false,
            numInputRows: 0,
            processingMs: 0,
          };
          this.open.set(op, entry);
        }
        const { store, metrics } = entry;
        try {
          await store.commit();
        } catch (e) {
          throw stateFailure(e, `the state of operator ${operatorId} partition ${p} could not be committed`, {
            batch: batch.batchId,
            operator: operatorId,
            partition: p,
          });
        }
        entry.committed = true;
        const m = store.metrics();
        reports.push({
          operatorId,
          partition: p,
          numRowsTotal: metrics.numRowsTotal ?? m.numKeys,
          numRowsUpdated: metrics.numRowsUpdated,
          numRowsRemoved: metrics.numRowsRemoved,
          numRowsDroppedByWatermark: metrics.numRowsDroppedByWatermark + dropped,
          memoryUsedBytes: m.memoryUsedBytes,
          commitTimeMs: m.commitTimeMs,
          customMetrics: { ...m.custom, ...metrics.custom },
          numInputRows: entry.numInputRows,
          processingMs: entry.processingMs,
        });
        dropped = 0;
        if (batch.batchId % 10 === 0) {
          const minVersionToKeep =
            this.versionOf(operatorId, batch.batchId) + 1 - this.options.minBatchesToRetain;
          if (minVersionToKeep > 0) {
            await this.options.stateStore.cleanup({
              stateDir: this.options.stateDir,
              operatorId,
              partition: p,
              minVersionToKeep,
            });
          }
        }
      }
    }
    this.open.clear();
    this.partialMetrics.clear();
    this.batch = undefined;
    return reports;
  }

  /** Discard what this batch changed in stores not committed. */
  abort(): void {
    for (const s of this.open.values()) if (!s.committed) s.store.abort();
    this.open.clear();
    this.partialMetrics.clear();
    this.batch = undefined;
  }

  /** Spark's shouldRunAnotherBatch for the instances of the partitions `owns`. */
  needsNoDataBatch(
    watermarkMs: number,
    lastBatchWatermarkMs: number,
    nowMs: number,
    owns: (partition: number) => boolean,
  ): boolean {
    const { plan, outputMode } = this.options;
    return plan.statefulOperators.some(({ operatorId, partitions }) => {
      const delay = plan.watermarkDelays.get(operatorId) ?? 0;
      return partitions.some(
        (op, p) =>
          owns(p) &&
          op.needsNoDataBatch(watermarkMs - delay, lastBatchWatermarkMs - delay, outputMode, nowMs),
      );
    });
  }

  private current(): StatefulBatch {
    if (!this.batch)
      throw new MillraceError('INTERNAL', 'a stateful task ran outside a batch', { domain: 'internal' });
    return this.batch;
  }

  /** The store version that holds an operator's state before batch `batchId`. */
  private versionOf(operatorId: string, batchId: number): number {
    return batchId - (this.options.addedAt?.[operatorId] ?? 0);
  }

  private async openStore(op: StatefulOperator, partition: number, batchId: number): Promise<StateStore> {
    const version = this.versionOf(op.operatorId, batchId);
    try {
      return await this.options.stateStore.open({
        stateDir: this.options.stateDir,
        operatorId: op.operatorId,
        partition,
        version,
      });
    } catch (e) {
      throw stateFailure(
        e,
        `the state of operator ${op.operatorId} partition ${partition} could not be loaded at version ${version}`,
        { batch: batchId, operator: op.operatorId, partition },
      );
    }
  }
}

/** `<checkpoint>/state`. */
export function stateDirOf(checkpointDir: string): string {
  return path.join(checkpointDir, 'state');
}

function stateFailure(e: unknown, what: string, context: Record<string, unknown>): MillraceError {
  if (e instanceof MillraceError) return e.withContext(context);
  return new MillraceError('STATE_FAILED', `${what}: ${e instanceof Error ? e.message : String(e)}`, {
    domain: 'external',
    context,
    cause: e,
  });
}

/** Chunks passed through, their rows counted and the time spent waiting for each measured. */
async function* timedInput(chunks: Chunks, count: (n: number) => void, waited: (ms: number) => void): Chunks {
  const it = chunks[Symbol.asyncIterator]();
  try {
    while (true) {
      const t = performance.now();
      const next = await it.next();
      waited(performance.now() - t);
      if (next.done) return;
      count(next.value.length);
      yield next.value;
    }
  } finally {
    await it.return?.();
  }
}

/**
 * One operator's progress from its partitions' reports: their figures summed (Spark sums a
 * stateful operator over its tasks too), and with more than one partition each partition's rows
 * and time, and the slowest (skew: one partition holding most keys makes the batch wait for it).
 */
export function stateOperatorProgress(
  operatorName: string,
  parts: readonly PartitionStateReport[],
): StateOperatorProgress {
  const sum = (f: (x: PartitionStateReport) => number) => parts.reduce((a, x) => a + f(x), 0);
  const customMetrics: Record<string, number> = {};
  for (const x of parts) {
    for (const [k, v] of Object.entries(x.customMetrics)) customMetrics[k] = (customMetrics[k] ?? 0) + v;
  }
  const progress: StateOperatorProgress = {
    operatorName,
    numRowsTotal: sum((x) => x.numRowsTotal),
    numRowsUpdated: sum((x) => x.numRowsUpdated),
    numRowsRemoved: sum((x) => x.numRowsRemoved),
    numRowsDroppedByWatermark: sum((x) => x.numRowsDroppedByWatermark),
    memoryUsedBytes: sum((x) => x.memoryUsedBytes),
    commitTimeMs: sum((x) => x.commitTimeMs),
    customMetrics,
  };
  if (parts.length <= 1) return progress;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const tasks = [...parts]
    .sort((a, b) => a.partition - b.partition)
    .map((x) => ({
      partition: x.partition,
      numInputRows: x.numInputRows,
      numRowsTotal: x.numRowsTotal,
      processingMs: round(x.processingMs),
      commitTimeMs: round(x.commitTimeMs),
    }));
  const slowest = tasks.reduce((a, t) => (t.processingMs > a.processingMs ? t : a), tasks[0]!);
  const ms = tasks.map((t) => t.processingMs).sort((a, b) => a - b);
  return {
    ...progress,
    partitions: {
      numPartitions: parts.length,
      slowestPartition: slowest.partition,
      slowestMs: slowest.processingMs,
      medianMs: ms[Math.floor(ms.length / 2)]!,
      tasks,
    },
  };
}

/** Progress of every stateful operator of the plan, in plan order, from all partitions' reports. */
export function stateProgressOf(
  plan: PhysicalQuery,
  reports: readonly PartitionStateReport[],
): StateOperatorProgress[] {
  return plan.statefulOperators.map(({ operatorId }) =>
    stateOperatorProgress(
      operatorId,
      reports.filter((r) => r.operatorId === operatorId),
    ),
  );
}
