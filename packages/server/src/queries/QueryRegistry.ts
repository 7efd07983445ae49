/**
 * What the service knows about queries: every query of the attached sessions
 * (found through the sessions' query listeners), its runs, its progress
 * history (bounded), its failure, and — for queries started through the
 * service (`ctx.start`) — what is needed to start it again.
 *
 *   session.streams listener ──started──▶ entry (by query id; a restart from the same
 *                            ──progress─▶   checkpoint is the same id: same entry, new runId)
 *                            ──terminated▶ health stopped | failed
 *
 * Memory is bounded: `historySize` summaries and `fullProgressRetained` full
 * records per query, and at most `maxTerminatedQueries` ended queries.
 */
import type {
  MillraceError,
  Session,
  Sink,
  StreamingQuery,
  StreamingQueryListener,
  StreamingQueryProgress,
  Trigger,
} from 'millrace';
import type { Clock } from 'millrace';
import type { Redactor } from '../redact.ts';
import { RingBuffer } from '../util/RingBuffer.ts';
import { userError } from '../util/errors.ts';
import { ProgressHistory, type HistoryEntry } from './ProgressHistory.ts';
import { lagOf, sourceLag } from './lag.ts';

export type QueryHealth = 'active' | 'failed' | 'stopped';
/** Why a query is not active: it ended by itself, it was stopped through the service, or it failed. */
export type EndReason = 'finished' | 'stopped' | 'failed';

export interface QueryFailure {
  readonly code: string;
  readonly message: string;
  readonly domain: string;
  readonly retryable: boolean;
  readonly context: Record<string, unknown>;
}

/** What the service holds to start a query again (queries started through `service.startQuery`). */
export interface RestartHandle {
  readonly session: Session;
  /** The sink as the user gave it (a memory sink's rows are served from it). */
  readonly sink: Sink;
  readonly trigger: Trigger;
  readonly checkpointLocation: string | undefined;
  start(): Promise<StreamingQuery>;
}

export interface QueryEntry {
  readonly id: string;
  name: string;
  runId: string;
  session: Session | null;
  query: StreamingQuery | null;
  handle: RestartHandle | null;
  startedAtMs: number;
  terminatedAtMs: number | null;
  health: QueryHealth;
  endReason: EndReason | null;
  failure: QueryFailure | null;
  /** Set when the service was asked to stop it (API, CLI, shutdown). */
  stopRequested: boolean;
  restarting: boolean;
  runs: number;
  failures: number;
  explain: string;
  readonly history: ProgressHistory;
  readonly recent: RingBuffer<StreamingQueryProgress>;
  totalInputRows: number;
  totalOutputRows: number;
}

export interface QueryRegistryObserver {
  started(entry: QueryEntry): void;
  /** `progress` is already redacted. */
  progress(entry: QueryEntry, progress: StreamingQueryProgress): void;
  terminated(entry: QueryEntry): void;
  evicted(entry: QueryEntry): void;
}

export interface QueryRegistryOptions {
  readonly redactor: Redactor;
  readonly clock: Clock;
  readonly observer: QueryRegistryObserver;
  /** Progress summaries kept per query (default 10,000). */
  readonly historySize?: number;
  /** Full progress records kept per query (default 100). */
  readonly fullProgressRetained?: number;
  /** Ended queries remembered (default 100); the oldest are forgotten first. */
  readonly maxTerminatedQueries?: number;
}

export class QueryRegistry {
  private readonly entries = new Map<string, QueryEntry>();
  private readonly listeners = new Map<Session, StreamingQueryListener>();
  readonly historySize: number;
  private readonly fullProgressRetained: number;
  private readonly maxTerminated: number;

  constructor(private readonly options: QueryRegistryOptions) {
    this.historySize = options.historySize ?? 10_000;
    this.fullProgressRetained = options.fullProgressRetained ?? 100;
    this.maxTerminated = options.maxTerminatedQueries ?? 100;
  }

