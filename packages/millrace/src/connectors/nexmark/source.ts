/**
 * `nexmarkSource`: the Nexmark generator as a replayable Source of one event kind.
 *
 * The offset is the event number n of the underlying interleaved stream (a JSON number): the
 * next event to read. A batch (start, end] in offset terms covers events [start, end) and holds
 * the rows of the source's kind among them, regenerated deterministically on a replay.
 *
 * Availability: without `wallRate` everything up to `maxEvents` is available at once (unbounded
 * when `maxEvents` is not set). With `wallRate`, events become available at that many per second
 * of wall-clock time (ctx.clock) since the query first started; the start time is kept in the
 * connector's state directory, so a restarted query resumes the same schedule.
 */
import * as path from 'node:path';
import { userError } from '../../errors/index.ts';
import type { Schema } from '../../schema/index.ts';
import type { Clock } from '../../util/clock.ts';
import { readIfExists, writeFileAtomic } from '../../util/fs.ts';
import type {
  ChunkedBatch,
  ConnectorContext,
  Offset,
  ReadLimit,
  Source,
  SourceBatch,
  SourceSplit,
  SplitPlan,
} from '../contracts.ts';
import {
  type NexmarkConfig,
  countOfKind,
  generateAuctions,
  generateBids,
  generatePersons,
  nexmarkConfig,
} from './generator.ts';
import {
  type Auction,
  type Bid,
  type NexmarkKind,
  type NexmarkRow,
  type Person,
  nexmarkSchemaOf,
} from './model.ts';

export interface NexmarkSourceOptions<K extends NexmarkKind = NexmarkKind> {
  /** Default `nexmark-${kind}`. */
  readonly name?: string;
  readonly kind: K;
  /** Events (of all kinds) in the stream; unbounded when not set. */
  readonly maxEvents?: number;
  /** Events (of all kinds) per micro-batch; default 100,000. Ignored by Trigger.Once (`all`). */
  readonly eventsPerTrigger?: number;
  /** Event-time rate: dateTime = baseTime + n * 1000 / eventsPerSecond. Default 10,000. */
  readonly eventsPerSecond?: number;
  /** Wall-clock pacing in events per second; default unlimited. */
  readonly wallRate?: number;
  /** Epoch ms of event 0; default 2025-01-01T00:00:00Z. */
  readonly baseTime?: number;
  /** Permute timestamps within groups of this many events; default 1 (in order). */
  readonly disorderGroup?: number;
  /** Events generated per chunk when the engine streams a batch (getBatchChunks); default 10,000. */
  readonly chunkEvents?: number;
}

export const DEFAULT_EVENTS_PER_TRIGGER = 100_000;
const START_FILE = 'nexmark-start.json';

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw userError(
      'INVALID_OPTION',
      `nexmarkSource: ${name} must be a positive integer, got ${String(value)}`,
    );
  }
  return value;
}

function asEventNumber(offset: Offset | null, what: string): number {
  if (offset === null) return 0;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw userError(
      'BAD_OFFSET',
      `nexmarkSource: ${what} offset must be an event number (a non-negative integer), got ${JSON.stringify(offset)}`,
    );
  }
  return offset;
}

export class NexmarkSource<K extends NexmarkKind = NexmarkKind> implements Source<NexmarkRow<K>> {
  readonly name: string;
  readonly schema: Schema<NexmarkRow<K>>;
  readonly replayable = true;
  readonly kind: K;
  readonly maxEvents: number | undefined;
  readonly eventsPerTrigger: number;
  readonly wallRate: number | undefined;
  readonly config: NexmarkConfig;
  readonly chunkEvents: number;

  private clock: Clock | undefined;
  private startTime = 0;
  /** Set by prepareForAvailableNow: latestOffset never goes past it. */
  private availableNowTarget: number | undefined;

  constructor(options: NexmarkSourceOptions<K>) {
    const kind = options.kind;
    if (kind !== 'bid' && kind !== 'auction' && kind !== 'person') {
      throw userError(
        'INVALID_OPTION',
        `nexmarkSource: kind must be 'bid', 'auction' or 'person', got ${JSON.stringify(kind)}`,
      );
    }
    this.kind = kind;
    this.name = options.name ?? `nexmark-${kind}`;
    this.schema = nexmarkSchemaOf(kind);
    this.maxEvents =
      options.maxEvents === undefined ? undefined : positiveIntegerOrZero('maxEvents', options.maxEvents);
    this.eventsPerTrigger =
      options.eventsPerTrigger === undefined
        ? DEFAULT_EVENTS_PER_TRIGGER
        : positiveInteger('eventsPerTrigger', options.eventsPerTrigger);
    if (options.wallRate !== undefined && !(typeof options.wallRate === 'number' && options.wallRate > 0)) {
      throw userError(
        'INVALID_OPTION',
        `nexmarkSource: wallRate must be a positive number, got ${String(options.wallRate)}`,
      );
    }
    this.wallRate = options.wallRate;
    this.chunkEvents =
      options.chunkEvents === undefined ? 10_000 : positiveInteger('chunkEvents', options.chunkEvents);
    this.config = nexmarkConfig({
      eventsPerSecond: options.eventsPerSecond,
      baseTime: options.baseTime,
      disorderGroup: options.disorderGroup,
    });
  }

  describe(): string {
    const parts = [this.kind, `maxEvents=${this.maxEvents ?? 'unbounded'}`];
    if (this.wallRate !== undefined) parts.push(`wallRate=${this.wallRate}/s`);
    return `NexmarkSource[${parts.join(', ')}]`;
  }

