/**
 * redisStreamSource: reads Redis Streams, replayable by entry id. Each stream key is a partition.
 *
 *   offsets/N = { "<stream>": { id: "<last entry id read>", n: <entries added up to it> }, … }
 *                        kept in the checkpoint only — never in a consumer group
 *   latestOffset(start)  XINFO STREAM per stream: data loss? the newest id and entries-added;
 *                        with maxEntriesPerTrigger: XRANGE (pos + COUNT k, the limit shared fairly
 *                        among the streams that have entries
 *   getBatch(start, end) per stream, in key order: XRANGE (start end COUNT pageSize, page by page
 *                        — the same rows on a replay, unless entries were deleted meanwhile
 *   commit(end)          nothing to release (the producer's MAXLEN/XTRIM decides retention)
 *
 * Data loss (checkDataLoss): entries after the position a batch starts from were XDELeted (Redis 7's
 * `max-deleted-entry-id` is past it) or trimmed (more entries are gone — entries-added − length —
 * than had been added up to it, `n`). Then entries the query has not read (or must read again) are
 * gone: the source fails with REDIS_DATA_LOSS (failOnDataLoss, the default) or logs a warning and
 * reads what is left.
 *
 * startingOffsets: 'earliest' (from the first entry; the default), 'latest' (only entries added
 * after the query's first batch), or { stream: id } per stream. With 'latest' the first batch is
 * empty: it fixes each stream's newest id as the starting point in the checkpoint (offsets/0), so
 * nothing needs to be kept beside it. A stream added to `streams` later starts the same way.
 *
 * Transient failures (Redis down, restarting, loading its data) are retried with backoff; the query
 * waits and carries on where it was.
 */
import type { Redis } from 'ioredis';
import {
  collectBatch,
  MillraceError,
  externalError,
  schema,
  t,
  type Schema,
  type ConnectorContext,
  type Offset,
  type ReadLimit,
  type Source,
  type SourceBatch,
} from 'millrace';
import type { ChunkedBatch, SourceSplit, SplitPlan } from 'millrace';
import {
  type ConnectionOptions,
  Secrets,
  type Target,
  displayTarget,
  makeClient,
  resolveTarget,
  serverOf,
} from './connection.ts';
import { ZERO_ID, compareIds, idTime, isId } from './ids.ts';
import { type RetrySettings, describeError, withRetries } from './retry.ts';
import { integerOption, optionError } from './options.ts';

export const redisStreamSchema = schema({
  /** The stream key the entry came from (the partition). */
  stream: t.string,
  /** The entry id, `<ms>-<seq>`. */
  id: t.string,
  /** The millisecond part of the id: when Redis added the entry (unless the producer chose ids). */
  timestamp: t.timestamp,
  /** The entry's fields, { name: value } (strings). */
  fields: t.json,
});

export interface RedisStreamRow {
  stream: string;
  id: string;
  timestamp: number;
  fields: Record<string, string>;
}

export interface RedisStreamSourceOptions extends ConnectionOptions {
  /** The stream key(s) to read; each is a partition. */
  readonly streams: string | readonly string[];
  /** 'earliest' (default), 'latest', or { stream: 'id' } (entries after that id). */
  readonly startingOffsets?: 'earliest' | 'latest' | Readonly<Record<string, string>>;
  /** At most this many entries per batch, over all streams. Default: no limit. */
  readonly maxEntriesPerTrigger?: number;
  /** Fail when entries the query has yet to read were deleted (XTRIM, XDEL). Default true. */
  readonly failOnDataLoss?: boolean;
  /** Entries per XRANGE call (and per chunk). Default 1,000. */
  readonly pageSize?: number;
  /** Unique within a query. Default `redis-<streams>`. */
  readonly name?: string;
  /** Retries of a step after a transient failure before the query fails. Default 20. */
  readonly maxRetries?: number;
  /** Default 100 ms, doubling per retry up to maxBackoffMs (default 5,000 ms). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** One connection attempt. Default 5,000 ms. */
  readonly connectTimeoutMs?: number;
}

