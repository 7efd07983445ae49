/**
 * The Kinesis connectors through the shared conformance suite (millrace/testing/conformance),
 * against kinesalite (one child process for the file, a stream per test):
 *
 *   source  record i → {"i": i} with partition key k<i % 8> on a 3-shard stream: ordered per
 *           shard; bad records not applicable (payloads are delivered as text; decoding is the query's)
 *   sink    allTypesRow → one JSON record per row (partition key: its id); read back by shard
 *
 *   suite ──► connector ──► FaultProxy ──► kinesalite     feed / read back: an admin client
 *                              │
 *              outage: proxy.stop() (port closed, connections cut) … proxy.start()
 *
 * Large batches are 20,000 records, not 100,000: kinesalite stores each record in an in-memory
 * LevelDB and is slow to take them (20,000 take about 10 s here under load): the local stand-in,
 * not the connector, would set the pace. The connectors carry a secret key that must
 * never show in describe(), errors, logs or progress.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { afterAll } from 'vitest';
import { type Field, type Row, Schema } from 'millrace';
import {
  type InputRecord,
  type SinkHarness,
  type SourceHarness,
  allTypesRow,
  allTypesSchema,
  sinkConformance,
  sourceConformance,
} from 'millrace/testing/conformance';
import { type KinesisRow, kinesisSink, kinesisSource } from '../src/index.ts';
import {
  FaultProxy,
  type Kinesalite,
  adminClient,
  createStream,
  putRecords,
  readAll,
  startKinesalite,
} from './helpers.ts';

const SECRET = 'conformance-kinesis-secret-9d41';
const credentials = { accessKeyId: 'AKIDCONFORMANCE', secretAccessKey: SECRET };
let kl: Promise<{ kl: Kinesalite; admin: KinesisClient }> | undefined;
const service = () => (kl ??= startKinesalite().then((k) => ({ kl: k, admin: adminClient(k.endpoint) })));
afterAll(async () => {
  if (!kl) return;
  const { kl: k, admin } = await kl;
  admin.destroy();
  await k.stop();
});

const retry = { initialBackoffMs: 20, maxBackoffMs: 300, maxRetries: 100 };

const sourceHarness: SourceHarness<KinesisRow> = {
  order: 'perPartition',
  badRecords: { notApplicable: 'payloads are delivered as text; decoding happens in the query' },
  outage: { behaviour: 'recovers' },
  secrets: [SECRET],
  sizes: { largeBatch: 20_000, testTimeoutMs: 180_000 },
  async create(ctx) {
    const { kl: k, admin } = await service();
    const proxy = new FaultProxy(k.port);
    await proxy.start();
    const stream = ctx.uniqueName('conf-src').replace(/_/g, '-');
    await createStream(admin, stream, 3);
    return {
      source: () =>
        kinesisSource({
          streamName: stream,
          endpoint: proxy.endpoint,
          credentials,
          name: 'kinesis-conformance',
          ...(ctx.testCase === 'largeBatch' ? {} : { maxRecordsPerTrigger: 1_000 }),
          minReadIntervalMs: 0,
          ...retry,
        }),
      async append(records: readonly InputRecord[]) {
        await putRecords(
          admin,
          stream,
          records.map((r) => {
            if (r === 'malformed') throw new Error('no malformed records for this source');
            return { key: `k${r % 8}`, data: JSON.stringify({ i: r }) };
          }),
        );
      },
      index: (row) => (JSON.parse(row.data) as { i: number }).i,
      partition: (row) => row.shardId,
      stopExternal: () => proxy.stop(),
      startExternal: () => proxy.start(),
      cleanup: () => proxy.stop(),
    };
  },
};

sourceConformance('kinesisSource', sourceHarness);

const rowSchema = new Schema(
  allTypesSchema.fields.map((f) => (f.name === 'extra' ? { ...f, nullable: true } : f)),
);

function fromJson(v: unknown, f: Field): unknown {
  if (v === null || v === undefined) return null;
  return f.type.kind === 'binary' ? new Uint8Array(Buffer.from(v as string, 'base64')) : v;
}

const sinkHarness: SinkHarness = {
  outputModes: ['append', 'update'],
  outage: { behaviour: 'retries' },
  secrets: [SECRET],
  sizes: { largeBatch: 20_000, testTimeoutMs: 180_000 },
  async create(ctx) {
    const { kl: k, admin } = await service();
    const proxy = new FaultProxy(k.port);
    await proxy.start();
    const stream = ctx.uniqueName('conf-sink').replace(/_/g, '-');
    await createStream(admin, stream, 2);
    return {
      schema: rowSchema,
      row: allTypesRow,
      // Update mode: keyed by the grouping key, so that a key's versions share a shard, in order.
      sink: (spec) =>
        kinesisSink({
          streamName: stream,
          partitionKey: spec.key[0] ?? 'id',
          endpoint: proxy.endpoint,
          credentials,
          ...retry,
        }),
      async readBack(spec): Promise<Row[]> {
        const rows = (await readAll(admin, stream)).map((m) => {
          const o = JSON.parse(m.data) as Record<string, unknown>;
          const row: Row = {};
          for (const f of spec.schema.fields) row[f.name] = fromJson(o[f.name], f);
          return { row, id: String(o.millraceId) };
        });
        if (spec.outputMode === 'append') return rows.map((r) => r.row);
        // update: the result table, the last record per key (records of a key share a shard, in order)
        const byKey = new Map<string, Row>();
        for (const r of rows) byKey.set(spec.key.map((c) => JSON.stringify(r.row[c])).join('|'), r.row);
        return [...byKey.values()];
      },
      stopExternal: () => proxy.stop(),
      startExternal: () => proxy.start(),
      cleanup: () => proxy.stop(),
    };
  },
};

sinkConformance('kinesisSink', sinkHarness);
