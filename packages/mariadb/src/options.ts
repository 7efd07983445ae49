/**
 * The options of `mariadbSink`, validated when the sink is created: a bad option fails at once
 * with a MillraceError naming it. (Checks that need the query's schema — key columns, output
 * mode — happen in open(), at start().)
 */
import type { ColumnNaming } from 'millrace/sql-sink';
import { MillraceError } from 'millrace';
import type { ConnectionConfig } from 'mariadb';
import { parseConnectionString } from './connection.ts';
import { type TableName, parseTableName } from './identifiers.ts';

export type MariaDbSinkMode = 'append' | 'upsert';

export interface MariaDbSinkOptions {
  /** `mariadb://user:password@host:3306/database?ssl=true` (or `mysql://…`). One of connectionString, connection. */
  readonly connectionString?: string;
  /** A mariadb driver connection config: { host, port, user, password, database, ssl, … }. */
  readonly connection?: ConnectionConfig;
  /** `'events'` or `'analytics.events'` (database.table) or `{ database, name }`. */
  readonly table: string | { readonly database?: string; readonly name: string };
  /** `append` (INSERT) or `upsert` (INSERT … ON DUPLICATE KEY UPDATE). Default `append`. */
  readonly mode?: MariaDbSinkMode;
  /** The key of an upsert: the primary key or a unique index of the table on exactly these columns. */
  readonly keyColumns?: readonly string[];
  /** Create the table from the query's schema when it does not exist (primary key = keyColumns). Default false. */
  readonly createTable?: boolean;
  /** Unique within a query; the progress table records batches under it. Default `mariadb-<table>`. */
  readonly name?: string;
  /** Rows per bulk INSERT. Default 5,000. */
  readonly batchSize?: number;
  /** Retries of a batch after a connection loss or another transient error. Default 6. */
  readonly maxRetries?: number;
  /** First backoff before a retry; doubles at each retry. Default 200 ms. */
  readonly initialBackoffMs?: number;
  /** Longest backoff. Default 10,000 ms. */
  readonly maxBackoffMs?: number;
  /** Give up connecting after this long (one attempt). Default 10,000 ms. */
  readonly connectTimeoutMs?: number;
  /** Where committed batch ids are kept. Default `millrace_sink_batches`, in the table's database. */
  readonly progressTable?: string | { readonly database?: string; readonly name: string };
  /** `'snake_case'`: the query's windowStart is the table's window_start. Default `'as-is'`. */
  readonly columnNames?: ColumnNaming;
}

export interface ResolvedOptions {
  readonly config: ConnectionConfig;
  readonly table: TableName;
  readonly progressTable: TableName;
  readonly mode: MariaDbSinkMode;
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

export function optionError(message: string, who = 'mariadbSink', sink?: string): MillraceError {
  return new MillraceError('INVALID_OPTION', `${who}: ${message}`, {
    domain: 'user',
    context: sink ? { sink } : {},
  });
}

export function integerOption(
  o: Record<string, unknown>,
  key: string,
  dflt: number,
  min: number,
  who = 'mariadbSink',
): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw optionError(`"${key}" must be a whole number ≥ ${min}, got ${JSON.stringify(v)}`, who);
  }
  return v;
}

/** connectionString or connection → a driver config (shared with mariadbTable). */
export function resolveConnection(o: Record<string, unknown>, who: string): ConnectionConfig {
  const given = (['connectionString', 'connection'] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1) {
    throw optionError(
      given.length === 0
        ? "say where to connect: connectionString ('mariadb://user:password@host:3306/db') or connection ({ host, user, password, database })"
        : 'give only one of connectionString and connection, not both',
      who,
    );
  }
  if (o.connectionString !== undefined) {
    const cs = o.connectionString;
    if (typeof cs !== 'string' || cs.trim() === '') {
      throw optionError(
        `"connectionString" must be a non-empty string like 'mariadb://user@host:3306/db'`,
        who,
      );
    }
    const config = parseConnectionString(cs);
    if (typeof config === 'string') throw optionError(config, who);
    return config;
  }
  if (o.connection === null || typeof o.connection !== 'object') {
    throw optionError(
      '"connection" must be a mariadb connection config like { host, port, user, database }',
      who,
    );
  }
  return { ...(o.connection as ConnectionConfig) };
}

