/**
 * One EventSource on /api/v1/events for the whole page, shared by every view.
 *
 *   EventSource ──event──▶ parse once (only types someone listens to) ──▶ handlers
 *       │ error: the browser reconnects by itself, sending Last-Event-ID; the server
 *       │        replays the events it kept (last 1,000)
 *       └ `ready` after a reconnect ──▶ 'resync' handlers: views re-read what they show,
 *                                       since more events may have been missed than kept
 */
import { storedToken } from './api.ts';

export type LiveStatus = 'connecting' | 'live' | 'reconnecting';
type Handler = (data: any, type: string) => void;

const TYPES = [
  'ready',
  'query.started',
  'query.progress',
  'query.terminated',
  'alert.fired',
  'alert.resolved',
  'dashboard.registered',
  'dashboard.rows',
  'dropped',
  'shutdown',
] as const;

export class LiveEvents {
  private source: EventSource | null = null;
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly statusHandlers = new Set<(s: LiveStatus) => void>();
  private readies = 0;
  private retry: number | undefined;
  status: LiveStatus = 'connecting';

  constructor(private readonly url = '/api/v1/events') {}

  connect(): void {
    if (this.source) return;
    // EventSource cannot send headers: a server that requires the token for reads takes ?token=.
    const token = storedToken();
    const es = new EventSource(token ? `${this.url}?token=${encodeURIComponent(token)}` : this.url);
    this.source = es;
    for (const type of TYPES) {
      es.addEventListener(type, (e) => this.dispatch(type, (e as MessageEvent<string>).data));
    }
    es.onerror = () => {
      this.setStatus('reconnecting');
      // CLOSED: the browser gave up (e.g. an HTTP error); try again ourselves.
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        this.source = null;
        window.clearTimeout(this.retry);
        this.retry = window.setTimeout(() => this.connect(), 3_000);
      }
    };
  }

  close(): void {
    this.source?.close();
    this.source = null;
    window.clearTimeout(this.retry);
  }

  /** Listen to event types ('resync' after a reconnect); returns the unsubscribe function. */
  on(types: string | readonly string[], handler: Handler): () => void {
    const list = typeof types === 'string' ? [types] : types;
    for (const t of list) {
      let set = this.handlers.get(t);
      if (!set) this.handlers.set(t, (set = new Set()));
      set.add(handler);
    }
    return () => {
      for (const t of list) this.handlers.get(t)?.delete(handler);
    };
  }

  onStatus(handler: (s: LiveStatus) => void): () => void {
    this.statusHandlers.add(handler);
    handler(this.status);
    return () => this.statusHandlers.delete(handler);
  }

  private setStatus(s: LiveStatus): void {
    if (this.status === s) return;
    this.status = s;
    for (const h of this.statusHandlers) h(s);
  }

  private dispatch(type: string, raw: string): void {
    if (type === 'ready') {
      this.setStatus('live');
      if (this.readies++ > 0) this.emit('resync', null);
      return;
    }
    if (type === 'shutdown' || type === 'dropped') this.setStatus('reconnecting');
    const set = this.handlers.get(type);
    if (!set || set.size === 0) return;
    let data: unknown;
    try {
      data = JSON.parse(raw);
    } catch {
      return;
    }
    this.emit(type, data);
  }

  private emit(type: string, data: unknown): void {
    for (const h of [...(this.handlers.get(type) ?? [])]) {
      try {
        h(data, type);
      } catch (e) {
        console.error(`a handler of ${type} failed`, e);
      }
    }
  }
}
