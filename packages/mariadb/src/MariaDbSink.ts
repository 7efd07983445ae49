/**
 * mariadbSink: writes each micro-batch into a MariaDB (or MySQL) table, exactly once.
 *
 * Exactly once = a batch's rows and its batch id commit in ONE InnoDB transaction. A progress
 * table keeps, per (query id, sink name), the last committed batch:
 *
 *   millrace_sink_batches(query_id varchar, sink varchar, batch_id bigint,
 *                         committed_at datetime(3), PRIMARY KEY (query_id, sink))
 *
 * Batch N (the whole box is one attempt; any retryable failure re-runs it on a new connection):
 *
 *   ┌ START TRANSACTION ──────────────────────────────────────────────────────┐
 *   │ SELECT batch_id … FOR UPDATE        lock this query's progress row       │
 *   │   (first batch ever: INSERT IGNORE the row with -1, then lock it)        │
 *   │ batch_id ≥ N ? ── yes ─→ ROLLBACK; rows written: 0   (a replay: no-op)   │
 *   │      │ no                                                                │
 *   │ [complete mode: DELETE FROM table — readers keep the old content until   │
 *   │                 COMMIT, never a half table]                              │
 *   │ INSERT … VALUES (?, …) bulk-executed per batchSize rows                  │
 *   │   [upsert: … ON DUPLICATE KEY UPDATE c = VALUES(c), …; a later row of    │
 *   │    the same key wins]                                                    │
 *   │ UPDATE progress SET batch_id = N                                         │
 *   └ COMMIT ──────────────────────────────────────────────────────────────────┘
 *
 * Why it is safe:
 *   - the engine replays batch N after a crash before commits/N: the progress row says N is in →
 *     skipped; not in → nothing of it is in the table.
 *   - a connection lost mid-transaction: the server rolls it back; the retry writes the batch in full.
 *   - a connection lost after COMMIT was sent (outcome unknown): the retry finds batch_id = N and
 *     stops; nothing is written twice.
 *   - the row lock serialises two writers of the same query and sink.
 * Both tables must use a transactional engine (InnoDB): open() refuses MyISAM, Aria, MEMORY, …
 * where a rollback would leave half a batch behind.
 *
 * Rows of the batch in flight stay in memory until it commits, so that a retry can send them again.
 */
import type { Connection, UpsertResult } from 'mariadb';
import type { Field, OutputMode, Row, Schema } from 'millrace';
import {
  type SqlBatchCounts,
  type SqlSinkDialect,
  type SqlWritePlan,
  TransactionalSqlSink,
  sinkError,
} from 'millrace/sql-sink';
import { BadValue, rowEncoder, showValue } from './columns.ts';
import { Secrets, connect, displayConfig, serverOf } from './connection.ts';
import { adviceFor, asDbError, describeDbError, isRetryable, isUserFault } from './errors.ts';
import { type TableName, displayName, qualified } from './identifiers.ts';
import { type MariaDbSinkOptions, type ResolvedOptions, resolveOptions } from './options.ts';
import * as sql from './statements.ts';

/** A sink that writes micro-batches into a MariaDB / MySQL table, exactly once. */
export function mariadbSink(options: MariaDbSinkOptions): MariaDbSink {
  return new MariaDbSink(options);
}

/** What open() learned about the table: how to write a batch's rows. */
interface WritePlan extends SqlWritePlan {
  readonly fields: readonly Field[];
  readonly encode: (row: Row, rowIndex: number) => unknown[];
  readonly insertSql: string;
}

interface Counts extends SqlBatchCounts {
  sent: number;
  affected: number;
}

/** MariaDB's names and error classification for the shared transactional core. */
const MARIADB: SqlSinkDialect = {
  sinkKind: 'mariadbSink',
  codePrefix: 'MARIADB',
  logName: 'mariadb sink',
  product: 'MariaDB',
  reachabilityChecks: "max_connections, the user's host) and its error log",
  isRetryable,
  isUserFault: (err) => isUserFault(asDbError(err)),
  describeError: (err) => describeDbError(asDbError(err)),
  adviceFor: (err, table, columns) => adviceFor(asDbError(err), table, columns),
};

