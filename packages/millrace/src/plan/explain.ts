/** Plan rendering for explain(): Spark-like trees, `+-` per child. */
import { exprToString } from '../expr/Expr.ts';
import { describeStep } from '../operators/pipeline.ts';
import type { LogicalPlan, PlanKind, PlanOf } from './logical.ts';
import { children } from './logical.ts';
import { type PhysicalPlan, planPhysical, watermarkDelaysOf } from './physical.ts';
import { optimize } from './optimizer.ts';
import { typeToString } from '../schema/index.ts';
import { aggToString } from './bindAggregate.ts';
import { keyedKeyString, keyedOptionsString } from './keyedNode.ts';
import { describeJoin } from './joinNode.ts';
import type { StatefulOperator } from '../operators/StatefulOperator.ts';
import { describePartitioning } from './partitioning.ts';

const logicalLine: { [K in PlanKind]: (p: PlanOf<K>) => string } = {
  source: (p) => `StreamingRelation ${p.source.name}: ${p.source.describe()} ${fieldsOf(p)}`,
  project: (p) =>
    `Project [${p.exprs.map((e) => (e.expr.kind === 'col' && e.expr.name === e.name ? e.name : `${exprToString(e.expr)} AS ${e.name}`)).join(', ')}]`,
  filter: (p) => `Filter ${exprToString(p.condition)}`,
  map: (p) => `${p.flat ? 'FlatMap' : 'Map'} ${p.name} ${fieldsOf(p)}`,
  union: () => 'Union',
  watermark: (p) => `EventTimeWatermark ${p.column}, ${p.delayMs} ms`,
  aggregate: (p) =>
    `Aggregate [${p.keys.map((k) => (k.expr.kind === 'col' && k.expr.name === k.name ? k.name : `${exprToString(k.expr)} AS ${k.name}`)).join(', ')}], [${p.aggs.map((a) => `${aggToString(a.agg)} AS ${a.name}`).join(', ')}]`,
  dedup: (p) =>
    `${p.withinWatermark ? 'DeduplicateWithinWatermark' : 'Deduplicate'} [${p.columns.join(', ')}]`,
  join: (p) => `Join ${describeJoin(p)} ${fieldsOf(p)}`,
  lookupJoin: (p) =>
    `LookupJoin ${describeJoin(p)} with table ${p.table.name}: ${p.table.describe()} ${fieldsOf(p)}`,
  keyed: (p) =>
    `ProcessWithState${p.options.name ? ` ${p.options.name}` : ''} key=[${keyedKeyString(p)}] ${keyedOptionsString(p)} ${fieldsOf(p)}`,
};

function fieldsOf(p: LogicalPlan): string {
  return `[${p.schema.fields.map((f) => `${f.name}: ${typeToString(f.type)}`).join(', ')}]`;
}

function tree<T>(root: T, line: (n: T) => string, kids: (n: T) => readonly T[]): string {
  const out: string[] = [];
  const walk = (n: T, prefix: string, isChild: boolean) => {
    out.push(`${prefix}${isChild ? '+- ' : ''}${line(n)}`);
    for (const c of kids(n)) walk(c, isChild ? prefix + '   ' : prefix, true);
  };
  walk(root, '', false);
  return out.join('\n');
}

export function explainLogical(p: LogicalPlan): string {
  return tree(p, (n) => (logicalLine[n.kind] as (x: LogicalPlan) => string)(n), children);
}

export function explainPhysical(p: PhysicalPlan): string {
  const delays = watermarkDelaysOf(p);
  const delayed = (n: { operator: StatefulOperator }) => {
    const d = delays.get(n.operator.operatorId);
    return d === undefined ? '' : `, input watermark − ${d} ms (after a time-range join)`;
  };
  return tree(
    p,
    (n) => {
      switch (n.kind) {
        case 'scan':
          return `MicroBatchScan ${n.source.name}: ${n.source.describe()}`;
        case 'union':
          return 'Union';
        case 'pipeline':
          return `*Pipeline (fused, compiled) [${n.steps.map(describeStep).join(' → ')}]`;
        case 'exchange':
          return `Exchange ${describePartitioning(n.partitioning)}`;
        case 'partialAggregate':
          return `PartialAggregate ${n.operator.operatorId} (per task, before the exchange)`;
        case 'stateful':
        case 'join':
          return (
            n.describe +
            delayed(n) +
            (n.partitions.length > 1 ? `, ${n.partitions.length} state partitions` : '')
          );
      }
    },
    (n) =>
      n.kind === 'scan'
        ? []
        : n.kind === 'union'
          ? n.inputs
          : n.kind === 'join'
            ? [n.left, n.right]
            : [n.input],
  );
}

/**
 * What `explain()` prints: the logical, optimized and physical plans. Pass the physical plan
 * when it exists already (start() has compiled it) so it is not planned a second time.
 */
export function explainPlans(
  logical: LogicalPlan,
  physical: PhysicalPlan = planPhysical(logical).root,
): string {
  return [
    `== Logical Plan ==\n${explainLogical(logical)}`,
    `== Optimized Logical Plan ==\n${explainLogical(optimize(logical))}`,
    `== Physical Plan ==\n${explainPhysical(physical)}`,
  ].join('\n\n');
}
