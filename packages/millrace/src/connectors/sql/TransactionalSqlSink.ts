/**
 * The core of the exactly-once SQL sinks (@millrace/postgres, @millrace/mariadb): a batch's rows
 * and its batch id commit in ONE transaction. A progress table keeps, per (query id, sink name),
 * the last committed batch. Batch N (the whole box is one attempt; a retryable failure re-runs it
 * on a fresh connection):
 *
 *   ┌ BEGIN ──────────────────────────────────────────────────────────────────┐
 *   │ lock this query's progress row (first batch ever: seed it with -1)        │
 *   │ batch_id ≥ N ? ── yes ─→ ROLLBACK; rows written: 0   (a replay: no-op)    │
 *   │ [complete mode: DELETE FROM table — readers keep the old content until    │
 *   │                 COMMIT, never a half table]                               │
 *   │ the dialect writes the rows (insert or upsert, batchSize rows a statement)│
 *   │ UPDATE progress SET batch_id = N                                          │
 *   └ COMMIT ───────────────────────────────────────────────────────────────────┘
 *
 * Why it is safe: a replayed batch finds its id committed and is skipped; a connection lost
 * mid-transaction is rolled back by the server and the retry writes the batch in full; a
 * connection lost after COMMIT was sent finds batch_id = N on retry and stops; the row lock
 * serialises two writers of the same query and sink.
 *
 * What differs between databases (connections, SQL text, placeholders, upsert syntax, quoting,
 * error codes, types, how a table is checked) is left to the subclass: the abstract members below
 * and the SqlSinkDialect it passes in. Everything here is the same for every database.
 */
import { MillraceError } from '../../errors/index.ts';
import type { Row, Schema } from '../../schema/index.ts';
import type { OutputMode, Sink, SinkBatchInfo, SinkContext, SinkWriteResult } from '../contracts.ts';
import { backoffMs, sleep } from './backoff.ts';
import { BatchRows, UpstreamError } from './BatchRows.ts';
import { type ColumnNaming, type Renaming, renameColumns } from './columnNames.ts';
import { sinkError } from './sinkError.ts';

/** Names and error classification of one database. */
export interface SqlSinkDialect {
  /** The factory's name, first word of every message: `postgresSink`. */
  readonly sinkKind: string;
  /** Prefix of the sink's own error codes: `POSTGRES` → POSTGRES_OUTPUT_MODE, … */
  readonly codePrefix: string;
  /** Prefix of log lines: `postgres sink`. */
  readonly logName: string;
  /** The product, for "check that … is running": `PostgreSQL`. */
  readonly product: string;
  /** What else to check when the server cannot be reached: `max_connections, pg_hba.conf) and its log`. */
  readonly reachabilityChecks: string;
  isRetryable(err: unknown): boolean;
  /** A failure the user can fix (bad value, constraint, permission, missing object). */
  isUserFault(err: unknown): boolean;
  /** The driver's error as one line (unscrubbed). */
  describeError(err: unknown): string;
  /** What to do about it, starting lower-case, no final period. */
  adviceFor(err: unknown, table: string, columns: string): string;
}

/** The options every SQL sink has (after defaults). */
export interface SqlSinkCoreOptions {
  readonly name: string;
  readonly mode: 'append' | 'upsert';
  readonly keyColumns: readonly string[];
  readonly columnNames: ColumnNaming;
  readonly maxRetries: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
}

/** What open() learned about the table; the subclass adds how to write. */
export interface SqlWritePlan {
  readonly upsert: boolean;
  readonly keyColumns: readonly string[];
  /** The query's schema as text, for messages. */
  readonly columnsText: string;
}

/** Counts of one attempt at writing a batch; the subclass adds its own. */
export interface SqlBatchCounts {
  deleted: number;
  statements: number;
  writeMs: number;
}

export type SqlSinkPhase = 'prepare' | 'write';

export abstract class TransactionalSqlSink<
  Conn,
  Plan extends SqlWritePlan,
  Counts extends SqlBatchCounts,
  Options extends SqlSinkCoreOptions,
