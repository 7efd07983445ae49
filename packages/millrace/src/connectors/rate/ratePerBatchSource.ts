/**
 * `ratePerBatchSource`: Spark's `rate-micro-batch` source. Every micro-batch
 * gets exactly `rowsPerBatch` new rows, independent of wall-clock time, so a
 * query's output is fully deterministic:
 *
 *   batch i (counting from the first batch of the checkpoint) has values
 *   [i*rowsPerBatch, (i+1)*rowsPerBatch), all with timestamp
 *   startTimestamp + i*advanceMillisPerBatch.
 *
 * The offset is `{ offset: rows so far, timestamp: timestamp of the next batch }`
 * (as in Spark), and the next offset is computed from the start offset alone, so
 * asking twice for the same start gives the same end, and a replayed batch
 * regenerates the same rows.
 *
 * Read limits: `rowsPerBatch` is the per-batch amount whatever the limit kind;
 * with `all` (Trigger.Once) the query therefore processes one batch, as in Spark.
 *
 * Trigger.AvailableNow: an on-demand generator has nothing "available" ahead of
 * time; as in Spark, the first end offset computed after
 * `prepareForAvailableNow()` is the target, so the run processes exactly one
 * batch and stops.
 */
import type { ConnectorContext, Offset, ReadLimit, Source, SourceBatch } from '../contracts.ts';
import { userError } from '../../errors/index.ts';
import { parseDuration } from '../../util/durations.ts';
import { type RateRow, rateSchema } from './rateSource.ts';

export interface RatePerBatchSourceOptions {
  /** Unique within the query; default `rate-micro-batch`. */
  name?: string;
  /** Rows added by every micro-batch (a positive integer). */
  rowsPerBatch: number;
  /** Timestamp (epoch ms) of the first batch's rows; default 0. */
  startTimestamp?: number;
  /** How far the timestamp moves per batch (ms or "1 second"); default 1000. */
  advanceMillisPerBatch?: number | string;
}

/** `{offset, timestamp}`: rows generated before this point and the timestamp of the batch starting here. */
export interface RatePerBatchOffset {
  offset: number;
  timestamp: number;
}

export function ratePerBatchSource(options: RatePerBatchSourceOptions): Source<RateRow> {
  if (options === null || typeof options !== 'object') {
    throw userError(
      'INVALID_OPTION',
      `ratePerBatchSource: expected an options object like { rowsPerBatch: 10 }, got ${String(options)}`,
    );
  }
  const name = options.name ?? 'rate-micro-batch';
  if (typeof name !== 'string' || name.trim() === '') {
    throw userError(
      'INVALID_OPTION',
      `ratePerBatchSource: name ${JSON.stringify(name)} must be a non-empty string`,
    );
  }
  const { rowsPerBatch, startTimestamp = 0 } = options;
  if (typeof rowsPerBatch !== 'number' || !Number.isSafeInteger(rowsPerBatch) || rowsPerBatch <= 0) {
    throw userError(
      'INVALID_OPTION',
      `ratePerBatchSource "${name}": rowsPerBatch ${JSON.stringify(rowsPerBatch)} must be a positive integer, e.g. { rowsPerBatch: 100 }`,
      { source: name },
    );
  }
  if (typeof startTimestamp !== 'number' || !Number.isSafeInteger(startTimestamp)) {
    throw userError(
      'INVALID_OPTION',
      `ratePerBatchSource "${name}": startTimestamp ${JSON.stringify(startTimestamp)} must be an integer number of epoch milliseconds`,
      { source: name },
    );
  }
  const advance =
    options.advanceMillisPerBatch === undefined
      ? 1000
      : parseDuration(options.advanceMillisPerBatch, `ratePerBatchSource "${name}": advanceMillisPerBatch`);
  if (!Number.isSafeInteger(advance)) {
    throw userError(
      'INVALID_OPTION',
      `ratePerBatchSource "${name}": advanceMillisPerBatch ${JSON.stringify(options.advanceMillisPerBatch)} must be a whole number of milliseconds`,
      { source: name },
    );
  }
  return new RatePerBatchSource(name, rowsPerBatch, startTimestamp, advance);
}

class RatePerBatchSource implements Source<RateRow> {
  readonly schema = rateSchema;
  readonly replayable = true;
  private opened = false;
  private availableNow = false;
  private availableNowTarget: RatePerBatchOffset | undefined;
  private lastEnd: RatePerBatchOffset | undefined;

  constructor(
    readonly name: string,
    private readonly rowsPerBatch: number,
    private readonly startTimestamp: number,
    private readonly advanceMillisPerBatch: number,
  ) {}

  describe(): string {
    return `RatePerMicroBatchSource[rowsPerBatch=${this.rowsPerBatch}, startTimestamp=${this.startTimestamp}, advanceMillisPerBatch=${this.advanceMillisPerBatch}]`;
  }

  async open(_ctx: ConnectorContext): Promise<void> {
    this.opened = true;
  }

  private parse(offset: Offset | null): RatePerBatchOffset {
    if (offset === null) return { offset: 0, timestamp: this.startTimestamp };
    const o = offset as Partial<RatePerBatchOffset> | null;
    if (
      typeof o !== 'object' ||
      o === null ||
      Array.isArray(o) ||
      !Number.isSafeInteger(o.offset) ||
      (o.offset as number) < 0 ||
      !Number.isSafeInteger(o.timestamp)
    ) {
      throw userError(
        'INVALID_OFFSET',
        `rate-micro-batch source "${this.name}": offset ${JSON.stringify(offset)} is not {"offset": rows, "timestamp": ms}; was this checkpoint written for another source? Use a new checkpoint location.`,
        { source: this.name },
      );
    }
    return { offset: o.offset as number, timestamp: o.timestamp as number };
  }

  private next(start: RatePerBatchOffset): RatePerBatchOffset {
    return {
      offset: start.offset + this.rowsPerBatch,
      timestamp: start.timestamp + this.advanceMillisPerBatch,
    };
  }

  async latestOffset(start: Offset | null, _limit: ReadLimit): Promise<Offset | null> {
    if (!this.opened) {
      throw userError(
        'NOT_OPEN',
        `rate-micro-batch source "${this.name}": open() must be called before reading`,
        {
          source: this.name,
        },
      );
    }
    const from = this.parse(start);
    if (this.availableNow) {
      if (this.availableNowTarget === undefined) this.availableNowTarget = this.next(from);
      const target = this.availableNowTarget;
      if (from.offset >= target.offset) return start;
      return { ...target };
    }
    const end = this.next(from);
    this.lastEnd = end;
    return { ...end };
  }

  async getBatch(
    start: Offset | null,
    end: Offset,
    _info: { readonly batchId: number },
  ): Promise<SourceBatch<RateRow>> {
    const from = this.parse(start);
    const to = this.parse(end);
    if (to.offset < from.offset) {
      throw userError(
        'INVALID_OFFSET',
        `rate-micro-batch source "${this.name}": end offset ${JSON.stringify(end)} is before start ${JSON.stringify(start)}`,
        { source: this.name },
      );
    }
    const rows: RateRow[] = new Array(to.offset - from.offset);
    for (let v = from.offset; v < to.offset; v++)
      rows[v - from.offset] = { timestamp: from.timestamp, value: v };
    return { rows };
  }

  async commit(_end: Offset): Promise<void> {}

  async prepareForAvailableNow(): Promise<void> {
    this.availableNow = true;
  }

  reportLatestOffset(): Offset | null {
    const latest = this.availableNowTarget ?? this.lastEnd;
    return latest ? { ...latest } : null;
  }

  async close(): Promise<void> {}
}
