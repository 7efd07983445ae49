/**
 * The pipeline the MariaDB crash test (../crash.slow.test.ts) kills and restarts: the SQL sinks'
 * shared crash pipeline (packages/millrace/test/connectors/sql/sqlSinkCrashChild.ts, which lists
 * its environment and stdout markers) writing through mariadbSink; update mode upserts on
 * (window_start, auction) with ON DUPLICATE KEY UPDATE.
 */
import { runSqlSinkCrashChild } from '../../../millrace/test/connectors/sql/sqlSinkCrashChild.ts';
import { mariadbSink } from '../../src/index.ts';

await runSqlSinkCrashChild(mariadbSink, 'crash-mariadb');
