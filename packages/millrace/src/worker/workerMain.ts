/**
 * A worker thread of a query (execution/workers/protocol.ts has the messages). It builds the
 * query's plan itself, from the module the driver names, and then runs one task per batch:
 *
 *   read its splits (or the rows the driver sent) ─► fused pipeline ─► exchange: rows of partitions
 *   owned by other workers go to them, theirs come here ─► operators on its own partitions (their
 *   stores stay open in this thread between batches) ─► output to the driver (or, for a sink with
 *   task writers, written here and reported) ─► commit its stores
 *
 * Tasks run one at a time, in the order the driver sends them.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { createSession } from '../api/Session.ts';
import { Stream } from '../api/Stream.ts';
import type { SinkTaskReport, SinkTaskWriter, Source, SourceSplit } from '../connectors/contracts.ts';
import { MillraceError, userError } from '../errors/index.ts';
import { type EventTimeStats, newEventTimeStats } from '../operators/pipeline.ts';
import { exchangeIds, planFingerprint } from '../plan/fingerprint.ts';
import { type PhysicalPlan, type PhysicalQuery, planPhysical } from '../plan/physical.ts';
import type { Row } from '../schema/index.ts';
import { stateStoreFromRecipe } from '../state/index.ts';
import { type Chunks, runPlan } from '../execution/runPlan.ts';
import { type ChunkQueue, pump } from '../execution/exchange.ts';
import { StatefulTasks } from '../execution/statefulTasks.ts';
import {
  type BatchTask,
  type ExchangeMessage,
  type FromWorker,
  type QueryModule,
  type SerializedError,
  type SplitReport,
  type ToWorker,
  type WorkerInit,
  ownerOf,
} from '../execution/workers/protocol.ts';
import { type EncodedRows, type RowCodec, rowCodec } from '../execution/workers/rowCodec.ts';
import { systemClock } from '../util/clock.ts';
import { silentLogger } from '../util/logger.ts';

interface Data {
  readonly init: WorkerInit;
  /** A port to each other worker, by its index (null at this worker's own index). */
  readonly peers: readonly (MessagePort | null)[];
}

const port = parentPort!;
const { init, peers } = workerData as Data;
const send = (m: FromWorker): void => port.postMessage(m);

start().catch((e: unknown) => send({ type: 'failed', error: serializeError(e) }));

async function start(): Promise<void> {
  const plan = await buildPlan(init.query, init.numPartitions);
  const worker = new TaskWorker(plan);
  for (const p of peers) p?.on('message', (m: ExchangeMessage) => worker.inbox.put(m));
  // One message at a time: a batch's rows, then the batch; a needs check only between batches.
  let queue = Promise.resolve();
  port.on('message', (m: ToWorker) => {
    queue = queue.then(() => worker.handle(m));
  });
  send({ type: 'ready', fingerprint: planFingerprint(plan) });
}

/** The query's plan, built by the function the module exports, as the driver built it. */
export async function buildPlan(query: QueryModule, numPartitions: number): Promise<PhysicalQuery> {
  const url = /^[a-z][a-z0-9+.-]*:/i.test(query.module)
    ? query.module
    : pathToFileURL(path.resolve(query.module)).href;
  const name = query.export ?? 'default';
  let mod: unknown;
  try {
    mod = await import(url);
  } catch (e) {
    throw userError(
      'WORKERS_MODULE',
      `a worker could not import the query's module ${query.module}: ${(e as Error).message}`,
    );
  }
  let fn: unknown = mod;
  for (const part of name.split('.')) fn = (fn as Record<string, unknown> | undefined)?.[part];
  if (typeof fn !== 'function') {
    throw userError(
      'WORKERS_MODULE',
      `the query's module ${query.module} has no function export "${name}"; export a function (session, args) => Stream that builds the query, and name it in workers.export`,
    );
  }
  const built: unknown = await (fn as (s: unknown, a: unknown) => unknown)(createSession(), query.args);
  if (!(built instanceof Stream)) {
    throw userError(
      'WORKERS_MODULE',
      `"${name}" of ${query.module} returned ${built === null ? 'null' : typeof built}, not a Stream; it must return the query's stream (before writeStream)`,
    );
  }
  return planPhysical(built.plan, { numPartitions, distributed: true });
}

