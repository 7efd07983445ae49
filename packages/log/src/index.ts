/**
 * @millrace/log — Millrace's embedded log: durable partitioned topics on
 * local disk (LMDB), a replayable source and an exactly-once sink for
 * streaming queries, and HTTP ingest.
 */
export {
  Log,
  openLog,
  type LogOptions,
  type FsyncPolicy,
  type TopicConfig,
  type TopicInfo,
  type PartitionInfo,
  type AppendRecord,
  type AppendOptions,
  type AppendResult,
  type RetentionReport,
} from './log/Log.ts';
export type { LogRecord } from './log/recordFormat.ts';
export { murmur2, partitionForKey } from './log/murmur2.ts';
export { logSource, LogSource, type LogSourceOptions, type StartingOffsets } from './source/LogSource.ts';
export type {
  LogSourceFormat,
  LogJsonFormat,
  LogBytesRow,
  LogStringRow,
  LogMetadata,
  MetadataColumn,
} from './source/rows.ts';
export type { LogOffsets } from './source/offsets.ts';
export { logSink, LogSink, type LogSinkOptions } from './sink/LogSink.ts';
export {
  ingestPlugin,
  startIngestServer,
  type IngestOptions,
  type IngestServer,
  type IngestServerOptions,
} from './http/index.ts';
// The receiver write-ahead log of sources that cannot replay (RabbitMQ, MQTT): one topic of this
// log in the query's checkpoint, acknowledged to the broker only once durable (wal/).
export { MessageWal, type WalEntry } from './wal/MessageWal.ts';
export {
  WalSource,
  DEDUP_HEADER,
  type IncomingMessage,
  type Receiver,
  type WalSourceSettings,
} from './wal/WalSource.ts';
export {
  rowBuilder as walRowBuilder,
  type JsonFormat as WalJsonFormat,
  type MetadataColumn as WalMetadataColumn,
  type RowBuilder as WalRowBuilder,
} from './wal/walRows.ts';
