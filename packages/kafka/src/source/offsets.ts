/**
 * Kafka source offsets and the pure decisions made on them (no I/O here):
 *
 *   offset JSON     {"topic": {"0": 23, "1": 17}}  — per partition, the NEXT offset to read
 *                   (Spark's KafkaSourceOffset format). A batch reads [start, end) per partition.
 *   startingOffsets 'earliest' | 'latest' | that JSON with -2 = earliest, -1 = latest
 *   rateLimit       maxOffsetsPerTrigger split across partitions in proportion to their lag
 *                   (millrace's shared rule for partitioned sources: connectors/partitioned)
 *   planReads       what a batch actually reads, given the watermarks now, and the data-loss
 *                   problems found on the way (records deleted, partitions gone, offsets reset)
 *   lag             offsets behind the latest, per partition → avg/max/min (Spark's metrics)
 */
import { limitOffsetSpans, setPartitionOffset, type JsonValue, type OffsetSpan } from 'millrace';
import type { PartitionRange } from '../client/rangeReader.ts';
import { optionError } from '../client/errors.ts';

/** `topic:partition` → offset. Topic names never contain ':'. */
export type OffsetMap = Map<string, number>;

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

export const EARLIEST = -2;
export const LATEST = -1;

export function tpKey(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

export function parseTpKey(k: string): TopicPartition {
  const i = k.lastIndexOf(':');
  return { topic: k.slice(0, i), partition: Number(k.slice(i + 1)) };
}

/** `bids-3`, as Kafka tools print a partition. */
export function tpName(k: string): string {
  const { topic, partition } = parseTpKey(k);
  return `${topic}-${partition}`;
}

function sortedKeys(map: OffsetMap): string[] {
  return [...map.keys()].sort((a, b) => {
    const x = parseTpKey(a);
    const y = parseTpKey(b);
    return x.topic < y.topic ? -1 : x.topic > y.topic ? 1 : x.partition - y.partition;
  });
}

/** The offset JSON (topics and partitions in order, so equal offsets are equal text). */
export function offsetsToJson(map: OffsetMap): { [topic: string]: { [partition: string]: number } } {
  const out: { [topic: string]: { [partition: string]: number } } = {};
  for (const k of sortedKeys(map)) {
    const { topic, partition } = parseTpKey(k);
    setPartitionOffset(out, topic, partition, map.get(k)!); // own property: "__proto__" is a legal topic
  }
  return out;
}

/**
 * Parse offset JSON (an object, or its text). `allowSpecial` accepts -2/-1 (startingOffsets);
 * checkpointed offsets must be real offsets (>= 0).
 */
export function offsetsFromJson(value: unknown, what: string, allowSpecial: boolean): OffsetMap {
  let v = value;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch (e) {
      throw new Error(`${what} is not valid JSON (${(e as Error).message}): ${JSON.stringify(value)}`, {
        cause: e,
      });
    }
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new Error(`${what} must be an object like {"topic": {"0": 23}}, got ${JSON.stringify(value)}`);
  }
  const out: OffsetMap = new Map();
  for (const [topic, parts] of Object.entries(v as Record<string, unknown>)) {
    if (parts === null || typeof parts !== 'object' || Array.isArray(parts)) {
      throw new Error(
        `${what}: the entry of topic "${topic}" must be an object {"partition": offset}, got ${JSON.stringify(parts)}`,
      );
    }
    for (const [p, o] of Object.entries(parts as Record<string, unknown>)) {
      if (!/^\d+$/.test(p)) throw new Error(`${what}: "${p}" (topic "${topic}") is not a partition number`);
      const min = allowSpecial ? EARLIEST : 0;
      if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < min) {
        throw new Error(
          `${what}: the offset of ${topic}-${p} must be a whole number >= ${min}${allowSpecial ? ' (-2 = earliest, -1 = latest)' : ''}, got ${JSON.stringify(o)}`,
        );
      }
      out.set(tpKey(topic, Number(p)), o);
    }
  }
  return out;
}

export type StartingOffsets = 'earliest' | 'latest' | OffsetMap;

export function parseStartingOffsets(where: string, value: unknown): StartingOffsets {
  if (value === undefined || value === 'latest') return 'latest';
  if (value === 'earliest') return 'earliest';
  try {
    return offsetsFromJson(value, '"startingOffsets"', true);
  } catch (e) {
    throw optionError(
      where,
      `${(e as Error).message}. Use 'earliest', 'latest' or per-partition offsets like {"t": {"0": 23, "1": -2}}`,
    );
  }
}

export interface Watermarks {
  readonly low: number;
  readonly high: number;
}

export interface Resolved {
  readonly offsets: OffsetMap;
  /** Data-loss problems (requested offsets no longer or not yet in the log). */
  readonly problems: string[];
}

/**
 * The offsets a new query starts from. With specific offsets every partition of the
 * subscription must be named (as Spark requires); offsets outside [low, high] are data loss
 * and are moved to the nearest end.
 */