class TaskWorker {
  readonly inbox = new ExchangeInbox();
  private readonly tasks: StatefulTasks;
  private readonly exchanges: Map<PhysicalPlan, number>;
  /** Each exchange's rows cross as columns (rowCodec.ts), as does the output to the driver. */
  private readonly codecs = new Map<PhysicalPlan, RowCodec>();
  private readonly outputCodec: RowCodec;
  private readonly provider = stateStoreFromRecipe(init.stateStore);
  /** Rows the driver sent for the coming batch, by source name. */
  private rowsIn = new Map<string, Row[]>();
  private readonly owns = (p: number): boolean => ownerOf(p, init.workerCount) === init.workerIndex;
  /** The sink's writer for this task, made at the first batch (sinks with SinkTasks). */
  private sinkWriter: Promise<SinkTaskWriter> | undefined;

  constructor(private readonly plan: PhysicalQuery) {
    this.tasks = new StatefulTasks({
      plan,
      stateStore: this.provider,
      stateDir: init.stateDir,
      outputMode: init.outputMode,
      minBatchesToRetain: init.minBatchesToRetain,
      addedAt: init.addedAt,
    });
    this.exchanges = exchangeIds(plan.root);
    for (const node of this.exchanges.keys()) {
      if (node.kind !== 'exchange') continue;
      this.codecs.set(node, node.carries ? rowCodec(node.carries, { subset: true }) : rowCodec(node.schema));
    }
    this.outputCodec = rowCodec(plan.root.schema);
  }

  /** Sources that read splits may hold connections: end them (a failure is not worth more than a log line). */
  private async closeSplitReaders(): Promise<void> {
    for (const source of this.plan.sources) {
      try {
        await source.closeSplitReaders?.();
      } catch {
        // The thread ends anyway; its connections end with it.
      }
    }
  }

  async handle(m: ToWorker): Promise<void> {
    switch (m.type) {
      case 'rows': {
        const rows = this.rowsIn.get(m.source);
        if (rows) for (const r of m.rows) rows.push(r);
        else this.rowsIn.set(m.source, m.rows);
        return;
      }
      case 'batch':
        try {
          await this.run(m.task);
        } catch (e) {
          this.tasks.abort();
          send({ type: 'failed', batchId: m.task.batchId, error: serializeError(e) });
        } finally {
          this.rowsIn = new Map();
          this.inbox.clear(m.task.batchId);
        }
        return;
      case 'needs':
        send({
          type: 'needs',
          id: m.id,
          value: this.tasks.needsNoDataBatch(m.watermarkMs, m.lastBatchWatermarkMs, m.nowMs, this.owns),
        });
        return;
      case 'close':
        this.tasks.abort();
        await this.closeSplitReaders();
        await (await this.sinkWriter?.catch(() => undefined))?.close();
        await this.provider.close();
        send({ type: 'closed' });
        for (const p of peers) p?.close();
        port.close();
        return;
    }
  }

