/**
 * The log source's offsets, as Spark's Kafka source: `{ topic: { partition:
 * nextOffset } }` — for each partition, the offset of the next record to read.
 * A batch reads, per partition, the offsets [start, end). Pure functions only.
 */
import type { Offset } from 'millrace';
import { internalError, quote } from '../errors.ts';

export type LogOffsets = Record<string, Record<string, number>>;

/** One topic-partition with its range for a batch or a plan. */
export interface PartitionRange {
  readonly topic: string;
  readonly partition: number;
  readonly from: number;
  readonly to: number;
}

/** Validate an offset from the checkpoint (null stays null). */
export function parseOffsets(o: Offset | null, source: string, what: string): LogOffsets | null {
  if (o === null) return null;
  const bad = () =>
    internalError(
      `log source ${source}: the ${what} offset ${quote(o)} is not { topic: { partition: offset } }; the checkpoint does not belong to this source`,
      { source },
    );
  if (typeof o !== 'object' || Array.isArray(o)) throw bad();
  for (const parts of Object.values(o)) {
    if (parts === null || typeof parts !== 'object' || Array.isArray(parts)) throw bad();
    for (const [p, n] of Object.entries(parts)) {
      if (!/^\d+$/.test(p) || typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw bad();
    }
  }
  return o as LogOffsets;
}

export function getOffset(
  o: LogOffsets | null | undefined,
  topic: string,
  partition: number,
): number | undefined {
  return o?.[topic]?.[String(partition)];
}

export function setOffset(o: LogOffsets, topic: string, partition: number, offset: number): void {
  (o[topic] ??= {})[String(partition)] = offset;
}

/** Same partitions and offsets (key order does not matter). */
export function sameOffsets(a: LogOffsets | null, b: LogOffsets | null): boolean {
  if (a === null || b === null) return a === b;
  const ta = Object.keys(a);
  if (ta.length !== Object.keys(b).length) return false;
  for (const t of ta) {
    const pa = a[t]!;
    const pb = b[t];
    if (!pb) return false;
    const ka = Object.keys(pa);
    if (ka.length !== Object.keys(pb).length) return false;
    for (const p of ka) if (pa[p] !== pb[p]) return false;
  }
  return true;
}

/** Offsets with topics and partitions in sorted order, so the checkpoint text is stable. */
export function sortedOffsets(o: LogOffsets): LogOffsets {
  const out: LogOffsets = {};
  for (const t of Object.keys(o).sort()) {
    const parts: Record<string, number> = {};
    for (const p of Object.keys(o[t]!).sort((x, y) => Number(x) - Number(y))) parts[p] = o[t]![p]!;
    out[t] = parts;
  }
  return out;
}

/**
 * maxOffsetsPerTrigger: split `limit` over the partitions in proportion to
 * what each has available (`available[i]` records after its start), as Spark's
 * Kafka source does, but exactly: shares are floored, then the remainder goes
 * one by one to the largest fractional parts (ties: first partition). The sum
 * never exceeds `limit`, and when anything is available at least one record
 * is taken, so a query always makes progress.
 */
export function prorate(available: readonly number[], limit: number): number[] {
  const total = available.reduce((a, b) => a + b, 0);
  if (total <= limit) return available.slice();
  const shares = available.map((n) => (n * limit) / total);
  const take = shares.map((s) => Math.floor(s));
  let left = limit - take.reduce((a, b) => a + b, 0);
  const order = shares
    .map((s, i) => ({ i, frac: s - Math.floor(s) }))
    .filter(({ i }) => take[i]! < available[i]!)
    .sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (const { i } of order) {
    if (left <= 0) break;
    take[i]!++;
    left--;
  }
  return take;
}
