/**
 * Live events for the UI as server-sent events (GET /api/v1/events).
 *
 *   publish(type, data) ─▶ one frame, serialized once ─▶ replay ring (last N, for Last-Event-ID)
 *                                                     └▶ every client: write, or queue while the
 *                                                        socket is congested (bounded per client)
 *
 * Publishing never waits for a client: a client whose queue passes
 * `maxBufferedEvents` or `maxBufferedBytes` gets a final `dropped` event and is
 * disconnected (it may reconnect with Last-Event-ID and catch up from the
 * replay ring). Frames:
 *
 *   id: 42\nevent: query.progress\ndata: {...}\n\n      (events that are kept for replay)
 *   event: heartbeat\ndata: {"time":"…"}\n\n            (every heartbeatMs; also `ready`, `dropped`, `shutdown`)
 */
import type { ServerResponse } from 'node:http';
import { RingBuffer } from '../util/RingBuffer.ts';

export type ServiceEventType =
  | 'query.started'
  | 'query.progress'
  | 'query.terminated'
  | 'alert.fired'
  | 'alert.resolved'
  | 'dashboard.registered'
  | 'dashboard.rows';

export const SERVICE_EVENT_TYPES: readonly ServiceEventType[] = [
  'query.started',
  'query.progress',
  'query.terminated',
  'alert.fired',
  'alert.resolved',
  'dashboard.registered',
  'dashboard.rows',
];

export interface EventHubOptions {
  /** Interval of `heartbeat` events (default 15 s). */
  readonly heartbeatMs?: number;
  /** Events queued for one congested client before it is dropped (default 1,000). */
  readonly maxBufferedEvents?: number;
  /** Bytes queued for one congested client before it is dropped (default 4 MiB). */
  readonly maxBufferedBytes?: number;
  /** Events kept for clients that reconnect with Last-Event-ID (default 1,000). */
  readonly replaySize?: number;
  readonly onClients?: (count: number) => void;
  readonly onDropped?: () => void;
}

interface Frame {
  readonly id: number;
  readonly type: string;
  readonly text: string;
}

function frame(event: string, data: unknown, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

class SseClient {
  private queue: string[] = [];
  private queuedBytes = 0;
  private congested = false;
  closed = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly accepts: (type: string) => boolean,
    private readonly limits: { events: number; bytes: number },
    private readonly onDrop: (c: SseClient) => void,
  ) {}

  wants(type: string): boolean {
    return this.accepts(type);
  }

  send(text: string): void {
    if (this.closed) return;
    if (this.congested) {
      this.queue.push(text);
      this.queuedBytes += text.length;
      if (this.queue.length > this.limits.events || this.queuedBytes > this.limits.bytes) this.drop();
      return;
    }
    if (!this.res.write(text)) this.waitForDrain();
  }

  private waitForDrain(): void {
    this.congested = true;
    this.res.once('drain', () => this.flush());
  }

  private flush(): void {
    this.congested = false;
    while (this.queue.length > 0 && !this.closed) {
      const text = this.queue.shift()!;
      this.queuedBytes -= text.length;
      if (!this.res.write(text)) return this.waitForDrain();
    }
  }

  private drop(): void {
    const buffered = this.queue.length;
    this.queue = [];
    this.queuedBytes = 0;
    this.end(frame('dropped', { reason: 'the client did not keep up with the event stream', buffered }));
    this.onDrop(this);
  }

  end(last?: string): void {
    if (this.closed) return;
    this.closed = true;
    const socket = this.res.socket;
    try {
      if (last) this.res.write(last);
      this.res.end();
      // Close the connection too (not kept alive): the client reconnects if it wants more.
      socket?.end();
    } catch {
      // the socket is gone already
    }
    // A client that stopped reading never lets end() complete: free the socket anyway.
    setTimeout(() => socket?.destroy(), 10_000).unref();
  }
}

export class EventHub {
  private readonly clients = new Set<SseClient>();
  private readonly replay: RingBuffer<Frame>;
  private nextId = 1;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly limits: { events: number; bytes: number };

  constructor(private readonly options: EventHubOptions = {}) {
    this.replay = new RingBuffer(options.replaySize ?? 1_000);
    this.limits = { events: options.maxBufferedEvents ?? 1_000, bytes: options.maxBufferedBytes ?? 4 << 20 };
    this.heartbeat = setInterval(() => this.beat(), options.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** The id the next event will get minus one (what a client that saw everything has seen). */
  get lastEventId(): number {
    return this.nextId - 1;
  }

  publish(type: ServiceEventType, data: unknown): void {
    const id = this.nextId++;
    const text = frame(type, data, id);
    this.replay.push({ id, type, text });
    for (const c of this.clients) if (c.wants(type)) c.send(text);
  }

  /**
   * Stream events to `res` (headers are written here). `types`: event-type
   * prefixes to receive (e.g. ['query', 'alert.fired']); all when empty.
   * `lastEventId`: replay kept events after it first.
   */
  connect(res: ServerResponse, options: { types?: readonly string[]; lastEventId?: number } = {}): void {
    const types = (options.types ?? []).filter((t) => t.length > 0);
    const accepts = (type: string) =>
      types.length === 0 || types.some((p) => type === p || type.startsWith(`${p}.`));
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders?.();
    const client = new SseClient(res, accepts, this.limits, (c) => {
      this.remove(c);
      this.options.onDropped?.();
    });
    this.clients.add(client);
    this.options.onClients?.(this.clients.size);
    res.on('close', () => {
      client.closed = true;
      this.remove(client);
    });
    client.send(frame('ready', { lastEventId: this.lastEventId, serverTime: new Date().toISOString() }));
    if (options.lastEventId !== undefined) {
      for (const f of this.replay.toArray()) {
        if (f.id > options.lastEventId && accepts(f.type)) client.send(f.text);
      }
    }
  }

  private remove(c: SseClient): void {
    if (this.clients.delete(c)) this.options.onClients?.(this.clients.size);
  }

  private beat(): void {
    const text = frame('heartbeat', { time: new Date().toISOString() });
    for (const c of this.clients) c.send(text);
  }

  /** End every stream with a `shutdown` event and stop the heartbeat. */
  close(): void {
    clearInterval(this.heartbeat);
    const text = frame('shutdown', { reason: 'the server is shutting down' });
    for (const c of [...this.clients]) {
      c.end(text);
      this.remove(c);
    }
  }
}