  private async run(task: BatchTask): Promise<void> {
    const { plan } = this;
    const { batchId } = task;
    plan.batchTime.ms = task.timestampMs;
    for (const table of plan.lookupTables) await table.prepare(task.timestampMs, systemClock, silentLogger);
    this.tasks.begin(task);
    const eventTime: EventTimeStats[] = plan.watermarks.map(() => newEventTimeStats());
    const read: Record<string, SplitReport> = {};
    /** The split's rows, counted; its summary once read. */
    const readSplit = async function* (source: Source<any>, split: SourceSplit): Chunks {
      let rows = 0;
      const chunks = source.readSplit!(split, { batchId });
      for await (const c of chunks) {
        rows += c.length;
        yield c;
      }
      const summary = chunks.summary?.() ?? {};
      const metrics: Record<string, number> = {};
      for (const [k, v] of Object.entries(summary.metrics ?? {})) if (typeof v === 'number') metrics[k] = v;
      read[source.name] = { rows, malformedRows: summary.malformedRows ?? 0, metrics };
    };
    const scan = (source: Source<any>): Chunks => {
      const range = task.sources.find((r) => r.name === source.name);
      if (!range) return oneChunk([]);
      if (range.splits) {
        const split = range.splits[init.workerIndex];
        return split === undefined ? oneChunk([]) : readSplit(source, split);
      }
      return oneChunk(this.rowsIn.get(source.name) ?? []);
    };
    const output = runPlan(plan.root, {
      scan,
      eventTime,
      stateful: (op, partition, input) => this.tasks.run(op, partition, input),
      partial: (op, input) => this.tasks.partial(op, input),
      tasks: {
        owns: this.owns,
        exchange: (node, input, queues) => this.exchange(batchId, node, input, queues),
      },
    });
    let sink: SinkTaskReport | undefined;
    if (init.sinkWriter) {
      this.sinkWriter ??= makeSinkWriter(plan);
      const writer = await this.sinkWriter;
      sink = await writer.write(output, {
        batchId,
        outputMode: init.outputMode,
        task: init.workerIndex,
      });
    } else {
      for await (const rows of output) {
        const { message, transfer } = this.outputCodec.encode(rows);
        port.postMessage({ type: 'output', batchId, rows: message } satisfies FromWorker, transfer);
      }
    }
    const state = await this.tasks.commit(this.owns);
    send({ type: 'done', batchId, result: { eventTime, read, state, ...(sink ? { sink } : {}) } });
  }

  /**
   * Stream this task's input into its partitions' queues; the rows of other workers' partitions go
   * to them chunk by chunk (one message per worker per input chunk), theirs arrive into these
   * queues as they come. The queues end when this input and every peer's are done.
   */
  private async exchange(
    batchId: number,
    node: PhysicalPlan,
    input: Chunks,
    queues: readonly (ChunkQueue | undefined)[],
  ): Promise<void> {
    const exchange = this.exchanges.get(node)!;
    const codec = this.codecs.get(node)!;
    const { workerIndex: me, workerCount } = init;
    let peersDone = 0;
    let localDone = false;
    const finish = () => {
      if (!localDone || peersDone < workerCount - 1) return;
      this.inbox.unsubscribe(batchId, exchange);
      for (const q of queues) q?.end();
    };
    this.inbox.subscribe(batchId, exchange, (m) => {
      if (m.end) {
        peersDone++;
        finish();
        return;
      }
      for (const [p, encoded] of Object.entries(m.parts)) queues[Number(p)]?.add(codec.decode(encoded));
    });
    // This chunk's rows for each other worker, sent together once the chunk is split.
    const outgoing = new Map<number, Record<number, Row[]>>();
    const remote = {
      add(partition: number, rows: Row[]) {
        const to = ownerOf(partition, workerCount);
        let parts = outgoing.get(to);
        if (!parts) outgoing.set(to, (parts = {}));
        parts[partition] = rows;
      },
      flush() {
        for (const [to, parts] of outgoing) {
          const encoded: Record<number, EncodedRows> = {};
          const transfer: ArrayBuffer[] = [];
          for (const [p, rows] of Object.entries(parts)) {
            const e = codec.encode(rows);
            encoded[Number(p)] = e.message;
            transfer.push(...e.transfer);
          }
          peers[to]!.postMessage(
            { batchId, exchange, from: me, parts: encoded } satisfies ExchangeMessage,
            transfer,
          );
        }
        outgoing.clear();
        // Let the event loop run: the peers' chunks for this worker's partitions arrive as messages,
        // which a loop of microtasks (reading, splitting, consuming) would leave waiting to the end.
        return new Promise<void>((resolve) => setImmediate(resolve));
      },
    };
    await pump(input, node.kind === 'exchange' ? node.partitioning : unreachable(), queues, remote);
    for (let q = 0; q < workerCount; q++) {
      if (q !== me)
        peers[q]!.postMessage({
          batchId,
          exchange,
          from: me,
          parts: {},
          end: true,
        } satisfies ExchangeMessage);
    }
    localDone = true;
    finish();
  }
}