/**
 * A stream's position: the last entry id read, and `n`, how many entries the stream had ever been
 * given up to it (Redis' entries-added), for data-loss checks after trimming; null when unknown
 * (a starting id given by the user, until the query first catches up with the stream).
 */
interface Position {
  readonly id: string;
  readonly n: number | null;
}
type Positions = Record<string, Position>;

/** Part of a split: the entries of `stream` in (after, to]. */
interface SplitRange {
  readonly stream: string;
  readonly after: string;
  readonly to: string;
}

const KNOWN = new Set([
  'url',
  'connection',
  'streams',
  'startingOffsets',
  'maxEntriesPerTrigger',
  'failOnDataLoss',
  'pageSize',
  'name',
  'maxRetries',
  'initialBackoffMs',
  'maxBackoffMs',
  'connectTimeoutMs',
]);

export function redisStreamSource(options: RedisStreamSourceOptions): RedisStreamSource {
  return new RedisStreamSource(options);
}

interface StreamInfo {
  /** Newest id ever added ('0-0' when missing). */
  readonly last: string;
  /** Newest id XDEL removed ('0-0' when none). */
  readonly maxDeleted: string;
  /** Entries ever added (entries-added), and still there (length). */
  readonly added: number;
  readonly length: number;
  readonly exists: boolean;
}

export class RedisStreamSource implements Source<RedisStreamRow> {
  readonly name: string;
  readonly schema = redisStreamSchema as unknown as Schema<RedisStreamRow>;
  readonly replayable = true;

  private readonly target: Target;
  private readonly secrets: Secrets;
  private readonly streams: readonly string[];
  private readonly starting: 'earliest' | 'latest' | Readonly<Record<string, string>>;
  private readonly maxEntries: number | undefined;
  private readonly failOnDataLoss: boolean;
  private readonly pageSize: number;
  private readonly retry: RetrySettings;
  private client: Redis | undefined;
  private ctx: ConnectorContext | undefined;
  private latest: Positions | null = null;
  private availableNowTarget: Positions | null = null;
  /**
   * Entries applyLimit read to find where a limited batch ends, kept for the getBatch that follows
   * (key `stream|after|to`), so that they are not read twice. Dropped once used or at the next latestOffset.
   */
  private prefetched = new Map<string, [string, string[]][]>();