  async open(ctx: ConnectorContext): Promise<void> {
    this.clock = ctx.clock;
    if (this.wallRate === undefined) return;
    const file = path.join(ctx.stateDir, START_FILE);
    const saved = await readIfExists(file);
    if (saved !== undefined) {
      const start = (JSON.parse(saved) as { startTime?: unknown }).startTime;
      if (typeof start === 'number' && Number.isFinite(start)) {
        this.startTime = start;
        return;
      }
    }
    this.startTime = ctx.clock.now();
    await writeFileAtomic(file, JSON.stringify({ startTime: this.startTime }));
  }

  /** Events [0, available) can be read now (Infinity when unbounded). */
  private available(): number {
    let avail = this.maxEvents ?? Infinity;
    if (this.wallRate !== undefined) {
      const now = this.clock ? this.clock.now() : this.startTime;
      const paced = Math.floor((Math.max(0, now - this.startTime) * this.wallRate) / 1000);
      if (paced < avail) avail = paced;
    }
    if (this.availableNowTarget !== undefined && this.availableNowTarget < avail)
      avail = this.availableNowTarget;
    return avail;
  }

  async latestOffset(start: Offset | null, limit: ReadLimit): Promise<Offset | null> {
    const from = asEventNumber(start, 'start');
    const avail = this.available();
    let end: number;
    if (limit.kind === 'all') {
      if (avail === Infinity) {
        throw userError(
          'UNBOUNDED_SOURCE',
          `${this.describe()}: cannot read "all available" events of an unbounded stream; set maxEvents or wallRate`,
        );
      }
      end = avail;
    } else {
      end = Math.min(from + this.eventsPerTrigger, avail);
    }
    return end > from ? end : start;
  }

  async getBatch(
    start: Offset | null,
    end: Offset,
    _info?: { readonly batchId: number },
  ): Promise<SourceBatch<NexmarkRow<K>>> {
    const from = asEventNumber(start, 'start');
    const to = asEventNumber(end, 'end');
    if (to < from) {
      throw userError('BAD_OFFSET', `${this.describe()}: batch end ${to} is before its start ${from}`);
    }
    const rows: NexmarkRow<K>[] = [];
    if (this.kind === 'bid') generateBids(from, to, this.config, rows as Bid[]);
    else if (this.kind === 'auction') generateAuctions(from, to, this.config, rows as Auction[]);
    else generatePersons(from, to, this.config, rows as Person[]);
    return { rows, metrics: { events: to - from } };
  }

  /** The same rows as getBatch, generated `chunkEvents` events at a time. */
  getBatchChunks(start: Offset | null, end: Offset): AsyncIterable<NexmarkRow<K>[]> {
    return this.generate(asEventNumber(start, 'start'), asEventNumber(end, 'end'), 0, 1);
  }

  /**
   * Split k of count: the chunks of `chunkEvents` events k, k + count, k + 2·count, … of the batch.
   * Interleaved, not contiguous, so that every task reads through the batch's event time at the
   * same pace: rows of one key then reach its partition roughly in time order from every task
   * (session windows and joins do less work on ordered input). Each event is generated from its
   * number alone, so a split is just the range and its place.
   */
  async planSplits(start: Offset | null, end: Offset, count: number): Promise<SplitPlan> {
    const from = asEventNumber(start, 'start');
    const to = asEventNumber(end, 'end');
    return {
      splits: Array.from({ length: count }, (_, index) => ({ from, to, index, count })),
      metrics: { events: to - from },
    };
  }

  readSplit(split: SourceSplit): ChunkedBatch<NexmarkRow<K>> {
    const s = split as { from: number; to: number; index: number; count: number };
    return this.generate(s.from, s.to, s.index, s.count);
  }

  private async *generate(
    from: number,
    to: number,
    index: number,
    count: number,
  ): AsyncGenerator<NexmarkRow<K>[]> {
    if (to < from) {
      throw userError('BAD_OFFSET', `${this.describe()}: batch end ${to} is before its start ${from}`);
    }
    const step = this.chunkEvents * count;
    for (let a = from + index * this.chunkEvents; a < to; a += step) {
      const b = Math.min(to, a + this.chunkEvents);
      const rows: NexmarkRow<K>[] = [];
      if (this.kind === 'bid') generateBids(a, b, this.config, rows as Bid[]);
      else if (this.kind === 'auction') generateAuctions(a, b, this.config, rows as Auction[]);
      else generatePersons(a, b, this.config, rows as Person[]);
      if (rows.length > 0) yield rows;
    }
  }

  async commit(_end: Offset): Promise<void> {}

  async prepareForAvailableNow(): Promise<void> {
    const avail = this.available();
    if (avail === Infinity) {
      throw userError(
        'UNBOUNDED_SOURCE',
        `${this.describe()}: Trigger.AvailableNow needs a bounded stream; set maxEvents or wallRate`,
      );
    }
    this.availableNowTarget = avail;
  }

  reportLatestOffset(): Offset | null {
    const avail = this.available();
    return avail === Infinity ? null : avail;
  }

  async close(): Promise<void> {}

  /** How many rows of this source's kind a batch of events [from, to) holds. */
  rowsIn(from: number, to: number): number {
    return countOfKind(this.kind, from, to);
  }
}

function positiveIntegerOrZero(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw userError(
      'INVALID_OPTION',
      `nexmarkSource: ${name} must be a non-negative integer, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * A Nexmark source of one event kind:
 * `session.readStream(nexmarkSource({ kind: 'bid', maxEvents: 10_000_000 }))`.
 */
export function nexmarkSource<K extends NexmarkKind>(options: NexmarkSourceOptions<K>): NexmarkSource<K> {
  return new NexmarkSource(options);
}