/** The sink's task writer, made from its recipe (WorkerInit.sinkWriter) in this thread. */
async function makeSinkWriter(plan: PhysicalQuery): Promise<SinkTaskWriter> {
  const recipe = init.sinkWriter!;
  let factory: unknown;
  try {
    factory = ((await import(recipe.module)) as Record<string, unknown>)[recipe.export];
  } catch (e) {
    throw userError(
      'WORKERS_SINK',
      `a worker could not import the sink's task writer module ${recipe.module}: ${(e as Error).message}`,
    );
  }
  if (typeof factory !== 'function') {
    throw userError(
      'WORKERS_SINK',
      `the sink's task writer module ${recipe.module} has no function export "${recipe.export}"`,
    );
  }
  return (factory as (options: unknown, ctx: unknown) => SinkTaskWriter | Promise<SinkTaskWriter>)(
    recipe.options,
    {
      queryName: init.queryName,
      schema: plan.root.schema,
      outputMode: init.outputMode,
      task: init.workerIndex,
      taskCount: init.workerCount,
      log: silentLogger,
    },
  );
}

function unreachable(): never {
  throw new MillraceError('INTERNAL', 'an exchange id names a node that is not an exchange', {
    domain: 'internal',
  });
}

/**
 * Exchange messages from other workers by (batch, exchange): held until this worker reaches that
 * exchange (a peer may be ahead), then handed to its handler as they arrive.
 */
class ExchangeInbox {
  private readonly held = new Map<string, ExchangeMessage[]>();
  private readonly handlers = new Map<string, (m: ExchangeMessage) => void>();

  put(m: ExchangeMessage): void {
    const key = `${m.batchId}/${m.exchange}`;
    const handler = this.handlers.get(key);
    if (handler) return handler(m);
    const list = this.held.get(key);
    if (list) list.push(m);
    else this.held.set(key, [m]);
  }

  subscribe(batchId: number, exchange: number, handler: (m: ExchangeMessage) => void): void {
    const key = `${batchId}/${exchange}`;
    this.handlers.set(key, handler);
    const held = this.held.get(key);
    this.held.delete(key);
    for (const m of held ?? []) handler(m);
  }

  unsubscribe(batchId: number, exchange: number): void {
    this.handlers.delete(`${batchId}/${exchange}`);
  }

  /** Drop what is left of a batch (it failed part way). */
  clear(batchId: number): void {
    for (const map of [this.held, this.handlers]) {
      for (const key of map.keys()) if (key.startsWith(`${batchId}/`)) map.delete(key);
    }
  }
}

async function* oneChunk(rows: readonly Row[]): Chunks {
  if (rows.length > 0) yield rows;
}

function serializeError(e: unknown): SerializedError {
  if (e instanceof MillraceError) {
    return {
      code: e.code,
      message: e.message,
      domain: e.domain,
      retryable: e.retryable,
      context: { ...e.context },
      ...(e.stack ? { stack: e.stack } : {}),
    };
  }
  const err = e instanceof Error ? e : new Error(String(e));
  return {
    code: 'INTERNAL',
    message: err.message,
    domain: 'internal',
    retryable: false,
    context: {},
    ...(err.stack ? { stack: err.stack } : {}),
  };
}
