/**
 * Streaming deduplication: Spark's StreamingDeduplicateExec (`dropDuplicates`)
 * and StreamingDeduplicateWithinWatermarkExec (`dropDuplicatesWithinWatermark`).
 *
 *   input chunks ──► late? (event time ≤ watermark) ──yes──► drop, count numRowsDroppedByWatermark
 *                      │ no
 *                      ▼
 *         key held in the store (and not expired)? ──yes──► drop, count custom numDroppedDuplicateRows
 *                      │ no
 *                      ▼
 *         put the key (visible to the rest of this batch: first occurrence wins),
 *         emit the row — output flows chunk by chunk, each row is final
 *                      │ end of input
 *                      ▼
 *         evict the keys the watermark has passed (numRowsRemoved)
 *
 * How state stays bounded, per mode (chosen at planning time):
 *
 *   mode             store key                  value       late row   key freed when
 *   ───────────────  ─────────────────────────  ──────────  ─────────  ──────────────────────────────────
 *   unbounded        enc(keys)                  true        —          never: state grows with the number
 *                                                                      of distinct keys (as in Spark)
 *   eventTimeKey     pad(t) '|' enc(other keys) t           t ≤ wm     t ≤ wm: keys sort by event time, so
 *                                                                      the expired ones are one range scan
 *                                                                      [-∞, pad(wm + 1)) (value t decides
 *                                                                      the boundary millisecond exactly)
 *   withinWatermark  enc(keys)                  t + delay   t ≤ wm     t + delay ≤ wm (Spark 3.5); a key
 *                                                                      is found by its value, so an
 *                                                                      eviction index lists the keys by
 *                                                                      expiry (below)
 *
 * `eventTimeKey` is `dropDuplicates` whose key columns include the watermarked
 * event-time column; `unbounded` is `dropDuplicates` without it. A row whose
 * event time is null is never late: in eventTimeKey mode its key (`~|…`, past
 * every time prefix) is kept forever, as Spark keeps a null key; in
 * withinWatermark mode it is emitted unless its key is held, and holds nothing.
 *
 * withinWatermark checks expiry on lookup too: a key whose `t + delay ≤ wm`
 * no longer drops duplicates even if no batch has evicted it yet, so results
 * do not depend on whether a no-data batch ran in between (in Spark they can).
 *
 * withinWatermark's eviction index, beside the keys (a NUL prefix no encoded key starts with):
 *
 *   \0b|<bucket>   [key, …]      the keys put with an expiry in this EXPIRY_BUCKET_MS bucket
 *   \0b|           [bucket, …]   the buckets in use, ascending
 *   \0n            n             keys held (numRowsTotal; the index entries are not rows)
 *
 * Eviction reads the buckets that start at or below the watermark — not the whole state, which it
 * scanned before (~2M keys: half of dropDuplicates' speed). A key put again with a later expiry
 * stays listed in its old bucket too; eviction deletes a key only if its stored expiry ≤ wm, so the
 * stale entry just goes. State written before the index existed is indexed once, on first use.
 *
 * The watermark used is the batch's (computed after the previous batch), so a
 * replayed batch decides lateness, duplicates and eviction exactly as the first run.
 */
import type { Row } from '../../schema/index.ts';
import type { OutputMode } from '../../connectors/contracts.ts';
import type { StatefulBatchContext, StatefulBatchMetrics, StatefulOperator } from '../StatefulOperator.ts';
import type { StateStore } from '../../state/StateStore.ts';
import { padTime } from '../../util/timeKeys.ts';
import { StateRowCount } from '../stateRowCount.ts';

export type DedupMode =
  | { readonly kind: 'unbounded' }
  /** `column` is a key column carrying the watermark; `keyOf` encodes the other key columns. */
  | { readonly kind: 'eventTimeKey'; readonly column: string }
  /** `column` is the input's watermarked event time (not part of the key), `delayMs` its delay. */
  | { readonly kind: 'withinWatermark'; readonly column: string; readonly delayMs: number };

