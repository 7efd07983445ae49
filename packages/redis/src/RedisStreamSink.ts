/**
 * redisStreamSink: appends each batch's rows to a Redis stream (XADD), exactly once per batch id.
 *
 *   batch N ──► one EVALSHA (atomic), each row one MessagePack argument [f, v, f, v, …]:
 *                 GET  <marker>                 the last batch id this query wrote
 *                 ≥ N ─► return -1              a replay: nothing written
 *                 XADD <stream> [MAXLEN ~ n] * f v …   one entry per row
 *                 SET  <marker> N
 *
 *   marker = millrace:batches:{<stream>}:<sink name>:<query id>   (the hash tag puts it in the stream's
 *            cluster slot; the query id comes from the checkpoint, the same across restarts)
 *
 * A connection lost while the script runs, or after it ran: the retry runs it again and finds the
 * marker at N (nothing twice) or not (nothing of N was written: Redis runs a script whole).
 * Entry fields: one per non-null column, values as in values.ts; entry ids are Redis' own (`*`).
 * Rows of the batch stay in memory until it is written, so that a retry can send them again.
 */
import type { Redis } from 'ioredis';
import {
  MillraceError,
  userError,
  type Row,
  type Sink,
  type SinkBatchInfo,
  type SinkContext,
  type SinkWriteResult,
} from 'millrace';
import {
  type ConnectionOptions,
  Secrets,
  type Target,
  displayTarget,
  makeClient,
  resolveTarget,
  serverOf,
} from './connection.ts';
import { integerOption, optionError } from './options.ts';
import { type RetrySettings, runSinkStep } from './retry.ts';
import { adviceFor } from './RedisStreamSource.ts';
import { packStrings } from './msgpack.ts';
import { BatchScript } from './script.ts';
import { BadValue, type FieldValue, rowFields } from './values.ts';

export interface RedisStreamSinkOptions extends ConnectionOptions {
  /** The stream key written to. */
  readonly stream: string;
  /** Trim the stream to about this many entries as it grows (XADD MAXLEN ~). Default: no trimming. */
  readonly maxLen?: number;
  /** Unique within a query. Default `redis-stream-<stream>`. */
  readonly name?: string;
  /** Retries of a batch after a transient failure. Default 10. */
  readonly maxRetries?: number;
  /** Default 100 ms, doubling per retry up to maxBackoffMs (default 5,000 ms). */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly connectTimeoutMs?: number;
}

const KNOWN = new Set([
  'url',
  'connection',
  'stream',
  'maxLen',
  'name',
  'maxRetries',
  'initialBackoffMs',
  'maxBackoffMs',
  'connectTimeoutMs',
]);

const SCRIPT = new BatchScript(`#!lua
local last = tonumber(redis.call('GET', KEYS[2]) or '-1')
local batch = tonumber(ARGV[1])
if last >= batch then return -1 end
local maxlen = ARGV[2]
local n = 0
for i = 3, #ARGV do
  local fields = cmsgpack.unpack(ARGV[i])
  if maxlen == '' then
    redis.call('XADD', KEYS[1], '*', unpack(fields))
  else
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', unpack(fields))
  end
  n = n + 1
end
redis.call('SET', KEYS[2], ARGV[1])
return n
`);

export function redisStreamSink(options: RedisStreamSinkOptions): RedisStreamSink {
  return new RedisStreamSink(options);
}

export class RedisStreamSink implements Sink {
  readonly name: string;
  readonly guarantee = 'transactional' as const;
  /** A stream is a log: results are appended. */
  readonly supportedOutputModes = ['append'] as const;

  private readonly target: Target;
  private readonly secrets: Secrets;
  private readonly stream: string;
  private readonly maxLen: number | undefined;
  private readonly retry: RetrySettings;
  private client: Redis | undefined;
  private ctx: SinkContext | undefined;
  private encode: ((row: Row) => { set: [string, FieldValue][]; nulls: string[] }) | undefined;

