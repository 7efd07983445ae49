/**
 * The options of `postgresSink`, validated when the sink is created: a bad
 * option fails at once with a MillraceError naming it. (Checks that need the
 * query's schema — key columns, output mode — happen in open(), at start().)
 */
import { MillraceError } from 'millrace';
import type pg from 'pg';
import { type ConnectionTarget, redactConnectionString } from './connection.ts';
import type { ColumnNaming } from 'millrace/sql-sink';
import { type TableName, parseTableName } from './identifiers.ts';

export type PostgresSinkMode = 'append' | 'upsert';

export interface PostgresSinkOptions {
  /** `postgres://user:password@host:5432/database?sslmode=require`. One of connectionString, connection, pool. */
  readonly connectionString?: string;
  /** A node-postgres client config (host, port, user, password, database, ssl, …); `{}` uses the PG* environment variables. */
  readonly connection?: pg.ClientConfig;
  /** Your own pg.Pool; the sink takes one connection per batch and never ends the pool. */
  readonly pool?: pg.Pool;
  /** `'events'`, `'analytics.events'` or `{ schema, name }`. */
  readonly table: string | { readonly schema?: string; readonly name: string };
  /** `append` (INSERT) or `upsert` (INSERT … ON CONFLICT (keyColumns) DO UPDATE). Default `append`. */
  readonly mode?: PostgresSinkMode;
  /** The key of an upsert: a primary key or unique index of the table on exactly these columns. */
  readonly keyColumns?: readonly string[];
  /** Create the table from the query's schema when it does not exist (primary key = keyColumns). Default false. */
  readonly createTable?: boolean;
  /** Unique within a query; the progress table records batches under it. Default `postgres-<table>`. */
  readonly name?: string;
  /** Rows per INSERT statement (each statement sends one array per column). Default 10,000. */
  readonly batchSize?: number;
  /** Retries of a batch after a connection loss or another transient error. Default 6. */
  readonly maxRetries?: number;
  /** First backoff before a retry; doubles at each retry. Default 200 ms. */
  readonly initialBackoffMs?: number;
  /** Longest backoff. Default 10,000 ms. */
  readonly maxBackoffMs?: number;
  /** Give up connecting after this long (one attempt). Default 10,000 ms. */
  readonly connectTimeoutMs?: number;
  /** Where committed batch ids are kept. Default `millrace_sink_batches`, in the table's schema. */
  readonly progressTable?: string | { readonly schema?: string; readonly name: string };
  /** `'snake_case'`: the query's windowStart is the table's window_start. Default `'as-is'`. */
  readonly columnNames?: ColumnNaming;
}

export interface ResolvedOptions {
  readonly target: ConnectionTarget;
  readonly table: TableName;
  readonly progressTable: TableName;
  readonly mode: PostgresSinkMode;
  readonly keyColumns: readonly string[];
  readonly createTable: boolean;
  readonly name: string;
  readonly batchSize: number;
  readonly maxRetries: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly connectTimeoutMs: number;
  readonly columnNames: ColumnNaming;
}

const KNOWN = new Set([
  'connectionString',
  'connection',
  'pool',
  'table',
  'mode',
  'keyColumns',
  'createTable',
  'name',
  'batchSize',
  'maxRetries',
  'initialBackoffMs',
  'maxBackoffMs',
  'connectTimeoutMs',
  'progressTable',
  'columnNames',
]);

function optionError(message: string, sink?: string): MillraceError {
  return new MillraceError('INVALID_OPTION', `postgresSink: ${message}`, {
    domain: 'user',
    context: sink ? { sink } : {},
  });
}