/** Everything the operator needs, bound at planning time. */
export interface DedupSpec {
  readonly operatorId: string;
  /** The key columns as the user gave them (for explain and messages). */
  readonly keyNames: readonly string[];
  /** The encoded key of a row (in eventTimeKey mode: of the key columns other than the event time). */
  readonly keyOf: (row: Row) => string;
  readonly mode: DedupMode;
}

/** Key prefix for rows with a null event time in eventTimeKey mode: sorts after every `padTime`. */
const NULL_TIME = '~|';

const KEEP = 0;
const DUPLICATE = 1;
const LATE = 2;
type Verdict = typeof KEEP | typeof DUPLICATE | typeof LATE;

export class Deduplicate implements StatefulOperator {
  constructor(readonly spec: DedupSpec) {}

  get operatorId(): string {
    return this.spec.operatorId;
  }

  /** A no-data batch evicts state once the watermark moved (in every output mode: dedup state is not the result). */
  needsNoDataBatch(newWatermarkMs: number, lastBatchWatermarkMs: number, _outputMode: OutputMode): boolean {
    return this.spec.mode.kind !== 'unbounded' && newWatermarkMs > lastBatchWatermarkMs;
  }

  async *run(
    input: AsyncIterable<readonly Row[]>,
    ctx: StatefulBatchContext,
    metrics: StatefulBatchMetrics,
  ): AsyncIterable<Row[]> {
    const { store } = ctx;
    const wm = ctx.watermarkMs;
    const lateWm = ctx.lateEventsWatermarkMs;
    const { keyOf, mode } = this.spec;
    let duplicates = 0;
    const index = mode.kind === 'withinWatermark' ? new ExpiryIndex(store) : undefined;

    // What to do with one row, chosen once per batch.
    let decide: (row: Row) => Verdict;
    switch (mode.kind) {
      case 'unbounded':
        decide = (row) => {
          const key = keyOf(row);
          if (store.get(key) !== undefined) return DUPLICATE;
          store.put(key, true);
          metrics.numRowsUpdated++;
          return KEEP;
        };
        break;
      case 'eventTimeKey': {
        const col = mode.column;
        decide = (row) => {
          const t = row[col] as number | null | undefined;
          if (t != null && t <= lateWm) return LATE;
          const key = t == null ? NULL_TIME + keyOf(row) : `${padTime(t)}|${keyOf(row)}`;
          if (store.get(key) !== undefined) return DUPLICATE;
          store.put(key, t ?? null);
          metrics.numRowsUpdated++;
          return KEEP;
        };
        break;
      }
      case 'withinWatermark': {
        const col = mode.column;
        const delay = mode.delayMs;
        decide = (row) => {
          const t = row[col] as number | null | undefined;
          if (t != null && t <= lateWm) return LATE;
          const key = keyOf(row);
          const expiresAt = store.get(key) as number | undefined;
          if (expiresAt !== undefined && expiresAt > wm) return DUPLICATE;
          if (t != null) {
            const e = t + delay;
            store.put(key, e);
            metrics.numRowsUpdated++;
            index!.added(key, e, expiresAt === undefined);
          }
          return KEEP;
        };
        break;
      }
    }

    for await (const chunk of input) {
      const out: Row[] = [];
      for (let r = 0; r < chunk.length; r++) {
        const row = chunk[r]!;
        const v = decide(row);
        if (v === KEEP) out.push(row);
        else if (v === DUPLICATE) duplicates++;
        else metrics.numRowsDroppedByWatermark++;
      }
      if (out.length > 0) yield out;
    }

    switch (mode.kind) {
      case 'unbounded':
        break;
      case 'eventTimeKey':
        metrics.numRowsRemoved = evictByTime(store, wm);
        break;
      case 'withinWatermark':
        metrics.numRowsRemoved = index!.evict(wm);
        metrics.numRowsTotal = index!.save();
        break;
    }
    metrics.custom.numDroppedDuplicateRows = duplicates;
  }
}

