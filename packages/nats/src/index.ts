/**
 * @millrace/nats — NATS JetStream for Millrace: a source replayable by stream sequence (positions in
 * the checkpoint, ephemeral ordered consumers) and a sink that publishes each batch once
 * (resuming after the subject's last message of the query; Nats-Msg-Id de-duplication behind it).
 */
export {
  jetStreamSource,
  JetStreamSource,
  jetStreamSchema,
  type JetStreamRow,
  type JetStreamSourceOptions,
} from './JetStreamSource.ts';
export { jetStreamSink, JetStreamSink, type JetStreamSinkOptions } from './JetStreamSink.ts';
