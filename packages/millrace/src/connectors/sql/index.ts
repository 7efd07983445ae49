/**
 * millrace/sql-sink — the shared core of the exactly-once SQL sinks (@millrace/postgres,
 * @millrace/mariadb): one transaction per batch with its batch id, append/upsert/complete,
 * retries with backoff, column naming. A database plugs in through TransactionalSqlSink's
 * abstract members and a SqlSinkDialect.
 */
export {
  TransactionalSqlSink,
  type SqlBatchCounts,
  type SqlSinkCoreOptions,
  type SqlSinkDialect,
  type SqlSinkPhase,
  type SqlWritePlan,
} from './TransactionalSqlSink.ts';
export { BatchRows, UpstreamError } from './BatchRows.ts';
export { type ColumnNaming, type Renaming, renameColumns, snakeCase } from './columnNames.ts';
export { type BackoffOptions, backoffMs, sleep } from './backoff.ts';
export { sinkError } from './sinkError.ts';
