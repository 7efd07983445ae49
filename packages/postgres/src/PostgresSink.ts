/**
 * postgresSink: writes each micro-batch into a PostgreSQL table, exactly once.
 *
 * Exactly once = a batch's rows and its batch id commit in ONE transaction.
 * A progress table keeps, per (query id, sink name), the last committed batch:
 *
 *   millrace_sink_batches(query_id text, sink text, batch_id bigint,
 *                         committed_at timestamptz, PRIMARY KEY (query_id, sink))
 *
 * Batch N (the whole box is one attempt; any retryable failure re-runs it):
 *
 *   ┌ BEGIN ─────────────────────────────────────────────────────────────────┐
 *   │ SELECT batch_id … FOR UPDATE        lock this query's progress row       │
 *   │   (first batch ever: INSERT the row with -1, then lock it)               │
 *   │ batch_id ≥ N ? ── yes ─→ ROLLBACK; rows written: 0   (a replay: no-op)   │
 *   │      │ no                                                                │
 *   │ [complete mode: DELETE FROM table — readers keep the old content          │
 *   │                 until COMMIT, never a half table]                        │
 *   │ INSERT … SELECT … FROM unnest($1::…[], $2::…[], …)   one per batchSize   │
 *   │   [upsert: … ON CONFLICT (keys) DO UPDATE SET …, keys de-duplicated,     │
 *   │    last row wins]                                                        │
 *   │ UPDATE progress SET batch_id = N                                         │
 *   └ COMMIT ────────────────────────────────────────────────────────────────┘
 *
 * Why it is safe:
 *   - the engine replays batch N after a crash before commits/N: the progress
 *     row says N is in → skipped; not in → nothing of it is in the table.
 *   - a connection lost mid-transaction: PostgreSQL rolls it back; the retry
 *     writes the batch in full.
 *   - a connection lost after COMMIT was sent (outcome unknown): the retry
 *     finds batch_id = N and stops; nothing is written twice.
 *   - the row lock serialises two writers of the same query and sink.
 * The query id comes from the checkpoint (SinkContext.queryId), so it is the
 * same across restarts; a new checkpoint is a new query and starts over.
 *
 * Rows of the batch in flight stay in memory until it commits, so that a
 * retry can send them again (chunks arriving through addBatchChunks are
 * written while the plan computes the next one).
 */
import { MillraceError, type Field, type Row, type Schema } from 'millrace';
import {
  type SqlBatchCounts,
  type SqlSinkDialect,
  type SqlWritePlan,
  TransactionalSqlSink,
  sinkError,
} from 'millrace/sql-sink';
import type pg from 'pg';
import { BadValue, type ColumnEncoder, columnEncoder, keyExtractor, showValue } from './columns.ts';
import { Secrets, displayTarget, makePool, serverOf } from './connection.ts';
import { adviceFor, asPgError, describePgError, isRetryable, sqlState } from './errors.ts';
import { type TableName, displayName, qualified, quoteIdent } from './identifiers.ts';
import { type PostgresSinkOptions, type ResolvedOptions, resolveOptions } from './options.ts';
import * as sql from './statements.ts';

/** A sink that writes micro-batches into a PostgreSQL table, exactly once. */
export function postgresSink(options: PostgresSinkOptions): PostgresSink {
  return new PostgresSink(options);
}

/** What open() learned about the table: how to write a statement's rows. */
interface WritePlan extends SqlWritePlan {
  readonly fields: readonly Field[];
  readonly encoders: readonly ColumnEncoder[];
  readonly insertSql: string;
  readonly keyOf: ((row: Row) => unknown) | null;
}

/** Counts of one attempt at writing a batch. */
interface Counts extends SqlBatchCounts {
  inserted: number;
  updated: number;
  unchanged: number;
  duplicates: number;
}

/** PostgreSQL's names and error classification for the shared transactional core. */
const POSTGRES: SqlSinkDialect = {
  sinkKind: 'postgresSink',
  codePrefix: 'POSTGRES',
  logName: 'postgres sink',
  product: 'PostgreSQL',
  reachabilityChecks: 'max_connections, pg_hba.conf) and its log',
  isRetryable,
  // Data exceptions, constraints, syntax/undefined objects, authorization, database/schema: the user's to fix.
  isUserFault: (err) => /^(22|23|42|28|3D|3F|44)/.test(sqlState(asPgError(err)) ?? ''),
  describeError: (err) => describePgError(asPgError(err)),
  adviceFor: (err, table, columns) => adviceFor(asPgError(err), table, columns),
};

