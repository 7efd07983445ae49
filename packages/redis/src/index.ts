/**
 * @millrace/redis — Redis Streams for Millrace: a source replayable by entry id (each stream key a
 * partition, positions in the checkpoint), a stream sink and a key/hash upsert sink, both exactly
 * once per batch id (one atomic script per batch).
 */
export {
  redisStreamSource,
  RedisStreamSource,
  redisStreamSchema,
  type RedisStreamRow,
  type RedisStreamSourceOptions,
} from './RedisStreamSource.ts';
export { redisStreamSink, RedisStreamSink, type RedisStreamSinkOptions } from './RedisStreamSink.ts';
export { redisHashSink, RedisHashSink, type RedisHashSinkOptions } from './RedisHashSink.ts';
export { redisFieldsDecoder } from './decode.ts';
export { redactUrl } from './connection.ts';
