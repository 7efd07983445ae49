/**
 * Stream–stream join (Spark's StreamingSymmetricHashJoinExec): inner, left/right/full outer and
 * left semi, on equality keys plus an optional event-time range. Both sides buffer their rows in
 * state, by join key; a new row is matched against the other side's buffer, then buffered itself.
 *
 *   batch N   left rows ──► late? drop ──► match right buffer[key] ──► emit pairs ──► left buffer[key] += row
 *             right rows ─► late? drop ──► match left buffer[key]  ──► emit pairs ──► right buffer[key] += row
 *             (left first, so a pair of two rows of the same batch is found exactly once: by the right row)
 *             evict: left rows with time ≤ wm − lower, right rows with time ≤ wm − upper
 *                    ──► unmatched evicted rows of an outer side are emitted with nulls
 *
 * How state is bounded. The condition gives `left.time ∈ [right.time − lower, right.time + upper]`
 * (plan/joinNode.ts). Rows at or below the watermark are dropped as late on a side whose time
 * column has a watermark, so every future right row has `right.time > wm`:
 *
 *        left row L ─ matches right rows with right.time ≤ L.time + lower
 *        ──────────────────────[L.time]────[L.time + lower]──────[wm]────────► time
 *                                                    ▲ no future right row can be here: L is done
 *
 *   a left row is done once `L.time + lower ≤ wm` (needs a watermark on the right's time column
 *   and a finite `lower`); a right row once `R.time + upper ≤ wm` (needs the left's watermark and
 *   a finite `upper`). A window equality is the range [0, 0] on the windows' ends. Without a bound,
 *   that side's buffer is never evicted (Spark allows it for inner joins; outer joins that need
 *   it are refused at start(), plan/streamingChecks.ts).
 *
 * An outer row (a row with nulls for the other side) is emitted exactly when its row leaves the
 * buffer unmatched: the watermark proved no match can come. A left-semi row is emitted once, at
 * its first match; a left row that matched on arrival is not buffered at all.
 *
 * State layout (s = l | r):
 *   s|<key text>                    [[row, matched 0|1, time], …]   the buffer of one join key
 *   sb|<bucket>                     [key, …]                        eviction index: the keys whose
 *                                                                   earliest time is in the bucket
 *   sb|                             [bucket, …] (sorted)            the buckets in use
 *   m|<s>rows                       n                               rows buffered (numRowsTotal)
 * Buckets are BUCKET_MS of event time. The keys with rows to evict are those of the buckets that
 * start at or before the threshold — found without a range scan (a range scan of the in-memory
 * store sorts every key of the operator; a join buffers far more keys than it evicts per batch).
 */
import type { OutputMode } from '../../connectors/contracts.ts';
import type { Row } from '../../schema/index.ts';
import type { StateStore } from '../../state/StateStore.ts';
import type { JoinType } from '../../plan/joinNode.ts';
import type { StatefulBatchContext, StatefulBatchMetrics, StatefulOperator } from '../StatefulOperator.ts';
import { StateRowCount } from '../stateRowCount.ts';
import type { KeyText } from './joinRows.ts';

/** Between the left side's chunks and the right side's in a join's input (see runPlan). */
export const SIDE_BREAK: readonly Row[] = Object.freeze([]);

export interface JoinSideSpec {
  readonly key: KeyText;
  /** The side's event time in the range condition (window columns: their end); null if none. */
  readonly time: ((row: Row) => number | null) | null;
  /** Rows with time ≤ the watermark are dropped (the time column carries a watermark). */
  readonly dropLate: boolean;
  /** Rows are evicted at time ≤ wm − bound (undefined: never evicted). */
  readonly evictBelowWatermarkBy: number | undefined;
  /** Unmatched rows are emitted with nulls when they leave the buffer (the outer side). */
  readonly outer: boolean;
}

export interface StreamJoinSpec {
  readonly operatorId: string;
  readonly joinType: JoinType;
  readonly left: JoinSideSpec;
  readonly right: JoinSideSpec;
  /** Every non-key conjunct (the time range too), over the joined row; null: none. */
  readonly residual: ((joined: Row) => boolean) | null;
  readonly joinedRow: (l: Row | null, r: Row | null) => Row;
  readonly outputRow: (l: Row | null, r: Row | null) => Row;
}

type Entry = [row: Row, matched: 0 | 1, time: number | null];

interface Buffer {
  readonly list: Entry[];
  /** Earliest time as stored when loaded (undefined: not stored, or not indexed). */
  readonly storedMin: number | undefined;
  readonly stored: boolean;
  dirty: boolean;
}

const CHUNK = 4096;
type Side = 'l' | 'r';

export class StreamJoin implements StatefulOperator {
  constructor(readonly spec: StreamJoinSpec) {}

  get operatorId(): string {
    return this.spec.operatorId;
  }

