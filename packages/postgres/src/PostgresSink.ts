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
import { MillraceError, type Field, type Row, type Schema, type Sink, type SinkBatchInfo } from 'millrace';
import type { SinkContext, SinkWriteResult } from 'millrace';
import type pg from 'pg';
import { type Renaming, renameColumns } from './columnNames.ts';
import { BadValue, type ColumnEncoder, columnEncoder, keyExtractor, showValue } from './columns.ts';
import { Secrets, displayTarget, makePool, serverOf } from './connection.ts';
import { adviceFor, asPgError, describePgError, isRetryable, sinkError, sqlState } from './errors.ts';
import { type TableName, displayName, qualified, quoteIdent } from './identifiers.ts';
import { type PostgresSinkOptions, type ResolvedOptions, resolveOptions } from './options.ts';
import { backoffMs, sleep } from './retry.ts';
import * as sql from './statements.ts';

/** A sink that writes micro-batches into a PostgreSQL table, exactly once. */
export function postgresSink(options: PostgresSinkOptions): PostgresSink {
  return new PostgresSink(options);
}

/** What open() learned about the table: how to write a statement's rows. */
interface WritePlan {
  readonly fields: readonly Field[];
  readonly encoders: readonly ColumnEncoder[];
  readonly insertSql: string;
  readonly upsert: boolean;
  readonly keyOf: ((row: Row) => unknown) | null;
  readonly keyColumns: readonly string[];
  readonly columnsText: string;
}

/** Counts of one attempt at writing a batch. */
interface Counts {
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
  duplicates: number;
  statements: number;
  writeMs: number;
}

const newCounts = (): Counts => ({
  inserted: 0,
  updated: 0,
  unchanged: 0,
  deleted: 0,
  duplicates: 0,
  statements: 0,
  writeMs: 0,
});

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

  /** Every chunk from the start: the kept ones, then more from the engine. */
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

export class PostgresSink implements Sink {
  readonly name: string;
  readonly guarantee = 'transactional' as const;
  /** All three; open() refuses update mode without upsert (with a message that says what to set). */
  readonly supportedOutputModes = ['append', 'update', 'complete'] as const;

  private o: ResolvedOptions;
  private renaming: Renaming | undefined;
  private readonly secrets: Secrets;
  private pool: pg.Pool | undefined;
  private ownsPool = false;
  private ctx: SinkContext | undefined;
  private plan: WritePlan | undefined;

