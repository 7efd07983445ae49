/**
 * The Redis connectors through the shared conformance suite (millrace/testing/conformance),
 * against the machine's Redis:
 *
 *   source       record i → an entry { i: "<i>", body: "…" } in one of 3 stream keys (i % 3):
 *                order per partition (stream); bad records not applicable (entries are string
 *                fields, decoding happens in the query)
 *   stream sink  allTypesRow → one entry per row; read back with XRANGE and redisFieldsDecoder
 *   hash sink    allTypesRow → one hash per row under a unique key prefix (key: the grouping key,
 *                or id in append mode); read back with SCAN + HGETALL and redisFieldsDecoder
 *
 *   suite ──► connector ──► TcpProxy ──► Redis       feed / read back: an admin client, straight to Redis
 *                              │
 *              outage: proxy.stop() (port closed, connections cut) … proxy.start()
 *
 * The connectors log in as an ACL user with a password that must never show in describe(),
 * errors, logs or progress. (The outage of the real server, shut down and started, is in
 * outage.slow.test.ts.)
 */
import { afterAll, beforeAll } from 'vitest';
import { type Row, Schema } from 'millrace';
import {
  type InputRecord,
  type SinkHarness,
  type SourceHarness,
  allTypesRow,
  allTypesSchema,
  sinkConformance,
  sourceConformance,
} from 'millrace/testing/conformance';
import {
  type RedisStreamRow,
  redisFieldsDecoder,
  redisHashSink,
  redisStreamSink,
  redisStreamSource,
} from '../src/index.ts';
import { TcpProxy, adminClient, cleanup, deleteKeys, userWithPassword } from './helpers.ts';

const admin = adminClient();
const SECRET = 'conformance-redis-pw-8c2d';
let user = '';
beforeAll(async () => {
  user = await userWithPassword(admin, SECRET);
});
afterAll(cleanup);

const STREAMS = 3;
const rowSchema = new Schema(
  allTypesSchema.fields.map((f) => (f.name === 'extra' ? { ...f, nullable: true } : f)),
);

const sourceHarness: SourceHarness<RedisStreamRow> = {
  order: 'perPartition',
  badRecords: {
    notApplicable: 'entries are string fields delivered as they are; decoding happens in the query',
  },
  outage: { behaviour: 'recovers' },
  secrets: [SECRET],
  async create(ctx) {
    const proxy = new TcpProxy('127.0.0.1', 6379);
    await proxy.start();
    const prefix = ctx.uniqueName('conf_src');
    const streams = Array.from({ length: STREAMS }, (_, k) => `${prefix}:s${k}`);
    return {
      source: () =>
        redisStreamSource({
          url: `redis://${user}:${SECRET}@127.0.0.1:${proxy.port}`,
          streams,
          name: 'redis-conformance',
          pageSize: 5_000,
          initialBackoffMs: 50,
          maxBackoffMs: 500,
          maxRetries: 100,
        }),
      async append(records: readonly InputRecord[]) {
        const p = admin.multi();
        for (const r of records) {
          if (r === 'malformed') throw new Error('no malformed records for this source');
          p.xadd(streams[r % STREAMS]!, '*', 'i', String(r), 'body', `record ${r}`);
        }
        await p.exec();
      },
      index: (row) => Number(row.fields.i),
      partition: (row) => row.stream,
      stopExternal: () => proxy.stop(),
      startExternal: () => proxy.start(),
      async cleanup() {
        await proxy.stop();
        await deleteKeys(admin, `${prefix}:*`);
      },
    };
  },
};

sourceConformance('redisStreamSource', sourceHarness);

function sinkHarness(kind: 'stream' | 'hash'): SinkHarness {
  return {
    outputModes: kind === 'stream' ? ['append'] : ['append', 'update', 'complete'],
    ordered: kind === 'stream',
    outage: { behaviour: 'retries' },
    // The large-batch case writes 2 × 100,000 rows and reads them back; on a loaded 2-core machine
    // that took up to 75 s.
    sizes: { testTimeoutMs: 180_000 },
    secrets: [SECRET],
    async create(ctx) {
      const proxy = new TcpProxy('127.0.0.1', 6379);
      await proxy.start();
      const prefix = ctx.uniqueName(`conf_${kind}`);
      const url = `redis://${user}:${SECRET}@127.0.0.1:${proxy.port}`;
      const retry = { initialBackoffMs: 50, maxBackoffMs: 500, maxRetries: 20 };
      return {
        schema: rowSchema,
        row: allTypesRow,
        sink: (spec) =>
          kind === 'stream'
            ? redisStreamSink({ url, stream: `${prefix}:out`, ...retry })
            : redisHashSink({
                url,
                keyPrefix: `${prefix}:row:`,
                keyColumns: spec.key.length ? [...spec.key] : ['id'],
                ...retry,
              }),
        async readBack(spec): Promise<Row[]> {
          const decode = redisFieldsDecoder(spec.schema);
          const toFields = (kv: Buffer[]) => {
            const o: Record<string, Buffer> = {};
            for (let i = 0; i + 1 < kv.length; i += 2) o[kv[i]!.toString()] = kv[i + 1]!;
            return o;
          };
          const textual = (o: Record<string, Buffer>) => {
            const out: Record<string, string | Buffer> = {};
            for (const [k, v] of Object.entries(o)) out[k] = k === 'bytes' ? v : v.toString('utf8');
            return out;
          };
          if (kind === 'stream') {
            const entries = await admin.xrangeBuffer(`${prefix}:out`, '-', '+');
            return entries.map(([, kv]) => decode(textual(toFields(kv))));
          }
          const rows: Row[] = [];
          let cursor = '0';
          do {
            const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}:row:*`, 'COUNT', 1000);
            cursor = next;
            const p = admin.pipeline();
            for (const k of keys) p.hgetallBuffer(k);
            for (const [err, h] of (await p.exec()) ?? []) {
              if (err) throw err;
              rows.push(decode(textual(h as Record<string, Buffer>)));
            }
          } while (cursor !== '0');
          return rows;
        },
        stopExternal: () => proxy.stop(),
        startExternal: () => proxy.start(),
        async cleanup() {
          await proxy.stop();
          await deleteKeys(admin, `${prefix}:*`);
          await deleteKeys(admin, `millrace:batches:*${prefix}*`);
        },
      };
    },
  };
}

sinkConformance('redisStreamSink', sinkHarness('stream'));
sinkConformance('redisHashSink', sinkHarness('hash'));
