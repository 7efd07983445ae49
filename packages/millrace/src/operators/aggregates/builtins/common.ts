/**
 * Shared pieces of the built-in aggregates: argument checks with clear
 * errors, Spark's value ordering, canonical keys for DISTINCT and
 * collect_set, and the generic DISTINCT wrapper.
 */
import { userError } from '../../../errors/index.ts';
import { type DataType, type DataTypeKind, isNumeric, typeToString } from '../../../schema/index.ts';
import type { AggArgInfo, AggregateFunction } from '../AggregateFunction.ts';

// ---------------------------------------------------------------------------
// Argument checks

/** Throw a clear INVALID_ARGUMENT_TYPE error unless argument `i` has one of `kinds` (a null literal fits any). */
export function expectAggArg(
  fn: string,
  args: readonly AggArgInfo[],
  i: number,
  what: string,
  ...kinds: (DataTypeKind | 'numeric')[]
): void {
  const a = args[i];
  if (!a) return;
  const k = a.type.kind;
  if (k === 'null') return;
  if (kinds.includes(k) || (kinds.includes('numeric') && isNumeric(a.type))) return;
  throw userError(
    'INVALID_ARGUMENT_TYPE',
    `${fn}: argument ${i + 1} (${what}) must be ${kinds.map(kindName).join(' or ')}, got ${typeToString(a.type)}`,
  );
}

function kindName(k: DataTypeKind | 'numeric'): string {
  return k === 'numeric' ? 'numeric (long or double)' : k;
}

/** A literal argument's value, or a clear error when the argument is not a literal. */
export function literalOf(fn: string, args: readonly AggArgInfo[], i: number, what: string): unknown {
  const a = args[i];
  if (!a) return undefined;
  if (!a.literal) {
    throw userError(
      'INVALID_ARGUMENT_TYPE',
      `${fn}: argument ${i + 1} (${what}) must be a literal value, not a column or expression`,
    );
  }
  return a.literal.value;
}

/** Argument `i`'s type; a missing argument is the null type. */
export function argType(args: readonly AggArgInfo[], i: number): DataType {
  return args[i]?.type ?? { kind: 'null' };
}

/** Whether values of `t` can be ordered (min, max, max_by, …): Spark's orderable types. */
export function isOrderable(t: DataType): boolean {
  switch (t.kind) {
    case 'long':
    case 'double':
    case 'string':
    case 'boolean':
    case 'timestamp':
    case 'date':
    case 'binary':
    case 'null':
      return true;
    case 'array':
      return isOrderable(t.element);
    case 'struct':
      return t.fields.every((f) => isOrderable(f.type));
    case 'json':
      return false;
  }
}

export function expectOrderable(fn: string, args: readonly AggArgInfo[], i: number, what: string): void {
  const t = argType(args, i);
  if (!isOrderable(t)) {
    throw userError(
      'INVALID_ARGUMENT_TYPE',
      `${fn}: argument ${i + 1} (${what}) must be an orderable type (number, string, boolean, timestamp, date, ` +
        `binary, or an array/struct of those), got ${typeToString(t)}`,
    );
  }
}

// ---------------------------------------------------------------------------
// Ordering (Spark's: NaN is larger than any other double, -0.0 equals 0.0,
// null elements of arrays/structs sort first, strings by UTF-16 code units
// as everywhere else in Millrace).

export type Compare = (a: any, b: any) => number;

export const compareNumbers: Compare = (a: number, b: number) =>
  a < b ? -1 : a > b ? 1 : a === b ? 0 : a !== a ? (b !== b ? 0 : 1) : -1;

const comparePrimitive: Compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

const nullsFirst =
  (cmp: Compare): Compare =>
  (a, b) =>
    a == null ? (b == null ? 0 : -1) : b == null ? 1 : cmp(a, b);

