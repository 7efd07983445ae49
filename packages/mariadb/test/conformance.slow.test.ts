/**
 * mariadbSink through the shared sink conformance suite (millrace/testing/conformance), against the
 * real MariaDB, in both of its modes:
 *
 *   append  INSERT; output modes append and complete (update would duplicate rows: refused)
 *   upsert  INSERT … ON DUPLICATE KEY UPDATE; output modes append, update, complete
 *           (keys: the suite's grouping key, or `id` for the append-mode rows)
 *
 *   suite ──► mariadbSink ──► TcpProxy ──► MariaDB          readBack: an admin pool, straight to the server
 *                                │
 *                outage: proxy.stop() (port closed, connections cut) … proxy.start()
 *
 * Every test gets its own table (created by the sink, dropped afterwards, with its progress rows).
 * The sink logs in as a user with a password, which must never show in describe(), errors, logs or
 * progress. (The outage of the real server, stopped and started, is in outage.slow.test.ts.)
 */
import { afterAll, beforeAll } from 'vitest';
import { type Field, type Row, Schema } from 'millrace';
import {
  type SinkHarness,
  type SinkSpec,
  allTypesRow,
  allTypesSchema,
  sinkConformance,
} from 'millrace/testing/conformance';
import { type MariaDbSinkMode, mariadbSink } from '../src/index.ts';
import { TcpProxy, adminPool, cleanup, userWithPassword } from './helpers.ts';

const admin = adminPool();
const SECRET = 'conformance-pw-4b9e';
let user = '';
beforeAll(async () => {
  user = await userWithPassword(admin, SECRET);
});
afterAll(cleanup);

/** allTypesSchema with `extra` nullable: allTypesRow(i) puts null into it for i % 7 === 3 (as the PostgreSQL suite). */
const rowSchema = new Schema(
  allTypesSchema.fields.map((f) => (f.name === 'extra' ? { ...f, nullable: true } : f)),
);

/** A value the admin pool read (BIGINT as number, dates as UTC strings, JSON as text) → the Millrace runtime value. */
function fromDb(v: unknown, f: Field): unknown {
  if (v === null || v === undefined) return null;
  switch (f.type.kind) {
    case 'boolean':
      return Number(v) !== 0;
    case 'timestamp':
      return Date.parse(`${String(v).replace(' ', 'T')}Z`);
    case 'date':
      return Math.round(Date.parse(`${String(v)}T00:00:00Z`) / 86_400_000);
    case 'binary':
      return new Uint8Array(v as Buffer);
    case 'json':
    case 'array':
    case 'struct':
      return typeof v === 'string' ? JSON.parse(v) : v;
    default:
      return v;
  }
}

async function selectAll(table: string, spec: SinkSpec): Promise<Row[]> {
  const exists = await admin.query(
    `SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'test' AND TABLE_NAME = ?`,
    [table],
  );
  if (!exists.length) return [];
  const fields = spec.schema.fields;
  const rows = (await admin.query(`SELECT * FROM \`${table}\``)) as Record<string, unknown>[];
  return rows.map((r) => {
    const row: Row = {};
    for (const f of fields) row[f.name] = fromDb(r[f.name], f);
    return row;
  });
}

function harness(mode: MariaDbSinkMode): SinkHarness {
  return {
    outputModes: mode === 'upsert' ? ['append', 'update', 'complete'] : ['append', 'complete'],
    outage: { behaviour: 'retries' },
    secrets: [SECRET],
    async create(ctx) {
      const proxy = new TcpProxy('127.0.0.1', 3306);
      await proxy.start();
      const table = ctx.uniqueName(`conf_${mode}`).toLowerCase();
      return {
        schema: rowSchema,
        row: allTypesRow,
        sink: (spec) =>
          mariadbSink({
            connectionString: `mariadb://${user}:${SECRET}@127.0.0.1:${proxy.port}/test`,
            table,
            createTable: true,
            ...(mode === 'upsert'
              ? { mode: 'upsert' as const, keyColumns: spec.key.length ? [...spec.key] : ['id'] }
              : {}),
            // Quick retries, so an outage of a few hundred ms costs little.
            initialBackoffMs: 50,
            maxBackoffMs: 500,
            maxRetries: 10,
          }),
        readBack: (spec) => selectAll(table, spec),
        stopExternal: () => proxy.stop(),
        startExternal: () => proxy.start(),
        async cleanup() {
          await proxy.stop();
          await admin.query(`DROP TABLE IF EXISTS \`${table}\``);
          await admin
            .query('DELETE FROM millrace_sink_batches WHERE sink = ?', [`mariadb-${table}`])
            .catch(() => undefined);
        },
      };
    },
  };
}

sinkConformance('mariadbSink (upsert)', harness('upsert'));
sinkConformance('mariadbSink (append)', harness('append'));
