/**
 * The stateless pipeline operator: a chain of filter / project / map /
 * flatMap / watermark steps fused into ONE generated JS function.
 *
 *   input rows ──► for each row: [filter]→[project]→[watermark stats]→[map]→[flatMap ⟲]──► out.push(row)
 *
 * No per-row tree walking, no per-step intermediate arrays: a 5-step chain
 * costs one loop. `continue` inside a flatMap's inner loop drops just that
 * produced row, which is the semantics of a filter after a flatMap.
 */
import { wrapError } from '../errors/index.ts';
import type { Row, Schema } from '../schema/index.ts';
import { type Expr, exprToString } from '../expr/Expr.ts';
import { CodeBuilder, genExpr, propAccess } from '../expr/codegen.ts';

export type PipelineStep =
  | { readonly kind: 'filter'; readonly condition: Expr; readonly inputSchema: Schema }
  | {
      readonly kind: 'project';
      readonly exprs: readonly { readonly name: string; readonly expr: Expr }[];
      readonly inputSchema: Schema;
    }
  | {
      readonly kind: 'map';
      readonly name: string;
      readonly fn: (row: any) => any;
      readonly flat: boolean;
      readonly inputSchema: Schema;
    }
  | {
      readonly kind: 'watermark';
      readonly column: string;
      readonly slot: number;
      readonly inputSchema: Schema;
    };

/** Event-time statistics gathered by a watermark step over one batch (Spark's eventTime progress). */
export interface EventTimeStats {
  max: number;
  min: number;
  sum: number;
  count: number;
}

export function newEventTimeStats(): EventTimeStats {
  return { max: -Infinity, min: Infinity, sum: 0, count: 0 };
}

export interface PipelineRunContext {
  /** One entry per watermark slot of the query. */
  readonly eventTime: EventTimeStats[];
}

export type PipelineFn = (input: readonly Row[], out: Row[], ctx: PipelineRunContext) => void;

export function compilePipeline(steps: readonly PipelineStep[]): PipelineFn {
  const b = new CodeBuilder();
  const body: string[] = [];
  const slots = [...new Set(steps.filter((s) => s.kind === 'watermark').map((s) => s.slot))];
  for (const slot of slots) body.push(`const et${slot} = ctx.eventTime[${slot}];`);
  body.push('for (let i = 0; i < input.length; i++) {');
  body.push('  const r0 = input[i];');

  let row = 'r0';
  let depth = 0;
  const indent = () => '  '.repeat(depth + 1);
  for (const step of steps) {
    const scope = { schema: step.inputSchema, row, where: step.kind };
    switch (step.kind) {
      case 'filter': {
        const lines = b.capture(() => {
          const v = genExpr(step.condition, scope, b);
          b.emit(`if (${v} !== true) continue;`);
        });
        for (const l of lines) body.push(indent() + l);
        break;
      }
      case 'project': {
        const next = b.fresh('r');
        const lines = b.capture(() => {
          const parts = step.exprs.map(
            ({ name, expr }) => `${JSON.stringify(name)}: ${genExpr(expr, scope, b)}`,
          );
          b.emit(`const ${next} = { ${parts.join(', ')} };`);
        });
        for (const l of lines) body.push(indent() + l);
        row = next;
        break;
      }
      case 'watermark': {
        const v = b.fresh();
        const s = `et${step.slot}`;
        body.push(
          `${indent()}const ${v} = ${propAccess(row, step.column)};`,
          `${indent()}if (${v} != null) { if (${v} > ${s}.max) ${s}.max = ${v}; if (${v} < ${s}.min) ${s}.min = ${v}; ${s}.sum += ${v}; ${s}.count++; }`,
        );
        break;
      }
      case 'map': {
        const f = b.constant(step.fn);
        const next = b.fresh('r');
        if (step.flat) {
          body.push(`${indent()}for (const ${next} of ${f}(${row})) {`);
          depth++;
        } else {
          body.push(`${indent()}const ${next} = ${f}(${row});`);
        }
        row = next;
        break;
      }
    }
  }
  body.push(`${indent()}out.push(${row});`);
  for (; depth > 0; depth--) body.push(`${'  '.repeat(depth)}}`);
  body.push('}');
  const fn = b.build<PipelineFn>(['input', 'out', 'ctx'], body.join('\n'), 'pipeline');
  const names = steps.map(describeStep).join(' → ');
  // Failures inside user functions or casts surface with the pipeline they came from.
  return (input, out, ctx) => {
    try {
      fn(input, out, ctx);
    } catch (e) {
      throw wrapError(e, 'OPERATOR_FAILED', `a row failed in [${names}]`, { operator: 'pipeline' });
    }
  };
}

export function describeStep(s: PipelineStep): string {
  switch (s.kind) {
    case 'filter':
      return `Filter ${exprToString(s.condition)}`;
    case 'project':
      return `Project [${s.exprs
        .map((e) =>
          e.expr.kind === 'col' && e.expr.name === e.name ? e.name : `${exprToString(e.expr)} AS ${e.name}`,
        )
        .join(', ')}]`;
    case 'map':
      return `${s.flat ? 'FlatMap' : 'Map'} ${s.name}`;
    case 'watermark':
      return `EventTimeWatermark ${s.column}`;
  }
}
