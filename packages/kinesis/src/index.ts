/**
 * @millrace/kinesis — Amazon Kinesis Data Streams for Millrace: a source replayable by sequence
 * number per shard (positions in the checkpoint, reshards followed parent-first, data-loss checks)
 * and a PutRecords sink (only refused records sent again; at least once, with a per-record id for
 * readers that de-duplicate).
 */
export {
  kinesisSource,
  KinesisSource,
  kinesisSchema,
  type KinesisRow,
  type KinesisSourceOptions,
} from './KinesisSource.ts';
export { kinesisSink, KinesisSink, type KinesisSinkOptions } from './KinesisSink.ts';
export type { KinesisConnectionOptions, KinesisCredentials } from './connection.ts';
