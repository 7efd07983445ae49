/**
 * percentile_approx(x, percentage | array of percentages, accuracy = 10000)
 * over a KLL sketch (Karnin, Lang, Liberty 2016) kept as plain data.
 *
 * The sketch is a stack of levels; an item at level h stands for 2^h input
 * values. Level 0 takes new values unsorted; when the sketch holds more than
 * its capacity, the lowest level over its own capacity (k·(2/3)^depth, at
 * least 8) is sorted and compacted: every other item (random offset) moves up
 * a level, the others are dropped. Merging two sketches concatenates levels
 * and compacts, so partial sketches merge with the same error guarantee.
 * Randomness comes from a xorshift state in the buffer: results are
 * deterministic for a given input order (replays give identical results).
 *
 * k = ceil(K_PER_ACCURACY · accuracy): with that, the rank error stays within
 * Spark's documented bound n/accuracy (measured on 100k values; see the tests).
 * Until a group holds about 2k values nothing is compacted and answers are
 * exact. Like Spark, answers below 1/accuracy (above 1 − 1/accuracy) are the
 * exact minimum (maximum), which the sketch tracks separately.
 *
 * The answer for percentage p is the smallest retained value whose weighted
 * rank reaches ceil(p·n): on exact data, Spark's "smallest value such that no
 * more than p of the values are smaller or equal".
 */
import { internalError, userError } from '../../../errors/index.ts';
import { DOUBLE, type DataType, typeToString } from '../../../schema/index.ts';
import type { AggArgInfo, AggregateDef, AggregateFunction } from '../AggregateFunction.ts';
import { argType, distinctOf, expectAggArg, literalOf } from './common.ts';

export interface KllBuf {
  /** The size parameter: the capacity of the top level. */
  k: number;
  /** Non-null values seen. */
  n: number;
  /** Exact minimum and maximum (Spark's order: NaN is the largest); meaningful when n > 0. */
  min: number;
  max: number;
  /** levels[0] unsorted; levels[h ≥ 1] sorted ascending (NaN last). An item at level h weighs 2^h. */
  levels: number[][];
  /** Items retained (sum of the level lengths). */
  size: number;
  /** The total capacity for the current number of levels; compaction when size reaches it. */
  cap: number;
  /** xorshift32 state for the compaction offsets. */
  rng: number;
}

export const DEFAULT_ACCURACY = 10000;
/** k per unit of accuracy; see the percentile tests for the measured rank errors. */
export const K_PER_ACCURACY = 2;
const MIN_WIDTH = 8;
const RNG_SEED = 0x6d2b79f5;

export function kllK(accuracy: number): number {
  return Math.max(MIN_WIDTH, Math.ceil(accuracy * K_PER_ACCURACY));
}

function levelCapacity(k: number, levels: number, h: number): number {
  return Math.max(MIN_WIDTH, Math.ceil(k * Math.pow(2 / 3, levels - 1 - h)));
}

function totalCapacity(k: number, levels: number): number {
  let c = 0;
  for (let h = 0; h < levels; h++) c += levelCapacity(k, levels, h);
  return c;
}

export function kllInit(k: number): KllBuf {
  return { k, n: 0, min: 0, max: 0, levels: [[]], size: 0, cap: totalCapacity(k, 1), rng: RNG_SEED };
}

export function kllUpdate(b: KllBuf, x: number): KllBuf {
  if (b.n === 0) {
    b.min = x;
    b.max = x;
  } else {
    if (b.min !== b.min ? x === x : x < b.min) b.min = x;
    if (x !== x ? b.max === b.max : x > b.max) b.max = x;
  }
  b.n++;
  b.levels[0]!.push(x);
  if (++b.size >= b.cap) compress(b);
  return b;
}

let scratch = new Float64Array(1024);

/** Sort numbers ascending in place, NaN last (a typed-array sort, much faster than a comparator). */
function sortNumbers(a: number[]): void {
  const n = a.length;
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, scratch.length * 2));
  for (let i = 0; i < n; i++) scratch[i] = a[i]!;
  const v = scratch.subarray(0, n).sort();
  for (let i = 0; i < n; i++) a[i] = v[i]!;
}

