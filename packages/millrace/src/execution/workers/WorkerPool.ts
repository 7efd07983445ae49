/**
 * The driver's side of worker threads: starts W workers that build the query's plan from its
 * module (checking each built the same plan as the driver), wires a MessagePort between every
 * pair for exchanges, then runs each batch as one task per worker (protocol.ts). A worker's
 * failure, or its thread dying, fails the batch with the worker's error and the batch id, and
 * ends every worker: nothing waits forever on a peer that is gone.
 */
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { MillraceError } from '../../errors/index.ts';
import type { Row, Schema } from '../../schema/index.ts';
import { type RowCodec, rowCodec } from './rowCodec.ts';
import type { Chunks } from '../runPlan.ts';
import { ChunkQueue } from '../exchange.ts';
import type { BatchTask, FromWorker, SerializedError, TaskResult, ToWorker, WorkerInit } from './protocol.ts';

export interface WorkerPoolOptions {
  readonly count: number;
  /** Everything but the worker's index and count. */
  readonly init: Omit<WorkerInit, 'workerIndex' | 'workerCount'>;
  /** The driver's plan fingerprint: every worker must have built the same plan. */
  readonly fingerprint: string;
  /** The schema of the plan's output (what workers send back, as columns). */
  readonly outputSchema: Schema;
  /** How long a worker may take to build its plan. Default 60 s. */
  readonly startTimeoutMs?: number;
}

/** One batch on the workers: its output (worker 0's, then worker 1's, …) and their results. */
export interface PoolBatch {
  readonly output: Chunks;
  readonly results: Promise<TaskResult[]>;
}

interface Pending {
  readonly batchId: number;
  readonly outputs: ChunkQueue[];
  readonly results: (TaskResult | undefined)[];
  resolve(r: TaskResult[]): void;
  reject(e: unknown): void;
}

const BOOTSTRAP = new URL('../../worker/bootstrap.mjs', import.meta.url);

export class WorkerPool {
  private failure: MillraceError | undefined;
  private batch: Pending | undefined;
  private readonly needs = new Map<
    number,
    { answers: boolean[]; resolve(v: boolean): void; reject(e: unknown): void }
  >();
  private nextId = 0;
  private closing = false;

  private readonly outputCodec: RowCodec;

  private constructor(
    private readonly workers: readonly Worker[],
    private readonly queryName: string,
    outputSchema: Schema,
  ) {
    this.outputCodec = rowCodec(outputSchema);
  }

  /** The number of worker threads (tasks per batch). */
  get size(): number {
    return this.workers.length;
  }

  static async start(options: WorkerPoolOptions): Promise<WorkerPool> {
    const { count } = options;
    // ports[a][b]: a's end of the channel between workers a and b.
    const ports: (MessagePort | null)[][] = Array.from({ length: count }, () =>
      Array<MessagePort | null>(count).fill(null),
    );
    for (let a = 0; a < count; a++) {
      for (let b = a + 1; b < count; b++) {
        const { port1, port2 } = new MessageChannel();
        ports[a]![b] = port1;
        ports[b]![a] = port2;
      }
    }
    const workers = ports.map((peers, workerIndex) => {
      const init: WorkerInit = { ...options.init, workerIndex, workerCount: count };
      return new Worker(BOOTSTRAP, {
        workerData: { init, peers },
        transferList: peers.filter((p): p is MessagePort => p !== null),
        name: `millrace ${options.init.queryName} worker ${workerIndex}`,
        // A batch's rows and exchanged chunks are short-lived: a larger young generation lets them
        // die there instead of being promoted (q11 on 2 workers: 48 MiB 2.2M, 96 MiB 2.57M events/s).
        resourceLimits: { maxYoungGenerationSizeMb: 96 },
      });
    });
    const pool = new WorkerPool(workers, options.init.queryName, options.outputSchema);
    try {
      await pool.ready(options.fingerprint, options.startTimeoutMs ?? 60_000);
    } catch (e) {
      await pool.terminate();
      throw e;
    }
    return pool;
  }

