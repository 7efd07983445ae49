/**
 * Commit markers of the transactional Kafka sink: one record per committed micro-batch in a
 * control topic, written INSIDE the batch's transaction, so it becomes visible (to
 * read_committed readers) exactly when the batch's records do.
 *
 *   control topic (default _millrace_sink_commits), partition 0
 *   key   "<queryId>/<sink name>"
 *   value {"v":1,"queryId","sink","batchId","attempt","transactionalId","records",
 *          "partitions":{"topic":{"p":[firstOffset,lastOffset]}},"at"}
 *
 * The last committed batch of a sink = the highest batchId among its markers, found by
 * reading partition 0 backwards in growing windows from its last stable offset (a compacted
 * control topic keeps it short; the newest marker is usually within the first window).
 */
import type { KafkaConsumer } from '@confluentinc/kafka-javascript';
import { kafkaError } from '../client/errors.ts';
import { type ClientEnv, listTopics, queryWatermarks } from '../client/native.ts';
import { readRanges } from '../client/rangeReader.ts';
import { externalError } from '../client/errors.ts';

export const DEFAULT_CONTROL_TOPIC = '_millrace_sink_commits';
export const CONTROL_PARTITION = 0;

export interface CommitMarker {
  readonly v: 1;
  readonly queryId: string;
  readonly sink: string;
  readonly batchId: number;
  /** Unique per write attempt of a batch (a replay after a crash is a new attempt). */
  readonly attempt: string;
  readonly transactionalId: string;
  /** Records written by the batch. */
  readonly records: number;
  /** Per topic and partition, the first and last offset the batch wrote there. */
  readonly partitions: Readonly<Record<string, Readonly<Record<string, readonly [number, number]>>>>;
  /** ISO time of the write. */
  readonly at: string;
}

export function markerKey(queryId: string, sink: string): string {
  return `${queryId}/${sink}`;
}

function parseMarker(value: Buffer | null): CommitMarker | null {
  if (value === null) return null;
  try {
    const m = JSON.parse(value.toString('utf8')) as CommitMarker;
    return m && m.v === 1 && Number.isSafeInteger(m.batchId) ? m : null;
  } catch {
    return null;
  }
}

export interface MarkerReadOptions {
  readonly consumer: KafkaConsumer;
  readonly env: ClientEnv;
  readonly controlTopic: string;
  readonly timeoutMs: number;
}

/** Whether the control topic exists (it is created on the first write where the cluster auto-creates topics). */
export async function controlTopicExists(o: MarkerReadOptions): Promise<boolean> {
  const topics = await listTopics(o.consumer, o.timeoutMs, o.env);
  return (topics.get(o.controlTopic) ?? []).includes(CONTROL_PARTITION);
}

async function readWindow(
  o: MarkerReadOptions,
  from: number,
  to: number,
  key: string | null,
): Promise<CommitMarker[]> {
  const out: CommitMarker[] = [];
  for await (const msgs of readRanges(
    o.consumer,
    [{ topic: o.controlTopic, partition: CONTROL_PARTITION, start: from, end: to }],
    {
      maxMessages: 10_000,
      pollTimeoutMs: 200,
      stallTimeoutMs: o.timeoutMs,
      onStall: async () =>
        externalError(
          'KAFKA_READ_STALLED',
          `reading commit markers from ${o.controlTopic}-${CONTROL_PARTITION} (offsets ${from}..${to - 1}) made no progress for ${o.timeoutMs} ms; is Kafka at ${o.env.bootstrap} reachable?`,
          { context: o.env.owner },
        ),
      onError: (e) =>
        kafkaError(e, `reading commit markers from ${o.controlTopic}`, o.env.bootstrap, o.env.owner),
    },
  )) {
    for (const m of msgs) {
      if (key !== null) {
        const k = m.key === null || m.key === undefined ? null : m.key.toString();
        if (k !== key) continue;
      }
      const marker = parseMarker(m.value);
      if (marker) out.push(marker);
    }
  }
  return out;
}

/** The newest committed marker of `key`, or null if the sink never committed a batch. */
export async function readLastMarker(o: MarkerReadOptions, key: string): Promise<CommitMarker | null> {
  if (!(await controlTopicExists(o))) return null;
  const [w] = await queryWatermarks(
    o.consumer,
    [{ topic: o.controlTopic, partition: CONTROL_PARTITION }],
    o.timeoutMs,
    o.env,
  );
  let hi = w!.high;
  let size = 1_000;
  while (hi > w!.low) {
    const lo = Math.max(w!.low, hi - size);
    const found = await readWindow(o, lo, hi, key);
    if (found.length > 0) return found.reduce((a, b) => (b.batchId > a.batchId ? b : a));
    hi = lo;
    size *= 4;
  }
  return null;
}

/** Every committed marker in the control topic (optionally only one key's), oldest first. */
export async function readAllMarkers(o: MarkerReadOptions, key: string | null): Promise<CommitMarker[]> {
  if (!(await controlTopicExists(o))) return [];
  const [w] = await queryWatermarks(
    o.consumer,
    [{ topic: o.controlTopic, partition: CONTROL_PARTITION }],
    o.timeoutMs,
    o.env,
  );
  return readWindow(o, w!.low, w!.high, key);
}
