/**
 * Lists a session's active queries and tells listeners when queries start,
 * make progress and end (Spark's StreamingQueryManager + StreamingQueryListener).
 * A listener that throws is logged and never affects the query.
 */
import type { MillraceError } from '../errors/index.ts';
import type { Logger } from '../util/logger.ts';
import type { StreamingQueryProgress } from './progress.ts';
import type { StreamingQuery } from './StreamingQuery.ts';

export interface QueryStartedEvent {
  readonly id: string;
  readonly runId: string;
  readonly name: string;
  readonly timestamp: string;
}
export interface QueryProgressEvent {
  readonly progress: StreamingQueryProgress;
}
export interface QueryTerminatedEvent {
  readonly id: string;
  readonly runId: string;
  readonly name: string;
  readonly exception: MillraceError | null;
}

export interface StreamingQueryListener {
  onQueryStarted?(event: QueryStartedEvent): void;
  onQueryProgress?(event: QueryProgressEvent): void;
  onQueryTerminated?(event: QueryTerminatedEvent): void;
}

export class StreamingQueryManager {
  private readonly queries = new Set<StreamingQuery>();
  private readonly listeners = new Set<StreamingQueryListener>();
  private terminatedWaiters: (() => void)[] = [];
  private lastTerminated: StreamingQuery | null = null;

  constructor(private readonly log: Logger) {}

  get active(): StreamingQuery[] {
    return [...this.queries].filter((q) => q.isActive);
  }

  /** An active query by id or name. */
  get(idOrName: string): StreamingQuery | undefined {
    return this.active.find((q) => q.id === idOrName || q.name === idOrName);
  }

  addListener(listener: StreamingQueryListener): void {
    this.listeners.add(listener);
  }

  removeListener(listener: StreamingQueryListener): void {
    this.listeners.delete(listener);
  }

  /** Resolves when any query ends (rejects with its failure), or with false after a timeout. */
  async awaitAnyTermination(timeoutMs?: number): Promise<boolean> {
    if (!this.lastTerminated) {
      const ended = new Promise<void>((r) => this.terminatedWaiters.push(r));
      if (timeoutMs === undefined) await ended;
      else {
        let timer: NodeJS.Timeout | undefined;
        const ok = await Promise.race([
          ended.then(() => true),
          new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
        ]);
        clearTimeout(timer);
        if (!ok) return false;
      }
    }
    const failure = this.lastTerminated?.exception;
    if (failure) throw failure;
    return true;
  }

  /** Forget past terminations so awaitAnyTermination waits for a new one. */
  resetTerminated(): void {
    this.lastTerminated = null;
  }

  /** Stop every active query. */
  async stopAll(): Promise<void> {
    await Promise.all(this.active.map((q) => q.stop()));
  }

  /** @internal */
  register(q: StreamingQuery): void {
    this.queries.add(q);
  }

  /** @internal — a query that never started leaves without events. */
  forget(q: StreamingQuery): void {
    this.queries.delete(q);
  }

  /** @internal */
  notifyStarted(e: QueryStartedEvent): void {
    this.each((l) => l.onQueryStarted?.(e));
  }
  /** @internal */
  notifyProgress(e: QueryProgressEvent): void {
    this.each((l) => l.onQueryProgress?.(e));
  }
  /** @internal */
  notifyTerminated(q: StreamingQuery, e: QueryTerminatedEvent): void {
    this.queries.delete(q);
    this.lastTerminated = q;
    const waiters = this.terminatedWaiters;
    this.terminatedWaiters = [];
    for (const w of waiters) w();
    this.each((l) => l.onQueryTerminated?.(e));
  }

  private each(fn: (l: StreamingQueryListener) => void): void {
    for (const l of this.listeners) {
      try {
        fn(l);
      } catch (err) {
        this.log.warn('a query listener threw; ignored', { error: String(err) });
      }
    }
  }
}
