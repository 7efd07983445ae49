/**
 * Run by naming.test.ts with $USER and $PGUSER unset: writes one row with postgresSink and reads
 * current_user with postgresTable, both through DEFAULT_USER_URL (no user name in it). Prints
 * { currentUser, rows } as JSON.
 */
import { schema, silentLogger, systemClock, t } from 'millrace';
import { postgresSink, postgresTable } from '../src/index.ts';

const url = process.env.DEFAULT_USER_URL!;
const table = process.env.DEFAULT_USER_TABLE!;
const s = schema({ id: t.long });
const sink = postgresSink({ connectionString: url, table, createTable: true });
await sink.open({
  queryId: `default-user-${table}`,
  queryName: 'default-user',
  stateDir: '/nonexistent',
  clock: systemClock,
  log: silentLogger,
  schema: s,
  outputMode: 'append',
});
await sink.addBatch([{ id: 1 }], { batchId: 0, outputMode: 'append' });
await sink.close();
const who = postgresTable({
  connectionString: url,
  query: `SELECT current_user::text AS u, (SELECT count(*)::int FROM "${table}") AS n`,
  schema: schema({ u: t.string, n: t.long }),
});
const [row] = await who.load({ clock: systemClock, log: silentLogger });
console.log(JSON.stringify({ currentUser: row!.u, rows: row!.n }));
