/**
 * A query's progress history: the last `capacity` batches as a compact summary,
 * in a ring of Float64Array columns (≈ 8 bytes × 23 columns per batch, so the
 * default 10,000 batches take ~1.8 MB per query whatever the progress records
 * hold). Full progress records are kept separately, and only the most recent ones.
 *
 *   slots:  [ 7 | 8 | 9 | 3 | 4 | 5 | 6 ]     head = 3 (next write), size = 7
 *             newest ─┘     └─ oldest
 *
 * Batch ids only grow within one query id (a restart resumes after the last
 * commit), so a page `since` a batch id is a binary search.
 */
import type { StreamingQueryProgress } from 'millrace';
import { sourceLag } from './lag.ts';

/** One batch, as the API returns it. */
export interface HistoryEntry {
  readonly batchId: number;
  /** When the batch's trigger started (ISO). */
  readonly timestamp: string;
  readonly batchDuration: number;
  readonly numInputRows: number;
  readonly inputRowsPerSecond: number;
  readonly processedRowsPerSecond: number;
  readonly numOutputRows: number;
  readonly durationMs: {
    readonly latestOffset: number;
    readonly walCommit: number;
    readonly getBatch: number;
    readonly addBatch: number;
    readonly commitOffsets: number;
    readonly triggerExecution: number;
  };
  readonly watermark: string | null;
  readonly eventTimeMin: string | null;
  readonly eventTimeMax: string | null;
  readonly stateRowsTotal: number;
  readonly stateRowsUpdated: number;
  readonly stateRowsRemoved: number;
  readonly stateRowsDroppedByWatermark: number;
  readonly stateMemoryBytes: number;
  /** Σ over sources of latest − end offset, where sources report comparable numeric offsets. */
  readonly sourceLag: number | null;
  readonly isNoDataBatch: boolean;
}

const COLUMNS = [
  'batchId',
  'timestamp',
  'batchDuration',
  'numInputRows',
  'inputRowsPerSecond',
  'processedRowsPerSecond',
  'numOutputRows',
  'latestOffset',
  'walCommit',
  'getBatch',
  'addBatch',
  'commitOffsets',
  'triggerExecution',
  'watermark',
  'eventTimeMin',
  'eventTimeMax',
  'stateRowsTotal',
  'stateRowsUpdated',
  'stateRowsRemoved',
  'stateRowsDroppedByWatermark',
  'stateMemoryBytes',
  'sourceLag',
  'isNoDataBatch',
] as const;
type Column = (typeof COLUMNS)[number];

export interface HistoryPage {
  readonly entries: HistoryEntry[];
  /** More entries exist after the last one returned. */
  readonly hasMore: boolean;
  readonly oldestBatchId: number | null;
  readonly newestBatchId: number | null;
}