  needsNoDataBatch(newWatermarkMs: number, lastBatchWatermarkMs: number, _mode: OutputMode): boolean {
    const { left, right } = this.spec;
    const evicts = left.evictBelowWatermarkBy !== undefined || right.evictBelowWatermarkBy !== undefined;
    return evicts && newWatermarkMs > lastBatchWatermarkMs;
  }

  async *run(
    input: AsyncIterable<readonly Row[]>,
    ctx: StatefulBatchContext,
    metrics: StatefulBatchMetrics,
  ): AsyncIterable<Row[]> {
    const { spec } = this;
    const { store } = ctx;
    const semi = spec.joinType === 'leftSemi';
    const buffers: Record<Side, Map<string, Buffer>> = { l: new Map(), r: new Map() };
    const sideSpec = (s: Side) => (s === 'l' ? spec.left : spec.right);
    const counts = {
      l: new StateRowCount(store, 'm|lrows', () => countRows(store, 'l|')),
      r: new StateRowCount(store, 'm|rrows', () => countRows(store, 'r|')),
    };
    const index = { l: new EvictionIndex(store, 'l'), r: new EvictionIndex(store, 'r') };
    const dropped = { l: 0, r: 0 };
    let added = 0;
    let out: Row[] = [];

    /** The buffer of `key` on side `s`, loaded once per batch; a key not stored gets one only if `create`. */
    const loadBuffer = (s: Side, key: string, create: boolean): Buffer | null => {
      let b = buffers[s].get(key);
      if (b === undefined) {
        // Changed in place and put back at the end (the store undoes it if the batch fails).
        const stored = store.getForUpdate(`${s}|${key}`) as Entry[] | undefined;
        if (stored === undefined && !create) return null;
        const indexed = sideSpec(s).evictBelowWatermarkBy !== undefined;
        b = {
          list: stored ?? [],
          stored: stored !== undefined,
          storedMin: stored !== undefined && indexed ? minTime(stored) : undefined,
          dirty: false,
        };
        buffers[s].set(key, b);
      }
      return b;
    };
    const buffer = (s: Side, key: string): Buffer => loadBuffer(s, key, true)!;

    const lateWm = ctx.lateEventsWatermarkMs;
    let side: Side = 'l';
    for await (const chunk of input) {
      if (chunk === SIDE_BREAK) {
        side = 'r';
        continue;
      }
      const me = sideSpec(side);
      const other: Side = side === 'l' ? 'r' : 'l';
      for (let i = 0; i < chunk.length; i++) {
        const row = chunk[i]!;
        let time: number | null = null;
        if (me.time !== null) {
          time = me.time(row);
          if (me.dropLate && time !== null && time <= lateWm) {
            dropped[side]++;
            continue;
          }
        }
        const key = me.key(row);
        // A null key or a null time can never satisfy the condition: only an outer side keeps the row.
        if (key === null || (me.time !== null && time === null)) {
          if (me.outer) out.push(side === 'l' ? spec.outputRow(row, null) : spec.outputRow(null, row));
          continue;
        }
        let matched: 0 | 1 = 0;
        // One store read per key and batch for a key the other side has. A key it lacks costs a
        // lookup per row and no buffer (most keys of a q7-like join: one row per key, and the
        // other side's row comes later).
        const theirs = loadBuffer(other, key, false);
        if (theirs !== null)
          for (const e of theirs.list) {
            const [l, r] = side === 'l' ? [row, e[0]] : [e[0], row];
            if (spec.residual !== null && !spec.residual(spec.joinedRow(l, r))) continue;
            matched = 1;
            if (semi) {
              if (side === 'l') break; // emitted once, below
              if (e[1] === 0) out.push(spec.outputRow(l, null));
            } else {
              out.push(spec.outputRow(l, r));
            }
            if (e[1] === 0) {
              e[1] = 1;
              theirs.dirty = true;
            }
          }
        if (semi && side === 'l' && matched === 1) {
          out.push(spec.outputRow(row, null)); // matched on arrival: emitted, never buffered
        } else {
          const mine = buffer(side, key);
          mine.list.push([row, matched, time]);
          mine.dirty = true;
          counts[side].add(1);
          added++;
        }
        if (out.length >= CHUNK) {
          yield out;
          out = [];
        }
      }
    }

    // Eviction: rows no future row of the other side can match leave the buffers.
    let evicted = 0;
    for (const s of ['l', 'r'] as const) {
      const by = sideSpec(s).evictBelowWatermarkBy;
      if (by === undefined) continue;
      const threshold = ctx.watermarkMs - by;
      if (!Number.isFinite(threshold)) continue;
      const keys = new Set<string>();
      for (const bucket of index[s].bucketsUpTo(threshold))
        for (const k of index[s].keysOf(bucket)) keys.add(k);
      // Buffers this batch changed: their new rows are not in the index yet.
      for (const [key, b] of buffers[s]) if (b.dirty && b.list.some((e) => e[2]! <= threshold)) keys.add(key);
      for (const key of keys) {
        const b = buffer(s, key);
        const keep: Entry[] = [];
        for (const e of b.list) {
          if (e[2]! > threshold) {
            keep.push(e);
            continue;
          }
          evicted++;
          counts[s].add(-1);
          if (e[1] === 0 && sideSpec(s).outer) {
            out.push(s === 'l' ? spec.outputRow(e[0], null) : spec.outputRow(null, e[0]));
          }
        }
        if (keep.length !== b.list.length) {
          b.list.length = 0;
          b.list.push(...keep);
          b.dirty = true;
        }
      }
    }

    // Put the changed buffers back, and move their index entries.
    for (const s of ['l', 'r'] as const) {
      const indexed = sideSpec(s).evictBelowWatermarkBy !== undefined;
      for (const [key, b] of buffers[s]) {
        if (!b.dirty) continue;
        const newMin = indexed && b.list.length > 0 ? minTime(b.list) : undefined;
        if (b.list.length === 0) {
          if (b.stored) store.delete(`${s}|${key}`);
        } else {
          store.put(`${s}|${key}`, b.list);
        }
        if (indexed && b.storedMin !== newMin) index[s].move(key, b.storedMin, newMin);
      }
      index[s].save();
    }

    const leftRows = counts.l.save();
    const rightRows = counts.r.save();
    metrics.numRowsTotal = leftRows + rightRows;
    metrics.numRowsUpdated = added;
    metrics.numRowsRemoved = evicted;
    metrics.numRowsDroppedByWatermark = dropped.l + dropped.r;
    metrics.custom.numLeftStateRows = leftRows;
    metrics.custom.numRightStateRows = rightRows;
    metrics.custom.numLeftRowsDroppedByWatermark = dropped.l;
    metrics.custom.numRightRowsDroppedByWatermark = dropped.r;
    if (out.length > 0) yield out;
  }
}

