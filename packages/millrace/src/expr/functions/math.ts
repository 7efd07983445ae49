/**
 * Math functions (Spark SQL names, Spark semantics). Rounding works on the
 * shortest decimal representation of a double, as Spark's BigDecimal(d) does,
 * so round(2.675, 2) is 2.68 (HALF_UP), not the 2.67 of binary arithmetic.
 */
import { userError } from '../../errors/index.ts';
import { BOOLEAN, DOUBLE, LONG, type DataType } from '../../schema/index.ts';
import type { ArgInfo, FunctionDef } from './FunctionDef.ts';
import { expectArg } from './argcheck.ts';

// ---------------------------------------------------------------------------
// Decimal rounding

type RoundingMode = 'half_up' | 'half_even';

/**
 * |x| rounded to `scale` decimal places (negative: tens, hundreds, …) as
 * [digits, exponent]: the result is digits × 10^exponent. x must be finite.
 */
function roundDigits(x: number, scale: number, mode: RoundingMode): [string, number] {
  const [mant, e] = Math.abs(x).toExponential().split('e');
  const digits = mant!.replace('.', '');
  const point = Number(e) + 1; // digits before the decimal point
  const keep = point + scale; // digits kept
  if (keep < 0) return ['0', -scale];
  if (keep >= digits.length) return [digits, point - digits.length];
  const kept = digits.slice(0, keep);
  const r = digits.charCodeAt(keep) - 48;
  let up: boolean;
  if (mode === 'half_up') up = r >= 5;
  else {
    const restNonZero = /[1-9]/.test(digits.slice(keep + 1));
    const lastOdd = keep > 0 && (digits.charCodeAt(keep - 1) - 48) % 2 === 1;
    up = r > 5 || (r === 5 && (restNonZero || lastOdd));
  }
  if (!up) return [kept === '' ? '0' : kept, -scale];
  return [kept === '' ? '1' : (BigInt(kept) + 1n).toString(), -scale];
}

/** Spark's round (HALF_UP) / bround (HALF_EVEN) of a double or long to `scale` places. */
export function roundNumber(x: number, scale: number, mode: RoundingMode): number {
  if (!Number.isFinite(x) || x === 0) return x === 0 ? 0 : x;
  if (Number.isInteger(x) && scale >= 0) return x;
  const [d, exp] = roundDigits(x, scale, mode);
  const v = Number(`${d}e${exp}`);
  return v === 0 ? 0 : x < 0 ? -v : v;
}

/** |x| with exactly `precision` fraction digits, rounded HALF_UP (Java's %.nf). x must be finite. */
export function toFixedHalfUp(x: number, precision: number): string {
  const [d, exp] = roundDigits(x, precision, 'half_up');
  // d × 10^exp where exp = -precision, or exp > -precision when the digits ran out.
  let digits = d + '0'.repeat(Math.max(0, exp + precision));
  if (precision === 0) return digits;
  digits = digits.padStart(precision + 1, '0');
  return `${digits.slice(0, -precision)}.${digits.slice(-precision)}`;
}

/** Java's Double.toString: `1.0`, `0.001`, `1.0E7`, `1.5E-5`. */
export function javaDoubleToString(d: number): string {
  if (Number.isNaN(d)) return 'NaN';
  if (!Number.isFinite(d)) return d > 0 ? 'Infinity' : '-Infinity';
  if (d === 0) return Object.is(d, -0) ? '-0.0' : '0.0';
  const a = Math.abs(d);
  if (a >= 1e-3 && a < 1e7) {
    const s = String(d);
    return s.includes('.') ? s : `${s}.0`;
  }
  const [mant, exp] = d.toExponential().split('e');
  return `${mant!.includes('.') ? mant : `${mant}.0`}E${Number(exp)}`;
}

// ---------------------------------------------------------------------------
// Definitions

const num = (name: string, a: readonly ArgInfo[], ...idx: number[]) => {
  for (const i of idx) expectArg(name, a, i, 'numeric');
};

/** Result type of a numeric function that keeps longs as longs. */
const sameNumeric = (t: DataType): DataType => (t.kind === 'double' ? DOUBLE : LONG);

/** A double → double function of one argument. */
function doubleFn(name: string, f: (x: number) => number, inline?: string): FunctionDef {
  return {
    name,
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (num(name, a, 0), DOUBLE),
    impl: () => f,
    ...(inline ? { inline: ([x]: readonly string[]) => `${inline}(${x})` } : {}),
  };
}

/** A logarithm: null for arguments ≤ `min` (Spark). */
function logFn(name: string, f: (x: number) => number, min = 0): FunctionDef {
  return {
    name,
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (num(name, a, 0), DOUBLE),
    resultNullable: () => true,
    impl: () => (x: number) => (x <= min ? null : f(x)),
  };
}

