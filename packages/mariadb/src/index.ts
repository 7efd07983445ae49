/**
 * @millrace/mariadb — a MariaDB / MySQL sink for Millrace: append, upsert or complete, exactly once
 * (each batch's rows and its batch id commit in one transaction), and a lookup table for
 * stream–table joins.
 */
export { mariadbSink, MariaDbSink } from './MariaDbSink.ts';
export type { MariaDbSinkOptions, MariaDbSinkMode } from './options.ts';
export { snakeCase, type ColumnNaming } from 'millrace/sql-sink';
export { mariadbTable, type MariaDbTableOptions } from './MariaDbTable.ts';
export { quoteIdent } from './identifiers.ts';
export { redactConnectionString } from './connection.ts';
export { ddlType as mariadbTypeOf } from './columns.ts';
