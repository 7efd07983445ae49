/**
 * `socketSource`: Spark's text socket source (`nc -lk 9999` on the other end).
 * It connects to `host:port` as a TCP client and turns every received line
 * (`\n` or `\r\n` terminated, UTF-8) into a row `{value}` (plus `timestamp`, the
 * time the line was received, with `includeTimestamp`).
 *
 * Unlike Spark's, it is fault-tolerant: every received line is appended to a
 * write-ahead log in `ctx.stateDir` and fsynced before it counts as available,
 * so the offset is the number of lines in the log, a batch is re-read from the
 * log on a replay, and no line made durable before a crash is lost. Lines are
 * written in the background as they arrive (group commit) and `latestOffset`
 * first waits for the lines received so far. `commit(end)` deletes log segments
 * entirely below `end`.
 *
 * The source reconnects with exponential backoff when the server is not there
 * yet or closes the connection; the connection state is reported in the batch
 * metrics. A last line without a newline is kept when the server closes the
 * connection cleanly, and dropped (with a warning) when the connection breaks.
 */
import * as net from 'node:net';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { ConnectorContext, Offset, ReadLimit, Source, SourceBatch } from '../contracts.ts';
import { externalError, userError } from '../../errors/index.ts';
import { type Schema, schema, t } from '../../schema/index.ts';
import { parseDuration } from '../../util/durations.ts';
import { LineWal } from './wal.ts';

export interface SocketSourceOptions {
  /** Unique within the query; default `socket`. */
  name?: string;
  host: string;
  port: number;
  /** Add a `timestamp` column: when the line was received. Default false. */
  includeTimestamp?: boolean;
  /** First reconnect delay (ms or "100 ms"); doubles up to maxReconnectDelay. Default 100 ms. */
  reconnectDelay?: number | string;
  /** Longest reconnect delay. Default 5 seconds. */
  maxReconnectDelay?: number | string;
  /** Lines per write-ahead log segment file. Default 10000. */
  segmentLines?: number;
}

export type SocketRow = { value: string };
export type SocketRowWithTimestamp = { value: string; timestamp: number };

export type SocketConnectionState = 'idle' | 'connecting' | 'connected' | 'disconnected' | 'closed';

/** Pause reading from the socket while this many received lines wait for the disk. */
const MAX_PENDING_LINES = 50_000;

export function socketSource(
  options: SocketSourceOptions & { includeTimestamp: true },
): Source<SocketRowWithTimestamp>;
export function socketSource(options: SocketSourceOptions): Source<SocketRow>;
export function socketSource(
  options: SocketSourceOptions,
): Source<SocketRow> | Source<SocketRowWithTimestamp> {
  return new SocketSource(validate(options));
}

interface ValidOptions {
  name: string;
  host: string;
  port: number;
  includeTimestamp: boolean;
  reconnectDelayMs: number;
  maxReconnectDelayMs: number;
  segmentLines: number;
}