/** A connection that dies while checked out but idle emits 'error': without a listener the process would crash. */
const ignoreIdleError = () => {};

export class PostgresSink extends TransactionalSqlSink<pg.PoolClient, WritePlan, Counts, ResolvedOptions> {
  /** All three; open() refuses update mode without upsert (with a message that says what to set). */
  readonly supportedOutputModes = ['append', 'update', 'complete'] as const;

  private readonly secrets: Secrets;
  private pool: pg.Pool | undefined;
  private ownsPool = false;

  constructor(options: PostgresSinkOptions) {
    super(resolveOptions(options), POSTGRES);
    this.secrets = new Secrets(this.o.target);
  }

  describe(): string {
    const how = this.o.mode === 'upsert' ? `upsert on (${this.o.keyColumns.join(', ')})` : 'append';
    return this.secrets.scrub(
      `PostgresSink[${displayTarget(this.o.target)}, table ${displayName(this.o.table)}, ${how}]`,
    );
  }

  /** The table written to, as `schema.name` or `name`. */
  get table(): string {
    return displayName(this.o.table);
  }

  protected get server(): string {
    return this.secrets.scrub(serverOf(this.o.target));
  }

  protected scrub(text: string): string {
    return this.secrets.scrub(text);
  }

  // -- connections -----------------------------------------------------------------

  protected override beforePrepare(): void {
    if (this.pool) return;
    const made = makePool(this.o.target, {
      applicationName: `millrace ${this.name}`.slice(0, 63),
      connectTimeoutMs: this.o.connectTimeoutMs,
    });
    this.pool = made.pool;
    this.ownsPool = made.owned;
    if (made.owned) {
      // An idle connection that dies (server restart, pg_terminate_backend) must not crash the process.
      this.pool.on('error', (e) =>
        this.ctx?.log.warn('postgres sink: an idle connection was lost; the next batch reconnects', {
          sink: this.name,
          server: this.server,
          error: this.secrets.scrub(describePgError(asPgError(e))),
        }),
      );
    }
  }

  protected override canWrite(): boolean {
    return this.pool !== undefined;
  }

  protected async acquire(): Promise<pg.PoolClient> {
    const client = await this.pool!.connect();
    // Idle between statements, a dead connection emits 'error'; the next query then fails and is retried.
    client.on('error', ignoreIdleError);
    return client;
  }

  protected release(client: pg.PoolClient): void {
    client.off('error', ignoreIdleError);
    client.release();
  }

  protected discard(client: pg.PoolClient | undefined): void {
    if (!client) return;
    client.off('error', ignoreIdleError);
    client.release(true);
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    this.plan = undefined;
    if (pool && this.ownsPool) await pool.end();
  }

  // -- open ------------------------------------------------------------------------

