/**
 * @millrace/kafka — Kafka source and sink for Millrace, on librdkafka
 * (`@confluentinc/kafka-javascript`, loaded lazily: see README "Installation").
 */
export { kafkaSource, KafkaSource, type KafkaSourceOptions } from './source/KafkaSource.ts';
export {
  type KafkaRow,
  type KafkaStringRow,
  type KafkaHeader,
  type KafkaHeadersColumn,
  type KafkaMetadataColumns,
  type KafkaFormat,
  type JsonFormat,
  type KafkaSourceRow,
  kafkaBytesSchema,
  kafkaStringSchema,
} from './source/rows.ts';
export { kafkaSink, KafkaSink, type KafkaSinkOptions } from './sink/KafkaSink.ts';
export type { SinkFormat as KafkaSinkFormat, JsonSinkFormat } from './sink/records.ts';
export { type CommitMarker, DEFAULT_CONTROL_TOPIC } from './sink/commitMarkers.ts';
export { readKafkaSinkCommits, type ReadKafkaSinkCommitsOptions } from './sink/readCommits.ts';
export { loadKafkaClient, type KafkaModule } from './client/loadClient.ts';
export type { KafkaOptions, KafkaOptionValue } from './client/config.ts';
export {
  kafkaGroupMember,
  KafkaGroupMember,
  type KafkaGroupMemberOptions,
  type GroupTask,
  type GroupTaskState,
  type GroupTaskStatus,
  type GroupMemberStatus,
} from './group/GroupMember.ts';
