/**
 * Result rows of committed-to-sink batches, handed to whoever watches a query
 * or a sink (alert rules). Publishers ask `wants()` first, so a sink whose rows
 * nobody watches never copies them.
 */
import type { OutputMode, Row } from 'millrace';

export interface SinkBatch {
  readonly queryId: string;
  readonly queryName: string;
  readonly sinkName: string;
  readonly batchId: number;
  readonly outputMode: OutputMode;
  readonly rows: readonly Row[];
}

export interface RowWatcher {
  /** Whether batches of this query / sink are of interest. */
  wants(queryName: string, sinkName: string): boolean;
  onBatch(batch: SinkBatch): void;
}

export class RowBus {
  private readonly watchers = new Set<RowWatcher>();

  watch(w: RowWatcher): () => void {
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  wants(queryName: string, sinkName: string): boolean {
    for (const w of this.watchers) if (w.wants(queryName, sinkName)) return true;
    return false;
  }

  /** Never throws: a watcher's failure must not fail the sink's batch. */
  publish(batch: SinkBatch, onError: (e: unknown) => void): void {
    for (const w of this.watchers) {
      if (!w.wants(batch.queryName, batch.sinkName)) continue;
      try {
        w.onBatch(batch);
      } catch (e) {
        onError(e);
      }
    }
  }
}
