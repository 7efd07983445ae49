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
import { MillraceError, type Field, type Row, type Schema, type Sink, type SinkBatchInfo } from 'millrace';
import { type Renaming, renameColumns } from './columnNames.ts';
import type { OutputMode, SinkContext, SinkWriteResult } from 'millrace';
import { BadValue, rowEncoder, showValue } from './columns.ts';
import { Secrets, connect, displayConfig, serverOf } from './connection.ts';
import { adviceFor, asDbError, describeDbError, isRetryable, isUserFault, sinkError } from './errors.ts';
import { type TableName, displayName, qualified } from './identifiers.ts';
import { type MariaDbSinkOptions, type ResolvedOptions, resolveOptions } from './options.ts';
import { backoffMs, sleep } from './retry.ts';
import * as sql from './statements.ts';

/** A sink that writes micro-batches into a MariaDB / MySQL table, exactly once. */
export function mariadbSink(options: MariaDbSinkOptions): MariaDbSink {
  return new MariaDbSink(options);
}

/** What open() learned about the table: how to write a batch's rows. */
interface WritePlan {
  readonly fields: readonly Field[];
  readonly encode: (row: Row, rowIndex: number) => unknown[];
  readonly insertSql: string;
  readonly upsert: boolean;
  readonly keyColumns: readonly string[];
  readonly columnsText: string;
}

interface Counts {
  sent: number;
  affected: number;
  deleted: number;
  statements: number;
  writeMs: number;
}

const newCounts = (): Counts => ({ sent: 0, affected: 0, deleted: 0, statements: 0, writeMs: 0 });

/** An error of the engine's chunk iterator (the plan, or a stop): passed through, never retried. */
class UpstreamError {
  constructor(readonly inner: unknown) {}
}

/** The rows of a batch, replayable for retries: chunks already read are kept until the batch commits. */
class BatchRows {
  private readonly kept: (readonly Row[])[] = [];
  private done = false;

  constructor(private readonly iterator: AsyncIterator<readonly Row[]> | null) {
    if (iterator === null) this.done = true;
  }

  static of(rows: readonly Row[]): BatchRows {
    const b = new BatchRows(null);
    b.kept.push(rows);
    return b;
  }

  async *all(): AsyncGenerator<readonly Row[]> {
    for (let i = 0; ; i++) {
      if (i < this.kept.length) {
        yield this.kept[i]!;
        continue;
      }
      const next = await this.pull();
      if (next === null) return;
      this.kept.push(next);
      yield next;
    }
  }

  /** Consume what the engine has not handed over yet (its stateful operators update as chunks are read). */
  async drain(): Promise<void> {
    while ((await this.pull()) !== null) {
      // discard: a skipped replay writes nothing
    }
  }

  private async pull(): Promise<readonly Row[] | null> {
    if (this.done) return null;
    let r: IteratorResult<readonly Row[]>;
    try {
      r = await this.iterator!.next();
    } catch (e) {
      throw new UpstreamError(e);
    }
    if (r.done) {
      this.done = true;
      return null;
    }
    return r.value;
  }
}

type Phase = 'prepare' | 'write';

export class MariaDbSink implements Sink {
  readonly name: string;
  readonly guarantee = 'transactional' as const;
  /** Update mode re-emits a row each time its group changes: only an upsert keeps one row per key. */
  readonly supportedOutputModes: readonly OutputMode[];

  private o: ResolvedOptions;
  private renaming: Renaming | undefined;
  private readonly secrets: Secrets;
  private conn: Connection | undefined;
  private ctx: SinkContext | undefined;
  private plan: WritePlan | undefined;

