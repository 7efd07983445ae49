/**
 * The log source's offsets, as Spark's Kafka source: `{ topic: { partition:
 * nextOffset } }` — for each partition, the offset of the next record to read.
 * A batch reads, per partition, the offsets [start, end). Pure functions only.
 */
import {
  getPartitionOffset,
  partitionOffsetsProblem,
  setPartitionOffset,
  samePartitionOffsets,
  sortedPartitionOffsets,
  type Offset,
  type PartitionOffsets,
} from 'millrace';
import { internalError, quote } from '../errors.ts';

/** The shared offset shape of partitioned sources (millrace's PartitionOffsets, Spark's KafkaSourceOffset JSON). */
export type LogOffsets = PartitionOffsets;

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
  if (partitionOffsetsProblem(o) !== undefined) throw bad();
  return o as LogOffsets;
}

/** The offset of a topic-partition (own properties only: "constructor" is a legal topic name). */
export const getOffset = getPartitionOffset;

export const setOffset = setPartitionOffset;

/** Same partitions and offsets (key order does not matter). */
export const sameOffsets = samePartitionOffsets;

/** Offsets with topics and partitions in sorted order, so the checkpoint text is stable. */
export const sortedOffsets = sortedPartitionOffsets;
