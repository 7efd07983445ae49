/**
 * `npm run bench -- postgres [options]`: throughput of the PostgreSQL sink beside plain `pg` doing
 * the same INSERT … SELECT FROM unnest($1::int8[], …) statements (upsert: ON CONFLICT (id) DO
 * UPDATE). The runs, rows and report are the SQL sinks' shared bench (../sql-sink/sqlSinkBench.ts).
 */
import { type BenchMode, type BenchRow, runSqlSinkBench } from '../sql-sink/sqlSinkBench.ts';

export const USAGE = `usage: npm run bench -- postgres [options]

Rows through the PostgreSQL sink (a Millrace query) beside plain pg doing the same INSERTs.

options:
  --rows N             rows to write per run, default 1,000,000
  --batch N            rows per micro-batch (one transaction), default 100,000
  --statement N        rows per INSERT statement (the sink's batchSize), default 10,000
  --mode append|upsert|both   default both
  --url URL            default $DATABASE_URL or postgres://postgres@127.0.0.1:5432/test`;

export async function main(args: string[]): Promise<number> {
  const pg = (await import('pg')).default;
  return runSqlSinkBench(args, {
    bench: 'postgres',
    product: 'PostgreSQL',
    usage: USAGE,
    defaultStatement: 10_000,
    defaultUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    statementWord: 'statements',
    baselineNote:
      'baseline = plain pg, same unnest statements and transactions, no engine and no progress row',
    tablePrefix: 'bench_pg',
    admin: async (url) => {
      const admin = new pg.Pool({ connectionString: url, max: 1 });
      return {
        createTable: async (name, mode) => {
          await admin.query(
            `CREATE TABLE "${name}" (id bigint NOT NULL${mode === 'upsert' ? ' PRIMARY KEY' : ''}, user_name text, amount double precision, at timestamptz, tag text)`,
          );
        },
        countRows: async (name) =>
          Number((await admin.query(`SELECT count(*) AS n FROM "${name}"`)).rows[0].n),
        cleanUp: async (tables) => {
          for (const t of tables) await admin.query(`DROP TABLE IF EXISTS "${t}"`).catch(() => undefined);
          // The engine runs' progress rows (sink names are `postgres-<table>`).
          await admin
            .query('DELETE FROM millrace_sink_batches WHERE sink = ANY($1)', [
              tables.map((n) => `postgres-${n}`),
            ])
            .catch(() => undefined);
        },
        end: () => admin.end(),
      };
    },
    baseline: async (url, table, mode: BenchMode) => {
      const sql =
        `INSERT INTO "${table}" (id, user_name, amount, at, tag) SELECT u.c0, u.c1, u.c2, to_timestamp(u.c3 / 1000), u.c4 ` +
        `FROM unnest($1::int8[], $2::text[], $3::float8[], $4::float8[], $5::text[]) AS u(c0, c1, c2, c3, c4)` +
        (mode === 'upsert'
          ? ` ON CONFLICT (id) DO UPDATE SET user_name = EXCLUDED.user_name, amount = EXCLUDED.amount, at = EXCLUDED.at, tag = EXCLUDED.tag`
          : '');
      const pool = new pg.Pool({ connectionString: url, max: 1 });
      const client = await pool.connect();
      return {
        begin: async () => void (await client.query('BEGIN')),
        insert: async (rows: readonly BenchRow[]) => {
          const column = <K extends keyof BenchRow>(k: K) => rows.map((r) => r[k]);
          await client.query(sql, [
            column('id'),
            column('user_name'),
            column('amount'),
            column('at'),
            column('tag'),
          ]);
        },
        commit: async () => void (await client.query('COMMIT')),
        end: async () => {
          client.release();
          await pool.end();
        },
      };
    },
    sink: async (url, table, statement, mode) => {
      const { postgresSink } = await import('@millrace/postgres');
      return postgresSink({
        connectionString: url,
        table,
        batchSize: statement,
        ...(mode === 'upsert' ? { mode: 'upsert' as const, keyColumns: ['id'] } : {}),
      });
    },
  });
}
