/**
 * The handle of a running query (Spark's StreamingQuery): stop, await
 * termination, process everything available, status and progress, and the
 * failure if it failed.
 */
import { MillraceError } from '../errors/index.ts';
import type { MicroBatchExecution } from './MicroBatchExecution.ts';
import type { StreamingQueryProgress, StreamingQueryStatus } from './progress.ts';

export interface StopOptions {
  /** Do not wait for the batch in flight: it is left uncommitted and re-runs on restart. Default false. */
  readonly abandonCurrentBatch?: boolean;
}

export class StreamingQuery {
  private progress: StreamingQueryProgress[] = [];
  private currentStatus: StreamingQueryStatus = {
    message: 'Initializing',
    isDataAvailable: false,
    isTriggerActive: false,
  };
  private failure: MillraceError | null = null;
  private active = true;
  private readonly done: Promise<void>;
  private idleWaiters: { after: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private checksStarted = 0;
  private resolveDone!: () => void;
  private queryId = '';

  /** @internal — made by DataStreamWriter.start(). */
  constructor(
    readonly name: string,
    readonly runId: string,
    private readonly maxRecentProgress: number,
    private readonly explainText: string,
  ) {
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  private execution: MicroBatchExecution | undefined;

  /** @internal */
  attach(execution: MicroBatchExecution): void {
    this.execution = execution;
  }

  /** The query's persistent id (kept in the checkpoint; the same across restarts). */
  get id(): string {
    return this.queryId;
  }

  get isActive(): boolean {
    return this.active;
  }

  get status(): StreamingQueryStatus {
    return this.currentStatus;
  }

  get lastProgress(): StreamingQueryProgress | null {
    return this.progress.at(-1) ?? null;
  }

  /** The most recent progress records, oldest first (bounded by `maxRecentProgress`). */
  get recentProgress(): readonly StreamingQueryProgress[] {
    return [...this.progress];
  }

  /** Why the query failed, or null. */
  get exception(): MillraceError | null {
    return this.failure;
  }

  /**
   * Wait for the query to end. Rejects with the failure if it failed.
   * With a timeout, resolves to whether it ended within it.
   */
  async awaitTermination(timeoutMs?: number): Promise<boolean> {
    if (timeoutMs === undefined) {
      await this.done;
    } else {
      let timer: NodeJS.Timeout | undefined;
      const ended = await Promise.race([
        this.done.then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (!ended) return false;
    }
    if (this.failure) throw this.failure;
    return true;
  }

  /** Stop the query; resolves once it has stopped and released its checkpoint. */
  async stop(options: StopOptions = {}): Promise<void> {
    this.execution?.requestStop(options.abandonCurrentBatch ?? false);
    await this.done;
  }

  /**
   * Block until every row available in the sources when this is called has
   * been processed and committed (for tests and backfills). Rejects if the query fails.
   */
  processAllAvailable(): Promise<void> {
    if (!this.active) return this.failure ? Promise.reject(this.failure) : Promise.resolve();
    const after = this.checksStarted;
    return new Promise((resolve, reject) => this.idleWaiters.push({ after, resolve, reject }));
  }

  explain(): string {
    return this.explainText;
  }

  // -- hooks used by the execution -------------------------------------------
  /** @internal */
  onStarted(id: string): void {
    this.queryId = id;
  }
  /** @internal */
  onProgress(p: StreamingQueryProgress): void {
    this.progress.push(p);
    if (this.progress.length > this.maxRecentProgress) this.progress.shift();
  }
  /** @internal */
  onStatus(s: StreamingQueryStatus): void {
    this.currentStatus = s;
  }
  /** @internal — a check of the sources for new data begins; returns its number. */
  onCheck(): number {
    return ++this.checksStarted;
  }
  /** @internal — check number `check` found no new data: waiters registered before it started are done. */
  onIdle(check: number): void {
    const due = this.idleWaiters.filter((w) => w.after < check);
    this.idleWaiters = this.idleWaiters.filter((w) => w.after >= check);
    for (const w of due) w.resolve();
  }
  /** @internal */
  onTerminated(failure: MillraceError | null): void {
    this.active = false;
    this.failure = failure;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) {
      if (failure) w.reject(failure);
      else w.resolve();
    }
    this.resolveDone();
  }
}
