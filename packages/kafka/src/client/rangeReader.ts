/**
 * Reads exactly the records in [start, end) of some partitions, by assigning a consumer to
 * them at `start` (no consumer group, nothing committed) and consuming until each partition
 * is past `end - 1`.
 *
 *   offsets  start                                       end
 *              │ r  r  r  C  r  x  x  C  r  r  C │ r  r  r …
 *              └──────────── returned ───────────┘ └ dropped, partition paused
 *   C = transaction control marker (never delivered), x = aborted record (hidden by
 *   read_committed). Offsets have gaps, so a partition is done when
 *     - a record at offset ≥ end − 1 arrives (records ≥ end are dropped), or
 *     - the consumer's position (the next offset for the application, which librdkafka moves
 *       past control markers as it skips them; an aborted transaction always ends with one)
 *       reaches end.
 *   Counting records would stop too late or never: never count, compare offsets.
 *   (End-of-partition events are not used: the client can report one before records of the
 *   same fetch that precede it.)
 *
 * A partition that makes no progress for `stallTimeoutMs` ends the read with the error
 * `onStall` builds (it can look at the watermarks to tell data loss from an outage).
 */
import type { KafkaConsumer, Message } from '@confluentinc/kafka-javascript';
import type { MillraceError } from 'millrace';
import { call } from './native.ts';

export interface PartitionRange {
  readonly topic: string;
  readonly partition: number;
  /** First offset to read. */
  readonly start: number;
  /** Offset after the last one to read. */
  readonly end: number;
}

export interface ReadRangesOptions {
  /** Records asked for per consume call (a chunk). */
  readonly maxMessages: number;
  /** How long one consume call waits for its first record. */
  readonly pollTimeoutMs: number;
  /** No progress on any pending partition for this long ends the read. */
  readonly stallTimeoutMs: number;
  /** The error for partitions that made no progress (with where each one is). */
  readonly onStall: (
    pending: readonly (PartitionRange & { position: number | null })[],
  ) => Promise<MillraceError>;
  /** Errors reported while consuming. */
  readonly onError: (err: unknown) => MillraceError;
  /**
   * Every record of the partition below `offset` has now been returned (by this step's chunk
   * or an earlier one): called with the consumer's position, which moves past transaction
   * markers, and with `end` when the partition is done. Called before the step's chunk is
   * yielded.
   */
  readonly onReached?: (topic: string, partition: number, offset: number) => void;
}

const key = (topic: string, partition: number) => `${partition}\u0000${topic}`;

/** The records of `ranges` (those with end > start), in chunks as they arrive. */
export async function* readRanges(
  consumer: KafkaConsumer,
  ranges: readonly PartitionRange[],
  options: ReadRangesOptions,
): AsyncGenerator<Message[]> {
  const pending = new Map<string, PartitionRange>();
  for (const r of ranges) if (r.end > r.start) pending.set(key(r.topic, r.partition), r);
  // The next offset expected per partition: a record delivered twice (a fetch of an earlier
  // assignment that slipped through) is never returned twice.
  const next = new Map<string, number>([...pending].map(([k, r]) => [k, r.start]));
  if (pending.size === 0) return;

  const paused: { topic: string; partition: number }[] = [];
  const done = (k: string): void => {
    const r = pending.get(k);
    if (!r) return;
    pending.delete(k);
    options.onReached?.(r.topic, r.partition, r.end);
    // Stop fetching what nobody will read.
    const tp = { topic: r.topic, partition: r.partition };
    consumer.pause([tp]);
    paused.push(tp);
  };
  const assigned = [...pending.values()];
  consumer.assign(assigned.map((r) => ({ topic: r.topic, partition: r.partition, offset: r.start })));
  try {
    let lastProgress = performance.now();
    const positions = new Map<string, number>();
    while (pending.size > 0) {
      let messages: Message[];
      try {
        messages = await call<Message[]>(
          (cb) => consumer.consume(options.maxMessages, cb as never),
          options.pollTimeoutMs + 30_000,
          'consume',
        );
      } catch (e) {
        throw options.onError(e);
      }
      let out: Message[] = messages;
      let dropped = false;
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i]!;
        const k = key(m.topic, m.partition);
        const r = pending.get(k);
        if (r === undefined || m.offset < next.get(k)! || m.offset >= r.end) {
          if (r !== undefined && m.offset >= r.end) done(k);
          if (!dropped) {
            out = messages.slice(0, i);
            dropped = true;
          }
          continue;
        }
        if (dropped) out.push(m);
        next.set(k, m.offset + 1);
        if (m.offset + 1 >= r.end) done(k);
      }
      let progressed = out.length > 0;
      if (pending.size > 0) {
        const pos = consumer.position(
          [...pending.values()].map((r) => ({ topic: r.topic, partition: r.partition })),
        );
        for (const p of pos) {
          const k = key(p.topic, p.partition);
          const r = pending.get(k);
          if (r === undefined || typeof p.offset !== 'number' || p.offset < 0) continue;
          if (p.offset >= r.end) done(k);
          else options.onReached?.(r.topic, r.partition, p.offset);
          if (positions.get(k) !== p.offset) {
            positions.set(k, p.offset);
            progressed = true;
          }
        }
      }
      const now = performance.now();
      if (progressed || pending.size === 0) lastProgress = now;
      else if (now - lastProgress > options.stallTimeoutMs) {
        throw await options.onStall(
          [...pending.entries()].map(([k, r]) => ({ ...r, position: positions.get(k) ?? null })),
        );
      }
      if (out.length > 0) yield out;
    }
  } finally {
    try {
      // librdkafka keeps a partition's pause across unassign/assign, and a resume right after
      // the next assign makes the broker thread skip its first fetch (a 1 s stall): resume now.
      if (paused.length > 0) consumer.resume(paused);
      consumer.unassign();
    } catch {
      // Already disconnected (close() during a read): nothing is assigned any more.
    }
  }
}
