/**
 * Millrace — the public API of the engine. Everything a user imports comes
 * from here (and `millrace/testing` for the test harness).
 */
export { createSession, Session, type SessionOptions } from './api/Session.ts';
export { sqlFunctionNames, type SqlErrorCode } from './sql/index.ts';
export {
  Stream,
  type Simplify,
  type ColumnType,
  type JoinOptions,
  type JoinTypeName,
  type JoinedRow,
} from './api/Stream.ts';
export {
  staticTable,
  fileTable,
  type StaticTableOptions,
  type FileTableOptions,
} from './connectors/table/tables.ts';
export { KeyedStream } from './api/KeyedStream.ts';
export type {
  KeyState,
  KeyedContext,
  KeyedOutput,
  KeyedOutputMode,
  ProcessWithStateOptions,
  TimeMode,
  TimerInfo,
} from './operators/keyed/types.ts';
export { DataStreamWriter, type WriteStreamOptions, type WorkersOption } from './api/DataStreamWriter.ts';
export { Column, type Cols, type ColumnLike, type NullOf, type CastTarget } from './api/Column.ts';
export * from './api/functions/index.ts';

export {
  schema,
  Schema,
  type RowOf,
  t,
  type TypeSpec,
  type DataType,
  type Field,
  type Row,
  typeToString,
} from './schema/index.ts';
export {
  MillraceError,
  userError,
  externalError,
  internalError,
  type ErrorDomain,
  type ErrorContext,
} from './errors/index.ts';

export { Trigger } from './execution/trigger.ts';
export { StreamingQuery, type StopOptions } from './execution/StreamingQuery.ts';
export {
  StreamingQueryManager,
  type StreamingQueryListener,
  type QueryStartedEvent,
  type QueryProgressEvent,
  type QueryTerminatedEvent,
} from './execution/QueryManager.ts';
export type {
  StreamingQueryProgress,
  StreamingQueryStatus,
  WaitingFor,
  SourceProgress,
  SinkProgress,
  StateOperatorProgress,
  StatePartitionsProgress,
  EventTimeProgress,
} from './execution/progress.ts';

export type {
  SourceSplit,
  SplitPlan,
  Source,
  Sink,
  TableSource,
  Offset,
  ReadLimit,
  SourceBatch,
  SinkBatchInfo,
  SinkContext,
  SinkGuarantee,
  SinkWriteResult,
  SinkTasks,
  SinkWriterRecipe,
  SinkWriterContext,
  SinkTaskWriter,
  SinkTaskReport,
  ConnectorContext,
  ChunkedBatch,
  OutputMode,
  JsonValue,
} from './connectors/contracts.ts';
export { memoryStream, MemoryStream, memorySink, MemorySink } from './connectors/memory/index.ts';
export { foreachBatchSink, type ForeachBatchFunction } from './connectors/foreachBatch/foreachBatchSink.ts';
export { noopSink } from './connectors/noop/noopSink.ts';
export {
  rateSource,
  ratePerBatchSource,
  type RateSourceOptions,
  type RatePerBatchSourceOptions,
  type RateRow,
  type RatePerBatchOffset,
} from './connectors/rate/index.ts';
export {
  socketSource,
  type SocketSourceOptions,
  type SocketRow,
  type SocketRowWithTimestamp,
  type SocketConnectionState,
} from './connectors/socket/index.ts';
export {
  consoleSink,
  formatTable,
  type ConsoleSinkOptions,
  type FormatTableOptions,
} from './connectors/console/index.ts';
export {
  nexmarkSource,
  NexmarkSource,
  type NexmarkSourceOptions,
  bidSchema,
  auctionSchema,
  personSchema,
  type Bid,
  type Auction,
  type Person,
  type NexmarkKind,
  type NexmarkEvent,
  type NexmarkRow,
  generateEvent,
  generateEvents,
  generateBids,
  generateAuctions,
  generatePersons,
  nexmarkConfig,
  maxAuctionLifeMs,
  type NexmarkConfig,
} from './connectors/nexmark/index.ts';
export {
  JsonRecordDecoder,
  JsonRecordEncoder,
  type JsonRecordDecoderOptions,
  type DecodedRecord,
  type RecordLocation,
} from './connectors/codec/index.ts';
export { fileSource, fileSink, readFileSinkOutput, readFileSinkManifest } from './connectors/file/index.ts';
export type {
  FileSourceOptions,
  FileSourceFormat,
  FileSinkOptions,
  FileSinkFormat,
  ParseMode,
  MalformedRecord,
  ManifestEntry,
  ManifestFile,
} from './connectors/file/index.ts';

export { type Clock, systemClock, ManualClock } from './util/clock.ts';
export { type Logger, silentLogger, jsonLogger } from './util/logger.ts';
export { Checkpoint } from './checkpoint/index.ts';
export {
  memoryStateStore,
  lmdbStateStore,
  type MemoryStateStoreOptions,
  type LmdbStateStoreOptions,
  type StateStore,
  type StateStoreProvider,
  type StateStoreMetrics,
} from './state/index.ts';
export { GroupedStream, type AggType } from './api/GroupedStream.ts';
export { AggColumn } from './api/AggColumn.ts';
export { parseDuration } from './util/durations.ts';
/** Durable small files for connectors' state directories (temp → fsync → rename → dir fsync). */
export { writeFileAtomic, readFileIfExists } from './util/fs.ts';
/** Own-property lookups for user-given names (`toString` is not a field of `{}`). */
export { ownValue, hasOwn } from './util/own.ts';
/** Timestamp / date text, read as CAST(text AS TIMESTAMP / DATE) reads it (JSON/CSV ingest uses the same rule). */
export {
  parseTimestampStrict as parseTimestampText,
  parseDateStrict as parseDateText,
} from './expr/functions/datetime.ts';
/** Checkpoint recovery as a pure decision (what `millrace checkpoint inspect` reports as "next"). */
export { decideRecovery, type CheckpointState, type RecoveryDecision } from './checkpoint/recovery.ts';
/** Partitioned sources (Kafka, the log, …): one offset shape and one maxOffsetsPerTrigger rule. */
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
} from './connectors/partitioned/index.ts';
export { collectBatch } from './connectors/collectBatch.ts';
