export {
  splitOffsetLimit,
  limitOffsetSpans,
  sortedPartitionOffsets,
  getPartitionOffset,
  setPartitionOffset,
  samePartitionOffsets,
  partitionOffsetsProblem,
  type PartitionOffsets,
  type OffsetSpan,
} from './offsetLimit.ts';
