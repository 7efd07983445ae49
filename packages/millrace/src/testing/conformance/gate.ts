/**
 * GateSink: wraps a sink to log every write attempt and, when armed, to hold
 * the next batch *after* the wrapped sink wrote it. Holding a batch there and
 * stopping the query with `abandonCurrentBatch` leaves the checkpoint as a
 * crash between "sink wrote batch N" and "commits/N" would:
 *
 *   offsets/N ── sink wrote N ── [held] ── stop(abandon) ──╳── commits/N never written
 *                                                          restart: batch N re-runs with
 *                                                          the offsets in offsets/N
 */
import type { Sink, SinkBatchInfo, SinkContext, SinkWriteResult } from '../../connectors/contracts.ts';
import type { Row } from '../../schema/index.ts';

export interface WriteAttempt {
  readonly batchId: number;
  /** Which run of the query wrote it (set by the suite before each start). */
  readonly generation: number;
  readonly rows: readonly Row[];
}

export interface Hold {
  /** Resolves with the batch id once a batch is held. */
  readonly entered: Promise<number>;
  /** Let the held batch go on (or disarm, if none was held yet). */
  release(): void;
}

export class GateSink implements Sink {
  readonly attempts: WriteAttempt[] = [];
  generation = 1;
  private armed: { enter: (batchId: number) => void; released: Promise<void> } | undefined;

  readonly addBatchChunks?: Sink['addBatchChunks'];

  constructor(
    readonly inner: Sink,
    private readonly keepRows = true,
  ) {
    if (inner.addBatchChunks) {
      this.addBatchChunks = async (chunks, info) => {
        const rows: Row[] = [];
        const keep = this.keepRows;
        async function* tap(): AsyncIterable<readonly Row[]> {
          for await (const c of chunks) {
            if (keep) for (const r of c) rows.push(r);
            yield c;
          }
        }
        const result = await inner.addBatchChunks!(tap(), info);
        this.attempts.push({ batchId: info.batchId, generation: this.generation, rows });
        await this.maybeHold(info.batchId);
        return result;
      };
    }
  }

  get name(): string {
    return this.inner.name;
  }
  get guarantee(): Sink['guarantee'] {
    return this.inner.guarantee;
  }
  get supportedOutputModes(): Sink['supportedOutputModes'] {
    return this.inner.supportedOutputModes;
  }

  describe(): string {
    return this.inner.describe();
  }

  open(ctx: SinkContext): Promise<void> {
    return this.inner.open(ctx);
  }

  async addBatch(rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult | void> {
    const result = await this.inner.addBatch(rows, info);
    this.attempts.push({
      batchId: info.batchId,
      generation: this.generation,
      rows: this.keepRows ? rows.slice() : [],
    });
    await this.maybeHold(info.batchId);
    return result;
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Hold the next batch written (after the wrapped sink has written it). */
  holdNext(): Hold {
    let enter!: (batchId: number) => void;
    let release!: () => void;
    const entered = new Promise<number>((r) => (enter = r));
    const released = new Promise<void>((r) => (release = r));
    this.armed = { enter, released };
    return {
      entered,
      release: () => {
        this.armed = undefined;
        release();
      },
    };
  }

  private async maybeHold(batchId: number): Promise<void> {
    const armed = this.armed;
    if (!armed) return;
    armed.enter(batchId);
    await armed.released;
  }

  /** Batch ids written by run `generation`, in write order. */
  batchIds(generation: number): number[] {
    return this.attempts.filter((a) => a.generation === generation).map((a) => a.batchId);
  }
}