export function resolveStartingOffsets(
  spec: StartingOffsets,
  partitions: readonly string[],
  watermarks: ReadonlyMap<string, Watermarks>,
  where: string,
): Resolved {
  const offsets: OffsetMap = new Map();
  const problems: string[] = [];
  if (spec === 'earliest' || spec === 'latest') {
    for (const k of partitions) {
      const w = watermarks.get(k)!;
      offsets.set(k, spec === 'earliest' ? w.low : w.high);
    }
    return { offsets, problems };
  }
  const have = new Set(partitions);
  const unknown = [...spec.keys()].filter((k) => !have.has(k));
  if (unknown.length > 0) {
    throw optionError(
      where,
      `"startingOffsets" names ${unknown.map(tpName).join(', ')}, which ${unknown.length === 1 ? 'is' : 'are'} not part of the subscription ` +
        `(it has: ${partitions.map(tpName).join(', ') || 'no partitions yet'})`,
    );
  }
  const missing = partitions.filter((k) => !spec.has(k));
  if (missing.length > 0) {
    throw optionError(
      where,
      `"startingOffsets" must give an offset for every partition of the subscription; missing: ${missing.map(tpName).join(', ')}. ` +
        `Use -2 for earliest or -1 for latest`,
    );
  }
  for (const k of partitions) {
    const w = watermarks.get(k)!;
    const o = spec.get(k)!;
    if (o === EARLIEST) offsets.set(k, w.low);
    else if (o === LATEST) offsets.set(k, w.high);
    else if (o < w.low) {
      problems.push(
        `startingOffsets asks for ${tpName(k)} from offset ${o}, but its log starts at ${w.low} (older records were deleted)`,
      );
      offsets.set(k, w.low);
    } else if (o > w.high) {
      problems.push(
        `startingOffsets asks for ${tpName(k)} from offset ${o}, but its log ends at ${w.high} (the offset does not exist yet)`,
      );
      offsets.set(k, w.high);
    } else offsets.set(k, o);
  }
  return { offsets, problems };
}

/**
 * maxOffsetsPerTrigger: at most `limit` offsets in all, split across partitions in proportion to
 * how far each is behind `until`, never past `until` — the one rule of every partitioned source
 * (millrace's splitOffsetLimit: exact, the limit is a hard maximum; Spark's no-starvation rule
 * where the limit allows). `from` holds known partitions' starts, `fromNew` new partitions'
 * (their earliest offset).
 */
export function rateLimit(limit: number, from: OffsetMap, until: OffsetMap, fromNew: OffsetMap): OffsetMap {
  const spans = new Map<string, OffsetSpan>();
  for (const [k, end] of until) {
    const begin = from.get(k) ?? fromNew.get(k);
    // No known start (something is wrong): leave it at its end; planReads reports it.
    spans.set(k, { start: begin === undefined ? end : Math.min(begin, end), end });
  }
  return limitOffsetSpans(spans, limit);
}

export interface ReadPlan {
  readonly ranges: PartitionRange[];
  /** Data-loss problems, one sentence each. */
  readonly problems: string[];
}

/**
 * What batch (start, end] reads, given each partition's watermarks now. Partitions in `end`
 * but not in `start` are new and start at their earliest offset (as Spark: a partition added
 * while running should start at 0; if it does not, records were deleted before they were read).
 * Every deviation is a data-loss problem; the plan already skips what is lost.
 */
export function planReads(
  start: OffsetMap,
  end: OffsetMap,
  watermarks: ReadonlyMap<string, Watermarks>,
  newPartitionsFrom: ReadonlyMap<string, number> = new Map(),
): ReadPlan {
  const ranges: PartitionRange[] = [];
  const problems: string[] = [];
  for (const k of start.keys()) {
    if (!end.has(k))
      problems.push(`${tpName(k)} is gone (its topic was deleted or has fewer partitions now)`);
  }
  for (const k of sortedKeys(end)) {
    const e0 = end.get(k)!;
    const w = watermarks.get(k);
    if (w === undefined) {
      problems.push(`${tpName(k)} is gone (its topic was deleted or has fewer partitions now)`);
      continue;
    }
    let s = start.get(k);
    if (s === undefined) {
      s = newPartitionsFrom.get(k) ?? w.low;
      if (s > 0) {
        problems.push(
          `${tpName(k)} was added while the query ran and starts at offset ${s} instead of 0: records before ${s} were deleted before they could be read`,
        );
      }
    }
    let e = e0;
    if (e < s) {
      problems.push(
        `the offset of ${tpName(k)} went back from ${s} to ${e} (the topic was deleted and re-created, or its log was truncated); records may have been missed`,
      );
      continue;
    }
    if (s < w.low) {
      problems.push(
        `records ${s}..${Math.min(e, w.low) - 1} of ${tpName(k)} were deleted (retention or DeleteRecords) before they were read; its log now starts at ${w.low}`,
      );
      s = Math.min(w.low, e);
    }
    if (e > w.high) {
      problems.push(
        `${tpName(k)} now ends at offset ${w.high}, but this batch covers records up to ${e - 1}: records were lost (the topic was re-created, or the log truncated after an unclean leader election)`,
      );
      e = Math.max(s, w.high);
    }
    if (e > s) ranges.push({ ...parseTpKey(k), start: s, end: e });
  }
  return { ranges, problems };
}

export interface LagMetrics {
  readonly offsetsBehindLatest: number;
  readonly avgOffsetsBehindLatest: number;
  readonly maxOffsetsBehindLatest: number;
  readonly minOffsetsBehindLatest: number;
}

/** How far `consumed` is behind `latest`, over the partitions of `consumed` (Spark's source metrics). */
export function lag(latest: OffsetMap, consumed: OffsetMap): LagMetrics | null {
  const behind: number[] = [];
  for (const [k, o] of consumed) {
    const l = latest.get(k);
    if (l !== undefined) behind.push(Math.max(0, l - o));
  }
  if (behind.length === 0) return null;
  const sum = behind.reduce((a, b) => a + b, 0);
  return {
    offsetsBehindLatest: sum,
    avgOffsetsBehindLatest: Math.round((sum / behind.length) * 10) / 10,
    maxOffsetsBehindLatest: Math.max(...behind),
    minOffsetsBehindLatest: Math.min(...behind),
  };
}

export function sameOffsets(a: OffsetMap, b: OffsetMap): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

export function asJsonValue(map: OffsetMap): JsonValue {
  return offsetsToJson(map) as JsonValue;
}