/** Width of an eviction-index bucket (event time). */
const BUCKET_MS = 1_000;

/**
 * The keys of one side by the bucket of their earliest buffered time. Loaded lazily, changed in
 * place, saved at the end of the batch (changes go through the store, so they commit or abort with it).
 */
class EvictionIndex {
  private buckets: number[] | undefined;
  private readonly changed = new Map<number, Set<string> | null>();

  constructor(
    private readonly store: StateStore,
    private readonly side: Side,
  ) {}

  private listKey(): string {
    return `${this.side}b|`;
  }

  private bucketKey(b: number): string {
    return `${this.side}b|${b}`;
  }

  private list(): number[] {
    this.buckets ??= [...((this.store.get(this.listKey()) as number[] | undefined) ?? [])];
    return this.buckets;
  }

  /** Buckets whose keys may have rows at or below `threshold`. */
  bucketsUpTo(threshold: number): number[] {
    const last = Math.floor(threshold / BUCKET_MS);
    return this.list().filter((b) => b <= last);
  }

  keysOf(bucket: number): Iterable<string> {
    return this.keySet(bucket) ?? [];
  }

  private keySet(bucket: number): Set<string> | null {
    let set = this.changed.get(bucket);
    if (set === undefined) {
      const stored = this.store.get(this.bucketKey(bucket)) as string[] | undefined;
      set = stored === undefined ? null : new Set(stored);
      this.changed.set(bucket, set);
    }
    return set;
  }

  move(key: string, fromTime: number | undefined, toTime: number | undefined): void {
    if (fromTime !== undefined) this.keySet(Math.floor(fromTime / BUCKET_MS))?.delete(key);
    if (toTime !== undefined) {
      const b = Math.floor(toTime / BUCKET_MS);
      let set = this.keySet(b);
      if (set === null) this.changed.set(b, (set = new Set()));
      set.add(key);
    }
  }

  save(): void {
    if (this.changed.size === 0) return;
    const buckets = new Set(this.list());
    let listChanged = false;
    for (const [b, set] of this.changed) {
      if (set === null) continue;
      if (set.size === 0) {
        this.store.delete(this.bucketKey(b));
        listChanged = buckets.delete(b) || listChanged;
      } else {
        this.store.put(this.bucketKey(b), [...set]);
        if (!buckets.has(b)) {
          buckets.add(b);
          listChanged = true;
        }
      }
    }
    if (listChanged) {
      const sorted = [...buckets].sort((a, b) => a - b);
      if (sorted.length === 0) this.store.delete(this.listKey());
      else this.store.put(this.listKey(), sorted);
    }
  }
}

function minTime(list: readonly Entry[]): number | undefined {
  let m: number | undefined;
  for (const e of list) if (e[2] !== null && (m === undefined || e[2] < m)) m = e[2];
  return m;
}

function countRows(store: StateStore, prefix: string): number {
  let n = 0;
  for (const [, v] of store.range({ prefix })) n += (v as Entry[]).length;
  return n;
}
