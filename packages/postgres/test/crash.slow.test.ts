/**
 * Crash test of the PostgreSQL sink (docs/architecture.md): Nexmark bids → count/sum/max per (window,
 * auction) → PostgreSQL in a child process SIGKILLed 20 times at random points (startup, mid-run,
 * inside the sink's transaction, between the PostgreSQL COMMIT and commits/N), checked after every
 * kill against an answer computed from the generator, then finished by a final run. The scenario
 * is shared with the MariaDB sink: packages/millrace/test/connectors/sql/sqlSinkCrash.ts.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sqlSinkCrashTest } from '../../millrace/test/connectors/sql/sqlSinkCrash.ts';
import { DB_URL, adminPool, cleanup, recordedBatch, sinkPhaseAfterKill, uniqueName } from './helpers.ts';

const admin = adminPool();

sqlSinkCrashTest({
  product: 'PostgreSQL',
  short: 'PG',
  tag: 'postgres',
  child: path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash', 'pipeline.child.ts'),
  seeds: { update: 20251121, append: 20251122 },
  env: { DATABASE_URL: DB_URL },
  uniqueName,
  readRows: async (table) =>
    (
      await admin.query(
        `SELECT (extract(epoch from window_start) * 1000)::bigint::text AS s, (extract(epoch from window_end) * 1000)::bigint::text AS e, ` +
          `auction::text AS a, bids::text, volume::text, top::text FROM "${table}"`,
      )
    ).rows as Record<string, string>[],
  noTable: /does not exist/,
  recordedBatch: (sinkName) => recordedBatch(admin, sinkName),
  sinkPhaseAfterKill,
  dropTable: async (table, sinkName) => {
    await admin.query(`DROP TABLE IF EXISTS "${table}"`);
    await admin.query(`DELETE FROM millrace_sink_batches WHERE sink = $1`, [sinkName]);
  },
  cleanup,
});