  constructor(options: RedisStreamSinkOptions) {
    const who = 'redisStreamSink';
    if (options === null || typeof options !== 'object')
      throw optionError(who, "pass an options object, e.g. { url: 'redis://host:6379', stream: 'results' }");
    const o = options as unknown as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!KNOWN.has(k) && o[k] !== undefined)
        throw optionError(who, `unknown option "${k}"; the options are: ${[...KNOWN].join(', ')}`);
    }
    const target = resolveTarget(options);
    if (typeof target === 'string') throw optionError(who, target);
    this.target = target;
    this.secrets = new Secrets(target);
    if (typeof options.stream !== 'string' || options.stream === '')
      throw optionError(who, `"stream" must be a stream key, got ${JSON.stringify(options.stream)}`);
    this.stream = options.stream;
    this.maxLen = options.maxLen === undefined ? undefined : integerOption(o, 'maxLen', 0, 1, who);
    this.retry = {
      maxRetries: integerOption(o, 'maxRetries', 10, 0, who),
      initialBackoffMs: integerOption(o, 'initialBackoffMs', 100, 0, who),
      maxBackoffMs: integerOption(o, 'maxBackoffMs', 5_000, 0, who),
      connectTimeoutMs: integerOption(o, 'connectTimeoutMs', 5_000, 1, who),
    };
    const name = options.name ?? `redis-stream-${this.stream}`;
    if (typeof name !== 'string' || name.trim() === '')
      throw optionError(who, '"name" must be a non-empty string');
    this.name = name;
  }

  describe(): string {
    return this.secrets.scrub(
      `RedisStreamSink[${displayTarget(this.target)}, stream ${this.stream}${this.maxLen ? `, MAXLEN ~${this.maxLen}` : ''}]`,
    );
  }

  private get server(): string {
    return this.secrets.scrub(serverOf(this.target));
  }

  /** The key recording the last batch this query wrote. */
  markerKey(queryId: string): string {
    return `millrace:batches:{${this.stream}}:${this.name}:${queryId}`;
  }

  async open(ctx: SinkContext): Promise<void> {
    this.ctx = ctx;
    if (ctx.schema.fields.length === 0)
      throw userError(
        'REDIS_NO_COLUMNS',
        `redisStreamSink "${this.name}": the query has no columns to write`,
        { context: { sink: this.name } },
      );
    this.encode = rowFields(ctx.schema.fields);
    this.client ??= makeClient(this.target, `millrace:${this.name}`, this.retry.connectTimeoutMs);
    try {
      await this.run('connecting', undefined, async () => {
        const type = await this.client!.type(this.stream);
        if (type !== 'none' && type !== 'stream') {
          throw userError(
            'REDIS_WRONG_TYPE',
            `redisStreamSink "${this.name}": key "${this.stream}" holds a ${type}, not a stream; choose another stream key or delete that key`,
            {
              context: { sink: this.name },
            },
          );
        }
      });
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  private run<T>(
    doing: string,
    batch: number | undefined,
    step: () => Promise<T>,
  ): Promise<{ value: T; retries: number }> {
    return runSinkStep(
      {
        label: `redisStreamSink "${this.name}"`,
        sink: this.name,
        server: this.server,
        client: this.client!,
        retry: this.retry,
        log: this.ctx?.log,
        reportWaiting: this.ctx?.reportWaiting,
        scrub: (text) => this.secrets.scrub(text),
        advice: adviceFor,
      },
      doing,
      batch,
      step,
    );
  }

  async addBatch(rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult> {
    return this.write(rows, info);
  }

  private async write(rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult> {
    const ctx = this.ctx;
    const encode = this.encode;
    if (!ctx || !encode || !this.client)
      throw new MillraceError('INTERNAL', `redisStreamSink "${this.name}" used before open()`, {
        domain: 'internal',
      });
    const batchId = info.batchId;
    const args: (string | Buffer)[] = [String(batchId), this.maxLen === undefined ? '' : String(this.maxLen)];
    for (let i = 0; i < rows.length; i++) {
      let set: [string, FieldValue][];
      try {
        set = encode(rows[i]!).set;
      } catch (e) {
        if (!(e instanceof BadValue)) throw e;
        throw userError(
          'SINK_BAD_VALUE',
          `redisStreamSink "${this.name}": batch ${batchId}: row ${i}: ${e.message}; make the query produce values of its declared column types (${ctx.schema.toString()})`,
          {
            context: { sink: this.name, batch: batchId },
          },
        );
      }
      // XADD needs a field: a row of nulls only is written as one empty field named "_".
      if (set.length === 0) set = [['_', '']];
      args.push(packStrings(set.flat()));
    }
    const t = performance.now();
    const { value, retries } = await this.run(
      `writing batch ${batchId} to stream ${this.stream}`,
      batchId,
      () => SCRIPT.run(this.client!, [this.stream, this.markerKey(ctx.queryId)], args),
    );
    let written = Number(value);
    let skipped = written < 0;
    // Found recorded after a retry: most likely the attempt whose answer was lost wrote it.
    const confirmedAfterRetry = skipped && retries > 0;
    if (confirmedAfterRetry) {
      written = rows.length;
      skipped = false;
    }
    return {
      rowsWritten: skipped ? 0 : written,
      metrics: {
        entriesAdded: skipped ? 0 : written,
        retries,
        writeMs: Math.round((performance.now() - t) * 10) / 10,
        skippedReplay: skipped ? 1 : 0,
        ...(confirmedAfterRetry ? { commitConfirmedAfterRetry: 1 } : {}),
      },
    };
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) c.disconnect();
  }
}