/** A comparator for non-null values of type `t`. */
export function comparatorFor(t: DataType): Compare {
  switch (t.kind) {
    case 'long':
    case 'double':
    case 'timestamp':
    case 'date':
      return compareNumbers;
    case 'binary':
      return compareBytes as Compare;
    case 'array': {
      const el = nullsFirst(comparatorFor(t.element));
      return (a: unknown[], b: unknown[]) => {
        const n = Math.min(a.length, b.length);
        for (let i = 0; i < n; i++) {
          const c = el(a[i], b[i]);
          if (c !== 0) return c;
        }
        return a.length - b.length;
      };
    }
    case 'struct': {
      const fields = t.fields.map((f) => ({ name: f.name, cmp: nullsFirst(comparatorFor(f.type)) }));
      return (a: Record<string, unknown>, b: Record<string, unknown>) => {
        for (const f of fields) {
          const c = f.cmp(a[f.name], b[f.name]);
          if (c !== 0) return c;
        }
        return 0;
      };
    }
    default:
      return comparePrimitive;
  }
}

// ---------------------------------------------------------------------------
// Canonical keys: equal values (Spark's equality: NaN = NaN, -0.0 = 0.0,
// structs and arrays by content) get equal keys.

/** A Map key for one value: the value itself for numbers, strings and booleans; a canonical string otherwise. */
export function keyOf(v: unknown): unknown {
  switch (typeof v) {
    case 'number':
      return v === 0 ? 0 : v; // -0 → 0 (Map keys already treat NaN as equal to NaN)
    case 'string':
    case 'boolean':
      return v;
    default:
      return v == null ? null : canonicalString(v);
  }
}

/** A string that is equal for equal values of any type (self-delimiting, so usable inside tuples). */
export function canonicalString(v: unknown): string {
  if (v === null || v === undefined) return 'n';
  switch (typeof v) {
    case 'number':
      return v === 0 ? 'd0' : `d${v}`;
    case 'string':
      return `s${v.length}:${v}`;
    case 'boolean':
      return v ? 't' : 'f';
    case 'bigint':
      return `d${v}`;
    default:
      break;
  }
  if (Array.isArray(v)) {
    let s = '[';
    for (let i = 0; i < v.length; i++) s += (i > 0 ? ',' : '') + canonicalString(v[i]);
    return s + ']';
  }
  if (v instanceof Uint8Array) {
    let s = `b${v.length}:`;
    for (let i = 0; i < v.length; i++) s += (v[i]! < 16 ? '0' : '') + v[i]!.toString(16);
    return s;
  }
  if (v instanceof Date) return `d${v.getTime()}`;
  if (v instanceof Map) {
    const entries = [...v.entries()].map(([k, x]) => canonicalString(k) + '=' + canonicalString(x)).sort();
    return `m{${entries.join(',')}}`;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  let s = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (o[k] === undefined) continue;
    s += `${s.length > 1 ? ',' : ''}${k.length}:${k}=${canonicalString(o[k])}`;
  }
  return s + '}';
}

// ---------------------------------------------------------------------------
// DISTINCT: keep the distinct argument tuples, aggregate them at finish.

/**
 * `agg(DISTINCT …)` for any aggregate: the buffer is a Map from the canonical
 * key of the non-literal arguments to the argument values (a single value
 * when the function has one argument). Insertion order is kept, so
 * order-sensitive aggregates (first, collect_list) see first occurrences.
 */
export function distinctOf(
  inner: AggregateFunction<any>,
  args: readonly AggArgInfo[],
): AggregateFunction<Map<unknown, unknown>> {
  const keyed = args.map((a, i) => (a.literal ? -1 : i)).filter((i) => i >= 0);
  if (args.length === 1) {
    return {
      init: () => new Map(),
      update: (buf, x) => {
        const k = keyOf(x);
        if (!buf.has(k)) buf.set(k, x);
        return buf;
      },
      merge: mergeMaps,
      finish: (buf) => {
        let b = inner.init();
        for (const x of buf.values()) b = inner.update(b, x);
        return inner.finish(b);
      },
    };
  }
  return {
    init: () => new Map(),
    update: (buf, ...xs) => {
      let k = '';
      for (const i of keyed) k += canonicalString(xs[i]) + ';';
      if (!buf.has(k)) buf.set(k, xs);
      return buf;
    },
    merge: mergeMaps,
    finish: (buf) => {
      let b = inner.init();
      for (const xs of buf.values()) b = inner.update(b, ...(xs as unknown[]));
      return inner.finish(b);
    },
  };
}

/** Union of two keyed maps; `a`'s entries (and their order) win. */
export function mergeMaps(a: Map<unknown, unknown>, b: Map<unknown, unknown>): Map<unknown, unknown> {
  for (const [k, v] of b) if (!a.has(k)) a.set(k, v);
  return a;
}
