export {
  JsonRecordDecoder,
  JsonRecordEncoder,
  type JsonRecordDecoderOptions,
  type DecodedRecord,
  type RecordLocation,
} from './jsonRecords.ts';
