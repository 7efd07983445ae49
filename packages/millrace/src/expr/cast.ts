/**
 * CAST semantics (Spark, non-ANSI): an impossible conversion of a value gives
 * null, not an error; an impossible conversion of a type fails at analysis.
 * timestamp ↔ long counts seconds, as in Spark.
 */
import { type DataType, type DataTypeKind, typeToString } from '../schema/index.ts';
import { MS_PER_DAY, formatDate, formatTimestamp } from './temporal.ts';
import { parseDateStrict, parseTimestampStrict } from './functions/datetime.ts';
import { javaDoubleToString } from './functions/math.ts';

type Conv = (v: any) => unknown;

// Spark reads decimal text only: no hex ('0x10'), no exponent for integral targets.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)$/;
const FLOATING = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(Infinity|NaN)$/;

const toNumber = (v: string): number | null => {
  const s = v.trim();
  return FLOATING.test(s) ? Number(s) : null;
};

const toLong = (v: string): number | null => {
  const s = v.trim();
  return DECIMAL.test(s) ? Math.trunc(Number(s)) : null;
};

const truncLong = (n: number): number | null => (Number.isFinite(n) ? Math.trunc(n) : null);

const CASTS: Partial<Record<DataTypeKind, Partial<Record<DataTypeKind, Conv>>>> = {
  string: {
    long: (v: string) => toLong(v),
    double: (v: string) => toNumber(v),
    boolean: (v: string) => {
      const s = v.trim().toLowerCase();
      return ['true', 't', 'yes', 'y', '1'].includes(s)
        ? true
        : ['false', 'f', 'no', 'n', '0'].includes(s)
          ? false
          : null;
    },
    timestamp: (v: string) => parseTimestampStrict(v),
    date: (v: string) => parseDateStrict(v),
    binary: (v: string) => new TextEncoder().encode(v),
  },
  long: {
    string: (v: number) => String(v),
    double: (v: number) => v,
    boolean: (v: number) => v !== 0,
    timestamp: (v: number) => v * 1000,
  },
  double: {
    string: (v: number) => javaDoubleToString(v),
    long: (v: number) => truncLong(v),
    boolean: (v: number) => v !== 0,
    timestamp: (v: number) => (Number.isFinite(v) ? Math.floor(v * 1000) : null),
  },
  boolean: {
    string: (v: boolean) => String(v),
    long: (v: boolean) => (v ? 1 : 0),
    double: (v: boolean) => (v ? 1 : 0),
  },
  timestamp: {
    string: (v: number) => formatTimestamp(v),
    long: (v: number) => Math.floor(v / 1000),
    double: (v: number) => v / 1000,
    date: (v: number) => Math.floor(v / MS_PER_DAY),
  },
  date: {
    string: (v: number) => formatDate(v),
    timestamp: (v: number) => v * MS_PER_DAY,
  },
  binary: { string: (v: Uint8Array) => new TextDecoder().decode(v) },
  json: {
    string: (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v)),
    long: (v: unknown) =>
      typeof v === 'number' ? truncLong(v) : typeof v === 'string' ? CASTS.string!.long!(v) : null,
    double: (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' ? toNumber(v) : null),
    boolean: (v: unknown) => (typeof v === 'boolean' ? v : null),
  },
};

/** Why this cast is impossible, or undefined when it is allowed. */
export function checkCast(from: DataType, to: DataType): string | undefined {
  if (from.kind === to.kind || from.kind === 'null') return undefined;
  if (to.kind === 'string' && (from.kind === 'array' || from.kind === 'struct')) return undefined;
  if (CASTS[from.kind]?.[to.kind]) return undefined;
  return `cannot cast ${typeToString(from)} to ${typeToString(to)}`;
}

/** Whether a non-null input can still give null (a string that is not a number, …). */
export function castNullable(from: DataType, to: DataType): boolean {
  if (from.kind === to.kind) return false;
  return from.kind === 'string' || from.kind === 'json' || (from.kind === 'double' && to.kind !== 'string');
}

/** The conversion for non-null values. */
export function castFunction(from: DataType, to: DataType): Conv {
  if (from.kind === to.kind || from.kind === 'null') return (v) => v;
  if (to.kind === 'string' && (from.kind === 'array' || from.kind === 'struct'))
    return (v) => JSON.stringify(v);
  const f = CASTS[from.kind]?.[to.kind];
  if (!f) throw new Error(`cannot cast ${typeToString(from)} to ${typeToString(to)}`);
  return f;
}
