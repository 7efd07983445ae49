/**
 * Progress records, shaped like Spark's StreamingQueryProgress so dashboards
 * and habits carry over. One is made after every batch.
 */
import type { Offset } from '../connectors/contracts.ts';

export interface SourceProgress {
  readonly description: string;
  readonly name: string;
  readonly startOffset: Offset | null;
  readonly endOffset: Offset | null;
  readonly latestOffset: Offset | null;
  readonly numInputRows: number;
  readonly inputRowsPerSecond: number;
  readonly processedRowsPerSecond: number;
  readonly numMalformedRows: number;
  readonly metrics: Readonly<Record<string, number | string>>;
}

export interface SinkProgress {
  readonly description: string;
  readonly numOutputRows: number;
  readonly metrics: Readonly<Record<string, number | string>>;
}

/** Filled by stateful operators (aggregations, joins, dedup). */
export interface StateOperatorProgress {
  readonly operatorName: string;
  readonly numRowsTotal: number;
  readonly numRowsUpdated: number;
  readonly numRowsRemoved: number;
  readonly numRowsDroppedByWatermark: number;
  readonly memoryUsedBytes: number;
  readonly commitTimeMs: number;
  readonly customMetrics: Readonly<Record<string, number>>;
  /** With more than one state partition: each partition's share, and the slowest (skew). */
  readonly partitions?: StatePartitionsProgress;
}

export interface StatePartitionsProgress {
  readonly numPartitions: number;
  /** The partition that took longest, and how long; beside the median, it shows skew. */
  readonly slowestPartition: number;
  readonly slowestMs: number;
  readonly medianMs: number;
  readonly tasks: readonly {
    readonly partition: number;
    readonly numInputRows: number;
    readonly numRowsTotal: number;
    /** Time the partition's operator spent on this batch (ms). */
    readonly processingMs: number;
    readonly commitTimeMs: number;
  }[];
}

export interface EventTimeProgress {
  readonly min?: string;
  readonly max?: string;
  readonly avg?: string;
  readonly watermark: string;
}

export interface StreamingQueryProgress {
  readonly id: string;
  readonly runId: string;
  readonly name: string;
  /** ISO time the trigger started. */
  readonly timestamp: string;
  readonly batchId: number;
  readonly batchDuration: number;
  readonly numInputRows: number;
  readonly inputRowsPerSecond: number;
  readonly processedRowsPerSecond: number;
  readonly durationMs: Readonly<Record<string, number>>;
  readonly eventTime: EventTimeProgress;
  readonly stateOperators: readonly StateOperatorProgress[];
  readonly sources: readonly SourceProgress[];
  readonly sink: SinkProgress;
  /** Whether this was a no-data batch run to move the watermark along. */
  readonly isNoDataBatch: boolean;
}

export interface StreamingQueryStatus {
  readonly message: string;
  readonly isDataAvailable: boolean;
  readonly isTriggerActive: boolean;
  /**
   * Services the query's connectors are waiting for (they retry or reconnect with backoff), in the
   * order they began waiting; absent when none. `message` then says the same in words.
   */
  readonly waitingFor?: readonly WaitingFor[];
}

export interface WaitingFor {
  /** `source "orders"` or `sink "out"`. */
  readonly connector: string;
  /** What it waits for, as the connector put it: `RabbitMQ at amqp://mq:5672: connection refused`. */
  readonly what: string;
  /** ISO time it began waiting. */
  readonly since: string;
}

/** Rows per second, 0 when no time passed (Spark reports 0.0, never NaN). */
export function rate(rows: number, ms: number): number {
  return ms > 0 ? (rows * 1000) / ms : 0;
}