> implements Sink {
  readonly name: string;
  readonly guarantee = 'transactional' as const;
  abstract readonly supportedOutputModes: readonly OutputMode[];

  protected o: Options;
  protected ctx: SinkContext | undefined;
  protected plan: Plan | undefined;
  private renaming: Renaming | undefined;

  protected constructor(
    options: Options,
    protected readonly dialect: SqlSinkDialect,
  ) {
    this.o = options;
    this.name = options.name;
  }

  abstract describe(): string;
  /** The table written to, for messages. */
  abstract get table(): string;
  /** The server, for messages (already scrubbed). */
  protected abstract get server(): string;
  /** Remove secrets (passwords) from a message. */
  protected abstract scrub(text: string): string;

  // -- what the subclass provides: connections --------------------------------------

  /** Called once per open() before the table is prepared (e.g. to make a pool). */
  protected beforePrepare(): void {}
  /** Whether write() may run (e.g. the pool is still there). */
  protected canWrite(): boolean {
    return true;
  }
  protected abstract acquire(): Promise<Conn>;
  /** Give back a connection whose attempt succeeded. */
  protected abstract release(conn: Conn): void;
  /** Close a connection whose attempt failed (maybe mid-transaction; the server rolls back). */
  protected abstract discard(conn: Conn | undefined): void;
  abstract close(): Promise<void>;

  // -- what the subclass provides: SQL ----------------------------------------------

  /** Create what is missing, then check the table against the query; returns how to write. */
  protected abstract prepare(conn: Conn, schema: Schema): Promise<Plan>;
  protected abstract begin(conn: Conn): Promise<void>;
  protected abstract rollback(conn: Conn): Promise<void>;
  protected abstract commit(conn: Conn): Promise<void>;
  /** SELECT … FOR UPDATE this (query, sink)'s batch id; undefined when there is no row yet. */
  protected abstract readProgressLocked(conn: Conn, queryId: string): Promise<unknown>;
  /** Insert this (query, sink)'s progress row with -1 unless it exists. */
  protected abstract seedProgress(conn: Conn, queryId: string): Promise<void>;
  protected abstract recordProgress(conn: Conn, queryId: string, batchId: number): Promise<void>;
  /** DELETE every row of the table; returns how many. */
  protected abstract deleteAll(conn: Conn): Promise<number>;
  protected abstract newCounts(): Counts;
  /** Write every row (already renamed) inside the open transaction, counting into `counts`. */
  protected abstract writeRows(
    conn: Conn,
    plan: Plan,
    chunks: AsyncIterable<readonly Row[]>,
    counts: Counts,
    batchId: number,
  ): Promise<void>;
  /** Rows written and the sink's own metrics: `first` lead the common ones, `extra` follow them. */
  protected abstract report(
    counts: Counts,
    plan: Plan,
  ): { rowsWritten: number; first: Record<string, number>; extra: Record<string, number> };
  /** Fields added to the "retrying" warning. */
  protected retryLogFields(): Record<string, unknown> {
    return {};
  }

  // -- open ------------------------------------------------------------------------

  async open(given: SinkContext): Promise<void> {
    const d = this.dialect;
    // columnNames: from here on the sink sees the table's column names (rows renamed as they come).
    this.renaming = renameColumns(
      given.schema,
      this.o.keyColumns,
      this.o.columnNames,
      `${d.sinkKind} "${this.name}"`,
    );
    this.o = { ...this.o, keyColumns: this.renaming.keyColumns };
    const ctx: SinkContext = { ...given, schema: this.renaming.schema };
    this.ctx = ctx;
    this.plan = undefined;
    this.checkAgainstQuery(ctx);
    this.beforePrepare();
    try {
      const { value } = await this.withRetries('prepare', undefined, (conn) =>
        this.prepare(conn, ctx.schema),
      );
      this.plan = value;
    } catch (e) {
      // The engine closes only sinks that opened: do not leave connections behind.
      await this.close();
      throw e;
    }
  }

  /** What can be checked from the query alone: output mode, key columns. */
  private checkAgainstQuery(ctx: SinkContext): void {
    const { sinkKind, codePrefix } = this.dialect;
    const schema = ctx.schema;
    if (ctx.outputMode === 'update' && this.o.mode !== 'upsert') {
      throw sinkError(
        `${codePrefix}_OUTPUT_MODE`,
        `${sinkKind} "${this.name}": output mode 'update' re-emits a row each time its group changes, which an append-only table would ` +
          `duplicate; set mode: 'upsert' and keyColumns to the grouping columns (the output has: ${schema.names.join(', ')}), ` +
          `or use output mode 'append' (with a watermark) or 'complete'`,
        { domain: 'user', sink: this.name },
      );
    }
    if (schema.fields.length === 0) {
      throw sinkError(
        `${codePrefix}_NO_COLUMNS`,
        `${sinkKind} "${this.name}": the query has no columns to write to ${this.table}`,
        { domain: 'user', sink: this.name },
      );
    }
    for (const k of this.o.keyColumns) {
      if (!schema.has(k)) {
        throw sinkError(
          'UNKNOWN_COLUMN',
          `${sinkKind} "${this.name}": key column "${k}" is not in the query's output; it has: ${schema.names.join(', ')}; ` +
            `set keyColumns to columns of the output`,
          { domain: 'user', sink: this.name },
        );
      }
    }
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
    if (!plan || !ctx || !this.canWrite()) {
      throw sinkError('INTERNAL', `${this.dialect.sinkKind} "${this.name}" used before open()`, {
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
        await this.begin(conn);
        const last = await this.lockProgress(conn, ctx.queryId);
        if (last >= batchId) {
          await this.rollback(conn);
          if (sentCommit)
            return { counts: sentCommit, skipped: false, commitMs: 0, confirmedAfterRetry: true };
          return { counts: this.newCounts(), skipped: true, commitMs: 0, confirmedAfterRetry: false };
        }
        const counts = this.newCounts();
        if (info.outputMode === 'complete') counts.deleted = await this.deleteAll(conn);
        await this.writeRows(conn, plan, rows.all(), counts, batchId);
        await this.recordProgress(conn, ctx.queryId, batchId);
        sentCommit = counts;
        const t = performance.now();
        await this.commit(conn);
        return { counts, skipped: false, commitMs: performance.now() - t, confirmedAfterRetry: false };
      }));
      // A skipped replay still reads the batch: the plan's stateful operators update as it is consumed.
      await rows.drain();
    } catch (e) {
      if (e instanceof UpstreamError) throw e.inner;
      throw e;
    }
    const c = outcome.counts;
    const { rowsWritten, first, extra } = this.report(c, plan);
    const metrics: Record<string, number> = {
      ...first,
      statements: c.statements,
      retries,
      writeMs: Math.round(c.writeMs * 10) / 10,
      commitMs: Math.round(outcome.commitMs * 10) / 10,
      skippedReplay: outcome.skipped ? 1 : 0,
      ...extra,
    };
    if (info.outputMode === 'complete') metrics.rowsDeleted = c.deleted;
    if (outcome.confirmedAfterRetry) metrics.commitConfirmedAfterRetry = 1;
    return { rowsWritten, metrics };
  }

  /** Lock this (query, sink)'s progress row, creating it on the first batch; returns the last committed batch id. */
  private async lockProgress(conn: Conn, queryId: string): Promise<number> {
    let last = await this.readProgressLocked(conn, queryId);
    if (last === undefined) {
      await this.seedProgress(conn, queryId);
      last = await this.readProgressLocked(conn, queryId);
    }
    return Number(last ?? -1);
  }

  /** A value the query produced that its declared column type cannot hold. */
  protected badValue(e: Error, batchId: number, plan: Plan): MillraceError {
    return sinkError(
      'SINK_BAD_VALUE',
      `${this.dialect.sinkKind} "${this.name}": batch ${batchId} for table ${this.table}: ${e.message}; ` +
        `make the query produce values of its declared column types (${plan.columnsText})`,
      { domain: 'user', sink: this.name, batch: batchId },
    );
  }

  /** A null key in upsert mode; `row` says which row when the subclass knows (`row 3 has`). */
  protected nullKey(column: string, shown: string, batchId: number, which = 'a row'): MillraceError {
    return sinkError(
      `${this.dialect.codePrefix}_NULL_KEY`,
      `${this.dialect.sinkKind} "${this.name}": batch ${batchId} for table ${this.table}: ${which} has ${shown} in key column ` +
        `"${column}"; an upsert needs a key for every row — filter out rows with a null key, fill it in the query, or choose other keyColumns`,
      { domain: 'user', sink: this.name, batch: batchId },
    );
  }

  // -- retries ---------------------------------------------------------------------

  /**
   * Run `attempt` on a connection; on a retryable failure close the connection, wait
   * (exponential backoff) and run it again, up to maxRetries.
   */
  private async withRetries<T>(
    what: SqlSinkPhase,
    batchId: number | undefined,
    attempt: (conn: Conn) => Promise<T>,
  ): Promise<{ value: T; retries: number }> {
    const started = performance.now();
    for (let retries = 0; ; retries++) {
      let conn: Conn | undefined;
      try {
        conn = await this.acquire();
        const value = await attempt(conn);
        this.release(conn);
        if (retries > 0) this.ctx?.reportWaiting?.(null);
        return { value, retries };
      } catch (e) {
        // Its state is unknown (maybe mid-transaction): close it; the server rolls back.
        this.discard(conn);
        if (e instanceof UpstreamError || e instanceof MillraceError) throw e;
        if (!this.dialect.isRetryable(e)) throw this.fatal(e, what, batchId);
        if (retries >= this.o.maxRetries)
          throw this.giveUp(e, what, batchId, retries, performance.now() - started);
        const delayMs = backoffMs(retries + 1, this.o);
        // The query status says what the sink waits for while it retries (cleared above).
        this.ctx?.reportWaiting?.(
          `${this.dialect.product} at ${this.server}: ${this.scrub(this.dialect.describeError(e))}`,
        );
        this.ctx?.log.warn(`${this.dialect.logName}: transient failure, retrying`, {
          sink: this.name,
          ...(batchId === undefined ? {} : { batch: batchId }),
          retry: retries + 1,
          maxRetries: this.o.maxRetries,
          delayMs,
          server: this.server,
          ...this.retryLogFields(),
          error: this.scrub(this.dialect.describeError(e)),
        });
        await sleep(delayMs);
      }
    }
  }

  private doing(what: SqlSinkPhase, batchId: number | undefined): string {
    return what === 'prepare'
      ? `preparing table ${this.table} on ${this.server}`
      : `writing batch ${batchId} to table ${this.table} on ${this.server}`;
  }

  private fatal(err: unknown, what: SqlSinkPhase, batchId: number | undefined): MillraceError {
    const d = this.dialect;
    const user = d.isUserFault(err);
    const columns = this.plan?.columnsText ?? this.ctx?.schema.toString() ?? '';
    return sinkError(
      user ? `${d.codePrefix}_WRITE_FAILED` : `${d.codePrefix}_FAILED`,
      this.scrub(
        `${d.sinkKind} "${this.name}": ${this.doing(what, batchId)} failed: ${d.describeError(err)}. ` +
          `${capitalise(d.adviceFor(err, this.table, columns))}.`,
      ),
      { domain: user ? 'user' : 'external', retryable: false, sink: this.name, batch: batchId, cause: err },
    );
  }

  private giveUp(
    err: unknown,
    what: SqlSinkPhase,
    batchId: number | undefined,
    retries: number,
    elapsedMs: number,
  ): MillraceError {
    const d = this.dialect;
    return sinkError(
      `${d.codePrefix}_UNAVAILABLE`,
      this.scrub(
        `${d.sinkKind} "${this.name}": ${this.doing(what, batchId)} failed after ${retries} ${retries === 1 ? 'retry' : 'retries'} ` +
          `over ${(elapsedMs / 1000).toFixed(1)} s: ${d.describeError(err)}. ` +
          `Check that ${d.product} is running and reachable at ${this.server} (host, port, firewall, DNS), that it accepts ` +
          `connections (${d.reachabilityChecks}; raise maxRetries/maxBackoffMs to wait longer. ` +
          (what === 'write'
            ? `Restarting the query from its checkpoint is safe: the batch is written exactly once.`
            : `Then start the query again.`),
      ),
      { domain: 'external', retryable: true, sink: this.name, batch: batchId, cause: err },
    );
  }
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
