/**
 * The throughput bench of the SQL sinks (`npm run bench -- postgres` and `-- mariadb`): N rows into
 * a fresh table, in micro-batches, two ways —
 *   engine    a Millrace query: ratePerBatchSource({ rowsPerBatch }) → map to the row below →
 *             the sink (exactly once: per batch one transaction with the batch id)
 *   baseline  the plain driver, no engine: the same rows, the same INSERT statements of the same
 *             size, one transaction per micro-batch (no progress row)
 * for `append` and `upsert` (ids cycle over N/2 keys, so half the rows insert and half update).
 *
 * Row: { id: long, user_name: string, amount: double, at: timestamp, tag: string }.
 * Reports rows per wall second for each (the server's own work is in the wall time; client CPU is
 * shown too), and ends with one JSON line. Each database supplies a SqlSinkBenchTarget.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Sink } from 'millrace';

export type BenchMode = 'append' | 'upsert';

/** A plain-driver connection for the baseline: one transaction per micro-batch. */
export interface BaselineWriter {
  begin(): Promise<void>;
  /** One INSERT (or upsert) statement of these rows; ids within it are distinct. */
  insert(rows: readonly BenchRow[]): Promise<void>;
  commit(): Promise<void>;
  end(): Promise<void>;
}

/** The bench's own connection: tables and clean-up. */
export interface BenchAdmin {
  /** CREATE TABLE name (id bigint NOT NULL [PRIMARY KEY for upsert], user_name, amount, at, tag). */
  createTable(name: string, mode: BenchMode): Promise<void>;
  countRows(name: string): Promise<number>;
  /** DROP the tables and DELETE the engine runs' progress rows; never throws. */
  cleanUp(tables: readonly string[]): Promise<void>;
  end(): Promise<void>;
}

export interface SqlSinkBenchTarget {
  /** `postgres`: the suite's name, in the JSON line and query names. */
  readonly bench: string;
  /** `PostgreSQL`, for the report. */
  readonly product: string;
  readonly usage: string;
  readonly defaultStatement: number;
  readonly defaultUrl: string;
  /** `statements` or `bulk INSERTs`, for the report's first line. */
  readonly statementWord: string;
  /** The report's last line: what the baseline is. */
  readonly baselineNote: string;
  /** Table names start with it: `bench_pg`. */
  readonly tablePrefix: string;
  admin(url: string): Promise<BenchAdmin>;
  baseline(url: string, table: string, mode: BenchMode): Promise<BaselineWriter>;
  sink(url: string, table: string, statement: number, mode: BenchMode): Promise<Sink>;
}

interface Options {
  rows: number;
  batch: number;
  statement: number;
  modes: ('append' | 'upsert')[];
  url: string;
}

function parseArgs(args: string[], defaults: { statement: number; url: string }): Options | string {
  const o: Options = {
    rows: 1_000_000,
    batch: 100_000,
    statement: defaults.statement,
    modes: ['append', 'upsert'],
    url: defaults.url,
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

export type BenchRow = { id: number; user_name: string; amount: number; at: number; tag: string };

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

export async function runSqlSinkBench(args: string[], target: SqlSinkBenchTarget): Promise<number> {
  const USAGE = target.usage;
  let o: Options;
  try {
    const parsed = parseArgs(args, { statement: target.defaultStatement, url: target.defaultUrl });
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

  const rowSchema = schema({
    id: t.long,
    user_name: t.string,
    amount: t.double,
    at: t.timestamp,
    tag: t.string,
  });
  const admin = await target.admin(o.url);
  const batches = Math.ceil(o.rows / o.batch);
  const rows = batches * o.batch;
  const suffix = `${process.pid}_${Date.now().toString(36)}`;
  const tables: string[] = [];
  const newTable = async (mode: BenchMode, who: string): Promise<string> => {
    const name = `${target.tablePrefix}_${who}_${mode}_${suffix}`;
    tables.push(name);
    await admin.createTable(name, mode);
    return name;
  };
  const tableRows = (name: string): Promise<number> => admin.countRows(name);

  /** The plain driver: per micro-batch a transaction, statements of o.statement rows, COMMIT. */
  const baseline = async (mode: BenchMode): Promise<RunResult & { tableRows: number }> => {
    const name = await newTable(mode, 'baseline');
    const keySpace = mode === 'upsert' ? Math.max(1, Math.floor(rows / 2)) : rows;
    const writer = await target.baseline(o.url, name, mode);
    const m = measure();
    try {
      for (let b = 0; b < batches; b++) {
        const at = BASE_TIME + b * 1000;
        await writer.begin();
        for (let from = b * o.batch; from < (b + 1) * o.batch; from += o.statement) {
          const to = Math.min((b + 1) * o.batch, from + o.statement);
          // Within one statement ids are distinct (keySpace ≥ statement size in these runs, or append).
          const statementRows: BenchRow[] = [];
          for (let v = from; v < to; v++) statementRows.push(makeRow(v, at, keySpace));
          await writer.insert(statementRows);
        }
        await writer.commit();
      }
    } finally {
      await writer.end();
    }
    const r = m.done(rows);
    return { ...r, tableRows: await tableRows(name) };
  };

  /** The engine: a query from ratePerBatchSource through the sink, stopped after `batches` batches. */
  const engine = async (
    mode: BenchMode,
  ): Promise<RunResult & { tableRows: number; batches: number; statements: number; commitMs: number }> => {
    const name = await newTable(mode, 'engine');
    const keySpace = mode === 'upsert' ? Math.max(1, Math.floor(rows / 2)) : rows;
    const checkpointLocation = mkdtempSync(path.join(tmpdir(), `millrace-bench-${target.bench}-`));
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
        sink: await target.sink(o.url, name, o.statement, mode),
        checkpointLocation,
        queryName: `bench-${target.bench}-${mode}`,
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
    `${target.product} sink: ${rows.toLocaleString('en-US')} rows per run, ${batches} micro-batches of ${o.batch.toLocaleString('en-US')}, ` +
      `${target.statementWord} of ${o.statement.toLocaleString('en-US')} rows, node ${process.version}`,
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
    await admin.cleanUp(tables);
    await admin.end();
  }
  lines.push('', target.baselineNote);
  process.stdout.write(lines.join('\n') + '\n');
  process.stdout.write(
    JSON.stringify({
      bench: target.bench,
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