export function resolveOptions(options: MariaDbSinkOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw optionError(
      "pass an options object, e.g. { connectionString: 'mariadb://user@host:3306/db', table: 'events' }",
    );
  }
  const o = options as unknown as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k) && o[k] !== undefined) {
      throw optionError(`unknown option "${k}"; the options are: ${[...KNOWN].join(', ')}`);
    }
  }
  const config = resolveConnection(o, 'mariadbSink');

  const table = parseTableName(o.table, 'table');
  if (typeof table === 'string') throw optionError(table);
  const name = o.name ?? `mariadb-${table.database ? `${table.database}.` : ''}${table.name}`;
  if (typeof name !== 'string' || name.trim() === '') {
    throw optionError(`"name" must be a non-empty string, got ${JSON.stringify(o.name)}`);
  }
  if (name.length > 255)
    throw optionError(`"name" must be at most 255 characters (the progress table's key)`);
  const mode = o.mode ?? 'append';
  if (mode !== 'append' && mode !== 'upsert') {
    throw optionError(
      `"mode" must be 'append' or 'upsert', got ${JSON.stringify(o.mode)}`,
      'mariadbSink',
      name,
    );
  }
  let keyColumns: string[] = [];
  if (o.keyColumns !== undefined) {
    const kc = o.keyColumns;
    if (!Array.isArray(kc) || kc.some((c) => typeof c !== 'string' || c === '')) {
      throw optionError(
        `"keyColumns" must be a list of column names, got ${JSON.stringify(kc)}`,
        'mariadbSink',
        name,
      );
    }
    const dup = kc.find((c, i) => kc.indexOf(c) !== i);
    if (dup !== undefined)
      throw optionError(`"keyColumns" names "${dup}" twice; list each column once`, 'mariadbSink', name);
    keyColumns = [...(kc as string[])];
  }
  if (mode === 'upsert' && keyColumns.length === 0) {
    throw optionError(
      `mode 'upsert' needs keyColumns: the columns that identify a row (its primary key), e.g. keyColumns: ['id']`,
      'mariadbSink',
      name,
    );
  }
  if (mode === 'append' && keyColumns.length > 0) {
    throw optionError(
      `keyColumns apply to mode 'upsert' only; set mode: 'upsert' to update rows by key, or remove keyColumns to append`,
      'mariadbSink',
      name,
    );
  }
  if (o.createTable !== undefined && typeof o.createTable !== 'boolean') {
    throw optionError(
      `"createTable" must be true or false, got ${JSON.stringify(o.createTable)}`,
      'mariadbSink',
      name,
    );
  }
  let progressTable: TableName = { database: table.database, name: 'millrace_sink_batches' };
  if (o.progressTable !== undefined) {
    const pt = parseTableName(o.progressTable, 'progressTable');
    if (typeof pt === 'string') throw optionError(pt, 'mariadbSink', name);
    progressTable = pt;
  }
  if (progressTable.name === table.name && progressTable.database === table.database) {
    throw optionError(`"progressTable" must differ from the data table "${table.name}"`, 'mariadbSink', name);
  }
  const initialBackoffMs = integerOption(o, 'initialBackoffMs', 200, 0);
  const maxBackoffMs = integerOption(o, 'maxBackoffMs', 10_000, 0);
  if (maxBackoffMs < initialBackoffMs) {
    throw optionError(
      `"maxBackoffMs" (${maxBackoffMs}) must be ≥ "initialBackoffMs" (${initialBackoffMs})`,
      'mariadbSink',
      name,
    );
  }
  const columnNames = o.columnNames ?? 'as-is';
  if (columnNames !== 'as-is' && columnNames !== 'snake_case') {
    throw optionError(
      `"columnNames" must be 'as-is' or 'snake_case', got ${JSON.stringify(o.columnNames)}`,
      'mariadbSink',
      name,
    );
  }
  return {
    columnNames,
    config,
    table,
    progressTable,
    mode,
    keyColumns,
    createTable: o.createTable === true,
    name,
    batchSize: integerOption(o, 'batchSize', 5_000, 1),
    maxRetries: integerOption(o, 'maxRetries', 6, 0),
    initialBackoffMs,
    maxBackoffMs,
    connectTimeoutMs: integerOption(o, 'connectTimeoutMs', 10_000, 1),
  };
}
