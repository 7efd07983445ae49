/**
 * postgresCdcSource: the changes of PostgreSQL tables, read from a logical replication slot with
 * the pgoutput plugin, replayable from the slot's LSN.
 *
 *   offsets/N = { "lsn": "<end LSN of the last transaction in the batch>" }
 *   latestOffset(start)   peek the slot (pg_logical_slot_peek_binary_changes: decodes without
 *                         consuming) for whole transactions committed after `start`, up to
 *                         maxRowsPerTrigger rows; end = the last one's commit end LSN
 *   getBatch(start, end)  peek again up to `end`: the same transactions, skipping those that
 *                         committed before `start` (already in an earlier batch)
 *   commit(end)           pg_replication_slot_advance(slot, end): the only place the slot moves,
 *                         after the engine wrote commits/N — so after a crash the slot still holds
 *                         every change the checkpoint has not committed
 *
 * Why the SQL interface rather than a walsender stream (START_REPLICATION): a batch is a plain
 * query bounded by `upto_lsn`, replayed by running it again; nothing has to keep a replication
 * connection alive, acknowledge keepalives or buffer a stream the engine is not ready for. The
 * cost: each peek decodes again from the slot's restart point, which stays close because every
 * batch's commit advances the slot.
 *
 * A transaction is never split: pgoutput emits a transaction whole at its commit, and batch ends
 * are commit end LSNs. Rows stream in chunks of fetchSize through a cursor.
 */
import {
  type ConnectionTarget,
  Secrets,
  asPgError,
  backoffMs,
  describePgError,
  displayTarget,
  isRetryable,
  makePool,
  serverOf,
  sleep,
  sqlState,
} from '@millrace/postgres';
import {
  collectBatch,
  MillraceError,
  externalError,
  schema,
  t,
  type ChunkedBatch,
  type ConnectorContext,
  type Offset,
  type ReadLimit,
  type Schema,
  type Source,
  type SourceBatch,
} from 'millrace';
import type pg from 'pg';
import { type CdcRow, type ChangeEvent, PgoutputDecoder } from './decode.ts';
import { type Lsn, formatLsn, isLsnText, parseLsn, walBytesBetween } from './lsn.ts';
import { type PostgresCdcSourceOptions, type Resolved, resolveOptions } from './options.ts';

export const cdcSchema = schema({
  op: t.string,
  before: t.json.orNull(),
  after: t.json.orNull(),
  source: t.struct({
    lsn: t.string,
    txId: t.long,
    table: t.string,
    schema: t.string,
    commitTime: t.timestamp,
  }),
  ts: t.timestamp,
});

export function postgresCdcSource(options: PostgresCdcSourceOptions): PostgresCdcSource {
  return new PostgresCdcSource(options);
}

/** What the last latestOffset found: kept for getBatch when it asks for exactly that batch. */
interface Lookahead {
  readonly from: Lsn | null;
  readonly end: Lsn;
  readonly rows: CdcRow[] | null; // null: too many to keep; getBatch reads them again
}

/** Rows kept from latestOffset for the next getBatch; above this, getBatch peeks again. */
const KEEP_ROWS = 50_000;

export class PostgresCdcSource implements Source<CdcRow> {
  readonly name: string;
  readonly schema = cdcSchema as unknown as Schema<CdcRow>;
  readonly replayable = true;

  private readonly o: Resolved;
  private readonly secrets: Secrets;
  private pool: pg.Pool | undefined;
  private ctx: ConnectorContext | undefined;
  private lookahead: Lookahead | null = null;
  private latestSeen: Lsn | null = null;
  private lagBytes: number | null = null;
  private availableNowTarget: Lsn | null = null;
  /** The last peek after `from` found nothing, with the server's WAL flushed up to `flush`. */
  private nothingAfter: { from: Lsn | null; flush: Lsn } | null = null;

  constructor(options: PostgresCdcSourceOptions) {
    this.o = resolveOptions(options);
    this.name = this.o.name;
    this.secrets = new Secrets(this.o.target);
  }

  describe(): string {
    const limit =
      this.o.maxRowsPerTrigger === undefined ? '' : `, maxRowsPerTrigger=${this.o.maxRowsPerTrigger}`;
    return this.secrets.scrub(
      `PostgresCdcSource[${displayTarget(this.o.target)}, slot ${this.o.slot}, publication ${this.o.publication}${limit}]`,
    );
  }

  private get where(): string {
    return this.secrets.scrub(serverOf(this.o.target as ConnectionTarget));
  }