  /** Create what is missing, then check the table against the query; returns how to write. */
  protected async prepare(client: pg.PoolClient, schema: Schema): Promise<WritePlan> {
    const o = this.o;
    const exists = async (t: TableName) =>
      (await client.query<{ oid: number | null }>(sql.FIND_TABLE, [qualified(t)])).rows[0]?.oid ?? null;

    const needProgress = (await exists(o.progressTable)) === null;
    const needTable = o.createTable && (await exists(o.table)) === null;
    if (needProgress || needTable) {
      await client.query('BEGIN');
      await client.query(sql.DDL_LOCK);
      await client.query(sql.createProgressTable(o.progressTable));
      if (needTable) await client.query(sql.createDataTable(o.table, schema.fields, o.keyColumns));
      await client.query('COMMIT');
      if (needTable)
        this.ctx?.log.info('postgres sink: created table', { sink: this.name, table: this.table });
    }

    const oid = await exists(o.table);
    if (oid === null) {
      throw sinkError(
        'POSTGRES_NO_TABLE',
        `postgresSink "${this.name}": table ${this.table} does not exist on ${this.server}; create it, or set createTable: true ` +
          `to create it from the query's schema (${schema.toString()})`,
        { domain: 'user', sink: this.name },
      );
    }
    const cols = (
      await client.query<{
        name: string;
        typname: string;
        type: string;
        not_null: boolean;
        has_default: boolean;
      }>(sql.TABLE_COLUMNS, [oid])
    ).rows;
    const byName = new Map(cols.map((c) => [c.name, c]));
    const missing = schema.names.filter((n) => !byName.has(n));
    if (missing.length) {
      const folded = missing
        .filter((n) => byName.has(n.toLowerCase()))
        .map((n) => `"${n}" ≠ "${n.toLowerCase()}"`);
      throw sinkError(
        'POSTGRES_COLUMN_MISMATCH',
        `postgresSink "${this.name}": table ${this.table} has no column ${missing.map((n) => `"${n}"`).join(', ')} ` +
          `(the query writes ${schema.names.join(', ')}; the table has ${cols.map((c) => c.name).join(', ')}). ` +
          (folded.length
            ? `Names are compared exactly (PostgreSQL folds unquoted names to lower case: ${folded.join(', ')}); `
            : '') +
          `add the columns (ALTER TABLE … ADD COLUMN), rename the query's columns, or write to a new table with createTable: true`,
        { domain: 'user', sink: this.name },
      );
    }
    const unwritable = cols.filter((c) => c.not_null && !c.has_default && !schema.has(c.name));
    if (unwritable.length) {
      throw sinkError(
        'POSTGRES_COLUMN_MISMATCH',
        `postgresSink "${this.name}": table ${this.table} has NOT NULL column(s) without a default that the query does not write: ` +
          `${unwritable.map((c) => `"${c.name}"`).join(', ')}; add them to the query's output, give them a default, or drop the constraint`,
        { domain: 'user', sink: this.name },
      );
    }
    if (o.mode === 'upsert') {
      const keys = (await client.query<{ cols: string[] }>(sql.UNIQUE_KEYS, [oid])).rows.map((r) => r.cols);
      const want = [...o.keyColumns].sort().join('\u0000');
      if (!keys.some((k) => [...k].sort().join('\u0000') === want)) {
        throw sinkError(
          'POSTGRES_NO_UNIQUE_KEY',
          `postgresSink "${this.name}": upsert needs a primary key or unique index on exactly (${o.keyColumns.join(', ')}) ` +
            `of table ${this.table}, for ON CONFLICT; ${keys.length ? `it has unique keys on ${keys.map((k) => `(${k.join(', ')})`).join(', ')}` : 'it has none'}. ` +
            `Create one: CREATE UNIQUE INDEX ON ${qualified(o.table)} (${o.keyColumns.map(quoteIdent).join(', ')}), ` +
            `or set keyColumns to an existing key`,
          { domain: 'user', sink: this.name },
        );
      }
    }
    const types = new Map(cols.map((c) => [c.name, c.typname]));
    const fields = schema.fields;
    return {
      fields,
      encoders: fields.map(columnEncoder),
      insertSql: sql.insertStatement(o.table, fields, types, o.mode === 'upsert' ? o.keyColumns : null),
      upsert: o.mode === 'upsert',
      keyOf: o.mode === 'upsert' ? keyExtractor(o.keyColumns.map((k) => schema.field(k)!)) : null,
      keyColumns: o.keyColumns,
      columnsText: schema.toString(),
    };
  }

  // -- write -----------------------------------------------------------------------

  protected async begin(client: pg.PoolClient): Promise<void> {
    await client.query('BEGIN');
  }

  protected async rollback(client: pg.PoolClient): Promise<void> {
    await client.query('ROLLBACK');
  }

  protected async commit(client: pg.PoolClient): Promise<void> {
    await client.query('COMMIT');
  }

  protected async readProgressLocked(client: pg.PoolClient, queryId: string): Promise<unknown> {
    const p = this.o.progressTable;
    return (await client.query<{ batch_id: string }>(sql.lockProgress(p), [queryId, this.name])).rows[0]
      ?.batch_id;
  }

  protected async seedProgress(client: pg.PoolClient, queryId: string): Promise<void> {
    await client.query(sql.seedProgress(this.o.progressTable), [queryId, this.name]);
  }

  protected async recordProgress(client: pg.PoolClient, queryId: string, batchId: number): Promise<void> {
    await client.query(sql.recordProgress(this.o.progressTable), [queryId, this.name, batchId]);
  }

  protected async deleteAll(client: pg.PoolClient): Promise<number> {
    return (await client.query(sql.deleteAll(this.o.table))).rowCount ?? 0;
  }