const lessOrEqual = (a: number, b: number): boolean => a <= b || b !== b;

function mergeSorted(x: number[], y: number[]): number[] {
  if (x.length === 0) return y;
  if (y.length === 0) return x;
  const out = new Array<number>(x.length + y.length);
  let i = 0;
  let j = 0;
  let o = 0;
  while (i < x.length && j < y.length) out[o++] = lessOrEqual(x[i]!, y[j]!) ? x[i++]! : y[j++]!;
  while (i < x.length) out[o++] = x[i++]!;
  while (j < y.length) out[o++] = y[j++]!;
  return out;
}

function nextBit(b: KllBuf): number {
  let x = b.rng | 0;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  b.rng = x;
  return x & 1;
}

/** Compact the lowest level over its capacity (one level per call). */
function compress(b: KllBuf): void {
  const levels = b.levels;
  const H = levels.length;
  let h = 0;
  while (h < H - 1 && levels[h]!.length < levelCapacity(b.k, H, h)) h++;
  if (h === H - 1) levels.push([]);
  const lv = levels[h]!;
  if (h === 0) sortNumbers(lv);
  const odd = lv.length & 1;
  const promoted: number[] = [];
  for (let i = odd + nextBit(b); i < lv.length; i += 2) promoted.push(lv[i]!);
  lv.length = odd; // an odd item (the smallest) stays
  levels[h + 1] = mergeSorted(levels[h + 1]!, promoted);
  b.size -= promoted.length;
  b.cap = totalCapacity(b.k, levels.length);
}

/** Merge `b` into `a` (returns a). */
export function kllMerge(a: KllBuf, b: KllBuf): KllBuf {
  if (b.n === 0) return a;
  if (a.k !== b.k) throw internalError(`percentile_approx: cannot merge sketches with k ${a.k} and ${b.k}`);
  if (a.n === 0) {
    a.min = b.min;
    a.max = b.max;
  } else {
    if (a.min !== a.min ? b.min === b.min : b.min < a.min) a.min = b.min;
    if (b.max !== b.max ? a.max === a.max : b.max > a.max) a.max = b.max;
  }
  a.n += b.n;
  while (a.levels.length < b.levels.length) a.levels.push([]);
  const l0 = a.levels[0]!;
  for (const x of b.levels[0]!) l0.push(x);
  for (let h = 1; h < b.levels.length; h++) a.levels[h] = mergeSorted(a.levels[h]!, b.levels[h]!.slice());
  a.size += b.size;
  a.rng = (a.rng ^ Math.imul(b.rng, 0x9e3779b1)) | 0 || RNG_SEED;
  a.cap = totalCapacity(a.k, a.levels.length);
  while (a.size >= a.cap) compress(a);
  return a;
}

/** The values at the given percentages (each in [0, 1]); null when the sketch is empty. */
export function kllQuantiles(b: KllBuf, ps: readonly number[], eps: number): number[] | null {
  if (b.n === 0) return null;
  // Merge the levels into one sorted run with cumulative weights.
  let vals: number[] = [];
  let cum: number[] = [];
  for (let h = 0; h < b.levels.length; h++) {
    let lv = b.levels[h]!;
    if (lv.length === 0) continue;
    if (h === 0) {
      lv = lv.slice();
      sortNumbers(lv);
    }
    const w = 2 ** h;
    const nv: number[] = new Array(vals.length + lv.length);
    const nw: number[] = new Array(vals.length + lv.length);
    let i = 0;
    let j = 0;
    let o = 0;
    // cum holds per-item weights until the end.
    while (i < vals.length || j < lv.length) {
      if (j >= lv.length || (i < vals.length && lessOrEqual(vals[i]!, lv[j]!))) {
        nv[o] = vals[i]!;
        nw[o++] = cum[i++]!;
      } else {
        nv[o] = lv[j++]!;
        nw[o++] = w;
      }
    }
    vals = nv;
    cum = nw;
  }
  for (let i = 1; i < cum.length; i++) cum[i]! += cum[i - 1]!;
  const n = b.n;
  return ps.map((p) => {
    if (p <= eps) return b.min;
    if (p >= 1 - eps) return b.max;
    const r = Math.max(1, Math.ceil(p * n));
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cum[mid]! < r) lo = mid + 1;
      else hi = mid;
    }
    return vals[lo]!;
  });
}