  constructor(options: RedisStreamSourceOptions) {
    const who = 'redisStreamSource';
    if (options === null || typeof options !== 'object')
      throw optionError(who, "pass an options object, e.g. { url: 'redis://host:6379', streams: 'events' }");
    const o = options as unknown as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!KNOWN.has(k) && o[k] !== undefined)
        throw optionError(who, `unknown option "${k}"; the options are: ${[...KNOWN].join(', ')}`);
    }
    const target = resolveTarget(options);
    if (typeof target === 'string') throw optionError(who, target);
    this.target = target;
    this.secrets = new Secrets(target);
    const streams = typeof options.streams === 'string' ? [options.streams] : options.streams;
    if (
      !Array.isArray(streams) ||
      streams.length === 0 ||
      streams.some((s) => typeof s !== 'string' || s === '')
    ) {
      throw optionError(
        who,
        `"streams" must be a stream key or a non-empty list of them, got ${JSON.stringify(options.streams)}`,
      );
    }
    if (new Set(streams).size !== streams.length)
      throw optionError(who, '"streams" names a stream twice; list each once');
    this.streams = [...streams].sort();
    const st = options.startingOffsets ?? 'earliest';
    if (st !== 'earliest' && st !== 'latest') {
      if (st === null || typeof st !== 'object') {
        throw optionError(
          who,
          `"startingOffsets" must be 'earliest', 'latest' or { stream: 'id' }, got ${JSON.stringify(st)}`,
        );
      }
      for (const [s, id] of Object.entries(st)) {
        if (!this.streams.includes(s))
          throw optionError(who, `"startingOffsets" names stream "${s}", which is not in "streams"`);
        if (!isId(id))
          throw optionError(
            who,
            `"startingOffsets.${s}" must be an entry id like '1700000000000-0', got ${JSON.stringify(id)}`,
          );
      }
    }
    this.starting = st;
    this.maxEntries =
      options.maxEntriesPerTrigger === undefined
        ? undefined
        : integerOption(o, 'maxEntriesPerTrigger', 0, 1, who);
    if (options.failOnDataLoss !== undefined && typeof options.failOnDataLoss !== 'boolean')
      throw optionError(who, '"failOnDataLoss" must be true or false');
    this.failOnDataLoss = options.failOnDataLoss ?? true;
    this.pageSize = integerOption(o, 'pageSize', 1_000, 1, who);
    this.retry = {
      maxRetries: integerOption(o, 'maxRetries', 20, 0, who),
      initialBackoffMs: integerOption(o, 'initialBackoffMs', 100, 0, who),
      maxBackoffMs: integerOption(o, 'maxBackoffMs', 5_000, 0, who),
      connectTimeoutMs: integerOption(o, 'connectTimeoutMs', 5_000, 1, who),
    };
    const name = options.name ?? `redis-${this.streams.join(',')}`;
    if (typeof name !== 'string' || name.trim() === '')
      throw optionError(who, '"name" must be a non-empty string');
    this.name = name;
  }

  describe(): string {
    const limit = this.maxEntries === undefined ? '' : `, maxEntriesPerTrigger=${this.maxEntries}`;
    return this.secrets.scrub(
      `RedisStreamSource[${displayTarget(this.target)}, ${this.streams.join(', ')}${limit}]`,
    );
  }

  private get server(): string {
    return this.secrets.scrub(serverOf(this.target));
  }

  async open(ctx: ConnectorContext): Promise<void> {
    this.ctx = ctx;
    this.client ??= makeClient(this.target, `millrace:${this.name}`, this.retry.connectTimeoutMs);
    // Fail start() at once on a wrong password or an unreachable server (after the retries).
    await this.run('connecting', undefined, () => this.client!.ping());
  }

  /** One retried step against Redis. */
  private async run<T>(doing: string, batch: number | undefined, step: () => Promise<T>): Promise<T> {
    const client = this.client!;
    const { value, retries } = await withRetries(client, this.retry, step, {
      onRetry: ({ retry, delayMs, error }) => {
        this.ctx?.reportWaiting?.(`Redis at ${this.server}: ${this.secrets.scrub(describeError(error))}`);
        this.ctx?.log.warn('redis source: transient failure, retrying', {
          source: this.name,
          ...(batch === undefined ? {} : { batch }),
          retry,
          maxRetries: this.retry.maxRetries,
          delayMs,
          waitingFor: `Redis at ${this.server}`,
          error: this.secrets.scrub(describeError(error)),
        });
      },
      fatal: (e) =>
        externalError(
          'REDIS_FAILED',
          this.secrets.scrub(
            `redisStreamSource "${this.name}": ${doing} on ${this.server} failed: ${describeError(e)}; ${adviceFor(e)}`,
          ),
          {
            retryable: false,
            context: { source: this.name, ...(batch === undefined ? {} : { batch }) },
            cause: e,
          },
        ),
      giveUp: (e, retries, ms) =>
        externalError(
          'REDIS_UNAVAILABLE',
          this.secrets.scrub(
            `redisStreamSource "${this.name}": ${doing} on ${this.server} failed after ${retries} retries over ${(ms / 1000).toFixed(1)} s: ${describeError(e)}. ` +
              `Check that Redis is running and reachable at ${this.server}; raise maxRetries/maxBackoffMs to wait longer. Restarting the query from its checkpoint reads exactly where it stopped.`,
          ),
          {
            retryable: true,
            context: { source: this.name, ...(batch === undefined ? {} : { batch }) },
            cause: e,
          },
        ),
    });
    if (retries > 0) this.ctx?.reportWaiting?.(null);
    return value;
  }

  // -- offsets -----------------------------------------------------------------------

  private async info(stream: string): Promise<StreamInfo> {
    const client = this.client!;
    let raw: unknown[];
    try {
      raw = (await client.call('XINFO', 'STREAM', stream)) as unknown[];
    } catch (e) {
      if (/no such key/i.test(String((e as Error).message))) {
        return { last: ZERO_ID, maxDeleted: ZERO_ID, added: 0, length: 0, exists: false };
      }
      throw e;
    }
    const m = new Map<string, unknown>();
    for (let i = 0; i + 1 < raw.length; i += 2) m.set(String(raw[i]), raw[i + 1]);
    const lastGenerated = m.get('last-generated-id');
    const maxDeleted = m.get('max-deleted-entry-id');
    return {
      last: isId(lastGenerated) ? lastGenerated : ZERO_ID,
      maxDeleted: isId(maxDeleted) ? maxDeleted : ZERO_ID,
      added: Number(m.get('entries-added') ?? 0),
      length: Number(m.get('length') ?? 0),
      exists: true,
    };
  }

  /** Where a stream's reading starts when `start` does not name it; null: at its newest entry (latest). */
  private initialPosition(stream: string): Position | null {
    if (this.starting === 'earliest') return { id: ZERO_ID, n: 0 };
    if (this.starting === 'latest') return null;
    const id = this.starting[stream];
    return id === undefined ? { id: ZERO_ID, n: 0 } : { id, n: id === ZERO_ID ? 0 : null };
  }

  private positionsOf(offset: Offset | null, what: string): Positions {
    if (offset === null) return {};
    const bad = () =>
      new MillraceError(
        'CHECKPOINT_MISMATCH',
        `redisStreamSource "${this.name}": the checkpoint's ${what} offset ${JSON.stringify(offset)} is not a { stream: { id, n } } map; was it written by another source?`,
        { domain: 'user', context: { source: this.name } },
      );
    if (typeof offset !== 'object' || Array.isArray(offset)) throw bad();
    for (const v of Object.values(offset)) {
      const p = v as Position | null;
      if (p === null || typeof p !== 'object' || !isId(p.id) || (p.n !== null && typeof p.n !== 'number'))
        throw bad();
    }
    return offset as unknown as Positions;
  }

  async latestOffset(start: Offset | null, limit: ReadLimit): Promise<Offset | null> {
    const from = this.positionsOf(start, 'start');
    this.prefetched.clear();
    return this.run('finding new entries', undefined, async () => {
      const end: Positions = {};
      const latest: Positions = {};
      const withData: string[] = [];
      for (const s of this.streams) {
        const info = await this.info(s);
        // The newest id ever added (the newest entry may have been XDELeted: reading up to here is the same).
        const tail: Position = { id: info.last, n: info.added };
        latest[s] = tail;
        const pos = from[s] ?? this.initialPosition(s);
        if (pos === null) {
          end[s] = tail; // 'latest': begin at the newest entry; this batch reads nothing of it
          continue;
        }
        this.checkDataLoss(s, pos, info);
        let to = tail;
        const cap = this.availableNowTarget?.[s];
        if (cap !== undefined && compareIds(cap.id, to.id) < 0) to = cap;
        if (compareIds(to.id, pos.id) > 0) {
          end[s] = to;
          withData.push(s);
        } else end[s] = pos;
      }
      this.latest = latest;
      if (this.maxEntries !== undefined && limit.kind !== 'all' && withData.length > 0) {
        await this.applyLimit(from, end, withData);
      }
      // New data, or a stream whose starting point is fixed now ('latest'): a batch to plan.
      const moved = this.streams.some((s) => {
        const eff = from[s] ?? this.initialPosition(s);
        return eff === null || eff.id !== end[s]!.id;
      });
      if (!moved) return start;
      return end as unknown as Offset;
    });
  }

  /**
   * maxEntriesPerTrigger shared among the streams with entries: an equal share each, what one leaves
   * unused goes to the others. A stream cut short ends at the id of its k-th entry (ordinal n + k).
   */
  private async applyLimit(from: Positions, end: Positions, withData: readonly string[]): Promise<void> {
    const client = this.client!;
    let left = this.maxEntries!;
    let open = [...withData];
    const got = new Map<string, [string, string[]][]>();
    const pos: Positions = {};
    for (const s of open) pos[s] = from[s] ?? this.initialPosition(s) ?? end[s]!;
    const cut = new Set<string>();
    while (left > 0 && open.length > 0) {
      const share = Math.max(1, Math.floor(left / open.length));
      const still: string[] = [];
      for (const s of open) {
        if (left <= 0) {
          cut.add(s);
          continue;
        }
        const k = Math.min(share, left);
        // Ids only would do, but XRANGE has no such form; pages of pageSize (large replies parse slowly).
        const entries: [string, string[]][] = [];
        let after = pos[s]!.id;
        while (entries.length < k) {
          const page = (await client.xrange(
            s,
            `(${after}`,
            end[s]!.id,
            'COUNT',
            Math.min(this.pageSize, k - entries.length),
          )) as [string, string[]][];
          for (const e of page) entries.push(e);
          if (page.length === 0 || page.length < Math.min(this.pageSize, k - entries.length + page.length))
            break;
          after = page[page.length - 1]![0];
        }
        left -= entries.length;
        const mine = got.get(s) ?? [];
        for (const e of entries) mine.push(e);
        got.set(s, mine);
        if (entries.length > 0) {
          const n = pos[s]!.n;
          pos[s] = { id: entries[entries.length - 1]![0], n: n === null ? null : n + entries.length };
        }
        if (entries.length === k && compareIds(pos[s]!.id, end[s]!.id) < 0) {
          still.push(s);
          cut.add(s);
        } else cut.delete(s);
      }
      open = still;
    }
    this.prefetched.clear();
    for (const s of withData) {
      if (cut.has(s)) end[s] = pos[s]!;
      const first = from[s] ?? this.initialPosition(s);
      const entries = got.get(s);
      // All entries of (first, end]: a stream not cut was read to its end (its last fetch came back short).
      if (first && entries) this.prefetched.set(`${s}|${first.id}|${end[s]!.id}`, entries);
    }
  }

  /**
   * Were entries after `pos` deleted before the query read them? Two signs, both exact:
   *   - XDEL: Redis 7 keeps the newest id it deleted (`max-deleted-entry-id`) — past `pos`: lost;
   *   - XTRIM / MAXLEN remove the oldest entries: entries-added − length of them are gone. `pos.n`
   *     is how many entries were ever added up to `pos`; more gone than that: some came after it.
   */
  private checkDataLoss(stream: string, pos: Position, info: StreamInfo, batch?: number): void {
    let problem: string | null = null;
    if (compareIds(info.maxDeleted, pos.id) > 0) {
      problem = `stream "${stream}": entries after ${pos.id} (up to ${info.maxDeleted}) were deleted (XDEL) before the query read them`;
    } else if (pos.n !== null && info.exists && info.added - info.length > pos.n) {
      problem =
        `stream "${stream}": ${info.added - info.length - pos.n} entries after ${pos.id} were trimmed (XTRIM or XADD MAXLEN/MINID) ` +
        `before the query read them`;
    }
    if (problem === null) return;
    if (this.failOnDataLoss) {
      throw externalError(
        'REDIS_DATA_LOSS',
        `redisStreamSource "${this.name}": data was lost: ${problem}. Keep streams long enough for the query to catch up ` +
          `(a larger MAXLEN, or trim with XTRIM MINID behind the query's committed ids), or set failOnDataLoss: false to skip lost entries with a warning`,
        {
          retryable: false,
          context: { source: this.name, stream, ...(batch === undefined ? {} : { batch }) },
        },
      );
    }
    this.ctx?.log.warn('redis source skipped lost data (failOnDataLoss: false)', {
      source: this.name,
      stream,
      problem,
      ...(batch === undefined ? {} : { batch }),
    });
  }

  async prepareForAvailableNow(): Promise<void> {
    this.availableNowTarget = await this.run('finding the newest entries', undefined, async () => {
      const t: Positions = {};
      for (const s of this.streams) {
        const info = await this.info(s);
        t[s] = { id: info.last, n: info.added };
      }
      return t;
    });
  }

  reportLatestOffset(): Offset | null {
    return this.latest as unknown as Offset | null;
  }

  // -- reading -----------------------------------------------------------------------

  async getBatch(
    start: Offset | null,
    end: Offset,
    info: { readonly batchId: number },
  ): Promise<SourceBatch<RedisStreamRow>> {
    return collectBatch(this.getBatchChunks(start, end, info));
  }

  getBatchChunks(
    start: Offset | null,
    end: Offset,
    info: { readonly batchId: number },
  ): ChunkedBatch<RedisStreamRow> {
    const from = this.positionsOf(start, 'start');
    const to = this.positionsOf(end, 'end');
    const stats = { read: 0 };
    return Object.assign(this.readRange(from, to, info.batchId, stats), {
      summary: () => {
        const metrics: Record<string, number> = { entriesRead: stats.read, streams: this.streams.length };
        if (this.latest) {
          let lagMs = 0;
          let lagEntries = 0;
          let behind = 0;
          for (const s of this.streams) {
            const newest = this.latest[s];
            const mine = to[s];
            if (!newest || !mine || compareIds(newest.id, mine.id) <= 0) continue;
            behind++;
            lagMs = Math.max(lagMs, idTime(newest.id) - idTime(mine.id));
            if (newest.n !== null && mine.n !== null) lagEntries += Math.max(0, newest.n - mine.n);
          }
          metrics.lagMs = lagMs;
          metrics.lagEntries = lagEntries;
          metrics.streamsBehind = behind;
        }
        return { metrics };
      },
    });
  }

  /** Entries in (from, to] of each stream, in key order, a page per chunk. */
  private async *readRange(
    from: Positions,
    to: Positions,
    batchId: number,
    stats: { read: number },
  ): AsyncGenerator<RedisStreamRow[]> {
    for (const s of this.streams) {
      const last = to[s];
      if (last === undefined) continue;
      // A stream not in `from`: from its initial position; with 'latest' its first batch reads nothing.
      const start = from[s] ?? this.initialPosition(s) ?? last;
      if (compareIds(last.id, start.id) <= 0) continue;
      const info = await this.run('checking for deleted entries', batchId, () => this.info(s));
      this.checkDataLoss(s, start, info, batchId);
      const cached = this.prefetched.get(`${s}|${start.id}|${last.id}`);
      if (cached) {
        this.prefetched.delete(`${s}|${start.id}|${last.id}`);
        for (let i = 0; i < cached.length; i += this.pageSize) {
          const rows = cached.slice(i, i + this.pageSize).map(([id, kv]) => toRow(s, id, kv));
          stats.read += rows.length;
          yield rows;
        }
        continue;
      }
      let pos = start.id;
      for (;;) {
        const after = pos;
        const page = await this.run(`reading ${s} after ${after}`, batchId, () =>
          this.client!.xrange(s, `(${after}`, last.id, 'COUNT', this.pageSize),
        );
        if (page.length === 0) break;
        const rows = page.map(([id, kv]) => toRow(s, id, kv));
        stats.read += rows.length;
        yield rows;
        pos = page[page.length - 1]![0];
        if (page.length < this.pageSize || compareIds(pos, last.id) >= 0) break;
      }
    }
  }

  // -- splits for worker threads -------------------------------------------------------

  /**
   * The batch's streams dealt to `count` tasks (stream j → task j mod count), each with its
   * resolved (after, to] id range: everything a worker needs, so that it never sees the checkpoint.
   * Data loss is checked here, on the driver, as getBatch would.
   */
  async planSplits(
    start: Offset | null,
    end: Offset,
    count: number,
    info: { readonly batchId: number },
  ): Promise<SplitPlan> {
    const from = this.positionsOf(start, 'start');
    const to = this.positionsOf(end, 'end');
    const splits: SplitRange[][] = Array.from({ length: count }, () => []);
    let j = 0;
    for (const s of this.streams) {
      const last = to[s];
      if (last === undefined) continue;
      const first = from[s] ?? this.initialPosition(s) ?? last;
      if (compareIds(last.id, first.id) <= 0) continue;
      const streamInfo = await this.run('checking for deleted entries', info.batchId, () => this.info(s));
      this.checkDataLoss(s, first, streamInfo, info.batchId);
      splits[j++ % count]!.push({ stream: s, after: first.id, to: last.id });
    }
    this.prefetched.clear();
    return { splits: splits.map((ranges) => ({ ranges })), metrics: { streams: this.streams.length } };
  }

  /** One task's stream ranges, read with its own connection (kept for the next batch). */
  readSplit(split: SourceSplit): ChunkedBatch<RedisStreamRow> {
    const ranges = (split as { ranges: SplitRange[] }).ranges;
    const stats = { read: 0 };
    return Object.assign(this.readRanges(ranges, stats), {
      summary: () => ({ metrics: { entriesRead: stats.read } }),
    });
  }

  private async *readRanges(
    ranges: readonly SplitRange[],
    stats: { read: number },
  ): AsyncGenerator<RedisStreamRow[]> {
    this.client ??= makeClient(this.target, `millrace:${this.name}:split`, this.retry.connectTimeoutMs);
    for (const r of ranges) {
      let pos = r.after;
      for (;;) {
        const after = pos;
        const page = await this.run(`reading ${r.stream} after ${after}`, undefined, () =>
          this.client!.xrange(r.stream, `(${after}`, r.to, 'COUNT', this.pageSize),
        );
        if (page.length === 0) break;
        const rows = page.map(([id, kv]) => toRow(r.stream, id, kv));
        stats.read += rows.length;
        yield rows;
        pos = page[page.length - 1]![0];
        if (page.length < this.pageSize || compareIds(pos, r.to) >= 0) break;
      }
    }
  }

  async closeSplitReaders(): Promise<void> {
    await this.close();
  }

  async commit(): Promise<void> {
    // Nothing to release: positions live in the checkpoint, retention is the producer's (MAXLEN / XTRIM).
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) c.disconnect();
  }
}

function toRow(stream: string, id: string, kv: string[]): RedisStreamRow {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < kv.length; i += 2) fields[kv[i]!] = kv[i + 1]!;
  return { stream, id, timestamp: idTime(id), fields };
}

export function adviceFor(e: unknown): string {
  const msg = String((e as Error)?.message ?? e);
  if (/WRONGPASS|NOAUTH|invalid username-password/i.test(msg))
    return 'check the user name and password (url or connection.password / username)';
  if (/NOPERM/i.test(msg))
    return 'grant the user the commands and keys it needs (ACL SETUSER … +@read +@stream +xinfo ~<keys>)';
  if (/WRONGTYPE/i.test(msg)) return 'a key of another type has that name; choose another key or delete it';
  if (/unknown command|ERR unknown subcommand/i.test(msg))
    return 'Redis 7 or newer is needed (XINFO STREAM with max-deleted-entry-id, XRANGE with exclusive ids)';
  if (/OOM/i.test(msg)) return 'Redis is out of memory (maxmemory); trim streams or give it more memory';
  return 'see the Redis message above';
}
