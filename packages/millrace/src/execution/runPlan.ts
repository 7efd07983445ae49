/**
 * Runs a physical plan over one batch's input rows. Exhaustive over node
 * kinds: stateful nodes (next layers) add a case here and get their state
 * stores through the batch context.
 */
import type { Source } from '../connectors/contracts.ts';
import type { Row } from '../schema/index.ts';
import type { PipelineRunContext } from '../operators/pipeline.ts';
import type { PhysicalPlan } from '../plan/physical.ts';

export interface PlanRunContext extends PipelineRunContext {
  readonly inputs: ReadonlyMap<Source<any>, readonly Row[]>;
}

export function runPlan(node: PhysicalPlan, ctx: PlanRunContext): readonly Row[] {
  switch (node.kind) {
    case 'scan':
      return ctx.inputs.get(node.source) ?? [];
    case 'pipeline': {
      const out: Row[] = [];
      node.run(runPlan(node.input, ctx), out, ctx);
      return out;
    }
    case 'union':
      return node.inputs.flatMap((i) => runPlan(i, ctx) as Row[]);
  }
}
