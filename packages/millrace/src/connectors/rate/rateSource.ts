/**
 * `rateSource`: Spark's `rate` source. Generates rows `{timestamp, value}` with
 * value = 0, 1, 2, … at `rowsPerSecond` (optionally ramping up linearly from 0
 * over `rampUpTime`), for tests, demos and load generation.
 *
 * Offsets are row counts: the offset is the number of rows that exist at the
 * clock's current time, `floor(elapsedSeconds * rowsPerSecond)` counted from the
 * source's start time. The start time is written to `ctx.stateDir` on the first
 * open, so a restarted query continues where it was, and the rows of any batch
 * are a pure function of (start time, options, offsets): a replayed batch
 * regenerates exactly the same rows. Row `v` has timestamp
 * `startTime + floor(v * 1000 / rowsPerSecond)` (with a ramp-up, the time at
 * which the v-th row became due).
 *
 * Read limits: the rate source has no per-trigger limit, so `default` and `all`
 * both return every row due now.
 *
 * Trigger.AvailableNow: the rows due at the moment `prepareForAvailableNow()` is
 * called are the target; the query processes them and stops (this is what Spark
 * does with its rate source through its available-now wrapper).
 */
import * as path from 'node:path';
import type { ConnectorContext, Offset, ReadLimit, Source, SourceBatch } from '../contracts.ts';
import { MillraceError, userError } from '../../errors/index.ts';
import { schema, t } from '../../schema/index.ts';
import { parseDuration } from '../../util/durations.ts';
import { readIfExists, writeFileAtomic } from '../../util/fs.ts';

export interface RateSourceOptions {
  /** Unique within the query; default `rate`. */
  name?: string;
  /** Rows generated per second (> 0; fractions allowed, e.g. 0.5 = one row every 2 s). */
  rowsPerSecond: number;
  /** Ramp the speed up linearly from 0 to rowsPerSecond over this time (ms or "5 seconds"); default 0. */
  rampUpTime?: number | string;
  /** Accepted for compatibility with Spark; Millrace does not partition a source. */
  numPartitions?: number;
}

export const rateSchema = schema({ timestamp: t.timestamp, value: t.long });
export type RateRow = { timestamp: number; value: number };

const STATE_FILE = 'rate-source.json';

interface RateState {
  version: 1;
  startTime: number;
  rowsPerSecond: number;
  rampUpTimeMs: number;
}

/** Rows due `elapsedMs` after the start (ramping linearly over `rampMs`). */
export function rateRowsAt(elapsedMs: number, rowsPerSecond: number, rampMs: number): number {
  if (!(elapsedMs > 0)) return 0;
  if (rampMs > 0 && elapsedMs < rampMs) {
    // Speed grows linearly from 0 to rowsPerSecond: rows = rps * e² / (2R), e and R in seconds.
    return Math.floor((rowsPerSecond * elapsedMs * elapsedMs) / (2 * rampMs * 1000));
  }
  return Math.floor((rowsPerSecond * (elapsedMs - rampMs / 2)) / 1000);
}

/** Ms after the start at which row `v` became due (the inverse of rateRowsAt), floored. */
export function rateTimestampOffset(v: number, rowsPerSecond: number, rampMs: number): number {
  if (rampMs > 0 && v < (rowsPerSecond * rampMs) / 2000) {
    return Math.floor(Math.sqrt((v * 2 * rampMs * 1000) / rowsPerSecond));
  }
  return Math.floor((v * 1000) / rowsPerSecond + rampMs / 2);
}

export function rateSource(options: RateSourceOptions): Source<RateRow> {
  const opts = validate(options);
  return new RateSource(opts);
}

interface ValidOptions {
  name: string;
  rowsPerSecond: number;
  rampUpTimeMs: number;
  numPartitions: number | undefined;
}

function validate(options: RateSourceOptions): ValidOptions {
  if (options === null || typeof options !== 'object') {
    throw userError(
      'INVALID_OPTION',
      `rateSource: expected an options object like { rowsPerSecond: 10 }, got ${String(options)}`,
    );
  }
  const name = options.name ?? 'rate';
  if (typeof name !== 'string' || name.trim() === '') {
    throw userError('INVALID_OPTION', `rateSource: name ${JSON.stringify(name)} must be a non-empty string`);
  }
  const rps = options.rowsPerSecond;
  if (typeof rps !== 'number' || !Number.isFinite(rps) || rps <= 0) {
    throw userError(
      'INVALID_OPTION',
      `rateSource "${name}": rowsPerSecond ${JSON.stringify(rps)} must be a positive number, e.g. { rowsPerSecond: 10 }`,
      { source: name },
    );
  }
  const rampUpTimeMs =
    options.rampUpTime === undefined
      ? 0
      : parseDuration(options.rampUpTime, `rateSource "${name}": rampUpTime`);
  const np = options.numPartitions;
  if (np !== undefined && (!Number.isSafeInteger(np) || np <= 0)) {
    throw userError(
      'INVALID_OPTION',
      `rateSource "${name}": numPartitions ${JSON.stringify(np)} must be a positive integer (it is accepted for Spark compatibility and otherwise ignored)`,
      { source: name },
    );
  }
  return { name, rowsPerSecond: rps, rampUpTimeMs, numPartitions: np };
}

