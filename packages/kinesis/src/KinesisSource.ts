/**
 * kinesisSource: reads a Kinesis Data Stream, replayable by sequence number per shard.
 *
 *   offsets/N = { "<shardId>": "<last sequence number read>" | "SHARD_END" | "TRIM_HORIZON" | … }
 *               in the checkpoint only (positions.ts) — no lease table, nothing kept at AWS
 *   latestOffset(start)  ListShards; each readable shard (parents done, positions.ts) reads ahead
 *                        from its position into a buffer: all that is there, or with
 *                        maxRecordsPerTrigger up to the limit, shared among the shards as Kafka's
 *                        (splitOffsetLimit: proportional, no shard starved); the end is the
 *                        sequence number of each shard's last record in the batch
 *   getBatch(start, end) the buffered records up to end; after a restart, or for a batch replayed,
 *                        the shards are read again from start up to end: the same records
 *   commit(end)          nothing to release (retention is the stream's)
 *
 * Reshards: a closed shard read to its end becomes SHARD_END; its children (TRIM_HORIZON) are read
 * from the next batch on, never before their parents are finished — the KCL's rule, which keeps
 * each partition key's records in order.
 *
 * Data loss (failOnDataLoss, default true): the record a checkpoint points at has aged out of the
 * retention while newer ones remain, or a shard the query had not finished is no longer listed.
 *
 * Throttling (ProvisionedThroughputExceeded: 5 GetRecords calls or 2 MB per second per shard) is
 * waited out with backoff; other transient failures are retried maxRetries times.
 */
import {
  MillraceError,
  externalError,
  schema,
  splitOffsetLimit,
  t,
  type ConnectorContext,
  type Offset,
  type ReadLimit,
  type Schema,
  type Source,
  type SourceBatch,
} from 'millrace';
import { KinesisCaller } from './caller.ts';
import { type KinesisConnectionOptions, Secrets, resolveTarget } from './connection.ts';
import { checkKnown, integerOption, optionError, streamNameOption } from './options.ts';
import {
  type Positions,
  SHARD_END,
  TRIM_HORIZON,
  atTimestamp,
  isPosition,
  isSequenceNumber,
  sortedPositions,
} from './positions.ts';
import { type KinesisRecord, ShardReader } from './ShardReader.ts';
import { listShards, readableShards } from './shards.ts';

export const kinesisSchema = schema({
  /** The shard the record came from (the partition). */
  shardId: t.string,
  /** Its sequence number (decimal text; increasing within a shard). */
  sequenceNumber: t.string,
  partitionKey: t.string,
  /** When Kinesis received it (ApproximateArrivalTimestamp). */
  arrivalTime: t.timestamp,
  /** The payload, decoded as UTF-8. */
  data: t.string,
});

export interface KinesisRow {
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  arrivalTime: number;
  data: string;
}

