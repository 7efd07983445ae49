/**
 * `npm run bench -- mariadb [options]`: throughput of the MariaDB sink.
 *
 * Writes N rows into a fresh table, in micro-batches, two ways:
 *   engine    a Millrace query: ratePerBatchSource({ rowsPerBatch }) → map to the row below →
 *             mariadbSink (exactly once: per batch one transaction with the batch id)
 *   baseline  the plain `mariadb` driver, no engine: the same rows, the same bulk INSERT (`conn.batch`)
 *             of the same size, one transaction per micro-batch (no progress row)
 * for `append` (INSERT) and `upsert` (ON DUPLICATE KEY UPDATE; ids cycle over N/2 keys, so half
 * the rows insert and half update).
 *
 * Row: { id: long, user_name: string, amount: double, at: timestamp, tag: string }.
 * Reports rows per wall second for each (PostgreSQL's own work is in the wall time; client CPU is
 * shown too), and ends with one JSON line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export const USAGE = `usage: npm run bench -- mariadb [options]

Rows through the MariaDB sink (a Millrace query) beside the plain mariadb driver doing the same INSERTs.

options:
  --rows N             rows to write per run, default 1,000,000
  --batch N            rows per micro-batch (one transaction), default 100,000
  --statement N        rows per bulk INSERT (the sink's batchSize), default 5,000
  --mode append|upsert|both   default both
  --url URL            default $MARIADB_URL or mariadb://root@127.0.0.1:3306/test`;

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
    statement: 5_000,
    modes: ['append', 'upsert'],
    url: process.env.MARIADB_URL ?? 'mariadb://root@127.0.0.1:3306/test',
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
  const { mariadbSink } = await import('@millrace/mariadb');
  const { createConnection } = await import('mariadb');

  const rowSchema = schema({
    id: t.long,
    user_name: t.string,
    amount: t.double,
    at: t.timestamp,
    tag: t.string,
  });
  const u = new URL(o.url);
  const connConfig = {
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username) || undefined,
    password: decodeURIComponent(u.password) || undefined,
    database: u.pathname.slice(1) || undefined,
    bigIntAsNumber: true,
  };
  const admin = await createConnection(connConfig);
  const batches = Math.ceil(o.rows / o.batch);
  const rows = batches * o.batch;
  const suffix = `${process.pid}_${Date.now().toString(36)}`;
  const tables: string[] = [];
  const newTable = async (mode: 'append' | 'upsert', who: string): Promise<string> => {
    const name = `bench_mdb_${who}_${mode}_${suffix}`;
    tables.push(name);
    await admin.query(
      `CREATE TABLE \`${name}\` (id BIGINT NOT NULL${mode === 'upsert' ? ' PRIMARY KEY' : ''}, user_name LONGTEXT, amount DOUBLE, at DATETIME(3), tag LONGTEXT) ENGINE=InnoDB`,
    );
    return name;
  };
  const tableRows = async (name: string): Promise<number> =>
    Number((await admin.query(`SELECT count(*) AS n FROM \`${name}\``))[0].n);
  const pad = (n: number, w: number) => String(n).padStart(w, '0');
  const dateTime = (ms: number) => {
    const d = new Date(ms);
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)} ${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}.${pad(d.getUTCMilliseconds(), 3)}`;
  };

  /** The plain driver: per micro-batch a transaction, bulk INSERTs of o.statement rows, COMMIT. */
  const baseline = async (mode: 'append' | 'upsert'): Promise<RunResult & { tableRows: number }> => {
    const name = await newTable(mode, 'baseline');
    const keySpace = mode === 'upsert' ? Math.max(1, Math.floor(rows / 2)) : rows;
    const sql =
      `INSERT INTO \`${name}\` (id, user_name, amount, at, tag) VALUES (?, ?, ?, ?, ?)` +
      (mode === 'upsert'
        ? ` ON DUPLICATE KEY UPDATE user_name = VALUES(user_name), amount = VALUES(amount), at = VALUES(at), tag = VALUES(tag)`
        : '');
    const conn = await createConnection({ ...connConfig, timezone: '+00:00' });
    const m = measure();
    try {
      for (let b = 0; b < batches; b++) {
        const at = BASE_TIME + b * 1000;
        await conn.beginTransaction();
        for (let from = b * o.batch; from < (b + 1) * o.batch; from += o.statement) {
          const to = Math.min((b + 1) * o.batch, from + o.statement);
          const params: unknown[][] = [];
          for (let v = from; v < to; v++) {
            const r = makeRow(v, at, keySpace);
            params.push([r.id, r.user_name, r.amount, dateTime(r.at), r.tag]);
          }
          await conn.batch(sql, params);
        }
        await conn.commit();
      }
    } finally {
      await conn.end();
    }
    const r = m.done(rows);
    return { ...r, tableRows: await tableRows(name) };
  };

  /** The engine: a query from ratePerBatchSource through mariadbSink, stopped after `batches` batches. */
  const engine = async (
    mode: 'append' | 'upsert',
  ): Promise<RunResult & { tableRows: number; batches: number; statements: number; commitMs: number }> => {
    const name = await newTable(mode, 'engine');
    const keySpace = mode === 'upsert' ? Math.max(1, Math.floor(rows / 2)) : rows;
    const checkpointLocation = mkdtempSync(path.join(tmpdir(), 'millrace-bench-mariadb-'));
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
        sink: mariadbSink({
          connectionString: o.url,
          table: name,
          batchSize: o.statement,
          ...(mode === 'upsert' ? { mode: 'upsert' as const, keyColumns: ['id'] } : {}),
        }),
        checkpointLocation,
        queryName: `bench-mariadb-${mode}`,
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
    `MariaDB sink: ${rows.toLocaleString('en-US')} rows per run, ${batches} micro-batches of ${o.batch.toLocaleString('en-US')}, ` +
      `bulk INSERTs of ${o.statement.toLocaleString('en-US')} rows, node ${process.version}`,
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
    for (const tname of tables) await admin.query(`DROP TABLE IF EXISTS \`${tname}\``).catch(() => undefined);
    // The engine runs' progress rows (sink names are `mariadb-<table>`).
    await admin
      .query('DELETE FROM millrace_sink_batches WHERE sink IN (?)', [tables.map((n) => `mariadb-${n}`)])
      .catch(() => undefined);
    await admin.end();
  }
  lines.push(
    '',
    'baseline = the plain mariadb driver, same bulk INSERTs and transactions, no engine and no progress row',
  );
  process.stdout.write(lines.join('\n') + '\n');
  process.stdout.write(
    JSON.stringify({
      bench: 'mariadb',
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
