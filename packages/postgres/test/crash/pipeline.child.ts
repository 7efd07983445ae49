/**
 * The pipeline the PostgreSQL crash test (../crash.slow.test.ts) kills and restarts: the SQL sinks'
 * shared crash pipeline (packages/millrace/test/connectors/sql/sqlSinkCrashChild.ts, which lists
 * its environment and stdout markers) writing through postgresSink; update mode upserts on
 * (window_start, auction) with ON CONFLICT.
 */
import { runSqlSinkCrashChild } from '../../../millrace/test/connectors/sql/sqlSinkCrashChild.ts';
import { postgresSink } from '../../src/index.ts';

await runSqlSinkCrashChild(postgresSink, 'crash-postgres');