function validate(options: SocketSourceOptions): ValidOptions {
  if (options === null || typeof options !== 'object') {
    throw userError(
      'INVALID_OPTION',
      `socketSource: expected an options object like { host: 'localhost', port: 9999 }, got ${String(options)}`,
    );
  }
  const name = options.name ?? 'socket';
  if (typeof name !== 'string' || name.trim() === '') {
    throw userError(
      'INVALID_OPTION',
      `socketSource: name ${JSON.stringify(name)} must be a non-empty string`,
    );
  }
  const what = `socketSource "${name}"`;
  const bad = (msg: string) => userError('INVALID_OPTION', `${what}: ${msg}`, { source: name });
  const { host, port } = options;
  if (typeof host !== 'string' || host.trim() === '') {
    throw bad(
      `host ${JSON.stringify(host)} must be a host name or address, e.g. { host: 'localhost', port: 9999 }`,
    );
  }
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw bad(`port ${JSON.stringify(port)} must be an integer from 1 to 65535`);
  }
  const includeTimestamp = options.includeTimestamp ?? false;
  if (typeof includeTimestamp !== 'boolean') {
    throw bad(`includeTimestamp ${JSON.stringify(includeTimestamp)} must be true or false`);
  }
  const reconnectDelayMs = parseDuration(options.reconnectDelay ?? 100, `${what}: reconnectDelay`);
  const maxReconnectDelayMs = parseDuration(options.maxReconnectDelay ?? 5000, `${what}: maxReconnectDelay`);
  if (reconnectDelayMs <= 0)
    throw bad(`reconnectDelay ${JSON.stringify(options.reconnectDelay)} must be more than 0`);
  if (maxReconnectDelayMs < reconnectDelayMs) {
    throw bad(
      `maxReconnectDelay (${maxReconnectDelayMs} ms) must be at least reconnectDelay (${reconnectDelayMs} ms)`,
    );
  }
  const segmentLines = options.segmentLines ?? 10_000;
  if (!Number.isSafeInteger(segmentLines) || segmentLines < 1) {
    throw bad(`segmentLines ${JSON.stringify(options.segmentLines)} must be a positive integer`);
  }
  return {
    name,
    host: host.trim(),
    port,
    includeTimestamp,
    reconnectDelayMs,
    maxReconnectDelayMs,
    segmentLines,
  };
}

/** A WAL record: `[receivedAtMs, "line"]` as JSON (JSON escapes control characters, so no raw newline). */
function encodeRecord(receivedAt: number, line: string): string {
  return JSON.stringify([receivedAt, line]);
}

function decodeRecord(record: string): [number, string] | undefined {
  try {
    const r = JSON.parse(record) as unknown;
    if (Array.isArray(r) && r.length === 2 && typeof r[0] === 'number' && typeof r[1] === 'string') {
      return r as [number, string];
    }
  } catch {
    // fall through
  }
  return undefined;
}

const isValidRecord = (record: string) => decodeRecord(record) !== undefined;

class SocketSource implements Source<any> {
  readonly name: string;
  readonly schema: Schema<any>;
  readonly replayable = true;

  private ctx: ConnectorContext | undefined;
  private wal: LineWal | undefined;
  private state: SocketConnectionState = 'idle';
  private socket: net.Socket | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  /** Received complete lines (encoded records) not yet in the WAL. */
  private pending: string[] = [];
  private flushChain: Promise<void> = Promise.resolve();
  private flushQueued = false;
  private paused = false;

  private connects = 0;
  private connectFailures = 0;
  private linesReceived = 0;
  private bytesReceived = 0;
  private droppedPartialLines = 0;
  private lastError: string | undefined;

  constructor(private readonly opts: ValidOptions) {
    this.name = opts.name;
    this.schema = opts.includeTimestamp
      ? schema({ value: t.string, timestamp: t.timestamp })
      : schema({ value: t.string });
  }

  describe(): string {
    return `TextSocketSource[${this.opts.host}:${this.opts.port}]`;
  }

  /** The current connection state (also in every batch's metrics). */
  get connectionState(): SocketConnectionState {
    return this.state;
  }

  private get what(): string {
    return `socket source "${this.name}"`;
  }

  async open(ctx: ConnectorContext): Promise<void> {
    this.ctx = ctx;
    this.wal = await LineWal.open(path.join(ctx.stateDir, 'wal'), {
      segmentLines: this.opts.segmentLines,
      log: ctx.log,
      isValidRecord,
      what: this.what,
    });
    ctx.log.info('socket source opened', {
      source: this.name,
      address: `${this.opts.host}:${this.opts.port}`,
      walLines: this.wal.count,
    });
    this.loop = this.connectLoop(ctx);
  }

  // ---- connection ---------------------------------------------------------