  constructor(options: PostgresSinkOptions) {
    this.o = resolveOptions(options);
    this.name = this.o.name;
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

  private get server(): string {
    return this.secrets.scrub(serverOf(this.o.target));
  }

  // -- open ------------------------------------------------------------------------

  async open(given: SinkContext): Promise<void> {
    // columnNames: from here on the sink sees the table's column names (rows renamed as they come).
    this.renaming = renameColumns(
      given.schema,
      this.o.keyColumns,
      this.o.columnNames,
      `postgresSink "${this.name}"`,
    );
    this.o = { ...this.o, keyColumns: this.renaming.keyColumns };
    const ctx: SinkContext = { ...given, schema: this.renaming.schema };
    this.ctx = ctx;
    this.plan = undefined;
    this.checkAgainstQuery(ctx);
    if (!this.pool) {
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
    try {
      const { value } = await this.withRetries('prepare', undefined, (client) =>
        this.prepare(client, ctx.schema),
      );
      this.plan = value;
    } catch (e) {
      // The engine closes only sinks that opened: do not leave the pool (and its sockets) behind.
      await this.close();
      throw e;
    }
  }

  /** What can be checked from the query alone: output mode, key columns. */
  private checkAgainstQuery(ctx: SinkContext): void {
    const schema = ctx.schema;
    const table = this.table;
    if (ctx.outputMode === 'update' && this.o.mode !== 'upsert') {
      throw sinkError(
        'POSTGRES_OUTPUT_MODE',
        `postgresSink "${this.name}": output mode 'update' re-emits a row each time its group changes, which an append-only table would ` +
          `duplicate; set mode: 'upsert' and keyColumns to the grouping columns (the output has: ${schema.names.join(', ')}), ` +
          `or use output mode 'append' (with a watermark) or 'complete'`,
        { domain: 'user', sink: this.name },
      );
    }
    if (schema.fields.length === 0) {
      throw sinkError(
        'POSTGRES_NO_COLUMNS',
        `postgresSink "${this.name}": the query has no columns to write to ${table}`,
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
          `postgresSink "${this.name}": key column "${k}" is not in the query's output; it has: ${schema.names.join(', ')}; ` +
            `set keyColumns to columns of the output`,
          { domain: 'user', sink: this.name },
        );
      }
    }
  }

  /** Create what is missing, then check the table against the query; returns how to write. */
  private async prepare(client: pg.PoolClient, schema: Schema): Promise<WritePlan> {
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
    if (!plan || !ctx || !this.pool) {
      throw sinkError('INTERNAL', `postgresSink "${this.name}" used before open()`, {
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
      ({ value: outcome, retries } = await this.withRetries('write', batchId, async (client) => {
        await client.query('BEGIN');
        const last = await this.lockProgress(client, ctx.queryId);
        if (last >= batchId) {
          await client.query('ROLLBACK');
          if (sentCommit)
            return { counts: sentCommit, skipped: false, commitMs: 0, confirmedAfterRetry: true };
          return { counts: newCounts(), skipped: true, commitMs: 0, confirmedAfterRetry: false };
        }
        const counts = newCounts();
        if (info.outputMode === 'complete') {
          counts.deleted = (await client.query(sql.deleteAll(this.o.table))).rowCount ?? 0;
        }
        const writer = new StatementWriter(client, plan, this.o.batchSize, counts, {
          badValue: (e) => this.badValue(e, batchId, plan),
          nullKey: (column, row) => this.nullKey(column, row, batchId),
        });
        for await (const chunk of rows.all()) await writer.add(chunk);
        await writer.finish();
        await client.query(sql.recordProgress(this.o.progressTable), [ctx.queryId, this.name, batchId]);
        sentCommit = counts;
        const t = performance.now();
        await client.query('COMMIT');
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
      rowsInserted: c.inserted,
      statements: c.statements,
      retries,
      writeMs: Math.round(c.writeMs * 10) / 10,
      commitMs: Math.round(outcome.commitMs * 10) / 10,
      skippedReplay: outcome.skipped ? 1 : 0,
    };
    if (plan.upsert) {
      metrics.rowsUpdated = c.updated;
      metrics.rowsUnchanged = c.unchanged;
      metrics.duplicateKeysDropped = c.duplicates;
    }
    if (info.outputMode === 'complete') metrics.rowsDeleted = c.deleted;
    if (outcome.confirmedAfterRetry) metrics.commitConfirmedAfterRetry = 1;
    return { rowsWritten: c.inserted + c.updated, metrics };
  }

  /** Lock this (query, sink)'s progress row, creating it on the first batch; returns the last committed batch id. */
  private async lockProgress(client: pg.PoolClient, queryId: string): Promise<number> {
    const p = this.o.progressTable;
    const read = async () =>
      (await client.query<{ batch_id: string }>(sql.lockProgress(p), [queryId, this.name])).rows[0]?.batch_id;
    let last = await read();
    if (last === undefined) {
      await client.query(sql.seedProgress(p), [queryId, this.name]);
      last = await read();
    }
    return Number(last ?? -1);
  }

  private badValue(e: BadValue, batchId: number, plan: WritePlan): MillraceError {
    return sinkError(
      'SINK_BAD_VALUE',
      `postgresSink "${this.name}": batch ${batchId} for table ${this.table}: ${e.message}; ` +
        `make the query produce values of its declared column types (${plan.columnsText})`,
      { domain: 'user', sink: this.name, batch: batchId },
    );
  }

  private nullKey(column: string, row: Row, batchId: number): MillraceError {
    return sinkError(
      'POSTGRES_NULL_KEY',
      `postgresSink "${this.name}": batch ${batchId} for table ${this.table}: a row has ${showValue(row[column] ?? null)} in key column ` +
        `"${column}"; an upsert needs a key for every row — filter out rows with a null key, fill it in the query, or choose other keyColumns`,
      { domain: 'user', sink: this.name, batch: batchId },
    );
  }

  /**
   * Run `attempt` on a pooled connection; on a retryable failure drop the
   * connection, wait (exponential backoff) and run it again, up to maxRetries.
   */
  private async withRetries<T>(
    what: 'prepare' | 'write',
    batchId: number | undefined,
    attempt: (client: pg.PoolClient) => Promise<T>,
  ): Promise<{ value: T; retries: number }> {
    const started = performance.now();
    for (let retries = 0; ; retries++) {
      let client: pg.PoolClient | undefined;
      // A connection that dies while checked out but idle (between statements) emits 'error';
      // without a listener that would crash the process. The next query then fails and is retried.
      const onError = () => {};
      try {
        client = await this.pool!.connect();
        client.on('error', onError);
        const value = await attempt(client);
        client.off('error', onError);
        client.release();
        return { value, retries };
      } catch (e) {
        if (client) {
          client.off('error', onError);
          // Its state is unknown (maybe mid-transaction): close it; the server rolls back.
          client.release(true);
        }
        if (e instanceof UpstreamError || e instanceof MillraceError) throw e;
        if (!isRetryable(e)) throw this.fatal(e, what, batchId);
        if (retries >= this.o.maxRetries)
          throw this.giveUp(e, what, batchId, retries, performance.now() - started);
        const delayMs = backoffMs(retries + 1, this.o);
        this.ctx?.log.warn('postgres sink: transient failure, retrying', {
          sink: this.name,
          ...(batchId === undefined ? {} : { batch: batchId }),
          retry: retries + 1,
          maxRetries: this.o.maxRetries,
          delayMs,
          server: this.server,
          error: this.secrets.scrub(describePgError(asPgError(e))),
        });
        await sleep(delayMs);
      }
    }
  }

  private doing(what: 'prepare' | 'write', batchId: number | undefined): string {
    return what === 'prepare'
      ? `preparing table ${this.table} on ${this.server}`
      : `writing batch ${batchId} to table ${this.table} on ${this.server}`;
  }

  private fatal(err: unknown, what: 'prepare' | 'write', batchId: number | undefined): MillraceError {
    const e = asPgError(err);
    const state = sqlState(e) ?? '';
    const userFault = /^(22|23|42|28|3D|3F|44)/.test(state);
    const columns = this.plan?.columnsText ?? this.ctx?.schema.toString() ?? '';
    return sinkError(
      userFault ? 'POSTGRES_WRITE_FAILED' : 'POSTGRES_FAILED',
      this.secrets.scrub(
        `postgresSink "${this.name}": ${this.doing(what, batchId)} failed: ${describePgError(e)}. ` +
          `${capitalise(adviceFor(e, this.table, columns))}.`,
      ),
      {
        domain: userFault ? 'user' : 'external',
        retryable: false,
        sink: this.name,
        batch: batchId,
        cause: err,
      },
    );
  }

  private giveUp(
    err: unknown,
    what: 'prepare' | 'write',
    batchId: number | undefined,
    retries: number,
    elapsedMs: number,
  ): MillraceError {
    return sinkError(
      'POSTGRES_UNAVAILABLE',
      this.secrets.scrub(
        `postgresSink "${this.name}": ${this.doing(what, batchId)} failed after ${retries} ${retries === 1 ? 'retry' : 'retries'} ` +
          `over ${(elapsedMs / 1000).toFixed(1)} s: ${describePgError(asPgError(err))}. ` +
          `Check that PostgreSQL is running and reachable at ${this.server} (host, port, firewall, DNS), that it accepts ` +
          `connections (max_connections, pg_hba.conf) and its log; raise maxRetries/maxBackoffMs to wait longer. ` +
          (what === 'write'
            ? `Restarting the query from its checkpoint is safe: the batch is written exactly once.`
            : `Then start the query again.`),
      ),
      { domain: 'external', retryable: true, sink: this.name, batch: batchId, cause: err },
    );
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    this.plan = undefined;
    if (pool && this.ownsPool) await pool.end();
  }
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

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