  constructor(options: MariaDbSinkOptions) {
    this.o = resolveOptions(options);
    this.name = this.o.name;
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

  private get server(): string {
    return this.secrets.scrub(serverOf(this.o.config));
  }

  // -- open ------------------------------------------------------------------------

  async open(given: SinkContext): Promise<void> {
    // columnNames: from here on the sink sees the table's column names (rows renamed as they come).
    this.renaming = renameColumns(
      given.schema,
      this.o.keyColumns,
      this.o.columnNames,
      `mariadbSink "${this.name}"`,
    );
    this.o = { ...this.o, keyColumns: this.renaming.keyColumns };
    const ctx: SinkContext = { ...given, schema: this.renaming.schema };
    this.ctx = ctx;
    this.plan = undefined;
    this.checkAgainstQuery(ctx);
    try {
      const { value } = await this.withRetries('prepare', undefined, (conn) =>
        this.prepare(conn, ctx.schema),
      );
      this.plan = value;
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  private checkAgainstQuery(ctx: SinkContext): void {
    const schema = ctx.schema;
    if (ctx.outputMode === 'update' && this.o.mode !== 'upsert') {
      throw sinkError(
        'MARIADB_OUTPUT_MODE',
        `mariadbSink "${this.name}": output mode 'update' re-emits a row each time its group changes, which an append-only table would ` +
          `duplicate; set mode: 'upsert' and keyColumns to the grouping columns (the output has: ${schema.names.join(', ')}), ` +
          `or use output mode 'append' (with a watermark) or 'complete'`,
        { domain: 'user', sink: this.name },
      );
    }
    if (schema.fields.length === 0) {
      throw sinkError(
        'MARIADB_NO_COLUMNS',
        `mariadbSink "${this.name}": the query has no columns to write to ${this.table}`,
        {
          domain: 'user',
          sink: this.name,
        },
      );
    }
    for (const k of this.o.keyColumns) {
      if (!schema.has(k)) {
        throw sinkError(
          'UNKNOWN_COLUMN',
          `mariadbSink "${this.name}": key column "${k}" is not in the query's output; it has: ${schema.names.join(', ')}; ` +
            `set keyColumns to columns of the output`,
          { domain: 'user', sink: this.name },
        );
      }
    }
  }

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
  private async prepare(conn: Connection, schema: Schema): Promise<WritePlan> {
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

  async addBatch(rows: readonly Row[], info: SinkBatchInfo): Promise<SinkWriteResult> {
    const rename = this.renaming?.row;
    return this.write(BatchRows.of(rename ? rows.map(rename) : rows), info);
  }

  async addBatchChunks(chunks: AsyncIterable<readonly Row[]>, info: SinkBatchInfo): Promise<SinkWriteResult> {
    const rename = this.renaming?.row;
    const renamed = rename
      ? (async function* () {
          for await (const c of chunks) yield c.map(rename);
        })()
      : chunks;
    return this.write(new BatchRows(renamed[Symbol.asyncIterator]()), info);
  }

  private async write(rows: BatchRows, info: SinkBatchInfo): Promise<SinkWriteResult> {
    const plan = this.plan;
    const ctx = this.ctx;
    if (!plan || !ctx) {
      throw sinkError('INTERNAL', `mariadbSink "${this.name}" used before open()`, {
        domain: 'internal',
        sink: this.name,
      });
    }
    const batchId = info.batchId;
    /** Set once COMMIT has been sent: if its answer is lost, a retry that finds batch N committed reports these counts. */
    let sentCommit: Counts | null = null;
    let outcome: { counts: Counts; skipped: boolean; commitMs: number; confirmedAfterRetry: boolean };
    let retries: number;
    try {
      ({ value: outcome, retries } = await this.withRetries('write', batchId, async (conn) => {
        await conn.beginTransaction();
        const last = await this.lockProgress(conn, ctx.queryId);
        if (last >= batchId) {
          await conn.rollback();
          if (sentCommit)
            return { counts: sentCommit, skipped: false, commitMs: 0, confirmedAfterRetry: true };
          return { counts: newCounts(), skipped: true, commitMs: 0, confirmedAfterRetry: false };
        }
        const counts = newCounts();
        if (info.outputMode === 'complete') {
          counts.deleted = Number(
            ((await conn.query(sql.deleteAll(this.o.table))) as UpsertResult).affectedRows,
          );
        }
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
        for await (const chunk of rows.all()) {
          for (let i = 0; i < chunk.length; i++) {
            pending.push(this.encodeRow(plan, chunk[i]!, encoded++, batchId));
            if (pending.length >= this.o.batchSize) await flush();
          }
        }
        if (pending.length) await flush();
        if (inflight) await inflight;
        await conn.query(sql.recordProgress(this.o.progressTable), [batchId, ctx.queryId, this.name]);
        sentCommit = counts;
        const t = performance.now();
        await conn.commit();
        return { counts, skipped: false, commitMs: performance.now() - t, confirmedAfterRetry: false };
      }));
      // A skipped replay still reads the batch: the plan's stateful operators update as it is consumed.
      await rows.drain();
    } catch (e) {
      if (e instanceof UpstreamError) throw e.inner;
      throw e;
    }
    const c = outcome.counts;
    const metrics: Record<string, number> = {
      rowsSent: c.sent,
      rowsAffected: c.affected,
      statements: c.statements,
      retries,
      writeMs: Math.round(c.writeMs * 10) / 10,
      commitMs: Math.round(outcome.commitMs * 10) / 10,
      skippedReplay: outcome.skipped ? 1 : 0,
    };
    if (info.outputMode === 'complete') metrics.rowsDeleted = c.deleted;
    if (outcome.confirmedAfterRetry) metrics.commitConfirmedAfterRetry = 1;
    return { rowsWritten: c.sent, metrics };
  }

  private encodeRow(plan: WritePlan, row: Row, index: number, batchId: number): unknown[] {
    if (plan.upsert) {
      for (const k of plan.keyColumns) {
        if (row[k] === null || row[k] === undefined) {
          throw sinkError(
            'MARIADB_NULL_KEY',
            `mariadbSink "${this.name}": batch ${batchId} for table ${this.table}: row ${index} has ${showValue(row[k] ?? null)} in key column ` +
              `"${k}"; an upsert needs a key for every row — filter out rows with a null key, fill it in the query, or choose other keyColumns`,
            { domain: 'user', sink: this.name, batch: batchId },
          );
        }
      }
    }
    try {
      return plan.encode(row, index);
    } catch (e) {
      if (!(e instanceof BadValue)) throw e;
      throw sinkError(
        'SINK_BAD_VALUE',
        `mariadbSink "${this.name}": batch ${batchId} for table ${this.table}: ${e.message}; ` +
          `make the query produce values of its declared column types (${plan.columnsText})`,
        { domain: 'user', sink: this.name, batch: batchId },
      );
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

  /** Lock this (query, sink)'s progress row, creating it on the first batch; returns the last committed batch id. */
  private async lockProgress(conn: Connection, queryId: string): Promise<number> {
    const p = this.o.progressTable;
    const read = async () =>
      ((await conn.query(sql.lockProgress(p), [queryId, this.name])) as { batch_id: bigint | number }[])[0]
        ?.batch_id;
    let last = await read();
    if (last === undefined) {
      await conn.query(sql.seedProgress(p), [queryId, this.name]);
      last = await read();
    }
    return Number(last ?? -1);
  }

  /**
   * Run `attempt` on the sink's connection (made when missing); on a retryable failure drop the
   * connection, wait (exponential backoff) and run it again, up to maxRetries.
   */
  private async withRetries<T>(
    what: Phase,
    batchId: number | undefined,
    attempt: (conn: Connection) => Promise<T>,
  ): Promise<{ value: T; retries: number }> {
    const started = performance.now();
    for (let retries = 0; ; retries++) {
      try {
        if (!this.conn) {
          this.conn = await connect(this.o.config, { connectTimeoutMs: this.o.connectTimeoutMs });
          // Strict: a value that does not fit fails the batch instead of being truncated with a warning.
          await this.conn.query(
            `SET SESSION sql_mode = CONCAT_WS(',', @@SESSION.sql_mode, 'STRICT_ALL_TABLES')`,
          );
        }
        const value = await attempt(this.conn);
        return { value, retries };
      } catch (e) {
        // Its state is unknown (maybe mid-transaction): close it; the server rolls back.
        this.dropConnection();
        if (e instanceof UpstreamError || e instanceof MillraceError) throw e;
        if (!isRetryable(e)) throw this.fatal(e, what, batchId);
        if (retries >= this.o.maxRetries)
          throw this.giveUp(e, what, batchId, retries, performance.now() - started);
        const delayMs = backoffMs(retries + 1, this.o);
        this.ctx?.log.warn('mariadb sink: transient failure, retrying', {
          sink: this.name,
          ...(batchId === undefined ? {} : { batch: batchId }),
          retry: retries + 1,
          maxRetries: this.o.maxRetries,
          delayMs,
          server: this.server,
          waitingFor: `MariaDB at ${this.server}`,
          error: this.secrets.scrub(describeDbError(asDbError(e))),
        });
        await sleep(delayMs);
      }
    }
  }

  private dropConnection(): void {
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

  private doing(what: Phase, batchId: number | undefined): string {
    return what === 'prepare'
      ? `preparing table ${this.table} on ${this.server}`
      : `writing batch ${batchId} to table ${this.table} on ${this.server}`;
  }

  private fatal(err: unknown, what: Phase, batchId: number | undefined): MillraceError {
    const e = asDbError(err);
    const user = isUserFault(e);
    const columns = this.plan?.columnsText ?? this.ctx?.schema.toString() ?? '';
    return sinkError(
      user ? 'MARIADB_WRITE_FAILED' : 'MARIADB_FAILED',
      this.secrets.scrub(
        `mariadbSink "${this.name}": ${this.doing(what, batchId)} failed: ${describeDbError(e)}. ` +
          `${capitalise(adviceFor(e, this.table, columns))}.`,
      ),
      { domain: user ? 'user' : 'external', retryable: false, sink: this.name, batch: batchId, cause: err },
    );
  }

  private giveUp(
    err: unknown,
    what: Phase,
    batchId: number | undefined,
    retries: number,
    elapsedMs: number,
  ): MillraceError {
    return sinkError(
      'MARIADB_UNAVAILABLE',
      this.secrets.scrub(
        `mariadbSink "${this.name}": ${this.doing(what, batchId)} failed after ${retries} ${retries === 1 ? 'retry' : 'retries'} ` +
          `over ${(elapsedMs / 1000).toFixed(1)} s: ${describeDbError(asDbError(err))}. ` +
          `Check that MariaDB is running and reachable at ${this.server} (host, port, firewall, DNS), that it accepts ` +
          `connections (max_connections, the user's host) and its error log; raise maxRetries/maxBackoffMs to wait longer. ` +
          (what === 'write'
            ? `Restarting the query from its checkpoint is safe: the batch is written exactly once.`
            : `Then start the query again.`),
      ),
      { domain: 'external', retryable: true, sink: this.name, batch: batchId, cause: err },
    );
  }

  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    this.plan = undefined;
    if (c) await c.end().catch(() => c.destroy());
  }
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
