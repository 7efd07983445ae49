/**
 * `npm run bench -- postgres [options]`: throughput of the PostgreSQL sink.
 *
 * Writes N rows into a fresh table, in micro-batches, two ways:
 *   engine    a Millrace query: ratePerBatchSource({ rowsPerBatch }) → map to the row below →
 *             postgresSink (exactly once: per batch one transaction with the batch id)
 *   baseline  plain `pg`, no engine: the same rows, the same INSERT … SELECT FROM unnest($1::int8[], …)
 *             statements of the same size, one transaction per micro-batch (no progress row)
 * for `append` (INSERT) and `upsert` (ON CONFLICT (id) DO UPDATE; ids cycle over N/2 keys, so
 * half the rows insert and half update).
 *
 * Row: { id: long, user_name: string, amount: double, at: timestamp, tag: string }.
 * Reports rows per wall second for each (PostgreSQL's own work is in the wall time; client CPU is
 * shown too), and ends with one JSON line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export const USAGE = `usage: npm run bench -- postgres [options]

Rows through the PostgreSQL sink (a Millrace query) beside plain pg doing the same INSERTs.

options:
  --rows N             rows to write per run, default 1,000,000
  --batch N            rows per micro-batch (one transaction), default 100,000
  --statement N        rows per INSERT statement (the sink's batchSize), default 10,000
  --mode append|upsert|both   default both
  --url URL            default $DATABASE_URL or postgres://postgres@127.0.0.1:5432/test`;

interface Options {
  rows: number;
  batch: number;
  statement: number;
  modes: ('append' | 'upsert')[];
  url: string;
}

function parseArgs(args: string[]): Options | string {
  const o: Options = {
    rows: 1_000_000,
    batch: 100_000,
    statement: 10_000,
    modes: ['append', 'upsert'],
    url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v?.replace(/_/g, ''));
    if (!Number.isSafeInteger(n) || n < 1)
      throw new Error(`${flag} needs a whole number ≥ 1, got ${String(v)}`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a];
    const value = () => inline ?? args[++i];
    switch (flag) {
      case '--rows':
        o.rows = num(flag, value());
        break;
      case '--batch':
        o.batch = num(flag, value());
        break;
      case '--statement':
        o.statement = num(flag, value());
        break;
      case '--mode': {
        const v = value();
        if (v === 'both') o.modes = ['append', 'upsert'];
        else if (v === 'append' || v === 'upsert') o.modes = [v];
        else throw new Error(`--mode must be append, upsert or both, got ${String(v)}`);
        break;
      }
      case '--url':
        o.url = value() ?? '';
        break;
      case '-h':
      case '--help':
        return '';
      default:
        return `unknown argument ${a}`;
    }
  }
  if (o.batch > o.rows) o.batch = o.rows;
  return o;
}

const BASE_TIME = Date.UTC(2025, 0, 1);

type BenchRow = { id: number; user_name: string; amount: number; at: number; tag: string };

/** Row v of a run (the same function for engine and baseline). */
function makeRow(v: number, at: number, keySpace: number): BenchRow {
  return {
    id: v % keySpace,
    user_name: `user-${v % 10_007}`,
    amount: (v % 100_000) / 100,
    at,
    tag: v % 3 === 0 ? 'a' : 'bc',
  };
}

interface RunResult {
  rows: number;
  wallSeconds: number;
  cpuSeconds: number;
  rowsPerSecond: number;
}

function measure(): { done: (rows: number) => RunResult } {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  return {
    done: (rows) => {
      const wallSeconds = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      const cpuSeconds = (c.user + c.system) / 1e6;
      return { rows, wallSeconds, cpuSeconds, rowsPerSecond: rows / wallSeconds };
    },
  };
}

