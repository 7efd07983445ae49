/**
 * approx_count_distinct(x, rsd = 0.05): a HyperLogLog++ style sketch over a
 * 64-bit hash, as plain data.
 *
 * - Precision p = ceil(2·log2(1.106 / rsd)) as Spark (rsd 0.05 → p = 9, 512
 *   registers; 4 ≤ p ≤ 18).
 * - Sparse mode first (HLL++): a sorted array of (24-bit index, rank) entries,
 *   estimated by linear counting over 2^24 buckets — exact in practice — until
 *   it holds more than m/4 entries; then dense: one byte per register.
 * - Dense estimate: Ertl's improved raw estimator ("New cardinality estimation
 *   algorithms for HyperLogLog sketches", 2017), accurate over the whole range
 *   without HLL++'s empirical bias tables.
 * - merge = union of sparse entries / register max: exact, so merging partial
 *   sketches gives the very sketch of the concatenated input.
 */
import { internalError, userError } from '../../../errors/index.ts';
import { LONG, type DataType } from '../../../schema/index.ts';
import type { AggArgInfo, AggregateDef, AggregateFunction } from '../AggregateFunction.ts';
import { argType, expectAggArg, literalOf } from './common.ts';
import { hash64, hashNumber, hashString, hashValue } from './hash64.ts';

export interface HllBuf {
  /** Precision: 2^p registers when dense. */
  p: number;
  /** Sparse entries `index24 << 6 | rank`, sorted, one per index; null once dense. */
  s: number[] | null;
  /** Dense registers (rank of the first 1-bit after the index bits, 0 = empty); null while sparse. */
  d: Uint8Array | null;
}

/** Bits of the sparse index (HLL++'s p'). */
const SP = 24;
const SPARSE_BUCKETS = 2 ** SP;
export const MIN_PRECISION = 4;
export const MAX_PRECISION = 18;
export const DEFAULT_RSD = 0.05;

/** Spark's precision for a relative standard deviation. */
export function hllPrecision(rsd: number, fn = 'approx_count_distinct'): number {
  if (typeof rsd !== 'number' || !Number.isFinite(rsd) || rsd <= 0) {
    throw userError(
      'INVALID_ARGUMENT',
      `${fn}: rsd (the relative standard deviation, default ${DEFAULT_RSD}) must be a positive number, got ${String(rsd)}`,
    );
  }
  const p = Math.ceil((2 * Math.log(1.106 / rsd)) / Math.LN2);
  if (p < MIN_PRECISION) {
    throw userError(
      'INVALID_ARGUMENT',
      `${fn}: rsd ${rsd} is too large; HLL++ needs at least 4 bits for addressing, use an rsd of at most 0.39`,
    );
  }
  if (p > MAX_PRECISION) {
    const minRsd = 1.106 / 2 ** (MAX_PRECISION / 2);
    throw userError(
      'INVALID_ARGUMENT',
      `${fn}: rsd ${rsd} is too small; the smallest supported is ${minRsd.toFixed(5)} (2^${MAX_PRECISION} registers)`,
    );
  }
  return p;
}

const sparseLimit = (p: number): number => 1 << (p - 2);

export function hllInit(p: number): HllBuf {
  return { p, s: [], d: null };
}

/** Add a 64-bit hash (hi, lo as signed 32-bit integers). */
export function hllAdd(b: HllBuf, hi: number, lo: number): void {
  const d = b.d;
  if (d !== null) {
    const p = b.p;
    const w = hi << p;
    const r = w !== 0 ? Math.clz32(w) + 1 : 33 - p + Math.clz32(lo);
    const idx = hi >>> (32 - p);
    if (r > d[idx]!) d[idx] = r;
    return;
  }
  const s = b.s!;
  const key = hi >>> (32 - SP);
  const w = hi << SP;
  const r = w !== 0 ? Math.clz32(w) + 1 : 33 - SP + Math.clz32(lo);
  let l = 0;
  let h = s.length;
  while (l < h) {
    const mid = (l + h) >>> 1;
    if (s[mid]! >>> 6 < key) l = mid + 1;
    else h = mid;
  }
  if (l < s.length && s[l]! >>> 6 === key) {
    if ((s[l]! & 63) < r) s[l] = (key << 6) | r;
    return;
  }
  s.splice(l, 0, (key << 6) | r);
  if (s.length > sparseLimit(b.p)) toDense(b);
}

/** Put a sparse entry into dense registers of precision p. */
function addEntry(d: Uint8Array, e: number, p: number): void {
  const key = e >>> 6;
  const low = SP - p; // index bits below the dense index
  const idx = key >>> low;
  const bits = key & ((1 << low) - 1);
  const r = bits !== 0 ? Math.clz32(bits) - (32 - low) + 1 : low + (e & 63);
  if (r > d[idx]!) d[idx] = r;
}

