/**
 * Keeps every batch's rows in memory, by batch id (Spark's memory sink), for
 * tests and the web UI. A replayed batch id replaces the earlier write, so it
 * is idempotent. In complete mode the result table is the last batch.
 */
import type { OutputMode, Sink, SinkBatchInfo, SinkContext, SinkWriteResult } from '../contracts.ts';
import type { Row } from '../../schema/index.ts';

let counter = 0;

export class MemorySink<R = Row> implements Sink {
  readonly guarantee = 'idempotent' as const;
  private readonly byBatch = new Map<number, R[]>();
  private mode: OutputMode = 'append';
  private writes = 0;

  constructor(readonly name: string) {}

  describe(): string {
    return `MemorySink[${this.name}]`;
  }

  async open(ctx: SinkContext): Promise<void> {
    this.mode = ctx.outputMode;
  }

  async addBatch(rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult> {
    this.byBatch.set(info.batchId, rows.slice() as R[]);
    this.writes++;
    return { rowsWritten: rows.length };
  }

  async close(): Promise<void> {}

  /** Batch ids written so far, ascending. */
  get batchIds(): number[] {
    return [...this.byBatch.keys()].sort((a, b) => a - b);
  }

  /** How many addBatch calls there were (replays included). */
  get writeCount(): number {
    return this.writes;
  }

  batch(batchId: number): R[] | undefined {
    return this.byBatch.get(batchId);
  }

  lastBatch(): R[] {
    const id = this.batchIds.at(-1);
    return id === undefined ? [] : this.byBatch.get(id)!;
  }

  /** All rows (append/update: every batch in order; complete: the last batch). */
  allRows(): R[] {
    if (this.mode === 'complete') return this.lastBatch();
    return this.batchIds.flatMap((id) => this.byBatch.get(id)!);
  }

  clear(): void {
    this.byBatch.clear();
  }
}

export function memorySink<R = Row>(options: { name?: string } = {}): MemorySink<R> {
  return new MemorySink<R>(options.name ?? `memory-sink-${++counter}`);
}
