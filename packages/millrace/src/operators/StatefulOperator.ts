/**
 * What the executor needs from a stateful operator. Operators compute; the
 * executor opens their state store at the batch's version, commits it after
 * the sink wrote the batch, aborts it on failure, and reports their metrics.
 * Operators never touch checkpoints, stops or commits themselves.
 */
import type { OutputMode } from '../connectors/contracts.ts';
import type { Row } from '../schema/index.ts';
import type { StateStore } from '../state/StateStore.ts';

export interface StatefulBatchContext {
  readonly batchId: number;
  /** The watermark this batch runs with (computed after the previous batch): evicts and emits. */
  readonly watermarkMs: number;
  /**
   * The watermark that decides which input rows are late: the previous batch's, for every
   * stateful operator (Spark 3.4+, `spark.sql.streaming.statefulOperator.allowMultiple`, the
   * default). So rows an upstream operator emits in this batch — final because this batch's
   * watermark passed them — are not dropped as late by the next operator.
   */
  readonly lateEventsWatermarkMs: number;
  /** The batch's timestamp (processing time; the same on a replay). */
  readonly batchTimestampMs: number;
  readonly outputMode: OutputMode;
  /** This operator's store, opened at version `batchId`. */
  readonly store: StateStore;
}

/** Filled in by the operator while it runs; reported as `stateOperators[i]` in progress. */
export interface StatefulBatchMetrics {
  /**
   * State rows as the operator counts them (keys with state, open sessions), when that is not
   * the store's entry count (index, timer and counter entries are not rows). Progress shows
   * this as numRowsTotal, else the store's key count.
   */
  numRowsTotal?: number;
  numRowsUpdated: number;
  numRowsRemoved: number;
  numRowsDroppedByWatermark: number;
  readonly custom: Record<string, number>;
}

export function newStatefulMetrics(): StatefulBatchMetrics {
  return { numRowsUpdated: 0, numRowsRemoved: 0, numRowsDroppedByWatermark: 0, custom: {} };
}

export interface StatefulOperator {
  /** Names its state in the checkpoint (`state/<operatorId>/…`) and in progress. */
  readonly operatorId: string;
  /** Consume the batch's input; yield output (usually at the end). */
  run(
    input: AsyncIterable<readonly Row[]>,
    ctx: StatefulBatchContext,
    metrics: StatefulBatchMetrics,
  ): AsyncIterable<Row[]>;
  /**
   * Whether a batch without new data is due: the watermark moved and there is something to emit or evict,
   * or (processing-time timers, TTL) the clock `nowMs` reached something due.
   */
  needsNoDataBatch(
    newWatermarkMs: number,
    lastBatchWatermarkMs: number,
    outputMode: OutputMode,
    nowMs?: number,
  ): boolean;
}
