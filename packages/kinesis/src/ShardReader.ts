/**
 * Reads one shard forward from a position, a page (GetRecords) at a time, into a buffer the source
 * takes batches from. The buffer lets latestOffset find where a batch ends (Kinesis has no
 * "offset of the newest record") without reading the records twice: getBatch then takes them.
 *
 * Data loss: reading from a checkpointed sequence number X starts AT_SEQUENCE_NUMBER X, so the
 * first record returned must be X itself (then skipped). If it is a later one, X has aged out of
 * the stream's retention (the trim horizon passed it) while the query was away, and records after
 * X may have gone with it: `onDataLoss` decides (fail, or warn and read on).
 */
import { GetRecordsCommand, GetShardIteratorCommand, type _Record } from '@aws-sdk/client-kinesis';
import type { KinesisCaller } from './caller.ts';
import {
  type Position,
  SHARD_END,
  TRIM_HORIZON,
  compareSeq,
  isSequenceNumber,
  timestampOf,
} from './positions.ts';
import { errorName } from './retry.ts';

export interface KinesisRecord {
  readonly seq: string;
  readonly partitionKey: string;
  /** ApproximateArrivalTimestamp, epoch ms. */
  readonly arrival: number;
  readonly data: Uint8Array;
}

export interface ReaderSettings {
  readonly caller: KinesisCaller;
  readonly streamName: string;
  /** GetRecords' Limit (at most 10,000). */
  readonly pageSize: number;
  /** At least this long between two GetRecords calls on a shard (Kinesis allows 5 a second). */
  readonly minReadIntervalMs: number;
  /** Called when records may have been lost; throws to fail the query, or returns to read on. */
  readonly onDataLoss: (shardId: string, problem: string) => void;
}

/** Empty pages in a row on a closed shard before giving up on reaching its end (a safety net). */
const MAX_EMPTY_PAGES_TO_END = 1_000;

export class ShardReader {
  /** Everything up to here is taken; the buffer holds the records after it, in order. */
  position: Position;
  readonly buffer: KinesisRecord[] = [];
  /** NextShardIterator came back null: the (closed) shard has nothing after the buffer. */
  ended = false;
  /** The last page was empty and MillisBehindLatest 0: nothing more right now. */
  caughtUp = false;
  /** MillisBehindLatest of the last page. */
  lagMs: number | undefined;
  private iterator: string | undefined;
  private verifyFirst: string | undefined;
  private lastReadAt = 0;

  constructor(
    private readonly s: ReaderSettings,
    readonly shardId: string,
    position: Position,
  ) {
    this.position = position;
    this.ended = position === SHARD_END;
  }

  /**
   * Read until the buffer holds `want` records, or (with `until`) until it reaches that sequence
   * number or, for SHARD_END, the shard's end; stops early when the shard is caught up.
   */
  async fill(opts: { want?: number; until?: Position; closed?: boolean }, batch?: number): Promise<void> {
    const want = opts.want ?? Number.POSITIVE_INFINITY;
    const until = opts.until;
    this.caughtUp = false;
    let emptyPages = 0;
    while (!this.ended) {
      if (until === undefined && this.buffer.length >= want) return;
      if (until !== undefined && until !== SHARD_END && this.reached(until)) return;
      if (this.iterator === undefined) await this.openIterator(batch);
      const iterator = this.iterator!;
      const room = until === undefined ? want - this.buffer.length : this.s.pageSize;
      const limit = Math.max(1, Math.min(this.s.pageSize, room + (this.verifyFirst ? 1 : 0)));
      // An idle query polls every few ms: keep to the shard's read rate instead of being throttled.
      const wait = this.lastReadAt + this.s.minReadIntervalMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.lastReadAt = Date.now();
      const page = await this.s.caller.run(`reading ${this.shardId}`, batch, async (c) => {
        try {
          return await c.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: limit }));
        } catch (e) {
          // Iterators live 5 minutes; a new one from where the buffer ends reads on exactly.
          if (errorName(e) === 'ExpiredIteratorException') return null;
          throw e;
        }
      });
      if (page === null) {
        this.iterator = undefined;
        continue;
      }
      const got = (page.Records ?? []).map(toRecord);
      if (this.verifyFirst !== undefined && got.length > 0) {
        const expected = this.verifyFirst;
        this.verifyFirst = undefined;
        if (got[0]!.seq === expected) got.shift();
        else
          this.s.onDataLoss(
            this.shardId,
            `the record at sequence number ${expected} of ${this.shardId} has aged out of the stream's retention ` +
              `(the oldest left is ${got[0]!.seq}); records written after it and before that may have been lost`,
          );
      }
      for (const r of got) this.buffer.push(r);
      this.lagMs = page.MillisBehindLatest;
      this.iterator = page.NextShardIterator ?? undefined;
      if (this.iterator === undefined) this.ended = true;
      const empty = (page.Records ?? []).length === 0;
      emptyPages = empty ? emptyPages + 1 : 0;
      if (empty && (page.MillisBehindLatest ?? 0) === 0) {
        this.caughtUp = true;
        // A closed shard (split or merged) is read on until its end is confirmed: "caught up" on
        // it is not "no more data" (its children hold the rest, and are read only after it).
        if ((until !== SHARD_END && !opts.closed) || emptyPages >= MAX_EMPTY_PAGES_TO_END) return;
      }
    }
  }

  /** Whether the buffer holds records up to sequence number `seq`. */
  reached(seq: string): boolean {
    const last = this.buffer[this.buffer.length - 1];
    return last !== undefined && compareSeq(last.seq, seq) >= 0;
  }

  /** How many buffered records are at or before `seq`. */
  countUpTo(seq: string): number {
    let n = 0;
    while (n < this.buffer.length && compareSeq(this.buffer[n]!.seq, seq) <= 0) n++;
    return n;
  }

  /** Take the first `n` buffered records; the position becomes `end`. */
  take(n: number, end: Position): KinesisRecord[] {
    const out = this.buffer.splice(0, n);
    this.position = end;
    return out;
  }

  private async openIterator(batch?: number): Promise<void> {
    const last = this.buffer[this.buffer.length - 1];
    const from = last ? last.seq : this.position;
    let input: ConstructorParameters<typeof GetShardIteratorCommand>[0];
    const base = { StreamName: this.s.streamName, ShardId: this.shardId };
    if (isSequenceNumber(from)) {
      // AT (not AFTER) the last record read: seeing it again proves nothing before it was trimmed.
      input = { ...base, ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: from };
      this.verifyFirst = from;
    } else if (from === TRIM_HORIZON) {
      input = { ...base, ShardIteratorType: 'TRIM_HORIZON' };
    } else {
      input = { ...base, ShardIteratorType: 'AT_TIMESTAMP', Timestamp: new Date(timestampOf(from)!) };
    }
    const res = await this.s.caller.run(`opening ${this.shardId} at ${from}`, batch, (c) =>
      c.send(new GetShardIteratorCommand(input)),
    );
    this.iterator = res.ShardIterator ?? undefined;
    if (this.iterator === undefined) this.ended = true;
  }
}

function toRecord(r: _Record): KinesisRecord {
  return {
    seq: r.SequenceNumber!,
    partitionKey: r.PartitionKey ?? '',
    arrival: r.ApproximateArrivalTimestamp ? r.ApproximateArrivalTimestamp.getTime() : 0,
    data: r.Data ?? new Uint8Array(0),
  };
}
