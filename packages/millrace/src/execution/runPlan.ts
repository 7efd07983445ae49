/**
 * Runs a physical plan over one batch as a stream of row chunks: each chunk
 * read from a source flows through the compiled pipelines before the next is
 * read (Spark's per-partition iterators, in chunks). Exhaustive over node
 * kinds: stateful nodes (next layers) consume chunks and emit at the end.
 */
import type { Source } from '../connectors/contracts.ts';
import type { Row } from '../schema/index.ts';
import type { PipelineRunContext } from '../operators/pipeline.ts';
import type { PhysicalPlan } from '../plan/physical.ts';
import type { StatefulOperator } from '../operators/StatefulOperator.ts';
import { SIDE_BREAK } from '../operators/join/StreamJoin.ts';

export type Chunks = AsyncIterable<readonly Row[]>;

export interface PlanRunContext extends PipelineRunContext {
  /** The chunks of a source's input for this batch (empty when it has no new data). */
  readonly scan: (source: Source<any>) => Chunks;
  /** Runs a stateful operator over its input with its state store for this batch. */
  readonly stateful: (operator: StatefulOperator, input: Chunks) => Chunks;
}

export function runPlan(node: PhysicalPlan, ctx: PlanRunContext): Chunks {
  switch (node.kind) {
    case 'scan':
      return ctx.scan(node.source);
    case 'pipeline':
      return pipelineChunks(node.run, runPlan(node.input, ctx), ctx);
    case 'union':
      return concatChunks(node.inputs.map((i) => runPlan(i, ctx)));
    case 'stateful':
      return ctx.stateful(node.operator, runPlan(node.input, ctx));
    case 'join':
      return ctx.stateful(node.operator, joinInput(runPlan(node.left, ctx), runPlan(node.right, ctx)));
  }
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