export async function main(args: string[]): Promise<number> {
  let o: Options;
  try {
    const parsed = parseArgs(args);
    if (typeof parsed === 'string') {
      process.stderr.write(`${parsed ? `${parsed}\n\n` : ''}${USAGE}\n`);
      return parsed ? 2 : 0;
    }
    o = parsed;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { createSession, ratePerBatchSource, schema, t } = await import('millrace');
  const { postgresSink } = await import('@millrace/postgres');
  const pg = (await import('pg')).default;

  const rowSchema = schema({
    id: t.long,
    user_name: t.string,
    amount: t.double,
    at: t.timestamp,
    tag: t.string,
  });
  const admin = new pg.Pool({ connectionString: o.url, max: 1 });
  const batches = Math.ceil(o.rows / o.batch);
  const rows = batches * o.batch;
  const suffix = `${process.pid}_${Date.now().toString(36)}`;
  const tables: string[] = [];
  const newTable = async (mode: 'append' | 'upsert', who: string): Promise<string> => {
    const name = `bench_pg_${who}_${mode}_${suffix}`;
    tables.push(name);
    await admin.query(
      `CREATE TABLE "${name}" (id bigint NOT NULL${mode === 'upsert' ? ' PRIMARY KEY' : ''}, user_name text, amount double precision, at timestamptz, tag text)`,
    );
    return name;
  };
  const tableRows = async (name: string): Promise<number> =>
    Number((await admin.query(`SELECT count(*) AS n FROM "${name}"`)).rows[0].n);

  /** Plain pg: per micro-batch BEGIN, statements of o.statement rows, COMMIT. */
  const baseline = async (mode: 'append' | 'upsert'): Promise<RunResult & { tableRows: number }> => {
    const name = await newTable(mode, 'baseline');
    const keySpace = mode === 'upsert' ? Math.max(1, Math.floor(rows / 2)) : rows;
    const sql =
      `INSERT INTO "${name}" (id, user_name, amount, at, tag) SELECT u.c0, u.c1, u.c2, to_timestamp(u.c3 / 1000), u.c4 ` +
      `FROM unnest($1::int8[], $2::text[], $3::float8[], $4::float8[], $5::text[]) AS u(c0, c1, c2, c3, c4)` +
      (mode === 'upsert'
        ? ` ON CONFLICT (id) DO UPDATE SET user_name = EXCLUDED.user_name, amount = EXCLUDED.amount, at = EXCLUDED.at, tag = EXCLUDED.tag`
        : '');
    const pool = new pg.Pool({ connectionString: o.url, max: 1 });
    const m = measure();
    const client = await pool.connect();
    try {
      for (let b = 0; b < batches; b++) {
        const at = BASE_TIME + b * 1000;
        await client.query('BEGIN');
        for (let from = b * o.batch; from < (b + 1) * o.batch; from += o.statement) {
          const to = Math.min((b + 1) * o.batch, from + o.statement);
          // Within one statement ids are distinct (keySpace ≥ statement size in these runs, or append).
          const ids: number[] = [];
          const users: string[] = [];
          const amounts: number[] = [];
          const ats: number[] = [];
          const tags: string[] = [];
          for (let v = from; v < to; v++) {
            const r = makeRow(v, at, keySpace);
            ids.push(r.id);
            users.push(r.user_name);
            amounts.push(r.amount);
            ats.push(r.at);
            tags.push(r.tag);
          }
          await client.query(sql, [ids, users, amounts, ats, tags]);
        }
        await client.query('COMMIT');
      }
    } finally {
      client.release();
      await pool.end();
    }
    const r = m.done(rows);
    return { ...r, tableRows: await tableRows(name) };
  };

  /** The engine: a query from ratePerBatchSource through postgresSink, stopped after `batches` batches. */
  const engine = async (
    mode: 'append' | 'upsert',
  ): Promise<RunResult & { tableRows: number; batches: number; statements: number; commitMs: number }> => {
    const name = await newTable(mode, 'engine');
    const keySpace = mode === 'upsert' ? Math.max(1, Math.floor(rows / 2)) : rows;
    const checkpointLocation = mkdtempSync(path.join(tmpdir(), 'millrace-bench-pg-'));
    const session = createSession();
    let written = 0;
    let done = 0;
    let statements = 0;
    let commitMs = 0;
    let finished!: () => void;
    const allDone = new Promise<void>((r) => (finished = r));
    session.streams.addListener({
      onQueryProgress: ({ progress: p }) => {
        if (p.isNoDataBatch) return;
        written += p.sink.numOutputRows;
        statements += Number(p.sink.metrics?.statements ?? 0);
        commitMs += Number(p.sink.metrics?.commitMs ?? 0);
        if (++done === batches) finished();
      },
    });
    const m = measure();
    const query = await session
      .readStream(
        ratePerBatchSource({ rowsPerBatch: o.batch, startTimestamp: BASE_TIME, advanceMillisPerBatch: 1000 }),
      )
      .map((r) => makeRow(r.value, r.timestamp, keySpace), rowSchema)
      .writeStream({
        sink: postgresSink({
          connectionString: o.url,
          table: name,
          batchSize: o.statement,
          ...(mode === 'upsert' ? { mode: 'upsert' as const, keyColumns: ['id'] } : {}),
        }),
        checkpointLocation,
        queryName: `bench-postgres-${mode}`,
      })
      .start();
    try {
      await Promise.race([
        allDone,
        query.awaitTermination().then(() => query.exception && Promise.reject(query.exception)),
      ]);
      await query.stop();
    } finally {
      if (query.isActive) await query.stop().catch(() => undefined);
      rmSync(checkpointLocation, { recursive: true, force: true });
    }
    const r = m.done(written);
    return { ...r, tableRows: await tableRows(name), batches: done, statements, commitMs };
  };

  const results: Record<string, unknown> = {};
  const lines: string[] = [
    `PostgreSQL sink: ${rows.toLocaleString('en-US')} rows per run, ${batches} micro-batches of ${o.batch.toLocaleString('en-US')}, ` +
      `statements of ${o.statement.toLocaleString('en-US')} rows, node ${process.version}`,
    '',
    `${'run'.padEnd(18)}${'rows/s'.padStart(12)}${'wall s'.padStart(9)}${'client CPU s'.padStart(14)}${'rows in table'.padStart(15)}`,
  ];
  const fmt = (label: string, r: RunResult & { tableRows: number }) =>
    `${label.padEnd(18)}${Math.round(r.rowsPerSecond).toLocaleString('en-US').padStart(12)}${r.wallSeconds.toFixed(2).padStart(9)}` +
    `${r.cpuSeconds.toFixed(2).padStart(14)}${r.tableRows.toLocaleString('en-US').padStart(15)}`;
  let ok = true;
  try {
    for (const mode of o.modes) {
      const b = await baseline(mode);
      const e = await engine(mode);
      lines.push(fmt(`${mode} baseline`, b), fmt(`${mode} engine`, e));
      const expectedRows = mode === 'upsert' ? Math.floor(rows / 2) : rows;
      if (b.tableRows !== expectedRows || e.tableRows !== expectedRows) {
        ok = false;
        lines.push(`  ! expected ${expectedRows} rows in each table`);
      }
      results[mode] = {
        engineRowsPerSecond: Math.round(e.rowsPerSecond),
        engineWallSeconds: e.wallSeconds,
        engineCpuSeconds: e.cpuSeconds,
        engineRows: e.rows,
        engineTableRows: e.tableRows,
        engineBatches: e.batches,
        engineStatements: e.statements,
        engineCommitMs: Math.round(e.commitMs),
        baselineRowsPerSecond: Math.round(b.rowsPerSecond),
        baselineWallSeconds: b.wallSeconds,
        baselineCpuSeconds: b.cpuSeconds,
        baselineTableRows: b.tableRows,
        engineVsBaseline: Math.round((e.rowsPerSecond / b.rowsPerSecond) * 100) / 100,
      };
    }
  } finally {
    for (const tname of tables) await admin.query(`DROP TABLE IF EXISTS "${tname}"`).catch(() => undefined);
    // The engine runs' progress rows (sink names are `postgres-<table>`).
    await admin
      .query('DELETE FROM millrace_sink_batches WHERE sink = ANY($1)', [tables.map((n) => `postgres-${n}`)])
      .catch(() => undefined);
    await admin.end();
  }
  lines.push(
    '',
    'baseline = plain pg, same unnest statements and transactions, no engine and no progress row',
  );
  process.stdout.write(lines.join('\n') + '\n');
  process.stdout.write(
    JSON.stringify({
      bench: 'postgres',
      rows,
      batchRows: o.batch,
      statementRows: o.statement,
      ...results,
      nodeVersion: process.version,
      timestamp: new Date().toISOString(),
      ok,
    }) + '\n',
  );
  return ok ? 0 : 1;
}
