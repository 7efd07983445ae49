/**
 * A plan's fingerprint: what must be the same in the driver and every worker for their tasks to
 * fit together — the physical plan as explain() prints it (operators, keys, exchanges and their
 * partitioning, fused steps, UDF names), the state layout, and the sources' names and schemas. It
 * cannot see inside a UDF: two builds that differ only in a function's body look alike.
 */
import { createHash } from 'node:crypto';
import { explainPhysical } from './explain.ts';
import type { PhysicalPlan, PhysicalQuery } from './physical.ts';
import { canonicalJson } from '../util/json.ts';

export function planFingerprint(plan: PhysicalQuery): string {
  const text = canonicalJson({
    plan: explainPhysical(plan.root),
    numPartitions: plan.numPartitions,
    operators: plan.statefulOperators.map((o) => o.stateInfo),
    sources: plan.sources.map((s) => ({ name: s.name, schema: s.schema.fields })),
    watermarks: plan.watermarks,
  });
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** Each exchange node's index in a pre-order walk: the name both ends of an exchange use. */
export function exchangeIds(root: PhysicalPlan): Map<PhysicalPlan, number> {
  const ids = new Map<PhysicalPlan, number>();
  const walk = (n: PhysicalPlan): void => {
    if (n.kind === 'exchange') ids.set(n, ids.size);
    if (n.kind === 'scan') return;
    if (n.kind === 'union') n.inputs.forEach(walk);
    else if (n.kind === 'join') {
      walk(n.left);
      walk(n.right);
    } else walk(n.input);
  };
  walk(root);
  return ids;
}
