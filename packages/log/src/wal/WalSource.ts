/**
 * A Source over a broker that cannot replay (RabbitMQ, MQTT): a `Receiver`
 * (the broker client) hands over messages; each is made durable in the
 * write-ahead log (MessageWal, in ctx.stateDir) before the receiver
 * acknowledges it to the broker. The WAL offset is the source's offset, so a
 * batch is a range of WAL offsets and replays exactly.
 *
 *   receiver.deliver(m) ─► dedup check ─► queue ─► flush loop: append (fsync)
 *                                                     └─► receiver.acknowledge(flushed, in order)
 *   latestOffset  = WAL high (≤ maxOffsetsPerTrigger more)    getBatch: read WAL [start, end)
 *   commit(end)   = release WAL records below min(end, high − dedupWindow)
 *
 * Duplicates. A crash between the fsync and the acknowledgement makes the
 * broker deliver the message again. Receivers give such messages a
 * `dedupKey` (RabbitMQ: the message id; MQTT: packet id + payload digest of a
 * re-sent PUBLISH); the keys of the last `dedupWindow` WAL records are kept in
 * memory (rebuilt from the WAL's tail, which is never released, on open), and
 * a message whose key is among them is acknowledged without being logged.
 */
import {
  collectBatch,
  MillraceError,
  type ChunkedBatch,
  type ConnectorContext,
  type Offset,
  type ReadLimit,
  type Schema,
  type Source,
  type SourceBatch,
} from 'millrace';
import { externalError, internalError, quote } from '../errors.ts';
import { MessageWal, type WalEntry } from './MessageWal.ts';
import type { RowBuilder } from './walRows.ts';

/** A message as a receiver hands it over. */
export interface IncomingMessage extends WalEntry {
  /** Identity for duplicate detection; stored with the record. */
  readonly dedupKey?: string;
  /** Check `dedupKey` against the recent records (false: record the key only). */
  readonly checkDuplicate: boolean;
  /** The receiver's own handle (channel and delivery tag, an MQTT ack callback). */
  readonly handle: unknown;
}

/** The broker side of a WalSource. */
export interface Receiver {
  /** Connect and start consuming; resolves once consuming (rejects when the first connection fails). */
  start(deliver: (m: IncomingMessage) => void, ctx: ConnectorContext): Promise<void>;
  /** The messages are durable (or dropped as duplicates): acknowledge them. In delivery order. */
  acknowledge(messages: readonly IncomingMessage[]): void;
  /** Stop receiving new messages (unacknowledged ones go back to the broker). */
  stop(): Promise<void>;
  close(): Promise<void>;
  /** Connection state and counters, for progress. Never secrets. */
  status(): Record<string, number | string>;
}

export interface WalSourceSettings {
  readonly name: string;
  readonly what: string;
  readonly rows: RowBuilder;
  readonly maxOffsetsPerTrigger: number | undefined;
  readonly dedupWindow: number;
  readonly chunkRecords: number;
  readonly describe: string;
  readonly errorPrefix: string;
}

/** Header of a WAL record holding its dedup key. */
export const DEDUP_HEADER = 'dk';

export class WalSource<R> implements Source<R> {
  readonly name: string;
  readonly schema: Schema<R>;
  /** Replayable through the WAL (the broker itself is not). */
  readonly replayable = true;

  private ctx: ConnectorContext | undefined;
  private wal: MessageWal | undefined;
  private queue: IncomingMessage[] = [];
  private duplicates: boolean[] = [];
  private flushing: Promise<void> | undefined;
  private broken: MillraceError | undefined;
  private recent = new Set<string>();
  private recentOrder: string[] = [];
  private recentHead = 0;
  private availableNowTarget: number | undefined;
  private counts = { received: 0, duplicatesDropped: 0 };

  constructor(
    private readonly settings: WalSourceSettings,
    private readonly receiver: Receiver,
  ) {
    this.name = settings.name;
    this.schema = settings.rows.schema as Schema<R>;
  }

  describe(): string {
    return this.settings.describe;
  }