function toDense(b: HllBuf): void {
  const d = new Uint8Array(1 << b.p);
  for (const e of b.s!) addEntry(d, e, b.p);
  b.d = d;
  b.s = null;
}

/** Union of `b` into `a` (returns a). */
export function hllMerge(a: HllBuf, b: HllBuf): HllBuf {
  if (a.p !== b.p)
    throw internalError(`approx_count_distinct: cannot merge sketches of precision ${a.p} and ${b.p}`);
  const p = a.p;
  if (b.d !== null) {
    if (a.d === null) {
      const s = a.s!;
      a.d = new Uint8Array(b.d); // a copy: b may live on
      a.s = null;
      for (const e of s) addEntry(a.d, e, p);
    } else {
      const ad = a.d;
      const bd = b.d;
      for (let i = 0; i < ad.length; i++) if (bd[i]! > ad[i]!) ad[i] = bd[i]!;
    }
  } else if (a.d !== null) {
    for (const e of b.s!) addEntry(a.d, e, p);
  } else {
    a.s = mergeSparse(a.s!, b.s!);
    if (a.s.length > sparseLimit(p)) toDense(a);
  }
  return a;
}

function mergeSparse(x: number[], y: number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length && j < y.length) {
    const kx = x[i]! >>> 6;
    const ky = y[j]! >>> 6;
    if (kx < ky) out.push(x[i++]!);
    else if (ky < kx) out.push(y[j++]!);
    else out.push(Math.max(x[i++]!, y[j++]!)); // same key: the larger rank
  }
  while (i < x.length) out.push(x[i++]!);
  while (j < y.length) out.push(y[j++]!);
  return out;
}

const ALPHA_INF = 0.5 / Math.LN2;

function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  let prev: number;
  do {
    x *= x;
    prev = z;
    z += x * y;
    y += y;
  } while (z !== prev);
  return z;
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let prev: number;
  do {
    x = Math.sqrt(x);
    prev = z;
    y *= 0.5;
    z -= (1 - x) * (1 - x) * y;
  } while (z !== prev);
  return z / 3;
}

/** The cardinality estimate (unrounded). */
export function hllEstimate(b: HllBuf): number {
  if (b.d === null) {
    const k = b.s!.length;
    return k === 0 ? 0 : -SPARSE_BUCKETS * Math.log1p(-k / SPARSE_BUCKETS);
  }
  const d = b.d;
  const m = d.length;
  const q = 64 - b.p;
  const c = new Array<number>(q + 2).fill(0);
  for (let i = 0; i < m; i++) c[d[i]!]!++;
  let z = m * tau(1 - c[q + 1]! / m);
  for (let k = q; k >= 1; k--) z = 0.5 * (z + c[k]!);
  z += m * sigma(c[0]! / m);
  return (ALPHA_INF * m * m) / z;
}

const NUMBER_KINDS = new Set(['long', 'double', 'timestamp', 'date']);

/** The aggregate function for values of type `t` at precision p. */
export function hllFunction(p: number, t: DataType): AggregateFunction<HllBuf> {
  const update = NUMBER_KINDS.has(t.kind)
    ? (b: HllBuf, x: unknown): HllBuf => {
        if (x != null) {
          hashNumber(x as number);
          hllAdd(b, hash64.hi, hash64.lo);
        }
        return b;
      }
    : t.kind === 'string'
      ? (b: HllBuf, x: unknown): HllBuf => {
          if (x != null) {
            hashString(x as string);
            hllAdd(b, hash64.hi, hash64.lo);
          }
          return b;
        }
      : (b: HllBuf, x: unknown): HllBuf => {
          if (x != null) {
            hashValue(x);
            hllAdd(b, hash64.hi, hash64.lo);
          }
          return b;
        };
  return {
    init: () => hllInit(p),
    update,
    merge: hllMerge,
    finish: (b) => Math.round(hllEstimate(b)),
  };
}

function precisionArg(args: readonly AggArgInfo[]): number {
  if (args.length < 2) return hllPrecision(DEFAULT_RSD);
  expectAggArg('approx_count_distinct', args, 1, 'rsd', 'numeric');
  return hllPrecision(literalOf('approx_count_distinct', args, 1, 'rsd') as number);
}

/** approx_count_distinct(x, rsd = 0.05): the approximate number of distinct non-null values. */
export const approxCountDistinct: AggregateDef = {
  name: 'approx_count_distinct',
  minArgs: 1,
  maxArgs: 2,
  resultType: (args) => (precisionArg(args), LONG),
  resultNullable: () => false,
  // DISTINCT does not change a distinct count.
  bind: (args) => hllFunction(precisionArg(args), argType(args, 0)),
};