  private async connectLoop(ctx: ConnectorContext): Promise<void> {
    const signal = this.abort.signal;
    let delay = this.opts.reconnectDelayMs;
    let quiet = false;
    while (!signal.aborted) {
      this.state = 'connecting';
      const connected = await this.connectOnce(ctx, quiet);
      if (signal.aborted) break;
      this.state = 'disconnected';
      if (connected) {
        delay = this.opts.reconnectDelayMs;
        quiet = false;
      } else {
        this.connectFailures++;
        quiet = true; // warn once per outage, not at every attempt
      }
      ctx.log.debug('socket source: reconnecting', { source: this.name, delayMs: delay });
      await ctx.clock.sleepUntil(ctx.clock.now() + delay, signal);
      if (!connected) delay = Math.min(delay * 2, this.opts.maxReconnectDelayMs);
    }
    this.state = 'closed';
  }

  /** One connection's life; resolves when it closes, with whether it had connected. */
  private connectOnce(ctx: ConnectorContext, quiet: boolean): Promise<boolean> {
    return new Promise((resolve) => {
      const address = `${this.opts.host}:${this.opts.port}`;
      const decoder = new StringDecoder('utf8');
      let partial = '';
      let connected = false;
      let ended = false;
      const sock = net.connect({ host: this.opts.host, port: this.opts.port });
      this.socket = sock;
      if (this.paused) sock.pause();

      const onAbort = () => sock.destroy();
      this.abort.signal.addEventListener('abort', onAbort, { once: true });

      sock.on('connect', () => {
        connected = true;
        this.connects++;
        this.state = 'connected';
        this.lastError = undefined;
        ctx.log.info('socket source connected', { source: this.name, address });
      });
      sock.on('data', (chunk: Buffer) => {
        this.bytesReceived += chunk.length;
        partial += decoder.write(chunk);
        partial = this.takeLines(partial, ctx);
      });
      sock.on('end', () => {
        ended = true;
        partial += decoder.end();
        if (partial !== '') this.addLine(partial, ctx);
        partial = '';
      });
      sock.on('error', (err: Error) => {
        this.lastError = err.message;
        const fields = { source: this.name, address, error: err.message };
        if (connected || !quiet) ctx.log.warn('socket source: connection failed; will reconnect', fields);
        else ctx.log.debug('socket source: connection failed; will reconnect', fields);
      });
      sock.on('close', () => {
        this.abort.signal.removeEventListener('abort', onAbort);
        if (this.socket === sock) this.socket = undefined;
        if (!ended && partial + decoder.end() !== '') {
          this.droppedPartialLines++;
          ctx.log.warn('socket source: connection broke in the middle of a line; dropped the partial line', {
            source: this.name,
            address,
          });
        }
        if (connected && !this.abort.signal.aborted) {
          ctx.log.info('socket source: server closed the connection; will reconnect', {
            source: this.name,
            address,
          });
        }
        resolve(connected);
      });
    });
  }

  /** Take the complete lines out of `text`; return the unfinished rest. */
  private takeLines(text: string, ctx: ConnectorContext): string {
    let pos = 0;
    for (;;) {
      const nl = text.indexOf('\n', pos);
      if (nl < 0) break;
      this.addLine(text.slice(pos, nl), ctx);
      pos = nl + 1;
    }
    return pos === 0 ? text : text.slice(pos);
  }

  private addLine(line: string, ctx: ConnectorContext): void {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    this.pending.push(encodeRecord(ctx.clock.now(), line));
    this.linesReceived++;
    if (this.pending.length >= MAX_PENDING_LINES && !this.paused) {
      this.paused = true;
      this.socket?.pause();
    }
    this.scheduleFlush();
  }