  /** Watch a session's queries (those already active too). */
  attach(session: Session): void {
    if (this.listeners.has(session)) return;
    const listener: StreamingQueryListener = {
      onQueryStarted: (e) => this.onStarted(session, e.id),
      onQueryProgress: (e) => this.recordProgress(e.progress),
      onQueryTerminated: (e) => this.onTerminated(e.id, e.runId, e.exception),
    };
    session.streams.addListener(listener);
    this.listeners.set(session, listener);
    for (const q of session.streams.active) if (q.id) this.onStarted(session, q.id);
  }

  detach(session: Session): void {
    const l = this.listeners.get(session);
    if (l) session.streams.removeListener(l);
    this.listeners.delete(session);
  }

  get sessions(): Session[] {
    return [...this.listeners.keys()];
  }

  /** Every known query: active ones first, then by start time (newest first). */
  list(): QueryEntry[] {
    return [...this.entries.values()].sort(
      (a, b) =>
        Number(b.health === 'active') - Number(a.health === 'active') || b.startedAtMs - a.startedAtMs,
    );
  }

  /** A query by id, or by name (the active one, else the most recently started). */
  find(idOrName: string): QueryEntry | undefined {
    const byId = this.entries.get(idOrName);
    if (byId) return byId;
    let best: QueryEntry | undefined;
    for (const e of this.entries.values()) {
      if (e.name !== idOrName) continue;
      if (
        !best ||
        Number(e.health === 'active') > Number(best.health === 'active') ||
        (e.health === best.health && e.startedAtMs > best.startedAtMs)
      )
        best = e;
    }
    return best;
  }

  /** Like find(), but a MillraceError (code QUERY_NOT_FOUND) when there is none. */
  get(idOrName: string): QueryEntry {
    const e = this.find(idOrName);
    if (!e) {
      const known = [...this.entries.values()].map((x) => x.name);
      throw userError(
        'QUERY_NOT_FOUND',
        `no query with id or name "${idOrName}"` +
          (known.length ? `; known queries: ${known.slice(0, 20).join(', ')}` : '; no query has started yet'),
      );
    }
    return e;
  }

  /** Remember how to start `query` again (called by service.startQuery once start() resolved). */
  bindHandle(query: StreamingQuery, handle: RestartHandle): void {
    const e = this.entries.get(query.id);
    if (e) e.handle = handle;
  }

  private newEntry(id: string, name: string, runId: string): QueryEntry {
    return {
      id,
      name,
      runId,
      session: null,
      query: null,
      handle: null,
      startedAtMs: this.options.clock.now(),
      terminatedAtMs: null,
      health: 'active',
      endReason: null,
      failure: null,
      stopRequested: false,
      restarting: false,
      runs: 0,
      failures: 0,
      explain: '',
      history: new ProgressHistory(this.historySize),
      recent: new RingBuffer(this.fullProgressRetained),
      totalInputRows: 0,
      totalOutputRows: 0,
    };
  }

  private onStarted(session: Session, id: string): void {
    const q = session.streams.get(id);
    if (!q) return; // ended already; its terminated event follows
    let e = this.entries.get(id);
    if (!e) {
      e = this.newEntry(id, q.name, q.runId);
      this.entries.set(id, e);
    }
    e.name = q.name;
    e.runId = q.runId;
    e.session = session;
    e.query = q;
    e.health = 'active';
    e.endReason = null;
    e.failure = null;
    e.stopRequested = false;
    e.startedAtMs = this.options.clock.now();
    e.terminatedAtMs = null;
    e.runs++;
    e.explain = this.options.redactor.text(q.explain());
    this.options.observer.started(e);
  }

  /**
   * Record one batch's progress (the session listener calls this; tests may feed
   * synthetic progress). A query seen only through its progress gets an entry.
   */
  recordProgress(progress: StreamingQueryProgress): void {
    let e = this.entries.get(progress.id);
    if (!e) {
      e = this.newEntry(progress.id, progress.name, progress.runId);
      e.runs = 1;
      this.entries.set(progress.id, e);
    }
    const p = this.options.redactor.redact(progress);
    e.history.add(p);
    e.recent.push(p);
    e.totalInputRows += p.numInputRows;
    e.totalOutputRows += p.sink?.numOutputRows ?? 0;
    this.options.observer.progress(e, p);
  }