export class MariaDbSink extends TransactionalSqlSink<Connection, WritePlan, Counts, ResolvedOptions> {
  /** Update mode re-emits a row each time its group changes: only an upsert keeps one row per key. */
  readonly supportedOutputModes: readonly OutputMode[];

  private readonly secrets: Secrets;
  private conn: Connection | undefined;

  constructor(options: MariaDbSinkOptions) {
    super(resolveOptions(options), MARIADB);
    this.secrets = new Secrets(this.o.config);
    this.supportedOutputModes =
      this.o.mode === 'upsert' ? ['append', 'update', 'complete'] : ['append', 'complete'];
  }

  describe(): string {
    const how = this.o.mode === 'upsert' ? `upsert on (${this.o.keyColumns.join(', ')})` : 'append';
    return this.secrets.scrub(`MariaDbSink[${displayConfig(this.o.config)}, table ${this.table}, ${how}]`);
  }

  /** The table written to, as `database.name` or `name`. */
  get table(): string {
    return displayName(this.o.table);
  }

  protected get server(): string {
    return this.secrets.scrub(serverOf(this.o.config));
  }

  protected scrub(text: string): string {
    return this.secrets.scrub(text);
  }

  protected override retryLogFields(): Record<string, unknown> {
    return { waitingFor: `MariaDB at ${this.server}` };
  }

  // -- connection: one, made when missing, dropped after any failure -----------------

  protected async acquire(): Promise<Connection> {
    if (!this.conn) {
      this.conn = await connect(this.o.config, { connectTimeoutMs: this.o.connectTimeoutMs });
      // Strict: a value that does not fit fails the batch instead of being truncated with a warning.
      await this.conn.query(`SET SESSION sql_mode = CONCAT_WS(',', @@SESSION.sql_mode, 'STRICT_ALL_TABLES')`);
    }
    return this.conn;
  }

  protected release(): void {
    // kept for the next batch
  }