function roundDef(name: string, mode: RoundingMode): FunctionDef {
  return {
    name,
    minArgs: 1,
    maxArgs: 2,
    returnType: (a) => {
      num(name, a, 0);
      expectArg(name, a, 1, 'long');
      if (a[1] && !a[1].literal) {
        throw userError('INVALID_ARGUMENT_TYPE', `${name}: argument 2 (scale) must be a literal long`);
      }
      return a[0]!.type.kind === 'null' ? DOUBLE : sameNumeric(a[0]!.type);
    },
    impl: (a) => {
      const scale = (a[1]?.literal?.value as number | null | undefined) ?? 0;
      if (a[0]!.type.kind === 'long' && scale >= 0) return (x: number) => x;
      return (x: number) => roundNumber(x, scale, mode);
    },
  };
}

function floorCeil(name: string, f: 'floor' | 'ceil'): FunctionDef {
  return {
    name,
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (num(name, a, 0), LONG),
    impl: () => Math[f],
    inline: ([x], a) => (a[0]!.type.kind === 'long' ? x : `Math.${f}(${x})`),
  };
}

export const mathFunctions: FunctionDef[] = [
  {
    name: 'abs',
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (num('abs', a, 0), a[0]!.type.kind === 'null' ? LONG : sameNumeric(a[0]!.type)),
    impl: () => Math.abs,
    inline: ([x]) => `Math.abs(${x})`,
  },
  roundDef('round', 'half_up'),
  roundDef('bround', 'half_even'),
  floorCeil('floor', 'floor'),
  floorCeil('ceil', 'ceil'),
  floorCeil('ceiling', 'ceil'),
  doubleFn('sqrt', Math.sqrt, 'Math.sqrt'),
  doubleFn('cbrt', Math.cbrt, 'Math.cbrt'),
  doubleFn('exp', Math.exp, 'Math.exp'),
  doubleFn('expm1', Math.expm1, 'Math.expm1'),
  doubleFn('sin', Math.sin, 'Math.sin'),
  doubleFn('cos', Math.cos, 'Math.cos'),
  doubleFn('tan', Math.tan, 'Math.tan'),
  doubleFn('asin', Math.asin, 'Math.asin'),
  doubleFn('acos', Math.acos, 'Math.acos'),
  doubleFn('atan', Math.atan, 'Math.atan'),
  doubleFn('signum', Math.sign, 'Math.sign'),
  doubleFn('sign', Math.sign, 'Math.sign'),
  doubleFn('degrees', (x) => (x * 180) / Math.PI),
  doubleFn('radians', (x) => (x * Math.PI) / 180),
  {
    name: 'pow',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => (num('pow', a, 0, 1), DOUBLE),
    impl: () => Math.pow,
    inline: ([x, y]) => `Math.pow(${x}, ${y})`,
  },
  {
    name: 'power',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => (num('power', a, 0, 1), DOUBLE),
    impl: () => Math.pow,
    inline: ([x, y]) => `Math.pow(${x}, ${y})`,
  },
  {
    name: 'atan2',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => (num('atan2', a, 0, 1), DOUBLE),
    impl: () => Math.atan2,
  },
  {
    // log(x) is the natural logarithm; log(base, x) as in Spark. Null for x ≤ 0 or base ≤ 0.
    name: 'log',
    minArgs: 1,
    maxArgs: 2,
    returnType: (a) => (num('log', a, 0, 1), DOUBLE),
    resultNullable: () => true,
    impl: (a) =>
      a.length === 1
        ? (x: number) => (x <= 0 ? null : Math.log(x))
        : (base: number, x: number) => (x <= 0 || base <= 0 ? null : Math.log(x) / Math.log(base)),
  },
  logFn('ln', Math.log),
  logFn('log10', Math.log10),
  logFn('log2', Math.log2),
  logFn('log1p', Math.log1p, -1),
  {
    // Positive modulo; null when the divisor is 0.
    name: 'pmod',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => {
      num('pmod', a, 0, 1);
      return a[0]!.type.kind === 'double' || a[1]!.type.kind === 'double' ? DOUBLE : LONG;
    },
    resultNullable: () => true,
    impl: () => (x: number, y: number) => {
      if (y === 0) return null;
      const r = x % y;
      return r < 0 ? (r + y) % y : r;
    },
  },
  {
    name: 'isnan',
    minArgs: 1,
    maxArgs: 1,
    nulls: 'handled',
    returnType: (a) => (num('isnan', a, 0), BOOLEAN),
    resultNullable: () => false,
    impl: () => (x: number | null) => x != null && Number.isNaN(x),
  },
];
