/**
 * @millrace/postgres-cdc — PostgreSQL change data capture: the changes of tables, read from a
 * logical replication slot (pgoutput), as Debezium-like rows; exactly once with the checkpoint.
 */
export { postgresCdcSource, PostgresCdcSource, cdcSchema } from './PostgresCdcSource.ts';
export type { PostgresCdcSourceOptions } from './options.ts';
export type { CdcRow, Image } from './decode.ts';