/** Width of an expiry bucket in withinWatermark's eviction index. */
const EXPIRY_BUCKET_MS = 1_000;
const BUCKET_PREFIX = '\0b|';
const BUCKET_LIST = BUCKET_PREFIX;
const ROW_COUNT = '\0n';

/** withinWatermark's keys by expiry bucket (see the header), changed in place and saved at the end of a batch. */
class ExpiryIndex {
  private readonly buckets: number[];
  private readonly rows: StateRowCount;
  /** Buckets whose key lists this batch read or changed. */
  private readonly lists = new Map<number, string[]>();
  private listChanged = false;

  constructor(private readonly store: StateStore) {
    const stored = store.get(BUCKET_LIST) as number[] | undefined;
    if (stored === undefined && store.version > 0) {
      // State from before the index: index every key once.
      this.buckets = [];
      this.rows = new StateRowCount(store, ROW_COUNT, () => 0);
      const keys: [string, number][] = [];
      for (const [k, v] of store.range()) if (!k.startsWith('\0')) keys.push([k, v as number]);
      for (const [k, e] of keys) this.added(k, e, true);
      this.listChanged = true;
    } else {
      this.buckets = stored === undefined ? [] : [...stored];
      this.rows = new StateRowCount(store, ROW_COUNT, () => 0);
      if (stored === undefined) this.listChanged = true;
    }
  }

  /** A key was put with expiry `e` (`isNew`: it was not held before). */
  added(key: string, e: number, isNew: boolean): void {
    this.list(Math.floor(e / EXPIRY_BUCKET_MS), true).push(key);
    if (isNew) this.rows.add(1);
  }

  /** Delete the keys whose expiry ≤ wm; returns how many. */
  evict(wm: number): number {
    let removed = 0;
    const last = Math.floor(wm / EXPIRY_BUCKET_MS);
    for (const b of this.buckets) {
      if (b > last) break;
      const list = this.list(b, false);
      const keep: string[] = [];
      const seen = new Set<string>();
      for (const key of list) {
        if (seen.has(key)) continue;
        seen.add(key);
        const e = this.store.get(key) as number | undefined;
        if (e === undefined || Math.floor(e / EXPIRY_BUCKET_MS) !== b) continue; // stale entry
        if (e <= wm) {
          this.store.delete(key);
          removed++;
        } else keep.push(key);
      }
      list.length = 0;
      for (const k of keep) list.push(k);
    }
    this.rows.add(-removed);
    return removed;
  }

  /** Write the changed buckets and the bucket list back; returns the keys held. */
  save(): number {
    for (const [b, list] of this.lists) {
      if (list.length === 0) {
        this.store.delete(BUCKET_PREFIX + b);
        const i = this.buckets.indexOf(b);
        if (i >= 0) {
          this.buckets.splice(i, 1);
          this.listChanged = true;
        }
      } else this.store.put(BUCKET_PREFIX + b, list);
    }
    if (this.listChanged) this.store.put(BUCKET_LIST, this.buckets);
    return this.rows.save();
  }

  /** A bucket's key list, read once per batch (with `create`, added to the bucket list if new). */
  private list(b: number, create: boolean): string[] {
    let list = this.lists.get(b);
    if (list !== undefined) return list;
    list = (this.store.getForUpdate(BUCKET_PREFIX + b) as string[] | undefined) ?? [];
    this.lists.set(b, list);
    if (create && list.length === 0 && !this.buckets.includes(b)) {
      this.buckets.splice(lowerBoundNumber(this.buckets, b), 0, b);
      this.listChanged = true;
    }
    return list;
  }
}

function lowerBoundNumber(arr: readonly number[], x: number): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** eventTimeKey: delete keys with event time ≤ wm — the keys below pad(wm + 1), checked exactly by value. */
function evictByTime(store: StateStore, wm: number): number {
  const expired: string[] = [];
  for (const [key, t] of store.range({ end: padTime(wm + 1) })) if ((t as number) <= wm) expired.push(key);
  for (const key of expired) store.delete(key);
  return expired.length;
}
