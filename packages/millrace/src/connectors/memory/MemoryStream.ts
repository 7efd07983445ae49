/**
 * A source fed from code (Spark's MemoryStream), for tests and demos.
 * Each `addData` call is one offset step; a batch reads every step added
 * since the previous batch. Data lives in this object, so a query restarted
 * in the same process (the test harness does this) replays exactly.
 */
import type { ConnectorContext, Offset, Source, SourceBatch } from '../contracts.ts';
import { userError } from '../../errors/index.ts';
import type { Schema } from '../../schema/index.ts';

let counter = 0;

export class MemoryStream<R> implements Source<R> {
  readonly replayable = true;
  private readonly adds: R[][] = [];
  /** Set by prepareForAvailableNow: later adds wait for the next run. */
  private availableNowTarget: number | undefined;

  constructor(
    readonly schema: Schema<R>,
    readonly name: string,
  ) {}

  /** Add rows; they become visible to the next batch. Returns the new offset. */
  addData(...rows: (R | R[])[]): number {
    const flat = rows.flatMap((r) => (Array.isArray(r) ? r : [r])) as R[];
    this.adds.push(flat);
    return this.adds.length;
  }

  /** Offset after the last add. */
  get currentOffset(): number {
    return this.adds.length;
  }

  describe(): string {
    return `MemoryStream[${this.name}]`;
  }

  async open(_ctx: ConnectorContext): Promise<void> {
    this.availableNowTarget = undefined;
  }

  async latestOffset(_start: Offset | null): Promise<Offset | null> {
    const n = this.availableNowTarget ?? this.adds.length;
    return n === 0 ? null : n;
  }

  async getBatch(start: Offset | null, end: Offset): Promise<SourceBatch<R>> {
    const from = start === null ? 0 : Number(start);
    const to = Number(end);
    if (!(to <= this.adds.length)) {
      throw userError(
        'SOURCE_DATA_LOST',
        `memory stream "${this.name}" has ${this.adds.length} additions but the checkpoint asks for offset ${to}; ` +
          `a MemoryStream lives in memory — the checkpoint is from another process`,
      );
    }
    return { rows: this.adds.slice(from, to).flat() };
  }

  async commit(_end: Offset): Promise<void> {}

  async prepareForAvailableNow(): Promise<void> {
    this.availableNowTarget = this.adds.length;
  }

  reportLatestOffset(): Offset | null {
    return this.adds.length;
  }

  async close(): Promise<void> {}
}

/** `memoryStream(schema({ word: t.string }))` — name it when a query has more than one. */
export function memoryStream<R>(schema: Schema<R>, options: { name?: string } = {}): MemoryStream<R> {
  return new MemoryStream(schema, options.name ?? `memory-${++counter}`);
}
