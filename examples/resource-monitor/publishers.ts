/**
 * Where samples go: the embedded log (a directory, or an open Log), its HTTP ingest, Kafka, MQTT
 * or Kinesis.
 * Each record is one sample as JSON, keyed by host (so one host's samples stay in order in one
 * partition). `publish` resolves once the samples are stored (log: committed to disk; HTTP: the
 * ingest answered 200, which it does after the append is durable; Kafka: acknowledged).
 *
 * HTTP retries are safe: every request carries an Idempotency-Key, so a retry after a lost answer
 * stores nothing twice (the ingest remembers keys for an hour).
 *
 *   POST <url>/topics/<topic>?key=host      application/x-ndjson, Idempotency-Key: <uuid>
 *     200 → done · 429/5xx/network → wait (Retry-After or backoff), same key, again · 4xx → fail
 */
import { randomUUID } from 'node:crypto';
import { MillraceError } from 'millrace';
import { openLog, type Log } from '@millrace/log';
import { loadKafkaClient, type KafkaModule } from '@millrace/kafka';
import * as mqtt from 'mqtt';
import { PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { ensureStream, kinesisClient, kinesisUnavailable } from './kinesis.ts';
import { sampleToJson, type MetricSample } from './metrics.ts';

export interface MetricsPublisher {
  /** For messages: where the samples go (no secrets). */
  readonly target: string;
  publish(samples: readonly MetricSample[]): Promise<void>;
  close(): Promise<void>;
}

/** Append to a topic of the embedded log: an open `log` (not closed here) or a `dir` (opened here). */
export async function logPublisher(options: {
  readonly log?: Log;
  readonly dir?: string;
  readonly topic: string;
}): Promise<MetricsPublisher> {
  if ((options.log === undefined) === (options.dir === undefined)) {
    throw new MillraceError(
      'INVALID_OPTION',
      'logPublisher: give exactly one of "log" (an open Log) or "dir"',
      {
        domain: 'user',
      },
    );
  }
  const log = options.log ?? (await openLog({ dir: options.dir! }));
  return {
    target: `log ${log.dir} topic ${options.topic}`,
    async publish(samples) {
      if (samples.length === 0) return;
      await log.append(
        options.topic,
        samples.map((s) => ({ key: s.host, value: sampleToJson(s) })),
      );
    },
    async close() {
      if (options.log === undefined) await log.close();
    },
  };
}

export interface HttpPublisherOptions {
  /** The ingest server's base URL, e.g. http://127.0.0.1:8090. */
  readonly url: string;
  readonly topic: string;
  /** Per request; default 10 s. */
  readonly timeoutMs?: number;
  /** Attempts per request before giving up; default 10 (with backoff up to 5 s: about half a minute). */
  readonly maxAttempts?: number;
  /** Stops retrying (the publish rejects) when aborted. */
  readonly signal?: AbortSignal;
}

/** POST to the embedded log's HTTP ingest (NDJSON, keyed by host, idempotent retries). */
export function httpPublisher(options: HttpPublisherOptions): MetricsPublisher {
  let base: URL;
  try {
    base = new URL(options.url);
  } catch {
    throw new MillraceError(
      'INVALID_OPTION',
      `--ingest: "${options.url}" is not a URL; give the ingest server's address, e.g. http://127.0.0.1:8090`,
      { domain: 'user' },
    );
  }
  const endpoint = new URL(
    `topics/${encodeURIComponent(options.topic)}?key=host`,
    base.href.replace(/\/?$/, '/'),
  );
  const shown = `${endpoint.protocol}//${endpoint.host}${endpoint.pathname}`; // no user:password
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxAttempts = options.maxAttempts ?? 10;
  return {
    target: `HTTP ingest ${shown}`,
    async publish(samples) {
      if (samples.length === 0) return;
      const body = samples.map(sampleToJson).join('\n');
      const key = randomUUID();
      let lastProblem = '';
      for (let attempt = 1; attempt <= maxAttempts; attempt++) {
        let waitMs = Math.min(5_000, 200 * 2 ** (attempt - 1));
        try {
          const res = await fetch(endpoint, {
            method: 'POST',
            headers: { 'content-type': 'application/x-ndjson', 'idempotency-key': key },
            body,
            signal: AbortSignal.timeout(timeoutMs),
          });
          const text = await res.text();
          if (res.ok) return;
          lastProblem = `${res.status} ${text.slice(0, 300)}`;
          if (res.status !== 429 && res.status < 500) {
            throw new MillraceError('INGEST_REFUSED', `${shown} refused the samples: ${lastProblem}`, {
              domain: 'user',
              context: { url: shown },
            });
          }
          const retryAfter = Number(res.headers.get('retry-after'));
          if (retryAfter > 0) waitMs = retryAfter * 1000;
        } catch (e) {
          if (e instanceof MillraceError) throw e;
          lastProblem = (e as Error).message;
        }
        if (options.signal?.aborted || attempt === maxAttempts) break;
        await new Promise((r) => setTimeout(r, waitMs));
      }
      throw new MillraceError(
        'INGEST_UNAVAILABLE',
        `cannot deliver ${samples.length} samples to ${shown} (${lastProblem}); is the pipeline ` +
          '(its ingest server) running at that address?',
        { domain: 'external', retryable: true, context: { url: shown } },
      );
    },
    async close() {},
  };
}

type Producer = InstanceType<KafkaModule['Producer']>;

/** Produce to a Kafka topic (idempotent producer, acks=all), keyed by host. */
export async function kafkaPublisher(options: {
  readonly bootstrapServers: string;
  readonly topic: string;
}): Promise<MetricsPublisher> {
  const Kafka = await loadKafkaClient();
  const producer: Producer = new Kafka.Producer({
    'bootstrap.servers': options.bootstrapServers,
    'enable.idempotence': true,
    'linger.ms': 5,
    dr_cb: true,
  } as never);
  await new Promise<void>((resolve, reject) =>
    producer.connect({ timeout: 10_000 } as never, (err) =>
      err
        ? reject(
            new MillraceError(
              'KAFKA_UNAVAILABLE',
              `cannot connect to Kafka at ${options.bootstrapServers}: ${err.message}; check --kafka`,
              { domain: 'external', retryable: true, cause: err },
            ),
          )
        : resolve(),
    ),
  );
  producer.setPollInBackground(true);
  producer.on('delivery-report', (err, report) => {
    (report.opaque as ((e: unknown) => void) | undefined)?.(err ?? null);
  });
  return {
    target: `Kafka ${options.bootstrapServers} topic ${options.topic}`,
    async publish(samples) {
      await Promise.all(
        samples.map(
          (s) =>
            new Promise<void>((resolve, reject) => {
              const done = (e: unknown) => (e ? reject(e) : resolve());
              for (;;) {
                try {
                  // Timestamp: produce time (a --fake run may start in the past; retention must not eat it).
                  producer.produce(options.topic, null, Buffer.from(sampleToJson(s)), s.host, null, done);
                  return;
                } catch (e) {
                  // -184: the local queue is full; let librdkafka send some, then try again.
                  if ((e as { code?: number }).code !== -184) throw e;
                  producer.poll();
                }
              }
            }),
        ),
      );
    },
    async close() {
      await new Promise<void>((r) => producer.disconnect(5_000, () => r()));
    },
  };
}

/**
 * Publish to MQTT (the IoT path): each sample with QoS 1 to `<topic>/<host>`; `publish` resolves
 * once the broker acknowledged every sample (PUBACK). The client reconnects by itself.
 */
export async function mqttPublisher(options: {
  readonly url: string;
  readonly topic: string;
}): Promise<MetricsPublisher> {
  let client: mqtt.MqttClient;
  try {
    client = await mqtt.connectAsync(options.url, { reconnectPeriod: 500, connectTimeout: 10_000 });
  } catch (e) {
    throw new MillraceError(
      'MQTT_UNAVAILABLE',
      `cannot connect to the MQTT broker at ${new URL(options.url).host}: ${(e as Error).message}; check --mqtt`,
      { domain: 'external', retryable: true },
    );
  }
  client.on('error', () => {}); // reconnects; publishes wait for it
  return {
    target: `MQTT ${new URL(options.url).host} topics ${options.topic}/<host>`,
    async publish(samples) {
      await Promise.all(
        samples.map((s) => client.publishAsync(`${options.topic}/${s.host}`, sampleToJson(s), { qos: 1 })),
      );
    },
    async close() {
      await client.endAsync();
    },
  };
}

/**
 * Put to a Kinesis stream (created if missing), partition key = host, 500 records per PutRecords;
 * `publish` resolves once Kinesis accepted every sample. Records refused in a partly failed answer
 * (throttling) are sent again after a backoff; a failed request rejects (the agent keeps the
 * samples and tries again), so a sample whose answer was lost may be stored twice: at least once.
 */
export async function kinesisPublisher(options: {
  readonly endpoint: string;
  readonly stream: string;
}): Promise<MetricsPublisher> {
  const client = kinesisClient(options.endpoint);
  await ensureStream(client, options.endpoint, options.stream);
  const put = async (entries: PutRecordsRequestEntry[]): Promise<void> => {
    for (let attempt = 1; entries.length > 0; attempt++) {
      let res;
      try {
        res = await client.send(new PutRecordsCommand({ StreamName: options.stream, Records: entries }));
      } catch (e) {
        throw kinesisUnavailable(options.endpoint, e);
      }
      const refused = entries.filter((_, i) => res.Records?.[i]?.ErrorCode !== undefined);
      if (refused.length > 0 && attempt >= 10) {
        throw new MillraceError(
          'KINESIS_UNAVAILABLE',
          `Kinesis refused ${refused.length} samples 10 times (${res.Records?.find((r) => r.ErrorCode)?.ErrorCode})`,
          { domain: 'external', retryable: true },
        );
      }
      entries = refused;
      if (entries.length > 0) await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** attempt)));
    }
  };
  return {
    target: `Kinesis ${new URL(options.endpoint).host} stream ${options.stream}`,
    async publish(samples) {
      for (let i = 0; i < samples.length; i += 500) {
        await put(
          samples
            .slice(i, i + 500)
            .map((s) => ({ PartitionKey: s.host, Data: Buffer.from(sampleToJson(s)) })),
        );
      }
    },
    async close() {
      client.destroy();
    },
  };
}
