/**
 * postgresTable: a static table for stream–table joins, read with a SQL query (a lookup table that
 * follows the database when `refreshInterval` is set). Rows are converted to the given schema:
 * numbers from bigint/numeric text, timestamps to epoch ms, dates to days since 1970-01-01.
 *
 *   orders.join(postgresTable({ connectionString, query: 'SELECT id, name FROM products', schema,
 *                               refreshInterval: '5 minutes' }), { on: 'id' })
 */
import pg from 'pg';
import { MillraceError, parseDuration, type Row, type Schema, type TableSource } from 'millrace';
import { redactConnectionString, withDefaultUser } from './connection.ts';

export interface PostgresTableOptions<R> {
  readonly connectionString: string;
  /** A SELECT whose columns are named like the schema's (extra columns are ignored). Parameterless. */
  readonly query: string;
  readonly schema: Schema<R>;
  /** Shown in explain and errors. Default `postgres`. */
  readonly name?: string;
  /** Read again this often (e.g. '5 minutes' or ms). Default: once per query start. */
  readonly refreshInterval?: string | number;
  /** Connection and query timeout, ms. Default 10,000. */
  readonly timeoutMs?: number;
}

function convert(v: unknown, kind: string): unknown {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case 'long':
    case 'double':
      return typeof v === 'number' ? v : Number(v);
    case 'timestamp':
      return v instanceof Date ? v.getTime() : typeof v === 'number' ? v : Date.parse(String(v));
    case 'date': {
      const ms =
        v instanceof Date
          ? Date.UTC(v.getFullYear(), v.getMonth(), v.getDate())
          : Date.parse(`${String(v)}T00:00:00Z`);
      return Math.floor(ms / 86_400_000);
    }
    case 'string':
      return typeof v === 'string' ? v : String(v);
    default:
      return v;
  }
}

export function postgresTable<R>(options: PostgresTableOptions<R>): TableSource<R> {
  const { connectionString, query, schema } = options;
  if (typeof connectionString !== 'string' || connectionString === '') {
    throw new MillraceError(
      'INVALID_OPTION',
      'postgresTable: give connectionString, e.g. postgres://user@host/db',
      {
        domain: 'user',
      },
    );
  }
  if (typeof query !== 'string' || !/^\s*(select|with)\b/i.test(query)) {
    throw new MillraceError(
      'INVALID_OPTION',
      'postgresTable: query must be a SELECT (or WITH … SELECT) statement',
      {
        domain: 'user',
      },
    );
  }
  const name = options.name ?? 'postgres';
  const shown = redactConnectionString(connectionString);
  const refreshIntervalMs =
    options.refreshInterval === undefined
      ? undefined
      : parseDuration(options.refreshInterval, 'postgresTable refreshInterval');
  const timeoutMs = options.timeoutMs ?? 10_000;
  return {
    name,
    schema,
    refreshIntervalMs,
    describe: () => `PostgresTable[${shown}, ${query.replace(/\s+/g, ' ').slice(0, 80)}]`,
    async load() {
      const client = new pg.Client({
        ...withDefaultUser({ connectionString }),
        connectionTimeoutMillis: timeoutMs,
        statement_timeout: timeoutMs,
        application_name: `millrace-table-${name}`,
      });
      try {
        await client.connect();
        const res = await client.query(query);
        const names = new Set(res.fields.map((f) => f.name));
        const missing = schema.fields.filter((f) => !names.has(f.name)).map((f) => f.name);
        if (missing.length > 0) {
          throw new MillraceError(
            'TABLE_SCHEMA_MISMATCH',
            `table "${name}": the query returns no column ${missing.map((m) => `"${m}"`).join(', ')} (it returns ${[...names].join(', ')}); name the columns with AS`,
            { domain: 'user', context: { table: name } },
          );
        }
        return res.rows.map((r: Record<string, unknown>) => {
          const row: Row = {};
          for (const f of schema.fields) row[f.name] = convert(r[f.name], f.type.kind);
          return row as R;
        });
      } catch (e) {
        if (e instanceof MillraceError) throw e;
        const msg = (e as Error).message.split(connectionString).join(shown);
        throw new MillraceError(
          'TABLE_LOAD_FAILED',
          `table "${name}" could not be read from ${shown}: ${msg}; check that the server is reachable and the query runs`,
          { domain: 'external', retryable: true, context: { table: name } },
        );
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  };
}
