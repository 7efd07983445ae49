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
 *                                                                      must be found by its value alone,
 *                                                                      so expiry is a scan of the store —
 *                                                                      skipped while wm is below the
 *                                                                      smallest expiry this operator knows
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
 * The watermark used is the batch's (computed after the previous batch), so a
 * replayed batch decides lateness, duplicates and eviction exactly as the first run.
 */
import type { Row } from '../../schema/index.ts';
import type { OutputMode } from '../../connectors/contracts.ts';
import type { StatefulBatchContext, StatefulBatchMetrics, StatefulOperator } from '../StatefulOperator.ts';
import type { StateStore } from '../../state/StateStore.ts';
import { padTime } from '../../util/timeKeys.ts';

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
  /**
   * withinWatermark: a lower bound of the expiries in the store version this
   * operator last committed to (`partition:version` → min expiry). It only lets
   * a batch skip the scan; any other version (a replay, a restart) scans.
   */
  private readonly minExpiry = new Map<string, number>();

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
    /** withinWatermark: the smallest expiry put in this batch. */
    let minPut = Infinity;

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
            if (e < minPut) minPut = e;
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
        metrics.numRowsRemoved = this.evictExpired(store, wm, minPut);
        break;
    }
    metrics.custom.numDroppedDuplicateRows = duplicates;
  }

  /** withinWatermark: delete keys whose expiry ≤ wm; skip the scan when the known minimum expiry is above wm. */
  private evictExpired(store: StateStore, wm: number, minPut: number): number {
    const known = this.minExpiry.get(`${store.partition}:${store.version}`);
    this.minExpiry.clear();
    const next = `${store.partition}:${store.version + 1}`;
    if (known !== undefined && wm < known) {
      this.minExpiry.set(next, Math.min(known, minPut));
      return 0;
    }
    const expired: string[] = [];
    let min = minPut;
    for (const [key, v] of store.range()) {
      const e = v as number;
      if (e <= wm) expired.push(key);
      else if (e < min) min = e;
    }
    for (const key of expired) store.delete(key);
    this.minExpiry.set(next, min);
    return expired.length;
  }
}

/** eventTimeKey: delete keys with event time ≤ wm — the keys below pad(wm + 1), checked exactly by value. */
function evictByTime(store: StateStore, wm: number): number {
  const expired: string[] = [];
  for (const [key, t] of store.range({ end: padTime(wm + 1) })) if ((t as number) <= wm) expired.push(key);
  for (const key of expired) store.delete(key);
  return expired.length;
}