  // ---- write-ahead log ----------------------------------------------------

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    this.flush().catch((e: unknown) => {
      this.ctx?.log.error('socket source: cannot write received lines to the write-ahead log', {
        source: this.name,
        error: (e as Error).message,
      });
    });
  }

  /** Make every line received so far durable (chained after any flush in flight: group commit). */
  private flush(): Promise<void> {
    const p = this.flushChain.then(() => this.flushNow());
    this.flushChain = p.catch(() => undefined);
    return p;
  }

  private async flushNow(): Promise<void> {
    this.flushQueued = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    await this.requireWal().append(batch);
    if (this.paused && this.pending.length < MAX_PENDING_LINES / 2) {
      this.paused = false;
      this.socket?.resume();
    }
  }

  private requireWal(): LineWal {
    if (!this.wal)
      throw userError('NOT_OPEN', `${this.what}: open() must be called before reading`, {
        source: this.name,
      });
    return this.wal;
  }

  private lineOffset(offset: Offset | null): number {
    if (offset === null) return 0;
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      throw userError(
        'INVALID_OFFSET',
        `${this.what}: offset ${JSON.stringify(offset)} is not a line count (a non-negative integer); was this checkpoint written for another source? Use a new checkpoint location.`,
        { source: this.name },
      );
    }
    return offset;
  }

  // ---- Source ---------------------------------------------------------------

  async latestOffset(start: Offset | null, _limit: ReadLimit): Promise<Offset | null> {
    const wal = this.requireWal();
    const from = this.lineOffset(start);
    await this.flush();
    const end = wal.count;
    if (end < from) {
      throw externalError(
        'SOCKET_WAL_ERROR',
        `${this.what}: the checkpoint is at line ${from} but the write-ahead log in ${path.join(this.ctx!.stateDir, 'wal')} ends at line ${end}; it was deleted or truncated. Use a new checkpoint location.`,
        { retryable: false, context: { source: this.name } },
      );
    }
    if (end === from) return start;
    return end;
  }

  async getBatch(
    start: Offset | null,
    end: Offset,
    _info: { readonly batchId: number },
  ): Promise<SourceBatch<any>> {
    const wal = this.requireWal();
    const from = this.lineOffset(start);
    const to = this.lineOffset(end);
    const records = await wal.read(from, to);
    const rows = new Array(records.length);
    for (let i = 0; i < records.length; i++) {
      const r = decodeRecord(records[i]!);
      if (!r) {
        throw externalError(
          'SOCKET_WAL_ERROR',
          `${this.what}: write-ahead log line ${from + i} is not a record: ${JSON.stringify(records[i]!.slice(0, 80))}; the log was changed outside Millrace. Use a new checkpoint location.`,
          { retryable: false, context: { source: this.name } },
        );
      }
      rows[i] = this.opts.includeTimestamp ? { value: r[1], timestamp: r[0] } : { value: r[1] };
    }
    return { rows, metrics: this.metrics() };
  }

  /** Connection and write-ahead log figures. */
  metrics(): Record<string, number | string> {
    const m: Record<string, number | string> = {
      connectionState: this.state,
      connects: this.connects,
      connectFailures: this.connectFailures,
      linesReceived: this.linesReceived,
      bytesReceived: this.bytesReceived,
      pendingLines: this.pending.length,
      droppedPartialLines: this.droppedPartialLines,
      walLines: this.wal?.count ?? 0,
      walFirstLine: this.wal?.firstLine ?? 0,
      walSegments: this.wal?.segmentCount ?? 0,
    };
    if (this.lastError !== undefined) m.lastError = this.lastError;
    return m;
  }

  async commit(end: Offset): Promise<void> {
    const upTo = this.lineOffset(end);
    await this.requireWal().release(upTo);
  }

  reportLatestOffset(): Offset | null {
    return this.wal ? this.wal.count : null;
  }

  async close(): Promise<void> {
    this.abort.abort();
    this.socket?.destroy();
    await this.loop;
    this.state = 'closed';
    if (this.wal) {
      // Lines already received become available to the next run.
      try {
        await this.flush();
      } catch {
        // already logged; the lines that were not written are lost like any in-flight network data
      }
      await this.wal.close();
    }
  }
}
