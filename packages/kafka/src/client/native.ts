/**
 * Promise wrappers over the callback API of `@confluentinc/kafka-javascript` (its
 * librdkafka-level `KafkaConsumer` / `Producer`, not the KafkaJS-compatible layer — see
 * README "Why this client"), each with a timeout and errors mapped to MillraceErrors.
 */
import type { KafkaConsumer, Metadata, Producer, WatermarkOffsets } from '@confluentinc/kafka-javascript';
import type { Logger } from 'millrace';
import { type KafkaOptions, redactSecrets } from './config.ts';
import { kafkaError, optionError } from './errors.ts';

export type Callback<T> = (err: unknown, value: T) => void;

/** Call `fn(cb)` and settle with its callback, or reject after `timeoutMs` (the client's own timeout + slack). */
export function call<T>(fn: (cb: Callback<T>) => void, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      reject(Object.assign(new Error(`${what}: no answer within ${timeoutMs} ms`), { code: -185 }));
    }, timeoutMs + 2_000);
    try {
      fn((err, value) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) reject(err instanceof Error ? err : Object.assign(new Error(String(err)), err));
        else resolve(value);
      });
    } catch (e) {
      done = true;
      clearTimeout(timer);
      reject(e);
    }
  });
}

export interface ClientEnv {
  readonly bootstrap: string;
  readonly kafkaOptions: KafkaOptions;
  readonly log: Logger;
  /** For log records: which connector this client belongs to. */
  readonly owner: Record<string, string>;
}

/**
 * Construct a client. librdkafka checks the configuration in the constructor and throws a plain
 * Error for a value it does not take or a feature its build lacks (`compression: 'zstd'`
 * without libzstd): that is a bad option, said as one (secret values removed).
 */
export function newClient<T>(make: () => T, where: string, env: ClientEnv): T {
  try {
    return make();
  } catch (e) {
    const msg = redactSecrets(e instanceof Error ? e.message : String(e), env.kafkaOptions);
    throw optionError(
      where,
      `librdkafka refused the client configuration: ${msg}. Change the option it names ` +
        `(compression, or the property in kafkaOptions)`,
      env.owner,
    );
  }
}

/**
 * Send librdkafka's log lines and error events to the query's logger (secrets removed).
 * Without a listener they would be lost; librdkafka never prints them itself here.
 */
export function routeClientEvents(client: KafkaConsumer | Producer, env: ClientEnv): void {
  const emitter = client as unknown as { on(event: string, listener: (arg: any) => void): unknown };
  emitter.on('event.log', (e: { severity?: number; fac?: string; message?: string }) => {
    const fields = {
      ...env.owner,
      facility: e.fac,
      librdkafka: redactSecrets(String(e.message), env.kafkaOptions),
    };
    if ((e.severity ?? 7) <= 4) env.log.warn('kafka client', fields);
    else env.log.debug('kafka client', fields);
  });
  emitter.on('event.error', (err: { code: number; message: string }) => {
    env.log.debug('kafka client error event', {
      ...env.owner,
      code: err.code,
      error: redactSecrets(err.message, env.kafkaOptions),
    });
  });
}

export async function connect(
  client: KafkaConsumer | Producer,
  timeoutMs: number,
  env: ClientEnv,
  what: string,
): Promise<void> {
  try {
    await call<Metadata>((cb) => client.connect({ timeout: timeoutMs }, cb as never), timeoutMs, what);
  } catch (e) {
    // A client that failed to connect still holds threads and sockets.
    await disconnect(client, 1_000);
    throw kafkaError(e, what, env.bootstrap, env.owner);
  }
}

/** Disconnect, never throwing and never waiting longer than `timeoutMs` (+ slack). */
export async function disconnect(client: KafkaConsumer | Producer, timeoutMs = 5_000): Promise<void> {
  try {
    await call<unknown>(
      (cb) => {
        if ('flush' in client && typeof (client as Producer).flush === 'function') {
          (client as Producer).disconnect(timeoutMs, cb as never);
        } else client.disconnect(cb as never);
      },
      timeoutMs,
      'disconnect',
    );
  } catch {
    // Closing is best effort: the process may be shutting down, brokers may be gone.
  }
}

export interface TopicPartitions {
  readonly topic: string;
  readonly partitions: readonly number[];
}

/** Every topic the cluster has (without librdkafka's error entries), with its partition ids. */
export async function listTopics(
  client: KafkaConsumer | Producer,
  timeoutMs: number,
  env: ClientEnv,
): Promise<Map<string, number[]>> {
  try {
    const md = await call<Metadata>(
      (cb) => client.getMetadata({ allTopics: true, timeout: timeoutMs }, cb as never),
      timeoutMs,
      'metadata',
    );
    const out = new Map<string, number[]>();
    for (const t of md.topics) {
      const err = (t as { error?: unknown }).error;
      if (err) continue;
      out.set(
        t.name,
        t.partitions.map((p) => p.id).sort((a, b) => a - b),
      );
    }
    return out;
  } catch (e) {
    throw kafkaError(e, 'reading the topic list (metadata)', env.bootstrap, env.owner);
  }
}

export interface Watermarks {
  /** The first offset still in the log. */
  readonly low: number;
  /** The next offset to be written; for a read_committed client the last stable offset. */
  readonly high: number;
}

/** Low and high watermarks of each partition, queried from its leader (ListOffsets), in parallel. */
export async function queryWatermarks(
  client: KafkaConsumer | Producer,
  partitions: readonly { topic: string; partition: number }[],
  timeoutMs: number,
  env: ClientEnv,
): Promise<Watermarks[]> {
  try {
    return await Promise.all(
      partitions.map(async ({ topic, partition }) => {
        const w = await call<WatermarkOffsets>(
          (cb) => client.queryWatermarkOffsets(topic, partition, timeoutMs, cb as never),
          timeoutMs,
          `watermarks of ${topic}-${partition}`,
        );
        return { low: w.lowOffset, high: w.highOffset };
      }),
    );
  } catch (e) {
    const names =
      partitions.length <= 5
        ? partitions.map((p) => `${p.topic}-${p.partition}`).join(', ')
        : `${partitions.length} partitions`;
    throw kafkaError(e, `reading the offsets of ${names}`, env.bootstrap, env.owner);
  }
}

/**
 * Consume calls wait up to `pollTimeoutMs` for the first record, then return what is ready
 * (instead of waiting for each of the `n` records asked for).
 */
export function configureConsume(consumer: KafkaConsumer, pollTimeoutMs: number): void {
  consumer.setDefaultConsumeTimeout(pollTimeoutMs);
  // Not in the client's type declarations (1.10), but part of its API (lib/kafka-consumer.js).
  (
    consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(v: boolean): void }
  ).setDefaultIsTimeoutOnlyForFirstMessage(true);
}
