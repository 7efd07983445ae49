/**
 * The built-in aggregates by Spark SQL name, and their lookup for plans:
 * `lookupAggregate('sum')`. Spark's aliases (mean, std, every, some, any,
 * first_value, last_value, array_agg, approx_percentile) are definitions of
 * their own, so error messages say the name the user wrote.
 */
import { userError } from '../../errors/index.ts';
import { BUILTIN_FUNCTIONS } from '../../expr/functions/registry.ts';
import type { AggregateDef } from './AggregateFunction.ts';
import { basicAggregates } from './builtins/basic.ts';
import { collectAggregates } from './builtins/collect.ts';
import { approxCountDistinct } from './builtins/hll.ts';
import { approxPercentile, percentileApprox } from './builtins/kll.ts';
import { statsAggregates } from './builtins/stats.ts';

const ALL: readonly AggregateDef[] = [
  ...basicAggregates,
  ...statsAggregates,
  ...collectAggregates,
  approxCountDistinct,
  percentileApprox,
  approxPercentile,
];

function build(): Map<string, AggregateDef> {
  const m = new Map<string, AggregateDef>();
  for (const d of ALL) {
    if (m.has(d.name)) throw new Error(`internal: built-in aggregate "${d.name}" is defined twice`);
    m.set(d.name, d);
  }
  return m;
}

/** Every built-in aggregate by its SQL name (aliases included). Immutable after module load. */
export const BUILTIN_AGGREGATES: ReadonlyMap<string, AggregateDef> = build();

const SHOWN = [
  'count',
  'sum',
  'avg',
  'min',
  'max',
  'collect_list',
  'approx_count_distinct',
  'percentile_approx',
];

/** The built-in aggregate named `name` (case-insensitive), or a clear error. */
export function lookupAggregate(name: string): AggregateDef {
  const key = String(name).toLowerCase();
  const d = BUILTIN_AGGREGATES.get(key);
  if (d) return d;
  const near = closest(key);
  const hint = near ? ` Did you mean "${near}"?` : '';
  const scalar = BUILTIN_FUNCTIONS.has(key) ? ` "${name}" is a row function, not an aggregate.` : '';
  throw userError(
    'UNKNOWN_FUNCTION',
    `no built-in aggregate named "${name}".${scalar}${hint} Known aggregates include ${SHOWN.join(', ')} ` +
      `(${BUILTIN_AGGREGATES.size} in all); use udaf() for your own`,
  );
}

/** The known name nearest to `s` by edit distance, when close enough to be a typo. */
function closest(s: string): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(1, Math.floor(s.length / 3)) + 1;
  for (const k of BUILTIN_AGGREGATES.keys()) {
    const d = editDistance(s, k, bestD);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}

function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) return limit;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