  async open(ctx: ConnectorContext): Promise<void> {
    this.ctx = ctx;
    this.broken = undefined;
    this.availableNowTarget = undefined;
    try {
      this.wal = await MessageWal.open(ctx.stateDir, ctx.log);
    } catch (e) {
      throw this.walError('cannot open the write-ahead log', e);
    }
    await this.loadRecentKeys();
    try {
      await this.receiver.start((m) => this.deliver(m), ctx);
    } catch (e) {
      await this.wal.close();
      this.wal = undefined;
      throw e;
    }
  }

  /** The dedup keys of the WAL's last `dedupWindow` records. */
  private async loadRecentKeys(): Promise<void> {
    this.recent.clear();
    this.recentOrder = [];
    this.recentHead = 0;
    const wal = this.wal!;
    const high = wal.high;
    const from = Math.max(wal.low, high - this.settings.dedupWindow);
    for await (const chunk of wal.read(from, high, 10_000)) {
      for (const r of chunk) {
        const k = r.headers?.[DEDUP_HEADER];
        if (k !== undefined) this.remember(k);
      }
    }
  }

  private remember(key: string): void {
    this.recent.add(key);
    this.recentOrder.push(key);
    if (this.recentOrder.length - this.recentHead > this.settings.dedupWindow) {
      this.recent.delete(this.recentOrder[this.recentHead++]!);
      if (this.recentHead > 65_536) {
        this.recentOrder = this.recentOrder.slice(this.recentHead);
        this.recentHead = 0;
      }
    }
  }

  private deliver(m: IncomingMessage): void {
    // A broken or closed source acknowledges nothing more: the broker keeps the message.
    if (this.broken || !this.wal) return;
    let duplicate = false;
    if (m.dedupKey !== undefined) {
      if (m.checkDuplicate && this.recent.has(m.dedupKey)) duplicate = true;
      else this.remember(m.dedupKey);
    }
    this.queue.push(m);
    this.duplicates.push(duplicate);
    this.flushing ??= this.flushLoop().finally(() => (this.flushing = undefined));
  }

