/**
 * mariadbTable: a static table for stream–table joins, read with a SQL query (a lookup table that
 * follows the database when `refreshInterval` is set). Rows are converted to the given schema:
 * numbers from BIGINT/DECIMAL, timestamps (DATETIME/TIMESTAMP, read in UTC) to epoch ms, dates to
 * days since 1970-01-01, TINYINT(1) to booleans, JSON text to values.
 *
 *   orders.join(mariadbTable({ connectionString, query: 'SELECT id, name FROM products', schema,
 *                              refreshInterval: '5 minutes' }), { on: 'id' })
 *
 * Each load opens one connection, runs the query and closes it; a failure rejects with
 * TABLE_LOAD_FAILED (retryable), which the engine reports and retries on the next refresh.
 */
import type { Connection, ConnectionConfig } from 'mariadb';
import {
  MillraceError,
  parseDuration,
  type DataType,
  type Row,
  type Schema,
  type TableSource,
} from 'millrace';
import { Secrets, connect, displayConfig } from './connection.ts';
import { asDbError, describeDbError } from './errors.ts';
import { integerOption, optionError, resolveConnection } from './options.ts';

export interface MariaDbTableOptions<R> {
  /** `mariadb://user:password@host:3306/database?ssl=true`. One of connectionString, connection. */
  readonly connectionString?: string;
  readonly connection?: ConnectionConfig;
  /** A SELECT whose columns are named like the schema's (extra columns are ignored). Parameterless. */
  readonly query: string;
  readonly schema: Schema<R>;
  /** Shown in explain and errors. Default `mariadb`. */
  readonly name?: string;
  /** Read again this often (e.g. '5 minutes' or ms). Default: once per query start. */
  readonly refreshInterval?: string | number;
  /** Connection and query timeout, ms. Default 10,000. */
  readonly timeoutMs?: number;
}

const WHO = 'mariadbTable';

function convert(v: unknown, t: DataType): unknown {
  if (v === null || v === undefined) return null;
  switch (t.kind) {
    case 'long':
    case 'double':
      return typeof v === 'number' ? v : Number(v);
    case 'boolean':
      return typeof v === 'boolean' ? v : Number(v) !== 0;
    case 'timestamp':
      if (typeof v === 'number') return v;
      if (v instanceof Date) return v.getTime();
      // dateStrings in a UTC session: 'YYYY-MM-DD HH:MM:SS[.fff]'
      return Date.parse(`${String(v).replace(' ', 'T')}Z`);
    case 'date': {
      if (typeof v === 'number') return v;
      const ms = v instanceof Date ? v.getTime() : Date.parse(`${String(v).slice(0, 10)}T00:00:00Z`);
      return Math.floor(ms / 86_400_000);
    }
    case 'string':
      return typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
    case 'binary':
      return Buffer.isBuffer(v) ? new Uint8Array(v) : v;
    case 'json':
    case 'array':
    case 'struct':
      if (typeof v === 'string') {
        try {
          return JSON.parse(v);
        } catch {
          return v;
        }
      }
      return v;
    default:
      return v;
  }
}

export function mariadbTable<R>(options: MariaDbTableOptions<R>): TableSource<R> {
  if (options === null || typeof options !== 'object') {
    throw optionError("pass an options object, e.g. { connectionString, query: 'SELECT …', schema }", WHO);
  }
  const o = options as unknown as Record<string, unknown>;
  const config = resolveConnection(o, WHO);
  const { query, schema } = options;
  if (typeof query !== 'string' || !/^\s*(select|with|\()/i.test(query)) {
    throw optionError('query must be a SELECT (or WITH … SELECT) statement', WHO);
  }
  const name = options.name ?? 'mariadb';
  const secrets = new Secrets(config);
  const shown = secrets.scrub(displayConfig(config));
  const refreshIntervalMs =
    options.refreshInterval === undefined
      ? undefined
      : parseDuration(options.refreshInterval, `${WHO} refreshInterval`);
  const timeoutMs = integerOption(o, 'timeoutMs', 10_000, 1, WHO);
  return {
    name,
    schema,
    refreshIntervalMs,
    describe: () => `MariaDbTable[${shown}, ${query.replace(/\s+/g, ' ').slice(0, 80)}]`,
    async load() {
      let conn: Connection | undefined;
      try {
        conn = await connect({ ...config, queryTimeout: timeoutMs }, { connectTimeoutMs: timeoutMs });
        const res = (await conn.query(query)) as Record<string, unknown>[] & { meta?: { name(): string }[] };
        const names = new Set((res.meta ?? []).map((m) => m.name()));
        if (res.length > 0) for (const k of Object.keys(res[0]!)) names.add(k);
        const missing = schema.fields.filter((f) => !names.has(f.name)).map((f) => f.name);
        if (missing.length > 0) {
          throw new MillraceError(
            'TABLE_SCHEMA_MISMATCH',
            `table "${name}": the query returns no column ${missing.map((m) => `"${m}"`).join(', ')} (it returns ${[...names].join(', ')}); name the columns with AS`,
            { domain: 'user', context: { table: name } },
          );
        }
        return res.map((r) => {
          const row: Row = {};
          for (const f of schema.fields) row[f.name] = convert(r[f.name], f.type);
          return row as R;
        });
      } catch (e) {
        if (e instanceof MillraceError) throw e;
        throw new MillraceError(
          'TABLE_LOAD_FAILED',
          secrets.scrub(
            `table "${name}" could not be read from ${shown}: ${describeDbError(asDbError(e))}; check that the server is reachable and the query runs`,
          ),
          { domain: 'external', retryable: true, context: { table: name } },
        );
      } finally {
        if (conn) await conn.end().catch(() => conn!.destroy());
      }
    },
  };
}
