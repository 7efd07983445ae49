/**
 * redisHashSink: keeps one Redis key per result row — a hash (HSET, one field per column) or a
 * JSON string (SET) — for lookups by key (a dashboard's "hot products", a cache in front of a
 * service). Exactly once per batch id, like the stream sink:
 *
 *   batch N ──► one EVALSHA (atomic):
 *                 GET <marker>  ≥ N ─► return -1 (a replay: nothing written)
 *                 per row:  key = <keyPrefix><key column values joined by ':'>
 *                           hash: HSET key f v … (non-null columns), HDEL key f … (null columns)
 *                           json: SET key <row as JSON>
 *                           [ttl: PEXPIRE key ttl]
 *                 complete mode: keys of the previous result that are not in this one are deleted
 *                           (the result's keys are kept in the set <marker>:keys)
 *                 SET <marker> N
 *
 *   marker = millrace:batches:<keyPrefix>:<sink name>:<query id>
 *
 * Output modes: append and update upsert each row into its key (a later row of the same key wins);
 * complete replaces the whole result. Keys are written inside a script, so on a Redis Cluster all
 * of them must hash to one slot (a hash tag in keyPrefix, e.g. 'hot:{shop}:'); a single Redis or
 * Sentinel setup has no such limit.
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
import { adviceFor } from './RedisStreamSource.ts';
import { type RetrySettings, runSinkStep } from './retry.ts';
import { packStrings } from './msgpack.ts';
import { BatchScript } from './script.ts';
import { BadValue, fieldEncoder, rowFields } from './values.ts';

export interface RedisHashSinkOptions extends ConnectionOptions {
  /** The columns whose values name a row's key. */
  readonly keyColumns: readonly string[];
  /** Put before the key column values, e.g. 'hot-products:'. Required, so that results never collide with other keys. */
  readonly keyPrefix: string;
  /** 'hash' (HSET, a field per column; default) or 'json' (SET, the row as a JSON object). */
  readonly valueType?: 'hash' | 'json';
  /** Expire each key this long after its last write (ms). Default: never. */
  readonly ttlMs?: number;
  /** Unique within a query. Default `redis-hash-<keyPrefix>`. */
  readonly name?: string;
  readonly maxRetries?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly connectTimeoutMs?: number;
}

const KNOWN = new Set([
  'url',
  'connection',
  'keyColumns',
  'keyPrefix',
  'valueType',
  'ttlMs',
  'name',
  'maxRetries',
  'initialBackoffMs',
  'maxBackoffMs',
  'connectTimeoutMs',
]);

/**
 * ARGV: batch, valueType, ttl ('' = none), complete ('1'/'0'), then one MessagePack array per row:
 *   hash: [key, nSet, f, v, …, null column, …]          json: [key, value]
 */
const SCRIPT = new BatchScript(`#!lua
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
local batch = tonumber(ARGV[1])
if last >= batch then return -1 end
local json = ARGV[2] == 'json'
local ttl = ARGV[3]
local complete = ARGV[4] == '1'
local seen = {}
local keys = {}
local n = 0
for a = 5, #ARGV do
  local row = cmsgpack.unpack(ARGV[a])
  local key = row[1]
  if complete then redis.call('DEL', key) end
  if json then
    redis.call('SET', key, row[2])
  else
    local nset = tonumber(row[2])
    if nset > 0 then redis.call('HSET', key, unpack(row, 3, 2 + 2 * nset)) end
    if #row > 2 + 2 * nset and not complete then redis.call('HDEL', key, unpack(row, 3 + 2 * nset, #row)) end
  end
  if ttl ~= '' then redis.call('PEXPIRE', key, ttl) end
  if not seen[key] then seen[key] = true; keys[#keys + 1] = key end
  n = n + 1
end
if complete then
  local index = KEYS[1] .. ':keys'
  for _, old in ipairs(redis.call('SMEMBERS', index)) do
    if not seen[old] then redis.call('DEL', old) end
  end
  redis.call('DEL', index)
  for s = 1, #keys, 1000 do
    local part = {}
    for k = s, math.min(s + 999, #keys) do part[#part + 1] = keys[k] end
    redis.call('SADD', index, unpack(part))
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return n
`);