function isoOrNull(ms: number): string | null {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

function ms(iso: string | undefined): number {
  if (iso === undefined) return NaN;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : NaN;
}

export class ProgressHistory {
  private readonly cols: Record<Column, Float64Array>;
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.cols = Object.fromEntries(COLUMNS.map((c) => [c, new Float64Array(capacity)])) as Record<
      Column,
      Float64Array
    >;
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held by the columns (fixed at construction). */
  get bytes(): number {
    return COLUMNS.length * 8 * this.capacity;
  }

  add(p: StreamingQueryProgress): void {
    let rowsTotal = 0;
    let rowsUpdated = 0;
    let rowsRemoved = 0;
    let rowsDropped = 0;
    let memory = 0;
    for (const o of p.stateOperators ?? []) {
      rowsTotal += o.numRowsTotal || 0;
      rowsUpdated += o.numRowsUpdated || 0;
      rowsRemoved += o.numRowsRemoved || 0;
      rowsDropped += o.numRowsDroppedByWatermark || 0;
      memory += o.memoryUsedBytes || 0;
    }
    const d = p.durationMs ?? {};
    const wm = ms(p.eventTime?.watermark);
    const lag = sourceLag(p.sources ?? []);
    const i = this.head;
    const c = this.cols;
    c.batchId[i] = p.batchId;
    c.timestamp[i] = ms(p.timestamp);
    c.batchDuration[i] = p.batchDuration;
    c.numInputRows[i] = p.numInputRows;
    c.inputRowsPerSecond[i] = p.inputRowsPerSecond;
    c.processedRowsPerSecond[i] = p.processedRowsPerSecond;
    c.numOutputRows[i] = p.sink?.numOutputRows ?? 0;
    c.latestOffset[i] = d.latestOffset ?? 0;
    c.walCommit[i] = d.walCommit ?? 0;
    c.getBatch[i] = d.getBatch ?? 0;
    c.addBatch[i] = d.addBatch ?? 0;
    c.commitOffsets[i] = d.commitOffsets ?? 0;
    c.triggerExecution[i] = d.triggerExecution ?? p.batchDuration;
    // Epoch 0 is "no watermark yet" (the engine starts every watermark there).
    c.watermark[i] = wm > 0 ? wm : NaN;
    c.eventTimeMin[i] = ms(p.eventTime?.min);
    c.eventTimeMax[i] = ms(p.eventTime?.max);
    c.stateRowsTotal[i] = rowsTotal;
    c.stateRowsUpdated[i] = rowsUpdated;
    c.stateRowsRemoved[i] = rowsRemoved;
    c.stateRowsDroppedByWatermark[i] = rowsDropped;
    c.stateMemoryBytes[i] = memory;
    c.sourceLag[i] = lag ?? NaN;
    c.isNoDataBatch[i] = p.isNoDataBatch ? 1 : 0;
    this.head = (this.head + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** The slot of the k-th oldest entry. */
  private slot(k: number): number {
    return (this.head - this.count + k + this.capacity) % this.capacity;
  }

  private entry(k: number): HistoryEntry {
    const i = this.slot(k);
    const c = this.cols;
    const num = (col: Column) => c[col][i]!;
    const lag = num('sourceLag');
    return {
      batchId: num('batchId'),
      timestamp: isoOrNull(num('timestamp')) ?? new Date(0).toISOString(),
      batchDuration: num('batchDuration'),
      numInputRows: num('numInputRows'),
      inputRowsPerSecond: num('inputRowsPerSecond'),
      processedRowsPerSecond: num('processedRowsPerSecond'),
      numOutputRows: num('numOutputRows'),
      durationMs: {
        latestOffset: num('latestOffset'),
        walCommit: num('walCommit'),
        getBatch: num('getBatch'),
        addBatch: num('addBatch'),
        commitOffsets: num('commitOffsets'),
        triggerExecution: num('triggerExecution'),
      },
      watermark: isoOrNull(num('watermark')),
      eventTimeMin: isoOrNull(num('eventTimeMin')),
      eventTimeMax: isoOrNull(num('eventTimeMax')),
      stateRowsTotal: num('stateRowsTotal'),
      stateRowsUpdated: num('stateRowsUpdated'),
      stateRowsRemoved: num('stateRowsRemoved'),
      stateRowsDroppedByWatermark: num('stateRowsDroppedByWatermark'),
      stateMemoryBytes: num('stateMemoryBytes'),
      sourceLag: Number.isFinite(lag) ? lag : null,
      isNoDataBatch: num('isNoDataBatch') === 1,
    };
  }

  /** The newest entry, or null. */
  latest(): HistoryEntry | null {
    return this.count === 0 ? null : this.entry(this.count - 1);
  }

  /** Index (0 = oldest) of the first entry with batchId > since. */
  private firstAfter(since: number): number {
    let lo = 0;
    let hi = this.count;
    const ids = this.cols.batchId;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ids[this.slot(mid)]! > since) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /**
   * Entries oldest first: with `since`, those with batchId > since (up to `limit`);
   * without it, the newest `limit`.
   */
  page(options: { since?: number; limit: number }): HistoryPage {
    const limit = Math.max(0, options.limit);
    const start =
      options.since === undefined ? Math.max(0, this.count - limit) : this.firstAfter(options.since);
    const end = Math.min(this.count, start + limit);
    const entries: HistoryEntry[] = [];
    for (let k = start; k < end; k++) entries.push(this.entry(k));
    return {
      entries,
      hasMore: end < this.count,
      oldestBatchId: this.count === 0 ? null : this.cols.batchId[this.slot(0)]!,
      newestBatchId: this.count === 0 ? null : this.cols.batchId[this.slot(this.count - 1)]!,
    };
  }
}