function integer(o: Record<string, unknown>, key: string, dflt: number, min: number): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw optionError(`"${key}" must be a whole number ≥ ${min}, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function resolveOptions(options: PostgresSinkOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw optionError(
      "pass an options object, e.g. { connectionString: 'postgres://user@host:5432/db', table: 'events' }",
    );
  }
  const o = options as unknown as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k) && o[k] !== undefined) {
      throw optionError(`unknown option "${k}"; the options are: ${[...KNOWN].join(', ')}`);
    }
  }

  // -- where to connect --------------------------------------------------------
  const given = (['connectionString', 'connection', 'pool'] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1) {
    throw optionError(
      given.length === 0
        ? "say where to connect: connectionString ('postgres://user:password@host:5432/db'), connection ({ host, user, … }) or pool"
        : `give only one of connectionString, connection and pool, not ${given.join(' and ')}`,
    );
  }
  let target: ConnectionTarget;
  if (o.connectionString !== undefined) {
    const cs = o.connectionString;
    if (typeof cs !== 'string' || cs.trim() === '') {
      throw optionError(`"connectionString" must be a non-empty string like 'postgres://user@host:5432/db'`);
    }
    if (/^[a-z][a-z0-9+.-]*:/i.test(cs) && !/^postgres(ql)?:|^socket:/i.test(cs)) {
      throw optionError(
        `"connectionString" ${redactConnectionString(cs)} is not a PostgreSQL URL; it must start with postgres:// or postgresql://`,
      );
    }
    if (/^postgres(ql)?:\/\//i.test(cs)) {
      try {
        new URL(cs);
      } catch {
        // The parser's own error quotes the input (with its password): say it ourselves.
        throw optionError(
          `"connectionString" ${redactConnectionString(cs)} is not a valid URL; percent-encode special characters in the user name and password (e.g. @ as %40)`,
        );
      }
    }
    target = { kind: 'url', connectionString: cs };
  } else if (o.connection !== undefined) {
    if (o.connection === null || typeof o.connection !== 'object') {
      throw optionError(
        '"connection" must be a node-postgres client config object like { host, port, user, database }',
      );
    }
    target = { kind: 'config', config: o.connection as pg.ClientConfig };
  } else {
    const p = o.pool as { connect?: unknown; query?: unknown } | null;
    if (p === null || typeof p !== 'object' || typeof p.connect !== 'function') {
      throw optionError('"pool" must be a pg.Pool (new pg.Pool({ … }))');
    }
    target = { kind: 'pool', pool: o.pool as pg.Pool };
  }

  // -- what to write -------------------------------------------------------------
  const table = parseTableName(o.table, 'table');
  if (typeof table === 'string') throw optionError(table);
  const name = o.name ?? `postgres-${table.schema ? `${table.schema}.` : ''}${table.name}`;
  if (typeof name !== 'string' || name.trim() === '') {
    throw optionError(`"name" must be a non-empty string, got ${JSON.stringify(o.name)}`);
  }
  const mode = o.mode ?? 'append';
  if (mode !== 'append' && mode !== 'upsert') {
    throw optionError(`"mode" must be 'append' or 'upsert', got ${JSON.stringify(o.mode)}`, name);
  }
  let keyColumns: string[] = [];
  if (o.keyColumns !== undefined) {
    const kc = o.keyColumns;
    if (!Array.isArray(kc) || kc.some((c) => typeof c !== 'string' || c === '')) {
      throw optionError(`"keyColumns" must be a list of column names, got ${JSON.stringify(kc)}`, name);
    }
    const dup = kc.find((c, i) => kc.indexOf(c) !== i);
    if (dup !== undefined)
      throw optionError(`"keyColumns" names "${dup}" twice; list each column once`, name);
    keyColumns = [...(kc as string[])];
  }
  if (mode === 'upsert' && keyColumns.length === 0) {
    throw optionError(
      `mode 'upsert' needs keyColumns: the columns that identify a row (its primary key), e.g. keyColumns: ['id']`,
      name,
    );
  }
  if (mode === 'append' && keyColumns.length > 0) {
    throw optionError(
      `keyColumns apply to mode 'upsert' only; set mode: 'upsert' to update rows by key, or remove keyColumns to append`,
      name,
    );
  }
  if (o.createTable !== undefined && typeof o.createTable !== 'boolean') {
    throw optionError(`"createTable" must be true or false, got ${JSON.stringify(o.createTable)}`, name);
  }
  let progressTable: TableName = { schema: table.schema, name: 'millrace_sink_batches' };
  if (o.progressTable !== undefined) {
    const pt = parseTableName(o.progressTable, 'progressTable');
    if (typeof pt === 'string') throw optionError(pt, name);
    progressTable = pt;
  }
  if (progressTable.name === table.name && progressTable.schema === table.schema) {
    throw optionError(`"progressTable" must differ from the data table "${table.name}"`, name);
  }

  const initialBackoffMs = integer(o, 'initialBackoffMs', 200, 0);
  const maxBackoffMs = integer(o, 'maxBackoffMs', 10_000, 0);
  if (maxBackoffMs < initialBackoffMs) {
    throw optionError(
      `"maxBackoffMs" (${maxBackoffMs}) must be ≥ "initialBackoffMs" (${initialBackoffMs})`,
      name,
    );
  }
  const columnNames = o.columnNames ?? 'as-is';
  if (columnNames !== 'as-is' && columnNames !== 'snake_case') {
    throw optionError(
      `"columnNames" must be 'as-is' or 'snake_case', got ${JSON.stringify(o.columnNames)}`,
      name,
    );
  }
  return {
    columnNames,
    target,
    table,
    progressTable,
    mode,
    keyColumns,
    createTable: o.createTable === true,
    name,
    batchSize: integer(o, 'batchSize', 10_000, 1),
    maxRetries: integer(o, 'maxRetries', 6, 0),
    initialBackoffMs,
    maxBackoffMs,
    connectTimeoutMs: integer(o, 'connectTimeoutMs', 10_000, 1),
  };
}