  /** Group commit: whatever queued while the previous append was on its way goes in the next one. */
  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0 && !this.broken && this.wal) {
      const batch = this.queue;
      const dup = this.duplicates;
      this.queue = [];
      this.duplicates = [];
      const entries: WalEntry[] = [];
      for (let i = 0; i < batch.length; i++) {
        if (dup[i]) {
          this.counts.duplicatesDropped++;
          continue;
        }
        const m = batch[i]!;
        entries.push(
          m.dedupKey === undefined
            ? m
            : { value: m.value, key: m.key, meta: { ...m.meta, [DEDUP_HEADER]: m.dedupKey } },
        );
      }
      try {
        await this.wal.append(entries);
      } catch (e) {
        this.broken = this.walError('cannot write the write-ahead log', e);
        this.ctx?.log.error(
          `${this.settings.errorPrefix}: the write-ahead log failed; nothing more is acknowledged`,
          {
            source: this.name,
            error: this.broken.message,
          },
        );
        return;
      }
      this.counts.received += entries.length;
      this.receiver.acknowledge(batch);
    }
  }

  private walError(what: string, e: unknown): MillraceError {
    return externalError(
      'WAL_ERROR',
      `${this.settings.errorPrefix}: ${what} in ${this.ctx?.stateDir ?? '?'}: ${(e as Error).message}. ` +
        'Check the disk of the checkpoint location; unacknowledged messages stay with the broker',
      { cause: e, retryable: false, context: { source: this.name } },
    );
  }

  private requireWal(): MessageWal {
    if (this.broken) throw this.broken;
    if (!this.wal)
      throw internalError(`${this.settings.errorPrefix} used before open()`, { source: this.name });
    return this.wal;
  }

  private parse(o: Offset | null, what: string): number | null {
    if (o === null) return null;
    if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0) {
      throw internalError(
        `${this.settings.errorPrefix}: the ${what} offset ${quote(o)} is not a write-ahead log offset (a whole number); the checkpoint does not belong to this source`,
        { source: this.name },
      );
    }
    return o;
  }

  async latestOffset(start: Offset | null, limit: ReadLimit): Promise<Offset | null> {
    const wal = this.requireWal();
    const from = this.parse(start, 'start') ?? 0;
    let to = wal.high;
    if (this.availableNowTarget !== undefined) to = Math.min(to, this.availableNowTarget);
    if (limit.kind === 'default' && this.settings.maxOffsetsPerTrigger !== undefined)
      to = Math.min(to, from + this.settings.maxOffsetsPerTrigger);
    if (to <= from) return start;
    return to;
  }

  async prepareForAvailableNow(): Promise<void> {
    this.availableNowTarget = this.requireWal().high;
  }

  reportLatestOffset(): Offset | null {
    if (!this.wal || this.broken) return null;
    try {
      return this.wal.high;
    } catch {
      return null;
    }
  }

  async getBatch(
    start: Offset | null,
    end: Offset,
    info: { readonly batchId: number },
  ): Promise<SourceBatch<R>> {
    return collectBatch(this.getBatchChunks(start, end, info));
  }

  getBatchChunks(start: Offset | null, end: Offset, info: { readonly batchId: number }): ChunkedBatch<R> {
    const from = this.parse(start, 'start') ?? 0;
    const to = this.parse(end, 'end');
    if (to === null)
      throw internalError(`${this.settings.errorPrefix}: no end offset`, { source: this.name });
    let malformed = 0;
    const it = this.readRange(from, to, info.batchId, (n) => (malformed = n));
    return Object.assign(it, {
      summary: () => ({ malformedRows: malformed, metrics: this.metrics(to) }),
    });
  }

  private async *readRange(
    from: number,
    to: number,
    batchId: number,
    done: (malformed: number) => void,
  ): AsyncGenerator<R[]> {
    const rows = this.settings.rows;
    const wal = this.requireWal();
    rows.takeCounts();
    let next = from;
    for await (const chunk of wal.read(from, to, this.settings.chunkRecords)) {
      if (chunk.length > 0 && chunk[0]!.offset !== next) this.lost(batchId, next, chunk[0]!.offset);
      const out: R[] = [];
      for (const r of chunk) {
        const row = rows.build(r);
        if (row !== undefined) out.push(row as R);
      }
      next = chunk[chunk.length - 1]!.offset + 1;
      if (out.length) yield out;
    }
    if (next < to) this.lost(batchId, next, to);
    // As the other message sources: the count is of records left out (dropMalformed).
    done(rows.takeCounts().dropped);
  }

  private lost(batchId: number, from: number, to: number): never {
    throw externalError(
      'DATA_LOSS',
      `${this.settings.errorPrefix}: batch ${batchId} needs write-ahead log offsets ${from}–${to - 1}, but they are gone. ` +
        'The checkpoint and its write-ahead log do not match (was the checkpoint copied or partly restored?); restore the whole checkpoint directory, or start with a new one',
      { retryable: false, context: { source: this.name, batch: batchId } },
    );
  }

  private metrics(end: number): Record<string, number | string> {
    const wal = this.wal;
    const high = wal ? wal.high : end;
    return {
      ...this.receiver.status(),
      messagesLogged: this.counts.received,
      duplicatesDropped: this.counts.duplicatesDropped,
      walRecords: wal ? high - wal.low : 0,
      offsetsBehindLatest: Math.max(0, high - end),
    };
  }

  async commit(end: Offset): Promise<void> {
    const e = this.parse(end, 'end');
    const wal = this.requireWal();
    if (e === null) return;
    try {
      await wal.release(Math.min(e, wal.high - this.settings.dedupWindow));
    } catch (err) {
      // Not fatal: the records stay and are released by a later commit.
      this.ctx?.log.warn(`${this.settings.errorPrefix}: could not release write-ahead log records`, {
        source: this.name,
        error: (err as Error).message,
      });
    }
  }

  async close(): Promise<void> {
    try {
      await this.receiver.stop();
      await this.flushing;
    } finally {
      await this.receiver.close();
      const wal = this.wal;
      this.wal = undefined;
      await wal?.close();
      this.ctx = undefined;
    }
  }
}
