/**
 * Variance and standard deviation (Spark's CentralMomentAgg): Welford's
 * online update and Chan's parallel merge, with Spark's exact formulas so
 * results agree to the last bit. As in Spark 3.1+, the sample statistics of
 * a single value are null (not NaN).
 */
import { DOUBLE } from '../../../schema/index.ts';
import type { AggArgInfo, AggregateDef, AggregateFunction } from '../AggregateFunction.ts';
import { distinctOf, expectAggArg } from './common.ts';

/** Count, mean and sum of squared deviations of the non-null values. Mutated in place. */
export interface MomentsBuf {
  n: number;
  mean: number;
  m2: number;
}

const init = (): MomentsBuf => ({ n: 0, mean: 0, m2: 0 });

const update = (b: MomentsBuf, x: unknown): MomentsBuf => {
  if (x == null) return b;
  const n = b.n + 1;
  const delta = (x as number) - b.mean;
  const deltaN = delta / n;
  b.mean += deltaN;
  b.m2 += delta * (delta - deltaN);
  b.n = n;
  return b;
};

const merge = (a: MomentsBuf, b: MomentsBuf): MomentsBuf => {
  if (b.n === 0) return a;
  if (a.n === 0) {
    a.n = b.n;
    a.mean = b.mean;
    a.m2 = b.m2;
    return a;
  }
  const n = a.n + b.n;
  const delta = b.mean - a.mean;
  const deltaN = delta / n;
  a.mean += deltaN * b.n;
  a.m2 = a.m2 + b.m2 + delta * deltaN * a.n * b.n;
  a.n = n;
  return a;
};

type Stat = (b: MomentsBuf) => number | null;
const varPop: Stat = (b) => (b.n === 0 ? null : b.m2 / b.n);
const varSamp: Stat = (b) => (b.n <= 1 ? null : b.m2 / (b.n - 1));
const stdPop: Stat = (b) => (b.n === 0 ? null : Math.sqrt(b.m2 / b.n));
const stdSamp: Stat = (b) => (b.n <= 1 ? null : Math.sqrt(b.m2 / (b.n - 1)));

function momentsDef(name: string, finish: Stat, sample: boolean): AggregateDef {
  const fn: AggregateFunction<MomentsBuf> = { init, update, merge, finish };
  return {
    name,
    minArgs: 1,
    maxArgs: 1,
    resultType: (args) => (expectAggArg(name, args, 0, 'value', 'numeric'), DOUBLE),
    // Sample statistics of one value are null.
    resultNullable: (args: readonly AggArgInfo[]) =>
      sample || !args[0] || args[0].nullable || args[0].type.kind === 'null',
    bind: (args, { distinct }) => (distinct ? distinctOf(fn, args) : fn),
  };
}

export const varPopDef: AggregateDef = momentsDef('var_pop', varPop, false);
export const varSampDef: AggregateDef = momentsDef('var_samp', varSamp, true);
/** variance = var_samp. */
export const varianceDef: AggregateDef = momentsDef('variance', varSamp, true);
export const stddevPopDef: AggregateDef = momentsDef('stddev_pop', stdPop, false);
export const stddevSampDef: AggregateDef = momentsDef('stddev_samp', stdSamp, true);
/** stddev (alias std) = stddev_samp. */
export const stddevDef: AggregateDef = momentsDef('stddev', stdSamp, true);
export const stdDef: AggregateDef = momentsDef('std', stdSamp, true);

export const statsAggregates: readonly AggregateDef[] = [
  varPopDef,
  varSampDef,
  varianceDef,
  stddevPopDef,
  stddevSampDef,
  stddevDef,
  stdDef,
];
