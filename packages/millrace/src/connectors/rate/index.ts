export {
  rateSource,
  rateSchema,
  rateRowsAt,
  rateTimestampOffset,
  type RateSourceOptions,
  type RateRow,
} from './rateSource.ts';
export {
  ratePerBatchSource,
  type RatePerBatchSourceOptions,
  type RatePerBatchOffset,
} from './ratePerBatchSource.ts';
