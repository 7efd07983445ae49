/**
 * librdkafka errors → MillraceErrors that say what is wrong and what to do.
 *
 * Every message names the bootstrap servers (never credentials: those live in
 * kafkaOptions, which are never quoted) so an operator knows which cluster failed.
 */
import { MillraceError, externalError, type ErrorContext } from 'millrace';

/** The shape of the client's LibrdKafkaError (kept structural: the client is loaded lazily). */
export interface RdKafkaErrorLike {
  readonly message: string;
  readonly code: number;
  readonly isFatal?: boolean;
  readonly isRetriable?: boolean;
  readonly isTxnRequiresAbort?: boolean;
}

/** librdkafka error codes Millrace reacts to (from the client's CODES.ERRORS). */
export const RD = {
  TRANSPORT: -195,
  RESOLVE: -193,
  MSG_TIMED_OUT: -192,
  ALL_BROKERS_DOWN: -187,
  TIMED_OUT: -185,
  QUEUE_FULL: -184,
  STATE: -172,
  AUTHENTICATION: -169,
  TIMED_OUT_QUEUE: -166,
  FENCED: -144,
  AUTO_OFFSET_RESET: -140,
  UNKNOWN_TOPIC: -188,
  UNKNOWN_PARTITION: -190,
  OFFSET_OUT_OF_RANGE: 1,
  UNKNOWN_TOPIC_OR_PART: 3,
  MSG_SIZE_TOO_LARGE: 10,
  TOPIC_AUTHORIZATION_FAILED: 29,
  GROUP_AUTHORIZATION_FAILED: 30,
  CLUSTER_AUTHORIZATION_FAILED: 31,
  INVALID_PRODUCER_EPOCH: 47,
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 53,
  SASL_AUTHENTICATION_FAILED: 58,
  PRODUCER_FENCED: 90,
} as const;

const UNREACHABLE = new Set<number>([
  RD.TRANSPORT,
  RD.RESOLVE,
  RD.ALL_BROKERS_DOWN,
  RD.TIMED_OUT,
  RD.TIMED_OUT_QUEUE,
  RD.MSG_TIMED_OUT,
]);
const NOT_ALLOWED = new Set<number>([
  RD.AUTHENTICATION,
  RD.SASL_AUTHENTICATION_FAILED,
  RD.TOPIC_AUTHORIZATION_FAILED,
  RD.GROUP_AUTHORIZATION_FAILED,
  RD.CLUSTER_AUTHORIZATION_FAILED,
  RD.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
]);
const FENCED = new Set<number>([RD.FENCED, RD.PRODUCER_FENCED, RD.INVALID_PRODUCER_EPOCH]);

export function isRdKafkaError(e: unknown): e is RdKafkaErrorLike {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { code?: unknown }).code === 'number' &&
    typeof (e as { message?: unknown }).message === 'string'
  );
}

/** A bad option: the user must change the configuration. */
export function optionError(where: string, message: string, context?: ErrorContext): MillraceError {
  return new MillraceError('INVALID_OPTION', `${where}: ${message}`, { domain: 'user', context });
}

// The classified helpers are the engine's (one definition, not a copy per package).
export { userError, externalError, internalError } from 'millrace';

/**
 * Classify a client error. `what` says what Millrace was doing ("reading the latest offsets of
 * topic bids"); `bootstrap` names the cluster.
 */
export function kafkaError(
  err: unknown,
  what: string,
  bootstrap: string,
  context: ErrorContext = {},
): MillraceError {
  if (err instanceof MillraceError) return err;
  const ctx = { ...context, bootstrapServers: bootstrap };
  if (!isRdKafkaError(err)) {
    const msg = err instanceof Error ? err.message : String(err);
    return externalError('KAFKA_ERROR', `${what} failed (Kafka at ${bootstrap}): ${msg}`, {
      context: ctx,
      cause: err,
      retryable: false,
    });
  }
  const detail = `${err.message} (librdkafka code ${err.code})`;
  if (UNREACHABLE.has(err.code)) {
    return externalError(
      'KAFKA_UNAVAILABLE',
      `${what} failed: cannot reach Kafka at ${bootstrap}: ${detail}. Check that the brokers are ` +
        `running and reachable from this machine (bootstrapServers, listeners, firewalls), then restart the query`,
      { context: ctx, cause: err, retryable: true },
    );
  }
  if (NOT_ALLOWED.has(err.code)) {
    return new MillraceError(
      'KAFKA_NOT_AUTHORIZED',
      `${what} failed: Kafka at ${bootstrap} refused the request: ${detail}. Check the credentials ` +
        `(sasl.* / ssl.* in kafkaOptions) and the ACLs of this principal on the topics, ` +
        `consumer group and transactional id involved`,
      { domain: 'user', retryable: false, context: ctx, cause: err },
    );
  }
  if (FENCED.has(err.code)) {
    return externalError(
      'KAFKA_PRODUCER_FENCED',
      `${what} failed: this producer was fenced by another one with the same transactional.id on ` +
        `Kafka at ${bootstrap} (${detail}). Another process runs the same query (same checkpoint); ` +
        `stop one of them`,
      { context: ctx, cause: err, retryable: false },
    );
  }
  if (err.code === RD.UNKNOWN_TOPIC_OR_PART || err.code === RD.UNKNOWN_TOPIC) {
    return new MillraceError(
      'KAFKA_UNKNOWN_TOPIC',
      `${what} failed: the topic or partition does not exist on Kafka at ${bootstrap}: ${detail}. ` +
        `Create the topic, or fix its name`,
      { domain: 'user', retryable: false, context: ctx, cause: err },
    );
  }
  return externalError('KAFKA_ERROR', `${what} failed (Kafka at ${bootstrap}): ${detail}`, {
    context: ctx,
    cause: err,
    retryable: err.isFatal ? false : (err.isRetriable ?? true),
  });
}