  /** Drops the sink's connection even when the failure came before acquire() returned it. */
  protected discard(): void {
    const c = this.conn;
    this.conn = undefined;
    if (c) {
      try {
        c.destroy();
      } catch {
        // already gone
      }
    }
  }

  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    this.plan = undefined;
    if (c) await c.end().catch(() => c.destroy());
  }

  // -- open ------------------------------------------------------------------------

  private async findTable(
    conn: Connection,
    t: TableName,
  ): Promise<{ engine: string | null; type: string } | null> {
    const rows = (await conn.query(sql.FIND_TABLE, [t.database ?? null, t.name])) as {
      engine: string | null;
      type: string;
    }[];
    return rows[0] ?? null;
  }

  /** Create what is missing, then check the table against the query; returns how to write. */
  protected async prepare(conn: Connection, schema: Schema): Promise<WritePlan> {
    const o = this.o;
    if (o.table.database === undefined) {
      const db = ((await conn.query('SELECT DATABASE() AS db')) as { db: string | null }[])[0]?.db;
      if (!db) {
        throw sinkError(
          'MARIADB_NO_DATABASE',
          `mariadbSink "${this.name}": the connection selects no database and table "${this.table}" names none; ` +
            `add the database to the connection (mariadb://host:3306/<database>) or write table: '<database>.${o.table.name}'`,
          { domain: 'user', sink: this.name },
        );
      }
    }
    // DDL commits on its own in MariaDB; IF NOT EXISTS makes concurrent creators harmless.
    if ((await this.findTable(conn, o.progressTable)) === null)
      await conn.query(sql.createProgressTable(o.progressTable));
    if (o.createTable && (await this.findTable(conn, o.table)) === null) {
      await conn.query(sql.createDataTable(o.table, schema.fields, o.keyColumns));
      this.ctx?.log.info('mariadb sink: created table', { sink: this.name, table: this.table });
    }
    const found = await this.findTable(conn, o.table);
    if (found === null) {
      throw sinkError(
        'MARIADB_NO_TABLE',
        `mariadbSink "${this.name}": table ${this.table} does not exist on ${this.server}; create it, or set createTable: true ` +
          `to create it from the query's schema (${schema.toString()})`,
        { domain: 'user', sink: this.name },
      );
    }
    for (const [t, info] of [
      [o.table, found],
      [o.progressTable, await this.findTable(conn, o.progressTable)],
    ] as const) {
      const engine = info?.engine ?? '';
      if (info?.type === 'BASE TABLE' && !sql.TRANSACTIONAL_ENGINES.has(engine.toLowerCase())) {
        throw sinkError(
          'MARIADB_NOT_TRANSACTIONAL',
          `mariadbSink "${this.name}": table ${displayName(t)} uses the ${engine} storage engine, which cannot roll back a transaction, ` +
            `so a failed batch could stay half written; convert it (ALTER TABLE ${qualified(t)} ENGINE=InnoDB) or write to an InnoDB table`,
          { domain: 'user', sink: this.name },
        );
      }
    }
    const cols = (await conn.query(sql.TABLE_COLUMNS, [o.table.database ?? null, o.table.name])) as {
      name: string;
      dataType: string;
      nullable: string;
      dflt: string | null;
      extra: string;
    }[];
    const byName = new Map(cols.map((c) => [c.name.toLowerCase(), c]));
    // Column names are case-insensitive in MariaDB.
    const missing = schema.names.filter((n) => !byName.has(n.toLowerCase()));
    if (missing.length) {
      throw sinkError(
        'MARIADB_COLUMN_MISMATCH',
        `mariadbSink "${this.name}": table ${this.table} has no column ${missing.map((n) => `"${n}"`).join(', ')} ` +
          `(the query writes ${schema.names.join(', ')}; the table has ${cols.map((c) => c.name).join(', ')}); ` +
          `add the columns (ALTER TABLE … ADD COLUMN), rename the query's columns, or write to a new table with createTable: true`,
        { domain: 'user', sink: this.name },
      );
    }
    const written = new Set(schema.names.map((n) => n.toLowerCase()));
    const unwritable = cols.filter(
      (c) =>
        c.nullable === 'NO' &&
        c.dflt === null &&
        !/auto_increment|generated/i.test(c.extra) &&
        !written.has(c.name.toLowerCase()),
    );
    if (unwritable.length) {
      throw sinkError(
        'MARIADB_COLUMN_MISMATCH',
        `mariadbSink "${this.name}": table ${this.table} has NOT NULL column(s) without a default that the query does not write: ` +
          `${unwritable.map((c) => `"${c.name}"`).join(', ')}; add them to the query's output, give them a default, or drop the constraint`,
        { domain: 'user', sink: this.name },
      );
    }
    if (o.mode === 'upsert') {
      const keys = (
        (await conn.query(sql.UNIQUE_KEYS, [o.table.database ?? null, o.table.name])) as {
          idx: string;
          cols: string;
        }[]
      ).map((k) => ({ idx: k.idx, cols: k.cols.split('\0') }));
      const norm = (cs: readonly string[]) =>
        cs
          .map((c) => c.toLowerCase())
          .sort()
          .join('\0');
      const want = norm(o.keyColumns);
      if (!keys.some((k) => norm(k.cols) === want)) {
        throw sinkError(
          'MARIADB_NO_UNIQUE_KEY',
          `mariadbSink "${this.name}": upsert needs a primary key or unique index on exactly (${o.keyColumns.join(', ')}) ` +
            `of table ${this.table}, for ON DUPLICATE KEY UPDATE; ${keys.length ? `it has unique keys on ${keys.map((k) => `(${k.cols.join(', ')})`).join(', ')}` : 'it has none'}. ` +
            `Create one: ALTER TABLE ${qualified(o.table)} ADD UNIQUE (${o.keyColumns.join(', ')}), or set keyColumns to an existing key`,
          { domain: 'user', sink: this.name },
        );
      }
      const others = keys.filter((k) => norm(k.cols) !== want);
      if (others.length) {
        // ON DUPLICATE KEY fires on ANY unique key: a row clashing on another one updates that row.
        this.ctx?.log.warn(
          'mariadb sink: the table has other unique keys; a row that clashes on one of them updates that row',
          {
            sink: this.name,
            table: this.table,
            otherKeys: others.map((k) => k.idx).join(', '),
          },
        );
      }
    }
    const types = new Map(schema.names.map((n) => [n, byName.get(n.toLowerCase())!.dataType.toLowerCase()]));
    const fields = schema.fields;
    return {
      fields,
      encode: rowEncoder(fields, types),
      insertSql: sql.insertStatement(o.table, fields, o.mode === 'upsert' ? o.keyColumns : null),
      upsert: o.mode === 'upsert',
      keyColumns: o.keyColumns,
      columnsText: schema.toString(),
    };
  }

  // -- write -----------------------------------------------------------------------

  protected async begin(conn: Connection): Promise<void> {
    await conn.beginTransaction();
  }

  protected async rollback(conn: Connection): Promise<void> {
    await conn.rollback();
  }

  protected async commit(conn: Connection): Promise<void> {
    await conn.commit();
  }

  protected async readProgressLocked(conn: Connection, queryId: string): Promise<unknown> {
    const p = this.o.progressTable;
    return (
      (await conn.query(sql.lockProgress(p), [queryId, this.name])) as { batch_id: bigint | number }[]
    )[0]?.batch_id;
  }

  protected async seedProgress(conn: Connection, queryId: string): Promise<void> {
    await conn.query(sql.seedProgress(this.o.progressTable), [queryId, this.name]);
  }

  protected async recordProgress(conn: Connection, queryId: string, batchId: number): Promise<void> {
    await conn.query(sql.recordProgress(this.o.progressTable), [batchId, queryId, this.name]);
  }

  protected async deleteAll(conn: Connection): Promise<number> {
    return Number(((await conn.query(sql.deleteAll(this.o.table))) as UpsertResult).affectedRows);
  }

  protected newCounts(): Counts {
    return { sent: 0, affected: 0, deleted: 0, statements: 0, writeMs: 0 };
  }

  protected async writeRows(
    conn: Connection,
    plan: WritePlan,
    chunks: AsyncIterable<readonly Row[]>,
    counts: Counts,
    batchId: number,
  ): Promise<void> {
    // One statement in flight while the next one's rows are encoded (the first error is the one seen).
    let pending: unknown[][] = [];
    let encoded = 0;
    let inflight: Promise<void> | null = null;
    const flush = async () => {
      const params = pending;
      pending = [];
      if (inflight) await inflight;
      const p = this.send(conn, plan, params, counts);
      p.catch(() => {}); // awaited below or by the next flush; never an unhandled rejection
      inflight = p;
    };
    for await (const chunk of chunks) {
      for (let i = 0; i < chunk.length; i++) {
        pending.push(this.encodeRow(plan, chunk[i]!, encoded++, batchId));
        if (pending.length >= this.o.batchSize) await flush();
      }
    }
    if (pending.length) await flush();
    if (inflight) await inflight;
  }

  protected report(c: Counts): {
    rowsWritten: number;
    first: Record<string, number>;
    extra: Record<string, number>;
  } {
    return { rowsWritten: c.sent, first: { rowsSent: c.sent, rowsAffected: c.affected }, extra: {} };
  }

  private encodeRow(plan: WritePlan, row: Row, index: number, batchId: number): unknown[] {
    if (plan.upsert) {
      for (const k of plan.keyColumns) {
        if (row[k] === null || row[k] === undefined)
          throw this.nullKey(k, showValue(row[k] ?? null), batchId, `row ${index}`);
      }
    }
    try {
      return plan.encode(row, index);
    } catch (e) {
      if (!(e instanceof BadValue)) throw e;
      throw this.badValue(e, batchId, plan);
    }
  }

  private async send(conn: Connection, plan: WritePlan, params: unknown[][], counts: Counts): Promise<void> {
    const t = performance.now();
    const r = (await conn.batch(plan.insertSql, params)) as UpsertResult | UpsertResult[];
    counts.statements++;
    counts.writeMs += performance.now() - t;
    counts.sent += params.length;
    counts.affected += Array.isArray(r)
      ? r.reduce((s, x) => s + Number(x.affectedRows), 0)
      : Number(r.affectedRows);
  }
}