export function redisHashSink(options: RedisHashSinkOptions): RedisHashSink {
  return new RedisHashSink(options);
}

export class RedisHashSink implements Sink {
  readonly name: string;
  readonly guarantee = 'transactional' as const;
  readonly supportedOutputModes = ['append', 'update', 'complete'] as const;

  private readonly target: Target;
  private readonly secrets: Secrets;
  private readonly keyColumns: readonly string[];
  private readonly keyPrefix: string;
  private readonly valueType: 'hash' | 'json';
  private readonly ttlMs: number | undefined;
  private readonly retry: RetrySettings;
  private client: Redis | undefined;
  private ctx: SinkContext | undefined;
  private encodeRow: ((row: Row, index: number, batch: number) => Buffer) | undefined;

  constructor(options: RedisHashSinkOptions) {
    const who = 'redisHashSink';
    if (options === null || typeof options !== 'object')
      throw optionError(
        who,
        "pass an options object, e.g. { url: 'redis://host:6379', keyPrefix: 'product:', keyColumns: ['id'] }",
      );
    const o = options as unknown as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!KNOWN.has(k) && o[k] !== undefined)
        throw optionError(who, `unknown option "${k}"; the options are: ${[...KNOWN].join(', ')}`);
    }
    const target = resolveTarget(options);
    if (typeof target === 'string') throw optionError(who, target);
    this.target = target;
    this.secrets = new Secrets(target);
    const kc = options.keyColumns;
    if (!Array.isArray(kc) || kc.length === 0 || kc.some((c) => typeof c !== 'string' || c === '')) {
      throw optionError(
        who,
        `"keyColumns" must name the columns that make a row's key, e.g. ['productId'], got ${JSON.stringify(kc)}`,
      );
    }
    this.keyColumns = [...kc];
    if (typeof options.keyPrefix !== 'string' || options.keyPrefix === '') {
      throw optionError(
        who,
        `"keyPrefix" must be a non-empty string such as 'hot-products:' (it keeps the result's keys apart from others), got ${JSON.stringify(options.keyPrefix)}`,
      );
    }
    this.keyPrefix = options.keyPrefix;
    const vt = options.valueType ?? 'hash';
    if (vt !== 'hash' && vt !== 'json')
      throw optionError(who, `"valueType" must be 'hash' or 'json', got ${JSON.stringify(vt)}`);
    this.valueType = vt;
    this.ttlMs = options.ttlMs === undefined ? undefined : integerOption(o, 'ttlMs', 0, 1, who);
    this.retry = {
      maxRetries: integerOption(o, 'maxRetries', 10, 0, who),
      initialBackoffMs: integerOption(o, 'initialBackoffMs', 100, 0, who),
      maxBackoffMs: integerOption(o, 'maxBackoffMs', 5_000, 0, who),
      connectTimeoutMs: integerOption(o, 'connectTimeoutMs', 5_000, 1, who),
    };
    const name = options.name ?? `redis-hash-${this.keyPrefix}`;
    if (typeof name !== 'string' || name.trim() === '')
      throw optionError(who, '"name" must be a non-empty string');
    this.name = name;
  }

  describe(): string {
    return this.secrets.scrub(
      `RedisHashSink[${displayTarget(this.target)}, ${this.valueType === 'hash' ? 'HSET' : 'SET'} ${this.keyPrefix}<${this.keyColumns.join(':')}>${this.ttlMs ? `, ttl ${this.ttlMs} ms` : ''}]`,
    );
  }

  private get server(): string {
    return this.secrets.scrub(serverOf(this.target));
  }

  markerKey(queryId: string): string {
    return `millrace:batches:${this.keyPrefix}:${this.name}:${queryId}`;
  }

  async open(ctx: SinkContext): Promise<void> {
    this.ctx = ctx;
    const schema = ctx.schema;
    for (const k of this.keyColumns) {
      if (!schema.has(k)) {
        throw userError(
          'UNKNOWN_COLUMN',
          `redisHashSink "${this.name}": key column "${k}" is not in the query's output; it has: ${schema.names.join(', ')}; set keyColumns to columns of the output`,
          {
            context: { sink: this.name },
          },
        );
      }
    }
    const keyParts = this.keyColumns.map((k) => {
      const f = schema.field(k)!;
      const enc = fieldEncoder(k, f.type);
      return (row: Row, i: number, batch: number) => {
        const v = row[k];
        if (v === null || v === undefined) {
          throw userError(
            'REDIS_NULL_KEY',
            `redisHashSink "${this.name}": batch ${batch}: row ${i} has a null in key column "${k}"; filter out rows with a null key or fill it in the query`,
            {
              context: { sink: this.name, batch },
            },
          );
        }
        const s = enc(v);
        return typeof s === 'string' ? s : s.toString('hex');
      };
    });
    const fields = rowFields(schema.fields);
    const jsonFields = schema.fields.map((f) => [f.name, f.type.kind === 'binary'] as const);
    this.encodeRow = (row, i, batch) => {
      const key = this.keyPrefix + keyParts.map((p) => p(row, i, batch)).join(':');
      if (this.valueType === 'json') {
        const obj: Record<string, unknown> = {};
        for (const [name, binary] of jsonFields) {
          const v = row[name];
          obj[name] =
            v === undefined
              ? null
              : binary && v instanceof Uint8Array
                ? Buffer.from(v).toString('base64')
                : v;
        }
        return packStrings([key, JSON.stringify(obj)]);
      }
      const { set, nulls } = fields(row);
      const out: (string | Buffer)[] = [key, String(set.length)];
      for (const [f, v] of set) out.push(f, v);
      for (const f of nulls) out.push(f);
      return packStrings(out);
    };
    this.client ??= makeClient(this.target, `millrace:${this.name}`, this.retry.connectTimeoutMs);
    try {
      await this.run('connecting', undefined, () => this.client!.ping());
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
        label: `redisHashSink "${this.name}"`,
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
    const encodeRow = this.encodeRow;
    if (!ctx || !encodeRow || !this.client)
      throw new MillraceError('INTERNAL', `redisHashSink "${this.name}" used before open()`, {
        domain: 'internal',
      });
    const batchId = info.batchId;
    const args: (string | Buffer)[] = [
      String(batchId),
      this.valueType,
      this.ttlMs === undefined ? '' : String(this.ttlMs),
      info.outputMode === 'complete' ? '1' : '0',
    ];
    for (let i = 0; i < rows.length; i++) {
      let part: Buffer;
      try {
        part = encodeRow(rows[i]!, i, batchId);
      } catch (e) {
        if (!(e instanceof BadValue)) throw e;
        throw userError(
          'SINK_BAD_VALUE',
          `redisHashSink "${this.name}": batch ${batchId}: row ${i}: ${e.message}; make the query produce values of its declared column types (${ctx.schema.toString()})`,
          {
            context: { sink: this.name, batch: batchId },
          },
        );
      }
      args.push(part);
    }
    const t = performance.now();
    const { value, retries } = await this.run(
      `writing batch ${batchId} under ${this.keyPrefix}`,
      batchId,
      () => SCRIPT.run(this.client!, [this.markerKey(ctx.queryId)], args),
    );
    let written = Number(value);
    let skipped = written < 0;
    const confirmedAfterRetry = skipped && retries > 0;
    if (confirmedAfterRetry) {
      written = rows.length;
      skipped = false;
    }
    return {
      rowsWritten: skipped ? 0 : written,
      metrics: {
        keysWritten: skipped ? 0 : written,
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