  async open(ctx: ConnectorContext): Promise<void> {
    this.ctx = ctx;
    this.pool = makePool(this.o.target, {
      applicationName: `millrace-cdc:${this.o.slot}`,
      connectTimeoutMs: this.o.connectTimeoutMs,
    }).pool;
    this.pool.on('error', () => {}); // an idle connection dropped: the next step reconnects
    await this.step('checking the server, publication and slot', undefined, (c) => this.prepare(c));
  }

  /** wal_level, the publication and the slot: created when missing (createIfMissing), else a clear error. */
  private async prepare(c: pg.PoolClient): Promise<void> {
    const level = (await c.query<{ wal_level: string }>('SHOW wal_level')).rows[0]!.wal_level;
    if (level !== 'logical')
      throw cdcUserError(
        'CDC_WAL_LEVEL',
        `postgresCdcSource "${this.name}": PostgreSQL at ${this.where} has wal_level = ${level}; change data capture needs wal_level = logical. Run ALTER SYSTEM SET wal_level = logical (or set it in postgresql.conf) and restart the server`,
        { source: this.name },
      );
    const pub = await c.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [this.o.publication]);
    if (pub.rowCount === 0) {
      const create = this.createPublicationSql(c);
      if (!this.o.createIfMissing)
        throw cdcUserError(
          'CDC_PUBLICATION_MISSING',
          `postgresCdcSource "${this.name}": publication "${this.o.publication}" does not exist on ${this.where}. Create it (${create}) or set createIfMissing: true`,
          { source: this.name },
        );
      await c.query(create);
      this.ctx?.log.info('postgres cdc: created the publication', { source: this.name, sql: create });
    }
    const slot = await this.slotState(c);
    if (slot === null) {
      if (!this.o.createIfMissing)
        throw cdcUserError(
          'CDC_SLOT_MISSING',
          `postgresCdcSource "${this.name}": replication slot "${this.o.slot}" does not exist on ${this.where}. Create it (SELECT pg_create_logical_replication_slot('${this.o.slot}', 'pgoutput')) or set createIfMissing: true`,
          { source: this.name },
        );
      // Waits for transactions running now to end: the slot starts at a consistent point.
      await c.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [this.o.slot]);
      this.ctx?.log.info('postgres cdc: created the replication slot', {
        source: this.name,
        slot: this.o.slot,
      });
      return;
    }
    if (slot.plugin !== 'pgoutput' || slot.database !== slot.current)
      throw cdcUserError(
        'CDC_SLOT_MISMATCH',
        `postgresCdcSource "${this.name}": slot "${this.o.slot}" uses plugin ${slot.plugin} in database ${slot.database ?? '(none)'}; this source needs a logical slot with pgoutput in database ${slot.current}. Pick another slot name`,
        { source: this.name },
      );
    if (slot.active && slot.activePid !== null)
      this.ctx?.log.warn(
        'postgres cdc: the slot is in use by another connection; waiting for it while reading',
        {
          source: this.name,
          slot: this.o.slot,
          pid: slot.activePid,
        },
      );
  }

  private createPublicationSql(c: pg.PoolClient): string {
    const ident = (s: string) => c.escapeIdentifier(s);
    const what =
      this.o.tables === undefined
        ? 'FOR ALL TABLES'
        : `FOR TABLE ${this.o.tables.map((x) => x.split('.').map(ident).join('.')).join(', ')}`;
    return `CREATE PUBLICATION ${ident(this.o.publication)} ${what}`;
  }

  private async slotState(c: pg.PoolClient): Promise<{
    plugin: string;
    database: string | null;
    current: string;
    active: boolean;
    activePid: number | null;
    confirmed: Lsn | null;
    lost: boolean;
  } | null> {
    const r = await c.query(
      `SELECT plugin, database, current_database() AS current, active, active_pid,
              confirmed_flush_lsn::text AS confirmed, wal_status
         FROM pg_replication_slots WHERE slot_name = $1`,
      [this.o.slot],
    );
    const s = r.rows[0];
    if (!s) return null;
    return {
      plugin: s.plugin,
      database: s.database,
      current: s.current,
      active: s.active,
      activePid: s.active_pid,
      confirmed: s.confirmed ? parseLsn(s.confirmed) : null,
      lost: s.wal_status === 'lost',
    };
  }

  // ---------------------------------------------------------------- offsets

  private lsnOf(offset: Offset | null, what: string): Lsn | null {
    if (offset === null) return null;
    const lsn = (offset as { lsn?: unknown }).lsn;
    if (typeof offset !== 'object' || !isLsnText(lsn))
      throw new MillraceError(
        'CHECKPOINT_MISMATCH',
        `postgresCdcSource "${this.name}": the checkpoint's ${what} offset ${JSON.stringify(offset)} is not { lsn }; was it written by another source?`,
        { domain: 'user', context: { source: this.name } },
      );
    return parseLsn(lsn);
  }

  async latestOffset(start: Offset | null, limit: ReadLimit): Promise<Offset | null> {
    const from = this.lsnOf(start, 'start');
    const max = limit.kind === 'all' ? undefined : this.o.maxRowsPerTrigger;
    return this.step('finding new transactions', undefined, async (c) => {
      await this.checkSlot(c, from);
      const flush = parseLsn(
        (await c.query<{ l: string }>('SELECT pg_current_wal_flush_lsn()::text AS l')).rows[0]!.l,
      );
      // Idle: no WAL written since the last peek found nothing after `from` — skip decoding again.
      const idle = this.nothingAfter;
      if (idle !== null && idle.from === from && idle.flush === flush) return start;
      this.nothingAfter = null;
      // pgoutput stops at a transaction's end once it produced upto_nchanges messages; ask for
      // more when the first answer held only transactions an earlier batch already read.
      let ask = max === undefined ? null : 2 * max + 16;
      for (;;) {
        const found = await this.lookAhead(c, from, max, ask);
        this.lagBytes = walBytesBetween(found.end ?? from ?? flush, flush);
        if (found.end !== null) {
          this.latestSeen = found.latest;
          this.lookahead = { from, end: found.end, rows: found.rows };
          return { lsn: formatLsn(found.end) };
        }
        if (ask === null || found.messages < ask) {
          this.nothingAfter = { from, flush };
          return start;
        }
        ask *= 4;
      }
    });
  }

  /** Whole transactions after `from`, up to `max` rows (at least one transaction). */
  private async lookAhead(
    c: pg.PoolClient,
    from: Lsn | null,
    max: number | undefined,
    ask: number | null,
  ): Promise<{ end: Lsn | null; latest: Lsn | null; rows: CdcRow[] | null; messages: number }> {
    let end: Lsn | null = null;
    let latest: Lsn | null = null;
    let taken = 0;
    let kept: CdcRow[] | null = [];
    let txn: CdcRow[] = [];
    let skip = false;
    let full = false;
    const messages = await this.peek(c, this.availableNowTarget, ask, (e) => {
      if (e.kind === 'begin') {
        skip = from !== null && e.commitLsn < from;
        txn = [];
      } else if (e.kind === 'row') {
        if (!skip && !full) txn.push(e.row);
      } else if (!skip) {
        latest = e.endLsn;
        if (full) return;
        if (max !== undefined && taken > 0 && taken + txn.length > max) {
          full = true; // this transaction starts the next batch
          return;
        }
        end = e.endLsn;
        taken += txn.length;
        if (kept !== null) kept = taken <= KEEP_ROWS ? kept.concat(txn) : null;
        if (max !== undefined && taken >= max) full = true;
      }
    });
    return { end, latest, rows: kept, messages };
  }

  /** Trigger.availableNow: read the transactions committed by now, then stop. */
  async prepareForAvailableNow(): Promise<void> {
    this.availableNowTarget = await this.step('finding the end of the WAL', undefined, async (c) =>
      parseLsn((await c.query<{ l: string }>('SELECT pg_current_wal_flush_lsn()::text AS l')).rows[0]!.l),
    );
  }

  reportLatestOffset(): Offset | null {
    return this.latestSeen === null ? null : { lsn: formatLsn(this.latestSeen) };
  }

  // ---------------------------------------------------------------- batches

  async getBatch(
    start: Offset | null,
    end: Offset,
    info: { readonly batchId: number },
  ): Promise<SourceBatch<CdcRow>> {
    return collectBatch(this.getBatchChunks(start, end, info));
  }

  getBatchChunks(
    start: Offset | null,
    end: Offset,
    info: { readonly batchId: number },
  ): ChunkedBatch<CdcRow> {
    const from = this.lsnOf(start, 'start');
    const to = this.lsnOf(end, 'end')!;
    const stats = { rows: 0, transactions: 0 };
    return Object.assign(this.read(from, to, info.batchId, stats), {
      summary: () => {
        const metrics: Record<string, number> = { rowsRead: stats.rows, transactions: stats.transactions };
        if (this.lagBytes !== null) metrics.lagBytes = this.lagBytes;
        return { metrics };
      },
    });
  }

  private async *read(
    from: Lsn | null,
    to: Lsn,
    batchId: number,
    stats: { rows: number; transactions: number },
  ): AsyncGenerator<CdcRow[]> {
    const ahead = this.lookahead;
    this.lookahead = null;
    if (ahead && ahead.rows !== null && ahead.from === from && ahead.end === to) {
      for (let i = 0; i < ahead.rows.length; i += this.o.fetchSize) {
        const chunk = ahead.rows.slice(i, i + this.o.fetchSize);
        stats.rows += chunk.length;
        yield chunk;
      }
      stats.transactions = new Set(ahead.rows.map((r) => r.source.txId)).size;
      return;
    }
    // Peek up to `to`, chunk by chunk; a retry after a lost connection skips the rows already
    // handed on (the same rows come in the same order).
    const doing = `reading changes up to ${formatLsn(to)}`;
    const context = { source: this.name, batch: batchId };
    const started = Date.now();
    let handed = 0;
    let reached: Lsn | null;
    for (let retry = 0; ; retry++) {
      let client: pg.PoolClient | undefined;
      let released = false;
      const release = (e?: unknown) => {
        if (!released) client?.release(e === undefined ? undefined : e instanceof Error ? e : true);
        released = true;
      };
      let seen = 0;
      let skip = false;
      let transactions = 0;
      let chunk: CdcRow[] = [];
      reached = null;
      try {
        client = await this.connect();
        await this.checkSlot(client, from, batchId);
        const decoder = new PgoutputDecoder(this.o.publication);
        for await (const page of this.pages(client, to, null)) {
          for (const m of page)
            for (const e of decoder.decode(m.lsn, m.data)) {
              if (e.kind === 'begin') skip = from !== null && e.commitLsn < from;
              else if (skip || (reached !== null && reached >= to)) continue;
              else if (e.kind === 'commit') {
                reached = e.endLsn;
                transactions++;
              } else if (++seen > handed) chunk.push(e.row);
            }
          if (chunk.length >= this.o.fetchSize) {
            handed += chunk.length;
            stats.rows += chunk.length;
            yield chunk;
            chunk = [];
          }
        }
        if (chunk.length > 0) {
          handed += chunk.length;
          stats.rows += chunk.length;
          yield chunk;
        }
        release();
        stats.transactions = transactions;
        if (retry > 0) this.ctx?.reportWaiting?.(null);
        break;
      } catch (e) {
        release(e);
        await this.retryOrThrow(e, retry, doing, context, started);
      } finally {
        release(); // the reader stopped early (an error downstream): the cursor is already closed
      }
    }
    if (reached === null || reached !== to) this.missingEnd(from, to, reached, batchId);
  }

  /** The batch's last transaction is gone from the slot: its changes were consumed elsewhere. */
  private missingEnd(from: Lsn | null, to: Lsn, reached: Lsn | null, batchId: number): void {
    const problem = `slot "${this.o.slot}" no longer returns the transactions up to ${formatLsn(to)} that batch ${batchId} was planned with (read up to ${reached === null ? 'none' : formatLsn(reached)}, after ${from === null ? "the slot's start" : formatLsn(from)})`;
    this.lost(problem, batchId);
  }

  /** Data loss: the slot was advanced past, dropped, or invalidated, while the checkpoint still needs changes. */
  private async checkSlot(c: pg.PoolClient, from: Lsn | null, batchId?: number): Promise<void> {
    // pgoutput skips a publication that no longer exists (no error, no rows): check it here.
    const pub = await c.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [this.o.publication]);
    if (pub.rowCount === 0)
      throw cdcUserError(
        'CDC_PUBLICATION_MISSING',
        `postgresCdcSource "${this.name}": publication "${this.o.publication}" no longer exists on ${this.where}; changes are not captured without it. Create the publication again (CREATE PUBLICATION … FOR TABLE …) and restart the query; changes made while it was missing are not in the slot's output`,
        { source: this.name, ...(batchId === undefined ? {} : { batch: batchId }) },
      );
    const s = await this.slotState(c);
    if (s === null) {
      if (from === null)
        throw cdcUserError(
          'CDC_SLOT_MISSING',
          `postgresCdcSource "${this.name}": replication slot "${this.o.slot}" does not exist on ${this.where}; it was dropped after the query started. Restart the query (createIfMissing creates it again)`,
          { source: this.name },
        );
      this.lost(`slot "${this.o.slot}" was dropped`, batchId);
      return;
    }
    if (s.lost)
      this.lost(
        `slot "${this.o.slot}" was invalidated (max_slot_wal_keep_size removed WAL it needed)`,
        batchId,
      );
    else if (from !== null && s.confirmed !== null && s.confirmed > from)
      this.lost(
        `slot "${this.o.slot}" was advanced to ${formatLsn(s.confirmed)} by someone else, past ${formatLsn(from)} where this query stands (one query per slot)`,
        batchId,
      );
  }

  private lost(problem: string, batchId?: number): void {
    const context = { source: this.name, ...(batchId === undefined ? {} : { batch: batchId }) };
    if (this.o.failOnDataLoss)
      throw externalError(
        'CDC_DATA_LOSS',
        `postgresCdcSource "${this.name}": changes were lost: ${problem}. Start the query on a new checkpoint (it reads from the slot's position), or set failOnDataLoss: false to go on with a warning`,
        { retryable: false, context },
      );
    this.ctx?.log.warn('postgres cdc: lost changes skipped (failOnDataLoss: false)', { ...context, problem });
  }

  /**
   * Peek the slot through a cursor, a page of fetchSize messages at a time: `upto` bounds the
   * LSN, `changes` the messages (pgoutput stops at the end of a transaction past it).
   */
  private async *pages(
    c: pg.PoolClient,
    upto: Lsn | null,
    changes: number | null,
  ): AsyncGenerator<{ lsn: string; data: Buffer }[]> {
    const lit = (s: string) => c.escapeLiteral(s);
    const sql =
      'DECLARE millrace_cdc NO SCROLL CURSOR FOR SELECT lsn::text AS lsn, data FROM ' +
      `pg_logical_slot_peek_binary_changes(${lit(this.o.slot)}, ${upto === null ? 'NULL' : `${lit(formatLsn(upto))}::pg_lsn`}, ` +
      `${changes === null ? 'NULL' : String(changes)}, 'proto_version', '1', 'publication_names', ${lit(c.escapeIdentifier(this.o.publication))})`;
    await c.query('BEGIN READ ONLY');
    let open = true;
    try {
      await c.query(sql);
      for (;;) {
        const r = await c.query<{ lsn: string; data: Buffer }>(`FETCH ${this.o.fetchSize} FROM millrace_cdc`);
        if (r.rows.length > 0) yield r.rows;
        if (r.rows.length < this.o.fetchSize) break;
      }
      await c.query('COMMIT');
      open = false;
    } finally {
      // An error, or a reader that stopped early: end the transaction (and the cursor) here.
      if (open) await c.query('ROLLBACK').catch(() => undefined);
    }
  }

  /** Events of a whole peek; returns the number of messages the server produced. */
  private async peek(
    c: pg.PoolClient,
    upto: Lsn | null,
    changes: number | null,
    onEvent: (e: ChangeEvent) => void,
  ): Promise<number> {
    const decoder = new PgoutputDecoder(this.o.publication);
    let messages = 0;
    for await (const page of this.pages(c, upto, changes)) {
      messages += page.length;
      for (const m of page) for (const e of decoder.decode(m.lsn, m.data)) onEvent(e);
    }
    return messages;
  }

  // ---------------------------------------------------------------- commit

  async commit(end: Offset): Promise<void> {
    const to = this.lsnOf(end, 'end')!;
    await this.step(`advancing the slot to ${formatLsn(to)}`, undefined, async (c) => {
      // Only forwards: after a restart the engine may commit an end the slot already passed.
      await c.query(
        `SELECT pg_replication_slot_advance(slot_name, $2::pg_lsn)
           FROM pg_replication_slots WHERE slot_name = $1 AND confirmed_flush_lsn < $2::pg_lsn`,
        [this.o.slot, formatLsn(to)],
      );
    });
  }

  async close(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    this.lookahead = null;
    if (p) await p.end().catch(() => undefined);
  }

  // ---------------------------------------------------------------- retries

  /**
   * Run `work` on a connection; a lost connection, a server restart or a slot held by another
   * backend (a killed query's backend still finishing its peek) is retried with backoff.
   */
  private async step<T>(
    doing: string,
    batchId: number | undefined,
    work: (c: pg.PoolClient) => Promise<T>,
  ): Promise<T> {
    const context = { source: this.name, ...(batchId === undefined ? {} : { batch: batchId }) };
    const started = Date.now();
    for (let retry = 0; ; retry++) {
      let client: pg.PoolClient | undefined;
      try {
        client = await this.connect();
        const value = await work(client);
        client.release();
        if (retry > 0) this.ctx?.reportWaiting?.(null);
        return value;
      } catch (e) {
        client?.release(e instanceof Error ? e : true);
        await this.retryOrThrow(e, retry, doing, context, started);
      }
    }
  }

  private connect(): Promise<pg.PoolClient> {
    if (!this.pool)
      throw new MillraceError('INTERNAL', `postgresCdcSource "${this.name}" was used before open()`, {
        domain: 'internal',
      });
    return this.pool.connect();
  }

  /** After a failed attempt: wait the backoff when it can pass (and retries are left), else throw what to do. */
  private async retryOrThrow(
    e: unknown,
    retry: number,
    doing: string,
    context: Record<string, unknown>,
    started: number,
  ): Promise<void> {
    if (e instanceof MillraceError) throw e;
    const err = asPgError(e);
    const busy = sqlState(err) === '55006';
    if (!busy && !isRetryable(e)) throw this.fatal(e, doing, context);
    if (retry >= this.o.maxRetries) {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (busy)
        throw cdcUserError(
          'CDC_SLOT_IN_USE',
          this.secrets.scrub(
            `postgresCdcSource "${this.name}": ${doing}: replication slot "${this.o.slot}" stayed in use by another connection for ${seconds} s (${err.message}). Only one reader per slot: stop the other reader, or end a leftover backend with SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '${this.o.slot}'`,
          ),
          context,
          e,
        );
      throw externalError(
        'CDC_UNAVAILABLE',
        this.secrets.scrub(
          `postgresCdcSource "${this.name}": ${doing} on ${this.where} failed after ${retry} retries over ${seconds} s: ${describePgError(err)}. Check that PostgreSQL is running and reachable; raise maxRetries/maxBackoffMs to wait longer. Restarting the query reads on from its checkpoint`,
        ),
        { retryable: true, context, cause: e },
      );
    }
    const delayMs = backoffMs(retry + 1, this.o);
    const waitingFor = busy ? `replication slot ${this.o.slot} (in use)` : `PostgreSQL at ${this.where}`;
    this.ctx?.reportWaiting?.(`${waitingFor}: ${this.secrets.scrub(err.message)}`);
    this.ctx?.log.warn('postgres cdc: transient failure, retrying', {
      ...context,
      retry: retry + 1,
      maxRetries: this.o.maxRetries,
      delayMs,
      waitingFor,
      error: this.secrets.scrub(err.message),
    });
    await sleep(delayMs);
  }

  private fatal(e: unknown, doing: string, context: Record<string, unknown>): MillraceError {
    const err = asPgError(e);
    const state = sqlState(err);
    let code = 'CDC_FAILED';
    let advice = 'see the server message above';
    if (/publication .* does not exist/i.test(err.message)) {
      code = 'CDC_PUBLICATION_MISSING';
      advice = `create the publication "${this.o.publication}" again (CREATE PUBLICATION … FOR TABLE …); restarting with createIfMissing creates it`;
    } else if (/wal_level/i.test(err.message)) {
      code = 'CDC_WAL_LEVEL';
      advice = 'set wal_level = logical and restart the server';
    } else if (
      state === '42501' ||
      /permission denied|must be superuser|replication role/i.test(err.message)
    ) {
      code = 'CDC_PERMISSION';
      advice =
        'the user needs the REPLICATION attribute (ALTER ROLE … REPLICATION) and, to create the publication, ownership of the tables (FOR ALL TABLES: superuser)';
    } else if (state === '28P01' || state === '28000') {
      advice = 'check the user name and password';
    }
    return new MillraceError(
      code,
      this.secrets.scrub(
        `postgresCdcSource "${this.name}": ${doing} on ${this.where} failed: ${describePgError(err)}; ${advice}`,
      ),
      { domain: code === 'CDC_FAILED' ? 'external' : 'user', context, cause: e },
    );
  }
}

/** A failure the user must act on (settings, names, a second reader), with its context and cause. */
function cdcUserError(
  code: string,
  message: string,
  context: Record<string, unknown>,
  cause?: unknown,
): MillraceError {
  return new MillraceError(code, message, { domain: 'user', context, cause });
}