// ---------------------------------------------------------------------------
// The aggregate

const FN = 'percentile_approx';
const MAX_ACCURACY = 2147483647;

interface PercentileArgs {
  readonly percentages: readonly number[];
  readonly isArray: boolean;
  readonly accuracy: number;
}

function checkPercentage(fn: string, p: unknown): number {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) {
    throw userError(
      'INVALID_ARGUMENT',
      `${fn}: each percentage must be a number between 0.0 and 1.0, got ${JSON.stringify(p) ?? String(p)}`,
    );
  }
  return p;
}

function parseArgs(fn: string, args: readonly AggArgInfo[]): PercentileArgs {
  expectAggArg(fn, args, 0, 'value', 'long', 'double', 'timestamp', 'date');
  const pt = argType(args, 1);
  if (!(
    pt.kind === 'long' ||
    pt.kind === 'double' ||
    (pt.kind === 'array' && ['long', 'double'].includes(pt.element.kind))
  )) {
    throw userError(
      'INVALID_ARGUMENT_TYPE',
      `${fn}: argument 2 (percentage) must be double or array<double>, got ${typeToString(pt)}`,
    );
  }
  const pv = literalOf(fn, args, 1, 'percentage');
  const isArray = Array.isArray(pv);
  const percentages = isArray
    ? (pv as unknown[]).map((p) => checkPercentage(fn, p))
    : [checkPercentage(fn, pv)];
  if (isArray && percentages.length === 0) {
    throw userError('INVALID_ARGUMENT', `${fn}: give at least one percentage`);
  }
  let accuracy = DEFAULT_ACCURACY;
  if (args.length > 2) {
    expectAggArg(fn, args, 2, 'accuracy', 'long');
    const a = literalOf(fn, args, 2, 'accuracy');
    if (typeof a !== 'number' || !Number.isInteger(a) || a <= 0 || a > MAX_ACCURACY) {
      throw userError(
        'INVALID_ARGUMENT',
        `${fn}: accuracy must be a positive integer (at most ${MAX_ACCURACY}, default ${DEFAULT_ACCURACY}), got ${String(a)}`,
      );
    }
    accuracy = a;
  }
  return { percentages, isArray, accuracy };
}

export function percentileFunction(a: PercentileArgs): AggregateFunction<KllBuf> {
  const k = kllK(a.accuracy);
  const eps = 1 / a.accuracy;
  return {
    init: () => kllInit(k),
    update: (b, x) => (x == null ? b : kllUpdate(b, x as number)),
    merge: kllMerge,
    finish: (b) => {
      const r = kllQuantiles(b, a.percentages, eps);
      return r === null ? null : a.isArray ? r : r[0]!;
    },
  };
}

function percentileDef(name: string): AggregateDef {
  return {
    name,
    minArgs: 2,
    maxArgs: 3,
    resultType: (args) => {
      const { isArray } = parseArgs(name, args);
      const t0 = argType(args, 0);
      const t: DataType = t0.kind === 'null' ? DOUBLE : t0;
      return isArray ? { kind: 'array', element: t, containsNull: false } : t;
    },
    resultNullable: (args) => !args[0] || args[0].nullable || args[0].type.kind === 'null',
    bind: (args, { distinct }) => {
      const f = percentileFunction(parseArgs(name, args));
      return distinct ? distinctOf(f, args) : f;
    },
  };
}

/** percentile_approx(x, p | [p…], accuracy = 10000): approximate percentiles with rank error ≤ n/accuracy. */
export const percentileApprox: AggregateDef = percentileDef(FN);
/** approx_percentile: Spark's alias of percentile_approx. */
export const approxPercentile: AggregateDef = percentileDef('approx_percentile');