  protected newCounts(): Counts {
    return { inserted: 0, updated: 0, unchanged: 0, deleted: 0, duplicates: 0, statements: 0, writeMs: 0 };
  }

  protected async writeRows(
    client: pg.PoolClient,
    plan: WritePlan,
    chunks: AsyncIterable<readonly Row[]>,
    counts: Counts,
    batchId: number,
  ): Promise<void> {
    const writer = new StatementWriter(client, plan, this.o.batchSize, counts, {
      badValue: (e) => this.badValue(e, batchId, plan),
      nullKey: (column, row) => this.nullKey(column, showValue(row[column] ?? null), batchId),
    });
    for await (const chunk of chunks) await writer.add(chunk);
    await writer.finish();
  }

  protected report(
    c: Counts,
    plan: WritePlan,
  ): { rowsWritten: number; first: Record<string, number>; extra: Record<string, number> } {
    return {
      rowsWritten: c.inserted + c.updated,
      first: { rowsInserted: c.inserted },
      extra: plan.upsert
        ? { rowsUpdated: c.updated, rowsUnchanged: c.unchanged, duplicateKeysDropped: c.duplicates }
        : {},
    };
  }
}

/**
 * Sends a batch's rows as INSERT statements of `batchSize` rows. While one
 * statement runs on the server, the next chunk is read from the engine and
 * encoded (at most one statement in flight, so the first error is the one seen).
 */
class StatementWriter {
  private buf: readonly Row[] = [];
  private inflight: Promise<void> | null = null;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly plan: WritePlan,
    private readonly batchSize: number,
    private readonly counts: Counts,
    private readonly fail: {
      readonly badValue: (e: BadValue) => MillraceError;
      readonly nullKey: (column: string, row: Row) => MillraceError;
    },
  ) {}

  async add(chunk: readonly Row[]): Promise<void> {
    if (chunk.length === 0) return;
    this.buf = this.buf.length === 0 ? chunk : this.buf.concat(chunk);
    let from = 0;
    while (this.buf.length - from >= this.batchSize) {
      await this.send(this.buf.slice(from, from + this.batchSize));
      from += this.batchSize;
    }
    if (from > 0) this.buf = this.buf.slice(from);
  }

  async finish(): Promise<void> {
    if (this.buf.length) await this.send(this.buf);
    this.buf = [];
    if (this.inflight) await this.inflight;
    this.inflight = null;
  }

  private async send(rows: readonly Row[]): Promise<void> {
    const { plan, counts } = this;
    if (plan.keyOf) rows = this.dedupe(rows, plan.keyOf);
    let values: string[];
    try {
      values = plan.encoders.map((enc) => enc(rows, 0, rows.length));
    } catch (e) {
      throw e instanceof BadValue ? this.fail.badValue(e) : e;
    }
    if (this.inflight) await this.inflight;
    const t = performance.now();
    const p = this.client.query<{ inserted: number; updated: number }>(plan.insertSql, values).then((r) => {
      counts.statements++;
      counts.writeMs += performance.now() - t;
      if (plan.upsert) {
        const ins = r.rows[0]?.inserted ?? 0;
        const upd = r.rows[0]?.updated ?? 0;
        counts.inserted += ins;
        counts.updated += upd;
        counts.unchanged += rows.length - ins - upd;
      } else counts.inserted += r.rowCount ?? 0;
    });
    // Awaited by the next send or finish(); until then a failure must not count as unhandled.
    p.catch(() => {});
    this.inflight = p;
  }

  /** ON CONFLICT cannot touch a row twice in one statement: keep the last row of each key. */
  private dedupe(rows: readonly Row[], keyOf: (r: Row) => unknown): readonly Row[] {
    const last = new Map<unknown, number>();
    for (let i = 0; i < rows.length; i++) {
      const k = keyOf(rows[i]!);
      if (k === null || k === undefined) {
        const row = rows[i]!;
        const column =
          this.plan.keyColumns.find((c) => row[c] === null || row[c] === undefined) ??
          this.plan.keyColumns[0]!;
        throw this.fail.nullKey(column, row);
      }
      last.set(k, i);
    }
    if (last.size === rows.length) return rows;
    this.counts.duplicates += rows.length - last.size;
    const keep = [...last.values()].sort((a, b) => a - b);
    return keep.map((i) => rows[i]!);
  }
}