  /** Wait for every worker's plan; refuse one whose plan differs from the driver's. */
  private ready(fingerprint: string, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let left = this.workers.length;
      const timer = setTimeout(
        () =>
          reject(
            this.error(
              'WORKERS_FAILED',
              `the query's workers did not build its plan within ${timeoutMs} ms`,
              {},
            ),
          ),
        timeoutMs,
      );
      const fail = (e: MillraceError) => {
        clearTimeout(timer);
        reject(e);
      };
      this.workers.forEach((w, i) => {
        const onStart = (m: FromWorker) => {
          if (m.type === 'ready') {
            w.off('message', onStart);
            if (m.fingerprint !== fingerprint) {
              fail(
                this.error(
                  'WORKERS_PLAN_MISMATCH',
                  `worker ${i} built another plan than the driver (fingerprint ${m.fingerprint}, driver ${fingerprint}): ` +
                    `the function that workers.module exports must build the same query as the one started, from the same workers.args`,
                  { worker: i },
                ),
              );
              return;
            }
            w.on('message', (x: FromWorker) => this.onMessage(i, x));
            if (--left === 0) {
              clearTimeout(timer);
              resolve();
            }
          } else if (m.type === 'failed') {
            fail(this.fromWorker(i, m.error, undefined));
          }
        };
        w.on('message', onStart);
        w.on('error', (e) => {
          const err = this.error('WORKER_DIED', `worker ${i} failed: ${e.message}`, { worker: i }, e);
          fail(err);
          this.fail(err);
        });
        w.on('exit', (code) => {
          if (this.closing) return;
          const err = this.error('WORKER_DIED', `worker ${i} exited (code ${code})`, { worker: i });
          fail(err);
          this.fail(err);
        });
      });
    });
  }

  /**
   * Run batch N: each worker gets its slice of the rows the driver read (`driverRows`, by source
   * name) and the task. The output streams as workers produce it, in worker order.
   */
  runBatch(task: BatchTask, driverRows: ReadonlyMap<string, readonly Row[]>): PoolBatch {
    if (this.failure) throw this.failure;
    const n = this.workers.length;
    let resolve!: (r: TaskResult[]) => void;
    let reject!: (e: unknown) => void;
    const results = new Promise<TaskResult[]>((res, rej) => ((resolve = res), (reject = rej)));
    results.catch(() => undefined);
    const pending: Pending = {
      batchId: task.batchId,
      outputs: this.workers.map(() => new ChunkQueue(Infinity)),
      results: Array(n).fill(undefined),
      resolve,
      reject,
    };
    this.batch = pending;
    this.workers.forEach((w, i) => {
      // Contiguous slices: concatenated in worker order they are the source's rows in order.
      for (const [source, rows] of driverRows) {
        const from = Math.floor((i * rows.length) / n);
        const to = Math.floor(((i + 1) * rows.length) / n);
        if (to > from)
          this.post(w, { type: 'rows', batchId: task.batchId, source, rows: rows.slice(from, to) });
      }
      this.post(w, { type: 'batch', task });
    });
    return { output: concat(pending.outputs), results };
  }

  /** Whether any worker's operators are due for a batch without new data. */
  needsNoDataBatch(watermarkMs: number, lastBatchWatermarkMs: number, nowMs: number): Promise<boolean> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<boolean>((resolve, reject) => {
      this.needs.set(id, { answers: [], resolve, reject });
      for (const w of this.workers)
        this.post(w, { type: 'needs', id, watermarkMs, lastBatchWatermarkMs, nowMs });
    });
  }

  /** Close the workers' stores and end them (a worker that does not answer is terminated). */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = this.workers.map(
      (w) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 5_000);
          w.on('message', (m: FromWorker) => {
            if (m.type === 'closed') {
              clearTimeout(timer);
              resolve();
            }
          });
          w.on('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          try {
            w.postMessage({ type: 'close' } satisfies ToWorker);
          } catch {
            resolve();
          }
        }),
    );
    await Promise.all(closed);
    await this.terminate();
  }

  private async terminate(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate().catch(() => undefined)));
  }

  private post(w: Worker, m: ToWorker): void {
    w.postMessage(m);
  }

  private onMessage(i: number, m: FromWorker): void {
    const b = this.batch;
    switch (m.type) {
      case 'output':
        if (b && b.batchId === m.batchId) b.outputs[i]!.add(this.outputCodec.decode(m.rows));
        return;
      case 'done':
        if (!b || b.batchId !== m.batchId) return;
        b.outputs[i]!.end();
        b.results[i] = m.result;
        if (b.results.every((r) => r !== undefined)) {
          this.batch = undefined;
          b.resolve(b.results as TaskResult[]);
        }
        return;
      case 'failed':
        this.fail(this.fromWorker(i, m.error, m.batchId));
        return;
      case 'needs': {
        const q = this.needs.get(m.id);
        if (!q) return;
        q.answers.push(m.value);
        if (q.answers.length === this.workers.length) {
          this.needs.delete(m.id);
          q.resolve(q.answers.some(Boolean));
        }
        return;
      }
      case 'ready':
      case 'closed':
        return;
    }
  }

  /** Fail what is pending and end every worker (their peers would otherwise wait on the failed one). */
  private fail(e: MillraceError): void {
    if (this.closing && !this.batch && this.needs.size === 0) return;
    this.failure ??= e;
    const b = this.batch;
    this.batch = undefined;
    if (b) {
      for (const q of b.outputs) q.fail(this.failure);
      b.reject(this.failure);
    }
    for (const q of this.needs.values()) q.reject(this.failure);
    this.needs.clear();
    void this.terminate();
  }

  private fromWorker(i: number, e: SerializedError, batchId: number | undefined): MillraceError {
    const err = new MillraceError(e.code, e.message, {
      domain: e.domain,
      retryable: e.retryable,
      context: {
        query: this.queryName,
        ...e.context,
        worker: i,
        ...(batchId === undefined ? {} : { batch: batchId }),
      },
    });
    if (e.stack) err.stack = e.stack;
    return err;
  }

  private error(
    code: string,
    message: string,
    context: Record<string, unknown>,
    cause?: unknown,
  ): MillraceError {
    return new MillraceError(code, message, {
      domain: 'internal',
      context: { query: this.queryName, ...context, ...(this.batch ? { batch: this.batch.batchId } : {}) },
      cause,
    });
  }
}

async function* concat(queues: readonly ChunkQueue[]): Chunks {
  for (const q of queues) yield* q;
}
