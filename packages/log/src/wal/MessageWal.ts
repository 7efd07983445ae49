/**
 * The receiver write-ahead log of a non-replayable source: one topic of the
 * embedded log (@millrace/log, LMDB) in the source's state directory, inside
 * the query's checkpoint. A message is acknowledged to the broker only after
 * `append` resolved, i.e. after the LMDB commit is fsynced; the WAL offset is
 * then the source's offset, and a batch is re-read from the WAL on a replay.
 *
 *   broker ──deliver──► queue (memory) ──append (group commit, fsync)──► WAL ──ack──► broker
 *                                                                         │
 *             getBatch(start, end) reads offsets [start, end) ◄───────────┘
 *             commit(end) → release(…) deletes offsets below end
 *
 * Release. The log deletes by time or size only, so the WAL gives every
 * record a timestamp that never decreases (receive time, held at the last
 * one when the wall clock steps back) and gives the log a clock that reads
 * "the timestamp of the first record to keep" + 1 ms: time retention with a
 * 1 ms limit then deletes exactly the records before it, and stops at the first
 * record whose timestamp is not older — never one at or past that offset.
 * (Records sharing the cut's millisecond stay until a later release.)
 */
import * as path from 'node:path';
import { openLog, type AppendRecord, type Log } from '../log/Log.ts';
import type { LogRecord } from '../log/recordFormat.ts';
import { systemClock, type Clock, type Logger } from 'millrace';

const TOPIC = 'messages';

export interface WalEntry {
  readonly value: Uint8Array;
  /** Routing key / MQTT topic. */
  readonly key: string | null;
  /** Connector metadata (strings), stored as the record's headers. */
  readonly meta: Readonly<Record<string, string>>;
}

export class MessageWal {
  private lastTimestamp = 0;
  private cut = 0;

  private constructor(
    private readonly log: Log,
    private readonly clock: { value: number },
  ) {}

  static async open(stateDir: string, logger: Logger): Promise<MessageWal> {
    const cutClock = { value: 0 };
    const clock: Clock = { now: () => cutClock.value, sleepUntil: systemClock.sleepUntil };
    const log = await openLog({
      dir: path.join(stateDir, 'wal'),
      fsync: 'always',
      retentionCheckIntervalMs: 0,
      autoCreateTopics: false,
      clock,
      logger,
    });
    const wal = new MessageWal(log, cutClock);
    await log.createTopic(TOPIC, { partitions: 1, retentionMs: 1 }, { ifNotExists: true });
    const high = wal.high;
    if (high > wal.low) {
      for await (const chunk of log.read(TOPIC, 0, high - 1, high)) {
        for (const r of chunk) wal.lastTimestamp = r.timestamp;
      }
    }
    return wal;
  }

  /** The next offset to be assigned. */
  get high(): number {
    return this.log.watermarks(TOPIC, 0).high;
  }

  /** The first offset still stored. */
  get low(): number {
    return this.log.watermarks(TOPIC, 0).low;
  }

  /** Append in order; resolves once the records are fsynced. */
  async append(entries: readonly WalEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const ts = Math.max(Date.now(), this.lastTimestamp);
    this.lastTimestamp = ts;
    const records: AppendRecord[] = entries.map((e) => ({
      value: e.value,
      key: e.key,
      headers: e.meta,
      timestamp: ts,
      partition: 0,
    }));
    await this.log.append(TOPIC, records);
  }

  /** Records with offsets in [from, to), in chunks. Released records are absent (compare offsets). */
  read(from: number, to: number, chunkRecords: number): AsyncGenerator<LogRecord[]> {
    return this.log.read(TOPIC, 0, from, to, { chunkRecords });
  }

  /** Delete records below `upTo` (never one at or past it). Returns the new low offset. */
  async release(upTo: number): Promise<number> {
    const high = this.high;
    const low = this.low;
    if (upTo <= low) return low;
    let cutTimestamp = this.lastTimestamp;
    if (upTo < high) {
      for await (const chunk of this.log.read(TOPIC, 0, upTo, upTo + 1)) {
        for (const r of chunk) cutTimestamp = r.timestamp;
      }
    }
    if (cutTimestamp <= this.cut) return low;
    this.cut = cutTimestamp;
    this.clock.value = cutTimestamp + 1; // cutoff = now − retentionMs (1 ms) = cutTimestamp
    await this.log.enforceRetention();
    return this.low;
  }

  async close(): Promise<void> {
    if (!this.log.isClosed) await this.log.close();
  }
}