export interface KinesisSourceOptions extends KinesisConnectionOptions {
  readonly streamName: string;
  /**
   * Where a query without a checkpoint begins: 'earliest' (the trim horizon: every record still
   * kept; the default), 'latest' (records that arrive after the query starts), or
   * { timestamp } (records that arrived at or after it, epoch ms or a Date).
   */
  readonly startingPosition?: 'earliest' | 'latest' | { readonly timestamp: number | Date };
  /** At most this many records per batch, over all shards. Default: every record available. */
  readonly maxRecordsPerTrigger?: number;
  /** Fail when records the query had not read aged out of the retention. Default true. */
  readonly failOnDataLoss?: boolean;
  /** Records per GetRecords call (1–10,000). Default 10,000. */
  readonly pageSize?: number;
  /** At least this long between two GetRecords calls on one shard. Default 200 ms (Kinesis allows 5 a second per shard). */
  readonly minReadIntervalMs?: number;
  /**
   * Trigger.availableNow reads the records that arrived by the query's start, by Kinesis' arrival
   * times: those up to this much later count too, for the difference between this machine's clock
   * and the stream's (a new shard's first records can even carry a later time). Default 2,000 ms.
   */
  readonly availableNowClockSkewMs?: number;
  /** Unique within a query. Default `kinesis-<streamName>`. */
  readonly name?: string;
  /** Retries of a call after a transient failure before the query fails. Default 10. Throttling is always waited out. */
  readonly maxRetries?: number;
  /** Default 100 ms, doubling per retry up to maxBackoffMs (default 5,000 ms). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

const KNOWN = new Set([
  'region',
  'endpoint',
  'credentials',
  'requestTimeoutMs',
  'streamName',
  'startingPosition',
  'maxRecordsPerTrigger',
  'failOnDataLoss',
  'pageSize',
  'minReadIntervalMs',
  'availableNowClockSkewMs',
  'name',
  'maxRetries',
  'initialBackoffMs',
  'maxBackoffMs',
]);
const WHO = 'kinesisSource';
const utf8 = new TextDecoder();

export function kinesisSource(options: KinesisSourceOptions): KinesisSource {
  return new KinesisSource(options);
}

export class KinesisSource implements Source<KinesisRow> {
  readonly name: string;
  readonly schema = kinesisSchema as unknown as Schema<KinesisRow>;
  readonly replayable = true;

  private readonly streamName: string;
  private readonly starting: 'earliest' | 'latest' | number;
  private readonly maxRecords: number | undefined;
  private readonly failOnDataLoss: boolean;
  private readonly pageSize: number;
  private readonly minReadIntervalMs: number;
  private readonly availableNowClockSkewMs: number;
  private readonly caller: KinesisCaller;
  private ctx: ConnectorContext | undefined;
  /** One reader per shard, reading ahead of the last batch planned. */
  private readers = new Map<string, ShardReader>();
  /** Trigger.availableNow: records that arrived after this time (epoch ms) are left for a later query. */
  private availableNowCutoff: number | undefined;

