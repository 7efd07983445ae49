/**
 * Offsets of partitioned sources (Kafka, the embedded log, and every new
 * connector with partitions and offsets): ONE offset shape and ONE meaning of
 * `maxOffsetsPerTrigger`. Pure functions, no I/O.
 *
 *   PartitionOffsets   { "<topic>": { "<partition>": nextOffset } } — Spark's KafkaSourceOffset JSON.
 *                      A batch reads [start, end) per partition; the end is the next batch's start.
 *
 *   maxOffsetsPerTrigger = L, partitions behind by a₁…aₙ (available = end − start), T = Σaᵢ:
 *
 *     T ≤ L        every partition reads everything available
 *     T > L        shareᵢ = L·aᵢ/T            (Spark's proportional split)
 *                  takeᵢ  = ⌊shareᵢ⌋
 *                  the L − Σtakeᵢ left over go one each, first to partitions that would read
 *                  nothing (largest share first: Spark's "don't starve small partitions"),
 *                  then to the largest fractional parts (ties: the earlier partition)
 *
 *   Guarantees: Σtakeᵢ = min(L, T) — never more than the limit; takeᵢ ≤ aᵢ; every partition that
 *   is behind reads ≥ 1 whenever L ≥ the number of such partitions; takeᵢ is within 1 of shareᵢ.
 *
 * Why not Spark's exact code (KafkaMicroBatchStream.rateLimit): it floors shares ≥ 1 and rounds
 * shares < 1 UP, so it can read MORE than the limit (limit 10, 20 partitions behind by 1 each:
 * 20 records) and often reads less (floors lose up to n−1). The option is documented as a
 * maximum — users set it to bound a batch's memory and latency — so the limit wins; the
 * no-starvation rule is kept wherever the limit allows it.
 */

/** Spark's KafkaSourceOffset JSON: per topic, per partition (decimal text), the next offset to read. */
export type PartitionOffsets = { [topic: string]: { [partition: string]: number } };

/**
 * How many offsets each partition may read in one batch under `limit` (maxOffsetsPerTrigger),
 * given what each has available after its start. `available[i]` ≤ 0 reads nothing.
 */
export function splitOffsetLimit(available: readonly number[], limit: number): number[] {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(`splitOffsetLimit: the limit must be a whole number ≥ 1, got ${limit}`);
  }
  const avail = available.map((a) => Math.max(0, a));
  const total = avail.reduce((a, b) => a + b, 0);
  if (total <= limit) return avail;
  const shares = avail.map((a) => (a * limit) / total);
  const take = shares.map((s) => Math.floor(s));
  let left = limit - take.reduce((a, b) => a + b, 0);
  const byShare = (a: number, b: number) => shares[b]! - shares[a]! || a - b;
  // 1. Partitions that are behind but would read nothing get one first (largest share first).
  const starving = avail.map((_, i) => i).filter((i) => avail[i]! > 0 && take[i] === 0);
  for (const i of starving.sort(byShare)) {
    if (left <= 0) break;
    take[i]!++;
    left--;
  }
  // 2. The rest by largest fractional part (Hamilton's method); ties go to the earlier partition.
  const frac = (i: number) => shares[i]! - Math.floor(shares[i]!);
  const order = avail
    .map((_, i) => i)
    .filter((i) => take[i]! < avail[i]! && frac(i) > 0 && !(starving.includes(i) && take[i]! > 0))
    .sort((a, b) => frac(b) - frac(a) || a - b);
  for (const i of order) {
    if (left <= 0) break;
    take[i]!++;
    left--;
  }
  return take;
}

/** One partition's range for a batch: read [start, end). */
export interface OffsetSpan {
  readonly start: number;
  readonly end: number;
}

/**
 * The batch's end offsets under `limit` (undefined: no limit): each span's end, moved back so
 * that the batch reads at most `limit` offsets in all, split by splitOffsetLimit. Keys are the
 * caller's partition ids (Map order is the tie-break order).
 */
export function limitOffsetSpans<K>(
  spans: ReadonlyMap<K, OffsetSpan>,
  limit: number | undefined,
): Map<K, number> {
  const keys = [...spans.keys()];
  if (limit === undefined) return new Map(keys.map((k) => [k, spans.get(k)!.end]));
  const take = splitOffsetLimit(
    keys.map((k) => spans.get(k)!.end - spans.get(k)!.start),
    limit,
  );
  return new Map(
    keys.map((k, i) => {
      const s = spans.get(k)!;
      return [k, s.end > s.start ? s.start + take[i]! : s.end];
    }),
  );
}

/**
 * The offset of `topic` `partition`, or undefined. Own properties only: a topic may be called
 * "constructor", "toString" or "__proto__" (all legal Kafka topic names).
 */
export function getPartitionOffset(
  o: PartitionOffsets | null | undefined,
  topic: string,
  partition: number,
): number | undefined {
  if (!o || !hasOwn(o, topic)) return undefined;
  const parts = o[topic]!;
  const p = String(partition);
  return hasOwn(parts, p) ? parts[p] : undefined;
}

/** Set the offset of `topic` `partition` (defined as an own property, so "__proto__" is a topic like any other). */
export function setPartitionOffset(
  o: PartitionOffsets,
  topic: string,
  partition: number,
  offset: number,
): void {
  if (!hasOwn(o, topic)) defineOwn(o, topic, {});
  o[topic]![String(partition)] = offset;
}

/** Offsets with topics (by name) and partitions (by number) in order, so equal offsets are equal text. */
export function sortedPartitionOffsets(o: PartitionOffsets): PartitionOffsets {
  const out: PartitionOffsets = {};
  for (const t of Object.keys(o).sort()) {
    const parts: { [partition: string]: number } = {};
    for (const p of Object.keys(o[t]!).sort((x, y) => Number(x) - Number(y))) parts[p] = o[t]![p]!;
    defineOwn(out, t, parts);
  }
  return out;
}

function hasOwn(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

/** `o[k] = v` without invoking the `__proto__` setter. */
function defineOwn<T>(o: Record<string, T>, k: string, v: T): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** Same topics, partitions and offsets (key order does not matter). */
export function samePartitionOffsets(a: PartitionOffsets | null, b: PartitionOffsets | null): boolean {
  if (a === null || b === null) return a === b;
  const ta = Object.keys(a);
  if (ta.length !== Object.keys(b).length) return false;
  for (const t of ta) {
    const pa = a[t]!;
    const pb = hasOwn(b, t) ? b[t] : undefined;
    if (!pb) return false;
    const ka = Object.keys(pa);
    if (ka.length !== Object.keys(pb).length) return false;
    for (const p of ka) if (!hasOwn(pb, p) || pa[p] !== pb[p]) return false;
  }
  return true;
}

/**
 * Why `value` is not PartitionOffsets (undefined: it is): an object of topics, each an object of
 * decimal partition numbers → whole offsets ≥ `min` (-2/-1 allowed as earliest/latest with min -2).
 */
export function partitionOffsetsProblem(value: unknown, min = 0): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return 'it must be an object like {"topic": {"0": 23}}';
  }
  for (const [topic, parts] of Object.entries(value)) {
    if (parts === null || typeof parts !== 'object' || Array.isArray(parts)) {
      return `the entry of topic "${topic}" must be an object {"partition": offset}`;
    }
    for (const [p, n] of Object.entries(parts as object)) {
      if (!/^\d+$/.test(p)) return `"${p}" (topic "${topic}") is not a partition number`;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min) {
        return `the offset of ${topic}-${p} must be a whole number >= ${min}, got ${JSON.stringify(n)}`;
      }
    }
  }
  return undefined;
}
