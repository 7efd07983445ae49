/**
 * Runs a physical plan over one batch as a stream of row chunks: each chunk
 * read from a source flows through the compiled pipelines before the next is
 * read (Spark's per-partition iterators, in chunks). Exhaustive over node
 * kinds: stateful nodes (next layers) consume chunks and emit at the end.
 *
 * An exchange under a stateful operator is a barrier, as Spark's shuffle is:
 * its whole input is read and split by partition first, then the operator
 * runs on partition 0, 1, … in turn, each over its own rows in input order:
 *
 *   input chunks ──► partitionOf(row) ──► rows[0] │ rows[1] │ … │ rows[P-1]
 *                                            │        │
 *                           operator[0](rows[0]) ─► operator[1](rows[1]) ─► … ──► output
 *
 * Every partition runs every batch, with rows or without (its watermark-driven
 * output and evictions are due either way).
 */
import type { Source } from '../connectors/contracts.ts';
import type { Row } from '../schema/index.ts';
import type { PipelineRunContext } from '../operators/pipeline.ts';
import type { PhysicalPlan } from '../plan/physical.ts';
import type { StatefulOperator } from '../operators/StatefulOperator.ts';
import type { StreamingAggregate } from '../operators/aggregate/StreamingAggregate.ts';
import { SIDE_BREAK } from '../operators/join/StreamJoin.ts';
import type { Partitioning } from '../plan/partitioning.ts';
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
    readonly exchange: (node: ExchangeNode, rows: Row[][]) => Promise<Row[][]>;
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
      return partitioned(partitions.length, ctx, async () => {
        const rows = await exchanged(input, await split(runPlan(input.input, ctx), input.partitioning), ctx);
        return (p) => ctx.stateful(partitions[p]!, p, oneChunk(rows[p]!));
      });
    }
    case 'join': {
      const { left, right, partitions } = node;
      if (left.kind !== 'exchange' || right.kind !== 'exchange') {
        return ctx.stateful(node.operator, 0, joinInput(runPlan(left, ctx), runPlan(right, ctx)));
      }
      return partitioned(partitions.length, ctx, async () => {
        const l = await exchanged(left, await split(runPlan(left.input, ctx), left.partitioning), ctx);
        const r = await exchanged(right, await split(runPlan(right.input, ctx), right.partitioning), ctx);
        return (p) => ctx.stateful(partitions[p]!, p, joinInput(oneChunk(l[p]!), oneChunk(r[p]!)));
      });
    }
    case 'partialAggregate':
      return ctx.partial(node.operator, runPlan(node.input, ctx));
    case 'exchange':
      // The planner puts exchanges only under stateful operators, which read them above.
      throw internalError('an exchange must be the input of a stateful operator', {});
  }
}

/** Each partition's rows, in input order. */
async function split(input: Chunks, partitioning: Partitioning): Promise<Row[][]> {
  const rows: Row[][] = Array.from({ length: partitioning.numPartitions }, () => []);
  if (partitioning.kind === 'single') {
    const all = rows[0]!;
    for await (const chunk of input) for (let i = 0; i < chunk.length; i++) all.push(chunk[i]!);
    return rows;
  }
  const { partitionOf } = partitioning;
  for await (const chunk of input) {
    for (let i = 0; i < chunk.length; i++) {
      const row = chunk[i]!;
      rows[partitionOf(row)]!.push(row);
    }
  }
  return rows;
}

/** Reads the exchange (`prepare`), then the outputs of the partitions this task runs, one after another. */
async function* partitioned(
  numPartitions: number,
  ctx: PlanRunContext,
  prepare: () => Promise<(partition: number) => Chunks>,
): Chunks {
  const run = await prepare();
  for (let p = 0; p < numPartitions; p++) if (!ctx.tasks || ctx.tasks.owns(p)) yield* run(p);
}

/** Rows of this task's partitions from every task (inline: the rows split here). */
function exchanged(node: ExchangeNode, rows: Row[][], ctx: PlanRunContext): Promise<Row[][]> | Row[][] {
  return ctx.tasks ? ctx.tasks.exchange(node, rows) : rows;
}

async function* oneChunk(rows: readonly Row[]): Chunks {
  if (rows.length > 0) yield rows;
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
