/**
 * The SQL the sink runs. Identifiers are quoted with quoteIdent; values are
 * always parameters ($1, $2, …) — never part of the text.
 */
import type { Field } from 'millrace';
import { columnList, ddlType, paramType, selectExpression } from './columns.ts';
import { type TableName, qualified, quoteIdent } from './identifiers.ts';

/** Serialises DDL of concurrent sinks (CREATE TABLE IF NOT EXISTS can race in PostgreSQL). */
export const DDL_LOCK = `SELECT pg_advisory_xact_lock(hashtext('millrace-postgres-sink-ddl'))`;

export function createProgressTable(p: TableName): string {
  return (
    `CREATE TABLE IF NOT EXISTS ${qualified(p)} (` +
    `query_id text NOT NULL, sink text NOT NULL, batch_id bigint NOT NULL, ` +
    `committed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (query_id, sink))`
  );
}

export function createDataTable(
  t: TableName,
  fields: readonly Field[],
  keyColumns: readonly string[],
): string {
  const cols = fields.map(
    (f) =>
      `${quoteIdent(f.name)} ${ddlType(f.type)}${f.nullable && !keyColumns.includes(f.name) ? '' : ' NOT NULL'}`,
  );
  if (keyColumns.length) cols.push(`PRIMARY KEY (${columnList(keyColumns)})`);
  return `CREATE TABLE IF NOT EXISTS ${qualified(t)} (${cols.join(', ')})`;
}

/** Lock this (query, sink)'s progress row for the rest of the transaction; read its last batch id. */
export function lockProgress(p: TableName): string {
  return `SELECT batch_id FROM ${qualified(p)} WHERE query_id = $1 AND sink = $2 FOR UPDATE`;
}

/** First batch of a (query, sink): make the row to lock (a concurrent creator wins, we wait for it). */
export function seedProgress(p: TableName): string {
  return (
    `INSERT INTO ${qualified(p)} (query_id, sink, batch_id) VALUES ($1, $2, -1) ` +
    `ON CONFLICT (query_id, sink) DO NOTHING`
  );
}

export function recordProgress(p: TableName): string {
  return `UPDATE ${qualified(p)} SET batch_id = $3, committed_at = now() WHERE query_id = $1 AND sink = $2`;
}

export function deleteAll(t: TableName): string {
  return `DELETE FROM ${qualified(t)}`;
}

/**
 * One INSERT for a whole chunk of rows: one array parameter per column,
 * unnested back into rows.
 *
 *   INSERT INTO "t" ("k", "ts") SELECT u.c0, to_timestamp(u.c1 / 1000)
 *   FROM unnest($1::int8[], $2::float8[]) AS u(c0, c1)
 *   [ON CONFLICT ("k") DO UPDATE SET "ts" = EXCLUDED."ts"]
 *
 * An upsert reports how many rows it inserted and updated (`xmax = 0` marks a
 * row version this statement inserted rather than updated).
 * `targetTypes`: the table's column types (pg_type.typname) by column name.
 */
export function insertStatement(
  t: TableName,
  fields: readonly Field[],
  targetTypes: ReadonlyMap<string, string>,
  keyColumns: readonly string[] | null,
): string {
  const aliases = fields.map((_, i) => `c${i}`);
  const exprs = fields.map((f, i) =>
    selectExpression(f.type, `u.${aliases[i]}`, targetTypes.get(f.name) ?? ''),
  );
  const params = fields.map((f, i) => `$${i + 1}::${paramType(f.type)}`);
  const insert =
    `INSERT INTO ${qualified(t)} (${columnList(fields.map((f) => f.name))}) ` +
    `SELECT ${exprs.join(', ')} FROM unnest(${params.join(', ')}) AS u(${aliases.join(', ')})`;
  if (keyColumns === null) return insert;
  const others = fields.filter((f) => !keyColumns.includes(f.name));
  const onConflict =
    others.length === 0
      ? `ON CONFLICT (${columnList(keyColumns)}) DO NOTHING`
      : `ON CONFLICT (${columnList(keyColumns)}) DO UPDATE SET ` +
        others.map((f) => `${quoteIdent(f.name)} = EXCLUDED.${quoteIdent(f.name)}`).join(', ');
  return (
    `WITH w AS (${insert} ${onConflict} RETURNING (xmax = 0) AS inserted) ` +
    `SELECT count(*) FILTER (WHERE inserted)::int AS inserted, count(*) FILTER (WHERE NOT inserted)::int AS updated FROM w`
  );
}

// -- introspection (open) --------------------------------------------------------

/** The oid and kind of a table, by its quoted name ($1); null oid when missing. */
export const FIND_TABLE = `SELECT to_regclass($1)::oid AS oid`;

export const TABLE_COLUMNS =
  `SELECT a.attname AS name, t.typname AS typname, format_type(a.atttypid, a.atttypmod) AS type, ` +
  `a.attnotnull AS not_null, a.atthasdef AS has_default ` +
  `FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid ` +
  `WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`;

/** Column sets of the table's primary key and unique indexes usable by ON CONFLICT. */
export const UNIQUE_KEYS =
  `SELECT array_agg(a.attname::text ORDER BY k.ord) AS cols ` +
  `FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) ` +
  `JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ` +
  `WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL ` +
  `AND k.ord <= i.indnkeyatts GROUP BY i.indexrelid`;