  constructor(options: KinesisSourceOptions) {
    if (options === null || typeof options !== 'object')
      throw optionError(WHO, "pass an options object, e.g. { streamName: 'orders', region: 'eu-west-1' }");
    const o = options as unknown as Record<string, unknown>;
    checkKnown(o, KNOWN, WHO);
    this.streamName = streamNameOption(options.streamName, WHO);
    const target = resolveTarget(options, WHO);
    const st = options.startingPosition ?? 'earliest';
    if (st === 'earliest' || st === 'latest') this.starting = st;
    else {
      const ts =
        st !== null && typeof st === 'object' ? (st as { timestamp?: unknown }).timestamp : undefined;
      const ms = ts instanceof Date ? ts.getTime() : ts;
      if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0)
        throw optionError(
          WHO,
          `"startingPosition" must be 'earliest', 'latest' or { timestamp: <epoch ms or Date> }, got ${JSON.stringify(st)}`,
        );
      this.starting = ms;
    }
    this.maxRecords =
      options.maxRecordsPerTrigger === undefined
        ? undefined
        : integerOption(o, 'maxRecordsPerTrigger', 0, 1, WHO);
    if (options.failOnDataLoss !== undefined && typeof options.failOnDataLoss !== 'boolean')
      throw optionError(WHO, '"failOnDataLoss" must be true or false');
    this.failOnDataLoss = options.failOnDataLoss ?? true;
    this.pageSize = integerOption(o, 'pageSize', 10_000, 1, WHO, 10_000);
    this.minReadIntervalMs = integerOption(o, 'minReadIntervalMs', 200, 0, WHO);
    this.availableNowClockSkewMs = integerOption(o, 'availableNowClockSkewMs', 2000, 0, WHO);
    const retry = {
      maxRetries: integerOption(o, 'maxRetries', 10, 0, WHO),
      initialBackoffMs: integerOption(o, 'initialBackoffMs', 100, 0, WHO),
      maxBackoffMs: integerOption(o, 'maxBackoffMs', 5_000, 0, WHO),
    };
    const name = options.name ?? `kinesis-${this.streamName}`;
    if (typeof name !== 'string' || name.trim() === '')
      throw optionError(WHO, '"name" must be a non-empty string');
    this.name = name;
    this.caller = new KinesisCaller(WHO, name, 'source', this.streamName, target, new Secrets(target), retry);
  }

  describe(): string {
    const limit = this.maxRecords === undefined ? '' : `, maxRecordsPerTrigger=${this.maxRecords}`;
    return this.caller.secrets.scrub(
      `KinesisSource[${this.caller.where}, stream ${this.streamName}${limit}]`,
    );
  }

  async open(ctx: ConnectorContext): Promise<void> {
    this.ctx = ctx;
    this.caller.log = ctx.log;
    this.caller.reportWaiting = ctx.reportWaiting;
    // Fail start() at once on a missing stream, bad credentials or an unreachable endpoint.
    await this.caller.run('listing shards', undefined, (c) => listShards(c, this.streamName));
  }

  // -- offsets -----------------------------------------------------------------------

  private positionsOf(offset: Offset | null, what: string): Positions {
    if (offset === null) return {};
    const ok =
      typeof offset === 'object' &&
      !Array.isArray(offset) &&
      Object.entries(offset).every(([k, v]) => /^shardId-\d+$/.test(k) && isPosition(v));
    if (!ok)
      throw new MillraceError(
        'CHECKPOINT_MISMATCH',
        `kinesisSource "${this.name}": the checkpoint's ${what} offset ${JSON.stringify(offset)} is not a { shardId: sequenceNumber } map; was it written by another source?`,
        { domain: 'user', context: { source: this.name } },
      );
    return offset as Positions;
  }

  /** Where a shard not named in the start offset begins. */
  private defaultPosition(start: Offset | null): string {
    // Shards appearing after the first batch are children of a reshard: all of them is new.
    if (start !== null || this.starting === 'earliest') return TRIM_HORIZON;
    return atTimestamp(this.starting === 'latest' ? this.ctx!.clock.now() : this.starting);
  }

  private dataLoss(problem: string, context: Record<string, string | number>): void {
    if (this.failOnDataLoss)
      throw externalError(
        'KINESIS_DATA_LOSS',
        `kinesisSource "${this.name}": data may have been lost in stream "${this.streamName}": ${problem}. ` +
          'Keep records longer (aws kinesis increase-stream-retention-period) or let the query catch up sooner; ' +
          'set failOnDataLoss: false to read on from the oldest record left, with a warning',
        { retryable: false, context: { source: this.name, ...context } },
      );
    this.ctx?.log.warn('kinesis source read on past lost data (failOnDataLoss: false)', {
      source: this.name,
      problem,
      ...context,
    });
  }

  private newReader(shardId: string, position: string, batch?: number): ShardReader {
    return new ShardReader(
      {
        caller: this.caller,
        streamName: this.streamName,
        pageSize: this.pageSize,
        minReadIntervalMs: this.minReadIntervalMs,
        onDataLoss: (shard, problem) =>
          this.dataLoss(problem, { shard, ...(batch === undefined ? {} : { batch }) }),
      },
      shardId,
      position,
    );
  }

  async latestOffset(start: Offset | null, limit: ReadLimit): Promise<Offset | null> {
    const from = this.positionsOf(start, 'start');
    const shards = await this.caller.run('listing shards', undefined, (c) => listShards(c, this.streamName));
    const listed = new Set(shards.map((s) => s.id));
    const positions: Positions = {};
    for (const [id, p] of Object.entries(from)) {
      if (listed.has(id)) positions[id] = p;
      // Aged out of the retention: fine once read to its end, a loss otherwise.
      else if (p !== SHARD_END)
        this.dataLoss(
          `shard ${id} (read up to ${p}) is no longer listed: it aged out before the query finished it`,
          {
            shard: id,
          },
        );
    }
    for (const s of shards) positions[s.id] ??= this.defaultPosition(start);
    if (start === null && this.starting !== 'earliest') {
      // Fix the starting time in the checkpoint (an empty batch 0), so a replay reads the same records.
      return sortedPositions(positions);
    }

    const readable = readableShards(shards, positions);
    for (const [id, r] of [...this.readers])
      if (positions[id] !== r.position || !listed.has(id)) this.readers.delete(id);
    const readers = readable.map((s) => {
      let r = this.readers.get(s.id);
      if (!r) this.readers.set(s.id, (r = this.newReader(s.id, positions[s.id]!)));
      return r;
    });
    const limited = this.maxRecords !== undefined && limit.kind !== 'all';
    await Promise.all(
      readers.map((r, i) =>
        r.fill({ want: limited ? this.maxRecords! : undefined, closed: readable[i]!.closed }),
      ),
    );
    const counts = readers.map((r) => Math.min(this.eligible(r), limited ? this.maxRecords! : Infinity));
    const take = limited ? splitOffsetLimit(counts, this.maxRecords!) : counts;
    const end: Positions = { ...positions };
    readers.forEach((r, i) => {
      const n = take[i]!;
      if (n > 0) end[r.shardId] = r.buffer[n - 1]!.seq;
      if (r.ended && n === r.buffer.length) end[r.shardId] = SHARD_END;
    });
    // Nothing read and no shard finished or new: no batch.
    const moved =
      start === null
        ? Object.values(end).some((p) => p !== TRIM_HORIZON)
        : Object.keys(end).length !== Object.keys(from).length ||
          Object.entries(end).some(([id, p]) => from[id] !== p);
    return moved ? sortedPositions(end) : start;
  }

  /** Buffered records this query may take: all, or under Trigger.availableNow those that arrived by its start. */
  private eligible(r: ShardReader): number {
    const cutoff = this.availableNowCutoff;
    if (cutoff === undefined) return r.buffer.length;
    let n = 0;
    while (n < r.buffer.length && r.buffer[n]!.arrival <= cutoff) n++;
    return n;
  }

  /**
   * Trigger.availableNow: the query reads what arrived until now (Kinesis' arrival times against
   * this machine's clock) — in as many batches as maxRecordsPerTrigger makes — and then stops.
   * Kinesis has no "newest sequence number" to fix, so the target is a time.
   */
  async prepareForAvailableNow(): Promise<void> {
    this.availableNowCutoff = this.ctx!.clock.now() + this.availableNowClockSkewMs;
  }

  // -- reading -----------------------------------------------------------------------

  async getBatch(
    start: Offset | null,
    end: Offset,
    info: { readonly batchId: number },
  ): Promise<SourceBatch<KinesisRow>> {
    const from = this.positionsOf(start, 'start');
    const to = this.positionsOf(end, 'end');
    const rows: KinesisRow[] = [];
    const batch = info.batchId;
    for (const id of Object.keys(to).sort()) {
      const target = to[id]!;
      const first = from[id] ?? TRIM_HORIZON;
      if (target === first || !(isSequenceNumber(target) || target === SHARD_END)) continue;
      let r = this.readers.get(id);
      if (!r || r.position !== first || !(target === SHARD_END ? r.ended : r.reached(target))) {
        // A restart or a replay: read the shard again from the batch's start.
        r = this.newReader(id, first, batch);
        await r.fill({ until: target }, batch);
        if (target !== SHARD_END && !r.reached(target))
          this.dataLoss(
            `records of ${id} up to ${target}, part of batch ${batch}, are no longer in the stream`,
            {
              shard: id,
              batch,
            },
          );
      }
      const n = target === SHARD_END ? r.buffer.length : r.countUpTo(target);
      for (const rec of r.take(n, target)) rows.push(toRow(id, rec));
      if (target === SHARD_END) this.readers.delete(id);
      else this.readers.set(id, r);
    }
    return { rows, metrics: this.metrics(rows.length) };
  }

  private metrics(read: number): Record<string, number> {
    const lags = [...this.readers.values()].map((r) => r.lagMs).filter((l): l is number => l !== undefined);
    return {
      recordsRead: read,
      shardsReading: this.readers.size,
      maxMsBehindLatest: lags.length ? Math.max(...lags) : 0,
      avgMsBehindLatest: lags.length ? Math.round(lags.reduce((a, b) => a + b, 0) / lags.length) : 0,
      throttledCalls: this.caller.throttled,
    };
  }

  async commit(): Promise<void> {
    // Nothing to release: positions live in the checkpoint, retention is the stream's.
  }

  async close(): Promise<void> {
    this.readers.clear();
    this.caller.close();
  }
}

function toRow(shardId: string, r: KinesisRecord): KinesisRow {
  return {
    shardId,
    sequenceNumber: r.seq,
    partitionKey: r.partitionKey,
    arrivalTime: r.arrival,
    data: utf8.decode(r.data),
  };
}
