/**
 * The NATS JetStream connectors through the shared conformance suite (millrace/testing/conformance),
 * against the machine's nats-server:
 *
 *   source  record i → a message {"i": i} on <stream>.in of a stream made for the test: total order
 *           (one stream = one sequence); bad records not applicable (payloads are delivered as text)
 *   sink    allTypesRow → one message per row (JSON) on <stream>.out; read back by sequence
 *
 *   suite ──► connector ──► TcpProxy ──► nats-server       feed / read back: an admin connection
 *                              │
 *              outage: proxy.stop() (port closed, connections cut) … proxy.start()
 *
 * The connectors carry a token (the open server ignores it) that must never show in describe(),
 * errors, logs or progress. (The real server stopped and started is outage.slow.test.ts.)
 */
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
import { type JetStreamRow, jetStreamSink, jetStreamSource } from '../src/index.ts';
import { TcpProxy, cleanup, createStream, publish, readAll } from './helpers.ts';

afterAll(cleanup);
const SECRET = 'conformance-nats-token-3f9a';
const rowSchema = new Schema(
  allTypesSchema.fields.map((f) => (f.name === 'extra' ? { ...f, nullable: true } : f)),
);

const sourceHarness: SourceHarness<JetStreamRow> = {
  order: 'total',
  badRecords: { notApplicable: 'payloads are delivered as text; decoding happens in the query' },
  outage: { behaviour: 'recovers' },
  secrets: [SECRET],
  async create(ctx) {
    const proxy = new TcpProxy('127.0.0.1', 4222);
    await proxy.start();
    const stream = ctx.uniqueName('CONF_SRC').toUpperCase();
    await createStream(stream);
    return {
      source: () =>
        jetStreamSource({
          servers: `nats://127.0.0.1:${proxy.port}`,
          connection: { token: SECRET },
          stream,
          name: 'nats-conformance',
          fetchSize: 5_000,
          initialBackoffMs: 50,
          maxBackoffMs: 500,
          maxRetries: 100,
        }),
      async append(records: readonly InputRecord[]) {
        const payloads = records.map((r) => {
          if (r === 'malformed') throw new Error('no malformed records for this source');
          return JSON.stringify({ i: r });
        });
        for (let k = 0; k < payloads.length; k += 10_000)
          await publish(`${stream}.in`, payloads.slice(k, k + 10_000));
      },
      index: (row) => (JSON.parse(row.data) as { i: number }).i,
      stopExternal: () => proxy.stop(),
      startExternal: () => proxy.start(),
      cleanup: () => proxy.stop(),
    };
  },
};

sourceConformance('jetStreamSource', sourceHarness);

function fromJson(v: unknown, f: Field): unknown {
  if (v === null || v === undefined) return null;
  return f.type.kind === 'binary' ? new Uint8Array(Buffer.from(v as string, 'base64')) : v;
}

const sinkHarness: SinkHarness = {
  outputModes: ['append'],
  ordered: true,
  outage: { behaviour: 'retries' },
  secrets: [SECRET],
  sizes: { testTimeoutMs: 180_000 },
  async create(ctx) {
    const proxy = new TcpProxy('127.0.0.1', 4222);
    await proxy.start();
    const stream = ctx.uniqueName('CONF_SINK').toUpperCase();
    await createStream(stream);
    return {
      schema: rowSchema,
      row: allTypesRow,
      sink: () =>
        jetStreamSink({
          servers: `nats://127.0.0.1:${proxy.port}`,
          connection: { token: SECRET },
          subject: `${stream}.out`,
          initialBackoffMs: 50,
          maxBackoffMs: 500,
          maxRetries: 20,
        }),
      async readBack(spec): Promise<Row[]> {
        return (await readAll(stream)).map((m) => {
          const o = JSON.parse(m.data) as Record<string, unknown>;
          const row: Row = {};
          for (const f of spec.schema.fields) row[f.name] = fromJson(o[f.name], f);
          return row;
        });
      },
      stopExternal: () => proxy.stop(),
      startExternal: () => proxy.start(),
      cleanup: () => proxy.stop(),
    };
  },
};

sinkConformance('jetStreamSink', sinkHarness);
