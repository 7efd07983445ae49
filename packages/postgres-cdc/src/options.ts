/** The options of `postgresCdcSource`, checked when the source is created. */
import { type ConnectionTarget } from '@millrace/postgres';
import { MillraceError } from 'millrace';
import type pg from 'pg';

export interface PostgresCdcSourceOptions {
  /** `postgres://user:password@host:5432/database`. One of connectionString and connection. */
  readonly connectionString?: string;
  /** A node-postgres client config; `{}` uses the PG* environment variables. */
  readonly connection?: pg.ClientConfig;
  /** The logical replication slot (pgoutput) whose changes this source reads and advances. One query per slot. */
  readonly slot: string;
  /** The publication that says which tables (and operations) are captured. */
  readonly publication: string;
  /** Tables of the publication when this source creates it (`'orders'`, `'shop.orders'`); default FOR ALL TABLES. */
  readonly tables?: readonly string[];
  /** Create the slot and the publication when they do not exist. Default true. */
  readonly createIfMissing?: boolean;
  /** At most about this many change rows per batch, cut at transaction boundaries (a larger transaction is one batch). */
  readonly maxRowsPerTrigger?: number;
  /** Fail (default) when the slot lost changes the checkpoint still needs; false: warn and go on. */
  readonly failOnDataLoss?: boolean;
  /** Rows per fetch from the server, and per chunk through the query. Default 1,000. */
  readonly fetchSize?: number;
  /** Unique within a query. Default `postgres-cdc-<slot>`. */
  readonly name?: string;
  /** Retries of a step after a connection loss (or while the slot is busy). Default 10. */
  readonly maxRetries?: number;
  /** First backoff; doubles at each retry. Default 200 ms. */
  readonly initialBackoffMs?: number;
  /** Longest backoff. Default 10,000 ms. */
  readonly maxBackoffMs?: number;
  /** Give up one connection attempt after this long. Default 10,000 ms. */
  readonly connectTimeoutMs?: number;
}

export interface Resolved {
  readonly target: ConnectionTarget;
  readonly slot: string;
  readonly publication: string;
  readonly tables: readonly string[] | undefined;
  readonly createIfMissing: boolean;
  readonly maxRowsPerTrigger: number | undefined;
  readonly failOnDataLoss: boolean;
  readonly fetchSize: number;
  readonly name: string;
  readonly maxRetries: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly connectTimeoutMs: number;
}

const KNOWN = new Set([
  'connectionString',
  'connection',
  'slot',
  'publication',
  'tables',
  'createIfMissing',
  'maxRowsPerTrigger',
  'failOnDataLoss',
  'fetchSize',
  'name',
  'maxRetries',
  'initialBackoffMs',
  'maxBackoffMs',
  'connectTimeoutMs',
]);

export function optionError(message: string): MillraceError {
  return new MillraceError('INVALID_OPTION', `postgresCdcSource: ${message}`, { domain: 'user' });
}

function integer(o: Record<string, unknown>, key: string, dflt: number, min: number): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)
    throw optionError(`"${key}" must be a whole number ≥ ${min}, got ${JSON.stringify(v)}`);
  return v;
}

function flag(o: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw optionError(`"${key}" must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** Slot names: what PostgreSQL allows (lower-case letters, digits, underscore; at most 63). */
const SLOT_NAME = /^[a-z0-9_]{1,63}$/;

export function resolveOptions(options: PostgresCdcSourceOptions): Resolved {
  if (options === null || typeof options !== 'object')
    throw optionError(
      "pass an options object, e.g. { connectionString: 'postgres://user@host/db', slot: 'millrace', publication: 'millrace' }",
    );
  const o = options as unknown as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!KNOWN.has(k) && o[k] !== undefined)
      throw optionError(`unknown option "${k}"; the options are: ${[...KNOWN].join(', ')}`);

  const given = (['connectionString', 'connection'] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1)
    throw optionError(
      given.length === 0
        ? "say where to connect: connectionString ('postgres://user:password@host:5432/db') or connection ({ host, user, … })"
        : 'give only one of connectionString and connection',
    );
  let target: ConnectionTarget;
  if (o.connectionString !== undefined) {
    const cs = o.connectionString;
    if (typeof cs !== 'string' || !/^postgres(ql)?:\/\//i.test(cs))
      throw optionError('"connectionString" must be a URL like postgres://user@host:5432/db');
    try {
      new URL(cs);
    } catch {
      throw optionError(
        '"connectionString" is not a valid URL; percent-encode special characters in the user name and password (e.g. @ as %40)',
      );
    }
    target = { kind: 'url', connectionString: cs };
  } else {
    if (o.connection === null || typeof o.connection !== 'object')
      throw optionError(
        '"connection" must be a node-postgres client config object like { host, port, user, database }',
      );
    target = { kind: 'config', config: o.connection as pg.ClientConfig };
  }

  if (typeof o.slot !== 'string' || !SLOT_NAME.test(o.slot))
    throw optionError(
      `"slot" must name a replication slot: lower-case letters, digits and _ (at most 63), got ${JSON.stringify(o.slot)}`,
    );
  if (typeof o.publication !== 'string' || o.publication === '' || o.publication.length > 63)
    throw optionError(`"publication" must name a publication, got ${JSON.stringify(o.publication)}`);
  let tables: string[] | undefined;
  if (o.tables !== undefined) {
    const ts = o.tables;
    if (
      !Array.isArray(ts) ||
      ts.length === 0 ||
      ts.some((x) => typeof x !== 'string' || !/^[^.]+(\.[^.]+)?$/.test(x))
    )
      throw optionError(
        `"tables" must list table names ('orders' or 'shop.orders'), got ${JSON.stringify(ts)}`,
      );
    tables = [...(ts as string[])];
  }
  const maxRowsPerTrigger =
    o.maxRowsPerTrigger === undefined ? undefined : integer(o, 'maxRowsPerTrigger', 0, 1);
  const initialBackoffMs = integer(o, 'initialBackoffMs', 200, 0);
  const maxBackoffMs = integer(o, 'maxBackoffMs', 10_000, 0);
  if (maxBackoffMs < initialBackoffMs)
    throw optionError(
      `"maxBackoffMs" (${maxBackoffMs}) must be at least "initialBackoffMs" (${initialBackoffMs})`,
    );
  const name = o.name ?? `postgres-cdc-${o.slot}`;
  if (typeof name !== 'string' || name.trim() === '')
    throw optionError(`"name" must be a non-empty string, got ${JSON.stringify(o.name)}`);
  return {
    target,
    slot: o.slot,
    publication: o.publication,
    tables,
    createIfMissing: flag(o, 'createIfMissing', true),
    maxRowsPerTrigger,
    failOnDataLoss: flag(o, 'failOnDataLoss', true),
    fetchSize: integer(o, 'fetchSize', 1_000, 1),
    name,
    maxRetries: integer(o, 'maxRetries', 10, 0),
    initialBackoffMs,
    maxBackoffMs,
    connectTimeoutMs: integer(o, 'connectTimeoutMs', 10_000, 1),
  };
}
