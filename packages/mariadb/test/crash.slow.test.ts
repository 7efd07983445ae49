/**
 * Crash test of the MariaDB sink (docs/architecture.md; the PostgreSQL sink's test, on MariaDB): Nexmark
 * bids → count/sum/max per (window, auction) → MariaDB in a child process SIGKILLed 20 times at
 * random points (startup, mid-run, inside the sink's transaction, between the MariaDB COMMIT and
 * commits/N), checked after every kill against an answer computed from the generator, then
 * finished by a final run. The scenario is shared with the PostgreSQL sink:
 * packages/millrace/test/connectors/sql/sqlSinkCrash.ts.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sqlSinkCrashTest } from '../../millrace/test/connectors/sql/sqlSinkCrash.ts';
import { DB_URL, adminPool, cleanup, recordedBatch, sinkPhaseAfterKill, uniqueName } from './helpers.ts';

const admin = adminPool();
const ms = (c: string) => `CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', ${c}) DIV 1000 AS CHAR)`;

sqlSinkCrashTest({
  product: 'MariaDB',
  short: 'MariaDB',
  tag: 'mariadb',
  child: path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash', 'pipeline.child.ts'),
  seeds: { update: 20261207, append: 20261208 },
  env: { DATABASE_URL: DB_URL },
  uniqueName,
  readRows: async (table) =>
    (await admin.query(
      `SELECT ${ms('window_start')} AS s, ${ms('window_end')} AS e, ` +
        `CAST(auction AS CHAR) AS a, CAST(bids AS CHAR) AS bids, CAST(volume AS CHAR) AS volume, CAST(top AS CHAR) AS top FROM \`${table}\``,
    )) as Record<string, string>[],
  noTable: /doesn't exist/,
  recordedBatch: (sinkName) => recordedBatch(admin, sinkName),
  sinkPhaseAfterKill,
  dropTable: async (table, sinkName) => {
    await admin.query(`DROP TABLE IF EXISTS \`${table}\``);
    await admin.query(`DELETE FROM millrace_sink_batches WHERE sink = ?`, [sinkName]);
  },
  cleanup,
});
