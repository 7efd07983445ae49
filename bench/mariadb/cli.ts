/**
 * `npm run bench -- mariadb [options]`: throughput of the MariaDB sink beside the plain `mariadb`
 * driver doing the same bulk INSERT (`conn.batch`; upsert: ON DUPLICATE KEY UPDATE). The runs, rows
 * and report are the SQL sinks' shared bench (../sql-sink/sqlSinkBench.ts).
 */
import { type BenchMode, type BenchRow, runSqlSinkBench } from '../sql-sink/sqlSinkBench.ts';

export const USAGE = `usage: npm run bench -- mariadb [options]

Rows through the MariaDB sink (a Millrace query) beside the plain mariadb driver doing the same INSERTs.

options:
  --rows N             rows to write per run, default 1,000,000
  --batch N            rows per micro-batch (one transaction), default 100,000
  --statement N        rows per bulk INSERT (the sink's batchSize), default 5,000
  --mode append|upsert|both   default both
  --url URL            default $MARIADB_URL or mariadb://root@127.0.0.1:3306/test`;

const pad = (n: number, w: number) => String(n).padStart(w, '0');
/** Epoch milliseconds as DATETIME(3) text in UTC (the baseline's connection runs in +00:00). */
const dateTime = (ms: number) => {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)} ${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}.${pad(d.getUTCMilliseconds(), 3)}`;
};

function connectionConfig(url: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username) || undefined,
    password: decodeURIComponent(u.password) || undefined,
    database: u.pathname.slice(1) || undefined,
    bigIntAsNumber: true,
  };
}

export async function main(args: string[]): Promise<number> {
  const { createConnection } = await import('mariadb');
  return runSqlSinkBench(args, {
    bench: 'mariadb',
    product: 'MariaDB',
    usage: USAGE,
    defaultStatement: 5_000,
    defaultUrl: process.env.MARIADB_URL ?? 'mariadb://root@127.0.0.1:3306/test',
    statementWord: 'bulk INSERTs',
    baselineNote:
      'baseline = the plain mariadb driver, same bulk INSERTs and transactions, no engine and no progress row',
    tablePrefix: 'bench_mdb',
    admin: async (url) => {
      const admin = await createConnection(connectionConfig(url));
      return {
        createTable: async (name, mode) => {
          await admin.query(
            `CREATE TABLE \`${name}\` (id BIGINT NOT NULL${mode === 'upsert' ? ' PRIMARY KEY' : ''}, user_name LONGTEXT, amount DOUBLE, at DATETIME(3), tag LONGTEXT) ENGINE=InnoDB`,
          );
        },
        countRows: async (name) =>
          Number(((await admin.query(`SELECT count(*) AS n FROM \`${name}\``)) as { n: number }[])[0]!.n),
        cleanUp: async (tables) => {
          for (const t of tables) await admin.query(`DROP TABLE IF EXISTS \`${t}\``).catch(() => undefined);
          // The engine runs' progress rows (sink names are `mariadb-<table>`).
          await admin
            .query('DELETE FROM millrace_sink_batches WHERE sink IN (?)', [tables.map((n) => `mariadb-${n}`)])
            .catch(() => undefined);
        },
        end: () => admin.end(),
      };
    },
    baseline: async (url, table, mode: BenchMode) => {
      const sql =
        `INSERT INTO \`${table}\` (id, user_name, amount, at, tag) VALUES (?, ?, ?, ?, ?)` +
        (mode === 'upsert'
          ? ` ON DUPLICATE KEY UPDATE user_name = VALUES(user_name), amount = VALUES(amount), at = VALUES(at), tag = VALUES(tag)`
          : '');
      const conn = await createConnection({ ...connectionConfig(url), timezone: '+00:00' });
      return {
        begin: () => conn.beginTransaction(),
        insert: async (rows: readonly BenchRow[]) => {
          await conn.batch(
            sql,
            rows.map((r) => [r.id, r.user_name, r.amount, dateTime(r.at), r.tag]),
          );
        },
        commit: () => conn.commit(),
        end: () => conn.end(),
      };
    },
    sink: async (url, table, statement, mode) => {
      const { mariadbSink } = await import('@millrace/mariadb');
      return mariadbSink({
        connectionString: url,
        table,
        batchSize: statement,
        ...(mode === 'upsert' ? { mode: 'upsert' as const, keyColumns: ['id'] } : {}),
      });
    },
  });
}
