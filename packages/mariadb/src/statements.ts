/**
 * The SQL the sink runs. Identifiers are quoted with quoteIdent; values are always parameters
 * (`?`) — never part of the text.
 */
import type { Field } from 'millrace';
import { ddlType } from './columns.ts';
import { type TableName, columnList, qualified, quoteIdent } from './identifiers.ts';

/** Storage engines that roll a transaction back (the exactly-once scheme needs one for both tables). */
export const TRANSACTIONAL_ENGINES = new Set(['innodb', 'xtradb', 'rocksdb', 'tokudb']);

export function createProgressTable(p: TableName): string {
  return (
    `CREATE TABLE IF NOT EXISTS ${qualified(p)} (` +
    `query_id VARCHAR(255) NOT NULL, sink VARCHAR(255) NOT NULL, batch_id BIGINT NOT NULL, ` +
    `committed_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), PRIMARY KEY (query_id, sink)) ` +
    `ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`
  );
}

export function createDataTable(
  t: TableName,
  fields: readonly Field[],
  keyColumns: readonly string[],
): string {
  const cols = fields.map((f) => {
    const key = keyColumns.includes(f.name);
    return `${quoteIdent(f.name)} ${ddlType(f.type, key)}${f.nullable && !key ? ' NULL' : ' NOT NULL'}`;
  });
  if (keyColumns.length) cols.push(`PRIMARY KEY (${columnList(keyColumns)})`);
  return `CREATE TABLE IF NOT EXISTS ${qualified(t)} (${cols.join(', ')}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;
}

/** Lock this (query, sink)'s progress row for the rest of the transaction; read its last batch id. */
export function lockProgress(p: TableName): string {
  return `SELECT batch_id FROM ${qualified(p)} WHERE query_id = ? AND sink = ? FOR UPDATE`;
}

/** First batch of a (query, sink): make the row to lock (a concurrent creator wins; we wait for it). */
export function seedProgress(p: TableName): string {
  return `INSERT IGNORE INTO ${qualified(p)} (query_id, sink, batch_id) VALUES (?, ?, -1)`;
}

export function recordProgress(p: TableName): string {
  return `UPDATE ${qualified(p)} SET batch_id = ?, committed_at = CURRENT_TIMESTAMP(3) WHERE query_id = ? AND sink = ?`;
}

/** Complete mode: DELETE, not TRUNCATE (TRUNCATE commits at once; readers must keep the old table until COMMIT). */
export function deleteAll(t: TableName): string {
  return `DELETE FROM ${qualified(t)}`;
}

/**
 * One prepared INSERT, executed for many rows (`conn.batch`):
 *
 *   INSERT INTO `t` (`k`, `v`) VALUES (?, ?)
 *   [ON DUPLICATE KEY UPDATE `v` = VALUES(`v`)]
 *
 * An upsert's affected rows count 1 per inserted and 2 per updated row (0 for a row set to the
 * values it had), with the connection's foundRows off. VALUES() works on MariaDB and MySQL (where
 * 8.0.20+ calls it deprecated but keeps it).
 */
export function insertStatement(
  t: TableName,
  fields: readonly Field[],
  keyColumns: readonly string[] | null,
): string {
  const insert =
    `INSERT INTO ${qualified(t)} (${columnList(fields.map((f) => f.name))}) ` +
    `VALUES (${fields.map(() => '?').join(', ')})`;
  if (keyColumns === null) return insert;
  const others = fields.filter((f) => !keyColumns.includes(f.name));
  // With nothing but the key, a no-op assignment makes a duplicate a no-op instead of an error.
  const sets = (others.length ? others : fields.slice(0, 1)).map(
    (f) => `${quoteIdent(f.name)} = VALUES(${quoteIdent(f.name)})`,
  );
  return `${insert} ON DUPLICATE KEY UPDATE ${sets.join(', ')}`;
}

// -- introspection (open) --------------------------------------------------------

/** ENGINE of a table ($1 database or NULL for the current one, $2 name); no row when missing. */
export const FIND_TABLE =
  `SELECT ENGINE AS engine, TABLE_TYPE AS type FROM information_schema.TABLES ` +
  `WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?`;

export const TABLE_COLUMNS =
  `SELECT COLUMN_NAME AS name, DATA_TYPE AS dataType, IS_NULLABLE AS nullable, COLUMN_DEFAULT AS dflt, ` +
  `EXTRA AS extra FROM information_schema.COLUMNS ` +
  `WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`;

/** Column sets of the table's primary key and unique indexes (what ON DUPLICATE KEY matches). */
export const UNIQUE_KEYS =
  `SELECT INDEX_NAME AS idx, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX SEPARATOR '\\0') AS cols ` +
  `FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? ` +
  `AND NON_UNIQUE = 0 GROUP BY INDEX_NAME`;
