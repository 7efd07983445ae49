/**
 * @millrace/rabbitmq — RabbitMQ source (acknowledged only once durable in a
 * write-ahead log in the checkpoint) and sink (publisher confirms, message
 * ids for de-duplication).
 */
export {
  rabbitmqSource,
  RABBITMQ_METADATA,
  type RabbitMqSourceOptions,
  type RabbitMqMetadata,
  type RabbitMqMetadataColumn,
  type RabbitMqStringRow,
  type RabbitMqBytesRow,
} from './RabbitMqSource.ts';
export { rabbitmqSink, RabbitMqSink, BATCH_HEADER, type RabbitMqSinkOptions } from './RabbitMqSink.ts';
export type { RabbitMqConnectionOptions, RabbitMqTlsOptions } from './connection.ts';
export { WalSource } from '@millrace/log';
export type { WalJsonFormat as JsonFormat } from '@millrace/log';
