/**
 * The order of a batch's rows, fixed by offsets alone, so that getBatch, every run of
 * getBatchChunks and a replay after a crash give the same rows in the same order, however
 * the records of different partitions interleave as they arrive from the brokers.
 *
 *   partitions in (topic, partition) order, each read from its start s to its end e,
 *   cut into slots of W offsets:
 *
 *              round 0          round 1           round 2
 *     p0   [s0, s0+W)  →  [s0+W, s0+2W)  →  [s0+2W, e0)
 *     p1   [s1, s1+W)  →  [s1+W, e1)
 *     p2   [s2, e2)
 *
 *   released: p0.r0, p1.r0, p2.r0, p0.r1, p1.r1, p0.r2 (a partition with no offsets left in a
 *   round is skipped). The slot under the cursor is released as its records arrive; records
 *   of later slots wait in their partition's queue. A slot is complete once its partition has
 *   been read up to the slot's end (a record at or past its last offset, or the consumer's
 *   position past it: transaction markers take offsets but are never delivered).
 *
 * W = ceil(maxRecordsPerPoll / partitions): a round is about one poll, so what waits is about
 * one poll's worth of records while the partitions are read at similar speeds (more when one
 * partition lags far behind the others: its followers' records wait for it). A batch with
 * fewer than W offsets in every partition comes out partition by partition.
 */
import type { PartitionRange } from '../client/rangeReader.ts';

/** One partition's part of the batch: its range and the decoded rows not yet released. */
export interface Lane<R> {
  readonly topic: string;
  readonly partition: number;
  readonly start: number;
  readonly end: number;
  /** Decoded rows waiting to be released, and the offset of the record each came from. */
  readonly rows: R[];
  readonly offsets: number[];
  /** rows[head] is the next row to release (a queue without shifting). */
  head: number;
  /** Every record below this offset has been read (and decoded into `rows`). */
  reached: number;
}

export class BatchOrder<R> {
  /** Slot width, in offsets. */
  readonly window: number;
  private readonly lanes: Lane<R>[];
  private readonly byKey = new Map<string, Lane<R>>();
  /** Lanes with slots left, in order; the cursor is active[at] in round `round`. */
  private readonly active: Lane<R>[];
  private at = 0;
  private round = 0;

  constructor(ranges: readonly PartitionRange[], maxRecordsPerPoll: number) {
    this.lanes = ranges
      .filter((r) => r.end > r.start)
      .map((r) => ({
        topic: r.topic,
        partition: r.partition,
        start: r.start,
        end: r.end,
        rows: [],
        offsets: [],
        head: 0,
        reached: r.start,
      }));
    for (const l of this.lanes) this.byKey.set(laneKey(l.topic, l.partition), l);
    this.active = [...this.lanes];
    this.window = Math.max(1, Math.ceil(maxRecordsPerPoll / Math.max(1, this.lanes.length)));
  }

  /** The lane of a partition (undefined for one outside the batch). */
  lane(topic: string, partition: number): Lane<R> | undefined {
    return this.byKey.get(laneKey(topic, partition));
  }

  /** Everything below `offset` of this partition has been read (a consumer position, or the end). */
  reachedAt(topic: string, partition: number, offset: number): void {
    const l = this.lane(topic, partition);
    if (l && offset > l.reached) l.reached = Math.min(offset, l.end);
  }

  get done(): boolean {
    return this.active.length === 0;
  }

  /** Rows still held back (for tests and for a look at memory use). */
  get waiting(): number {
    let n = 0;
    for (const l of this.lanes) n += l.rows.length - l.head;
    return n;
  }

  /** Append to `out` every row that can be released now, in order. */
  release(out: R[]): void {
    const w = this.window;
    while (this.active.length > 0) {
      const l = this.active[this.at]!;
      const hi = Math.min(l.start + (this.round + 1) * w, l.end);
      const { rows, offsets } = l;
      let h = l.head;
      while (h < rows.length && offsets[h]! < hi) out.push(rows[h++]!);
      l.head = h;
      if (h === rows.length) {
        rows.length = 0;
        offsets.length = 0;
        l.head = 0;
      } else if (h > 4096 && h * 2 > rows.length) {
        rows.splice(0, h);
        offsets.splice(0, h);
        l.head = 0;
      }
      if (l.reached < hi) return; // the slot under the cursor is not complete yet
      if (hi === l.end) this.active.splice(this.at, 1);
      else this.at++;
      if (this.at >= this.active.length) {
        this.at = 0;
        this.round++;
      }
    }
  }
}

function laneKey(topic: string, partition: number): string {
  return `${partition}\u0000${topic}`;
}
