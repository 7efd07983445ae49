/**
 * @millrace/postgres — a PostgreSQL sink for Millrace: append or upsert,
 * exactly once (each batch's rows and its batch id commit in one transaction).
 */
export { postgresSink, PostgresSink } from './PostgresSink.ts';
export type { PostgresSinkOptions, PostgresSinkMode } from './options.ts';
export { snakeCase, type ColumnNaming } from 'millrace/sql-sink';
export { quoteIdent } from './identifiers.ts';
export { redactConnectionString } from './connection.ts';
export { ddlType as postgresTypeOf } from './columns.ts';
export { postgresTable, type PostgresTableOptions } from './PostgresTable.ts';
/** Connection helpers shared with @millrace/postgres-cdc (one place for redaction, retries and the default user). */
export {
  Secrets,
  displayTarget,
  makePool,
  operatingSystemUser,
  serverOf,
  withDefaultUser,
  type ConnectionTarget,
} from './connection.ts';
export { asPgError, describePgError, isRetryable, sqlState, type PgErrorLike } from './errors.ts';
export { backoffMs, sleep } from 'millrace/sql-sink';
