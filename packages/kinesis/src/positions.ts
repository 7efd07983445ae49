/**
 * The source's offset: per shard, where reading stands — Kinesis' own sequence numbers, kept in
 * the query's checkpoint only (no DynamoDB lease table, no consumer state at AWS).
 *
 *   { "shardId-000000000000": "49680…538",    the last record read; the next batch reads after it
 *     "shardId-000000000001": "SHARD_END",    a closed shard read to its end (its children may start)
 *     "shardId-000000000002": "TRIM_HORIZON", nothing read yet: from the shard's oldest record
 *     "shardId-000000000003": "AT_TIMESTAMP:1765152000000" }  nothing read yet: from records that
 *                                              arrived at or after that time (startingPosition latest / timestamp)
 *
 * Sequence numbers are decimal strings of up to 128 bits, increasing within a shard but not
 * contiguous: a batch's end can only be known by reading, which latestOffset does.
 */
export type Position = string;
export type Positions = Record<string, Position>;

export const SHARD_END = 'SHARD_END';
export const TRIM_HORIZON = 'TRIM_HORIZON';
const AT_TIMESTAMP = 'AT_TIMESTAMP:';

export function atTimestamp(ms: number): Position {
  return `${AT_TIMESTAMP}${ms}`;
}

export function isSequenceNumber(p: unknown): boolean {
  return typeof p === 'string' && /^\d{1,64}$/.test(p);
}

export function timestampOf(p: Position): number | undefined {
  return p.startsWith(AT_TIMESTAMP) ? Number(p.slice(AT_TIMESTAMP.length)) : undefined;
}

export function isPosition(p: unknown): p is Position {
  if (typeof p !== 'string') return false;
  if (p === SHARD_END || p === TRIM_HORIZON || isSequenceNumber(p)) return true;
  const t = p.startsWith(AT_TIMESTAMP) ? Number(p.slice(AT_TIMESTAMP.length)) : NaN;
  return Number.isSafeInteger(t) && t >= 0;
}

/** Compare two sequence numbers of one shard. */
export function compareSeq(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Shard ids sorted: Kinesis numbers shards in creation order, so parents come before children. */
export function sortedPositions(p: Positions): Positions {
  const out: Positions = {};
  for (const k of Object.keys(p).sort()) out[k] = p[k]!;
  return out;
}
