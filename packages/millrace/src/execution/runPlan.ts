/**
 * Runs a physical plan over one batch as a stream of row chunks: each chunk
 * read from a source flows through the compiled pipelines before the next is
 * read (Spark's per-partition iterators, in chunks). Exhaustive over node
 * kinds: stateful nodes (next layers) consume chunks and emit at the end.
 *
 * An exchange under a stateful operator streams (execution/exchange.ts): each
 * input chunk is split by partition into bounded queues, and the operator's
 * partitions consume them side by side. Every partition runs every batch, with
 * rows or without (its watermark-driven output and evictions are due either
 * way).
 */
import type { Source } from '../connectors/contracts.ts';
import type { Row } from '../schema/index.ts';
import type { PipelineRunContext } from '../operators/pipeline.ts';
import type { PhysicalPlan } from '../plan/physical.ts';
import type { StatefulOperator } from '../operators/StatefulOperator.ts';
import type { StreamingAggregate } from '../operators/aggregate/StreamingAggregate.ts';
import { SIDE_BREAK } from '../operators/join/StreamJoin.ts';
import { ChunkQueue, concurrently, pump } from './exchange.ts';
import { internalError } from '../errors/index.ts';

export type Chunks = AsyncIterable<readonly Row[]>;

export interface PlanRunContext extends PipelineRunContext {
  /** The chunks of a source's input for this batch (empty when it has no new data). */
  readonly scan: (source: Source<any>) => Chunks;
  /** Runs the instance of a stateful operator for state partition `partition` over its input. */
  readonly stateful: (operator: StatefulOperator, partition: number, input: Chunks) => Chunks;
  /** Folds this task's rows into an aggregation's partial groups (plans on worker threads). */
  readonly partial: (operator: StreamingAggregate, input: Chunks) => Chunks;
  /**
   * Where the plan runs in several tasks (worker threads): the partitions this one runs, and the
   * exchange that sends this task's rows of the others' partitions to them and returns the rows of
   * its own from every task. Absent: one task runs every partition of rows it split itself.
   */
  readonly tasks?: {
    readonly owns: (partition: number) => boolean;
    /**
     * Read `input` into the queues of this task's partitions (`queues[p]`), sending the rows of
     * other tasks' partitions to them and adding theirs to these queues; ends the queues once every
     * task's input is done. Resolves when this task's input is read.
     */
    readonly exchange: (
      node: ExchangeNode,
      input: Chunks,
      queues: readonly (ChunkQueue | undefined)[],
    ) => Promise<void>;
  };
}

export type ExchangeNode = Extract<PhysicalPlan, { kind: 'exchange' }>;

export function runPlan(node: PhysicalPlan, ctx: PlanRunContext): Chunks {
  switch (node.kind) {
    case 'scan':
      return ctx.scan(node.source);
    case 'pipeline':
      return pipelineChunks(node.run, runPlan(node.input, ctx), ctx);
    case 'union':
      return concatChunks(node.inputs.map((i) => runPlan(i, ctx)));
    case 'stateful': {
      const { input, partitions } = node;
      if (input.kind !== 'exchange') return ctx.stateful(node.operator, 0, runPlan(input, ctx));
      return exchangeAndRun(ctx, [input], (p, [rows]) => ctx.stateful(partitions[p]!, p, rows!));
    }
    case 'join': {
      const { left, right, partitions } = node;
      if (left.kind !== 'exchange' || right.kind !== 'exchange') {
        return ctx.stateful(node.operator, 0, joinInput(runPlan(left, ctx), runPlan(right, ctx)));
      }
      return exchangeAndRun(ctx, [left, right], (p, [l, r]) =>
        ctx.stateful(partitions[p]!, p, joinInput(l!, r!)),
      );
    }
    case 'partialAggregate':
      return ctx.partial(node.operator, runPlan(node.input, ctx));
    case 'exchange':
      // The planner puts exchanges only under stateful operators, which read them above.
      throw internalError('an exchange must be the input of a stateful operator', {});
  }
}

/**
 * Run an operator's partitions over their exchanged inputs (execution/exchange.ts): a queue per
 * partition this task runs, per exchange (a join has one per side); the exchanges are read one
 * after the other while the partitions' operators consume their queues side by side.
 */
function exchangeAndRun(
  ctx: PlanRunContext,
  exchanges: readonly ExchangeNode[],
  run: (partition: number, inputs: Chunks[]) => Chunks,
): Chunks {
  const numPartitions = exchanges[0]!.partitioning.numPartitions;
  const owned: number[] = [];
  for (let p = 0; p < numPartitions; p++) if (!ctx.tasks || ctx.tasks.owns(p)) owned.push(p);
  const queues = exchanges.map(() => {
    const q: (ChunkQueue | undefined)[] = Array(numPartitions).fill(undefined);
    for (const p of owned) q[p] = new ChunkQueue();
    return q;
  });
  const feed = async () => {
    for (let i = 0; i < exchanges.length; i++) {
      const node = exchanges[i]!;
      const input = runPlan(node.input, ctx);
      if (ctx.tasks) await ctx.tasks.exchange(node, input, queues[i]!);
      else {
        await pump(input, node.partitioning, queues[i]!);
        for (const q of queues[i]!) q?.end();
      }
    }
  };
  const stop = (e: unknown) => {
    for (const qs of queues) for (const q of qs) q?.fail(e);
  };
  return concurrently(
    owned.map((p) =>
      run(
        p,
        queues.map((qs) => qs[p]!),
      ),
    ),
    feed,
    stop,
  );
}

/** A join's input: every left chunk, SIDE_BREAK, every right chunk (operators/join/StreamJoin.ts). */
async function* joinInput(left: Chunks, right: Chunks): Chunks {
  yield* left;
  yield SIDE_BREAK;
  yield* right;
}

async function* pipelineChunks(
  run: Extract<PhysicalPlan, { kind: 'pipeline' }>['run'],
  input: Chunks,
  ctx: PipelineRunContext,
): Chunks {
  for await (const chunk of input) {
    const out: Row[] = [];
    run(chunk, out, ctx);
    if (out.length > 0) yield out;
  }
}

async function* concatChunks(inputs: Chunks[]): Chunks {
  for (const input of inputs) yield* input;
}

/** All chunks in one array (for sinks that take a whole batch). */
export async function collectChunks(chunks: Chunks): Promise<Row[]> {
  const parts: (readonly Row[])[] = [];
  for await (const c of chunks) parts.push(c);
  return parts.length === 1 ? (parts[0] as Row[]) : parts.flat();
}