  private onTerminated(id: string, runId: string, exception: MillraceError | null): void {
    const e = this.entries.get(id);
    if (!e || e.runId !== runId) return;
    e.terminatedAtMs = this.options.clock.now();
    if (exception) {
      e.health = 'failed';
      e.endReason = 'failed';
      e.failures++;
      e.failure = this.options.redactor.redact({
        code: exception.code,
        message: exception.message,
        domain: exception.domain,
        retryable: exception.retryable,
        context: { ...exception.context },
      });
    } else {
      e.health = 'stopped';
      e.endReason = e.stopRequested ? 'stopped' : 'finished';
    }
    this.options.observer.terminated(e);
    this.evictOld();
  }

  private evictOld(): void {
    const ended = [...this.entries.values()]
      .filter((e) => e.health !== 'active')
      .sort((a, b) => (a.terminatedAtMs ?? 0) - (b.terminatedAtMs ?? 0));
    while (ended.length > this.maxTerminated) {
      const e = ended.shift()!;
      this.entries.delete(e.id);
      this.options.observer.evicted(e);
    }
  }

  /**
   * Stop an active query (finishing its batch unless `abandonCurrentBatch`).
   * Resolves to whether it ended within `waitMs`.
   */
  async stop(
    idOrName: string,
    options: { abandonCurrentBatch?: boolean; waitMs?: number } = {},
  ): Promise<boolean> {
    const e = this.get(idOrName);
    if (e.health !== 'active' || !e.query) {
      throw userError(
        'QUERY_NOT_ACTIVE',
        `query "${e.name}" is not running (it is ${e.health}); nothing to stop`,
      );
    }
    e.stopRequested = true;
    const done = e.query.stop({ abandonCurrentBatch: options.abandonCurrentBatch ?? false });
    return waitUpTo(done, options.waitMs ?? 10_000);
  }

  /** Start a query again from its checkpoint (stopping it first if it runs). */
  async restart(idOrName: string): Promise<QueryEntry> {
    const e = this.get(idOrName);
    if (!e.handle) {
      throw userError(
        'QUERY_NOT_RESTARTABLE',
        `query "${e.name}" was not started through the service (ctx.start / service.startQuery), so the ` +
          `service does not hold its plan and sink; restart the process that runs it instead`,
      );
    }
    if (e.handle.checkpointLocation === undefined) {
      throw userError(
        'QUERY_NOT_RESTARTABLE',
        `query "${e.name}" has no checkpointLocation: it ran on a temporary checkpoint that is gone, so it ` +
          `cannot resume; give it a checkpointLocation to make it restartable`,
      );
    }
    if (e.restarting) {
      throw userError('QUERY_RESTARTING', `query "${e.name}" is already being restarted; wait for it`);
    }
    e.restarting = true;
    try {
      if (e.health === 'active' && e.query) {
        e.stopRequested = true;
        await e.query.stop();
      }
      await e.handle.start();
      return e;
    } finally {
      e.restarting = false;
    }
  }

  /** Summaries of the latest batch and of the query, for lists. */
  latest(e: QueryEntry): { entry: HistoryEntry | null; progress: StreamingQueryProgress | null } {
    return { entry: e.history.latest(), progress: e.recent.last() ?? null };
  }

  /** The full progress record of a batch, if it is among the recent ones kept. */
  fullProgress(e: QueryEntry, batchId: number): StreamingQueryProgress | undefined {
    for (let k = e.recent.size - 1; k >= 0; k--) {
      const p = e.recent.at(k)!;
      if (p.batchId === batchId) return p;
      if (p.batchId < batchId) break;
    }
    return undefined;
  }

  /** Lag of each source of the last batch. */
  sourceLags(e: QueryEntry): { name: string; lag: number | null }[] {
    const p = e.recent.last();
    return (p?.sources ?? []).map((s) => ({ name: s.name, lag: lagOf(s) }));
  }

  totalLag(e: QueryEntry): number | null {
    return sourceLag(e.recent.last()?.sources ?? []);
  }
}

async function waitUpTo(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms))),
  ]);
  clearTimeout(timer);
  return ended;
}