/** A row-count offset: a non-negative safe integer. */
export function rowCountOffset(offset: Offset | null, what: string): number {
  if (offset === null) return 0;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw userError(
      'INVALID_OFFSET',
      `${what}: offset ${JSON.stringify(offset)} is not a row count (a non-negative integer); was this checkpoint written for another source? Use a new checkpoint location.`,
    );
  }
  return offset;
}

class RateSource implements Source<RateRow> {
  readonly name: string;
  readonly schema = rateSchema;
  readonly replayable = true;
  private ctx: ConnectorContext | undefined;
  private startTime = 0;
  private availableNowTarget: number | undefined;

  constructor(private readonly opts: ValidOptions) {
    this.name = opts.name;
  }

  describe(): string {
    return `RateSource[rowsPerSecond=${this.opts.rowsPerSecond}, rampUpTime=${this.opts.rampUpTimeMs}ms]`;
  }

  private get what(): string {
    return `rate source "${this.name}"`;
  }

  async open(ctx: ConnectorContext): Promise<void> {
    this.ctx = ctx;
    const file = path.join(ctx.stateDir, STATE_FILE);
    const text = await readIfExists(file);
    if (text === undefined) {
      this.startTime = ctx.clock.now();
      const state: RateState = {
        version: 1,
        startTime: this.startTime,
        rowsPerSecond: this.opts.rowsPerSecond,
        rampUpTimeMs: this.opts.rampUpTimeMs,
      };
      await writeFileAtomic(file, JSON.stringify(state) + '\n');
      ctx.log.debug('rate source started', { source: this.name, startTime: this.startTime });
      return;
    }
    let state: RateState;
    try {
      state = JSON.parse(text) as RateState;
      if (typeof state.startTime !== 'number' || typeof state.rowsPerSecond !== 'number')
        throw new Error('bad fields');
    } catch (cause) {
      throw new MillraceError(
        'CORRUPT_STATE',
        `${this.what}: cannot read ${file} (${JSON.stringify(text.slice(0, 80))}); restore it or start from a new checkpoint location`,
        { domain: 'external', context: { source: this.name, file }, cause },
      );
    }
    const rampUp = state.rampUpTimeMs ?? 0;
    if (state.rowsPerSecond !== this.opts.rowsPerSecond || rampUp !== this.opts.rampUpTimeMs) {
      throw userError(
        'RATE_OPTIONS_CHANGED',
        `${this.what}: the checkpoint was started with rowsPerSecond=${state.rowsPerSecond}, rampUpTime=${rampUp}ms ` +
          `but the query now says rowsPerSecond=${this.opts.rowsPerSecond}, rampUpTime=${this.opts.rampUpTimeMs}ms; ` +
          `the rows of past batches depend on them. Keep the old values or use a new checkpoint location.`,
        { source: this.name },
      );
    }
    this.startTime = state.startTime;
  }

  private requireOpen(): ConnectorContext {
    if (!this.ctx)
      throw userError('NOT_OPEN', `${this.what}: open() must be called before reading`, {
        source: this.name,
      });
    return this.ctx;
  }

  private availableNow(): number {
    const ctx = this.requireOpen();
    return rateRowsAt(ctx.clock.now() - this.startTime, this.opts.rowsPerSecond, this.opts.rampUpTimeMs);
  }

  async latestOffset(start: Offset | null, _limit: ReadLimit): Promise<Offset | null> {
    const from = rowCountOffset(start, this.what);
    let end = this.availableNow();
    if (this.availableNowTarget !== undefined) end = Math.min(end, this.availableNowTarget);
    if (end <= from) return start;
    return end;
  }

  async getBatch(
    start: Offset | null,
    end: Offset,
    _info: { readonly batchId: number },
  ): Promise<SourceBatch<RateRow>> {
    this.requireOpen();
    const from = rowCountOffset(start, this.what);
    const to = rowCountOffset(end, this.what);
    const rows: RateRow[] = new Array(Math.max(0, to - from));
    const { rowsPerSecond, rampUpTimeMs } = this.opts;
    for (let v = from; v < to; v++) {
      rows[v - from] = {
        timestamp: this.startTime + rateTimestampOffset(v, rowsPerSecond, rampUpTimeMs),
        value: v,
      };
    }
    return { rows };
  }

  async commit(_end: Offset): Promise<void> {}

  async prepareForAvailableNow(): Promise<void> {
    this.availableNowTarget = this.availableNow();
  }

  reportLatestOffset(): Offset | null {
    return this.ctx ? this.availableNow() : null;
  }

  async close(): Promise<void> {}
}
