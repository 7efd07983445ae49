/**
 * What passes between the driver and its worker threads, and between workers: plain data only
 * (structured clones). Closures, UDFs and sources stay where they were made; each worker builds
 * the same plan from the same module (QueryModule) and the driver checks that it did (fingerprint).
 *
 *   driver                                   worker w of W (owns state partitions p ≡ w mod W)
 *     workerData: WorkerInit, peer ports ──►  import module, build plan, open its state provider
 *                                       ◄──  ready {fingerprint} | failed {error}
 *   per batch N:
 *     rows {source, rows}*  (sources read by the driver: w's contiguous slice)
 *     batch {BatchTask}                 ──►  read its splits → pipeline → exchange ⇄ peers
 *                                            → operators on its partitions → output
 *                                       ◄──  output {rows}*  then  done {TaskResult} | failed
 *                                            (a sink with task writers: the task writes its output
 *                                            itself, and TaskResult.sink reports what it wrote)
 *   needs {watermarks, now}             ──►  any of its instances due for a no-data batch?
 *                                       ◄──  needs {value}
 *   close                               ──►  close stores  ◄── closed
 *
 *   worker ⇄ worker (MessagePort per pair): exchange {batchId, exchange, from, parts: {p: rows}}
 *   per input chunk, as the sender reads it, then {…, end: true} when its input is done
 */
import type {
  OutputMode,
  SinkTaskReport,
  SinkWriterRecipe,
  SourceSplit,
} from '../../connectors/contracts.ts';
import type { JsonValue } from '../../connectors/contracts.ts';
import type { Row } from '../../schema/index.ts';
import type { EventTimeStats } from '../../operators/pipeline.ts';
import type { StateStoreRecipe } from '../../state/StateStore.ts';
import type { ErrorDomain } from '../../errors/index.ts';
import type { PartitionStateReport } from '../statefulTasks.ts';
import type { EncodedRows } from './rowCodec.ts';

/** Where a query's plan comes from, so that a worker thread can build it too. */
export interface QueryModule {
  /** A file path or URL of an ES module (TypeScript is fine: workers load it with tsx). */
  readonly module: string;
  /**
   * The export that builds the query, a function `(session, args) => Stream` (or a Promise of
   * one); a dotted path reaches into an exported object (`default.build`). Default `default`.
   */
  readonly export?: string;
  /** Plain data given to that function (the same in the driver's run and every worker's). */
  readonly args?: JsonValue;
}

export interface WorkerInit {
  readonly query: QueryModule;
  readonly queryName: string;
  readonly workerIndex: number;
  readonly workerCount: number;
  readonly numPartitions: number;
  readonly stateStore: StateStoreRecipe;
  readonly stateDir: string;
  readonly outputMode: OutputMode;
  readonly minBatchesToRetain: number;
  /** Operators added to the checkpoint after batch 0, by id: the batch each first ran in. */
  readonly addedAt: Readonly<Record<string, number>>;
  /** The sink's task writer (SinkTasks): each task writes its output itself; absent: output goes to the driver. */
  readonly sinkWriter?: SinkWriterRecipe;
}

/** One source's part of a batch: the splits the source planned (task w reads splits[w]), or none: the driver sends rows. */
export interface SourceRange {
  readonly name: string;
  readonly splits?: readonly SourceSplit[];
}

/** What a task read of one source with readSplit. */
export interface SplitReport {
  readonly rows: number;
  readonly malformedRows: number;
  /** The summary's numeric metrics (the driver adds them up over tasks). */
  readonly metrics: Record<string, number>;
}

export interface BatchTask {
  readonly batchId: number;
  readonly timestampMs: number;
  readonly watermarkMs: number;
  readonly previousWatermarkMs: number;
  /** Sources with new data in this batch. */
  readonly sources: readonly SourceRange[];
}

export interface TaskResult {
  readonly eventTime: EventTimeStats[];
  /** What the task read itself, per source name (split sources; the driver counts what it read). */
  readonly read: Record<string, SplitReport>;
  readonly state: PartitionStateReport[];
  /** What the task's sink writer wrote (when the sink has task writers). */
  readonly sink?: SinkTaskReport;
}

export interface SerializedError {
  readonly code: string;
  readonly message: string;
  readonly domain: ErrorDomain;
  readonly retryable: boolean;
  readonly context: Record<string, unknown>;
  readonly stack?: string;
}

export type ToWorker =
  | { readonly type: 'rows'; readonly batchId: number; readonly source: string; readonly rows: Row[] }
  | { readonly type: 'batch'; readonly task: BatchTask }
  | {
      readonly type: 'needs';
      readonly id: number;
      readonly watermarkMs: number;
      readonly lastBatchWatermarkMs: number;
      readonly nowMs: number;
    }
  | { readonly type: 'close' };

export type FromWorker =
  | { readonly type: 'ready'; readonly fingerprint: string }
  | { readonly type: 'output'; readonly batchId: number; readonly rows: EncodedRows }
  | { readonly type: 'done'; readonly batchId: number; readonly result: TaskResult }
  | { readonly type: 'failed'; readonly batchId?: number; readonly error: SerializedError }
  | { readonly type: 'needs'; readonly id: number; readonly value: boolean }
  | { readonly type: 'closed' };

export interface ExchangeMessage {
  readonly batchId: number;
  /** The exchange node's index in the plan (pre-order; the same in every worker). */
  readonly exchange: number;
  readonly from: number;
  /** Rows of the receiver's partitions, by partition (rowCodec.ts): one input chunk's. */
  readonly parts: Record<number, EncodedRows>;
  /** The sender's input for this exchange is done (no parts). */
  readonly end?: boolean;
}

/** Worker w runs the state partitions p with p mod W = w. */
export function ownerOf(partition: number, workerCount: number): number {
  return partition % workerCount;
}
