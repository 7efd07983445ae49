/**
 * User-defined aggregates: validation of a `udaf(name, spec)` spec and its
 * AggregateDef, and the plain-data check for buffers.
 */
import { userError } from '../../../errors/index.ts';
import type { TypeSpec } from '../../../schema/index.ts';
import type { AggArgInfo, AggregateDef, AggregateFunction } from '../AggregateFunction.ts';

/**
 * The definition of a user aggregate. The buffer B lives in the state store
 * between batches, so it must be plain data (objects, arrays, numbers,
 * strings, booleans, null, Uint8Array, Map, Set) — no class instances.
 * `update` and `merge` may mutate and return their first argument.
 */
export interface UdafSpec<R, B, A extends unknown[]> {
  /** The result type: `t.double`, `t.long.orNull()`, `t.array(t.string)`, … */
  readonly resultType: TypeSpec<R>;
  /** A new, empty buffer (once per group). */
  readonly init: () => B;
  /** Add one row's argument values (nulls included) to the buffer. */
  readonly update: (buf: B, ...args: A) => B;
  /** Combine two partial buffers; `a` holds the earlier rows. */
  readonly merge: (a: B, b: B) => B;
  /** The result for a buffer. Called at every emit, so it must not change the buffer. */
  readonly finish: (buf: B) => R;
}

const SPEC_FUNCTIONS = {
  init: 'init() returns a new, empty buffer',
  update: 'update(buf, ...args) adds one row',
  merge: 'merge(a, b) combines two partial buffers',
  finish: 'finish(buf) returns the result',
} as const;

/** Validate a udaf spec and make its AggregateDef. */
export function udafDef(name: string, spec: UdafSpec<unknown, unknown, unknown[]>): AggregateDef {
  if (typeof name !== 'string' || name.trim() === '') {
    throw userError('INVALID_ARGUMENT', `udaf(): give the aggregate a name, e.g. udaf('geo_mean', {...})`);
  }
  const what = `udaf "${name}"`;
  if (spec === null || typeof spec !== 'object') {
    throw userError(
      'INVALID_ARGUMENT',
      `${what}: give { resultType, init, update, merge, finish } as the second argument, got ${describe(spec)}`,
    );
  }
  const rt = (spec as { resultType?: unknown }).resultType as TypeSpec<unknown> | undefined;
  if (!rt || typeof rt !== 'object' || !rt.dataType || typeof rt.dataType.kind !== 'string') {
    const isDataType = !!rt && typeof rt === 'object' && typeof (rt as { kind?: unknown }).kind === 'string';
    throw userError(
      'INVALID_ARGUMENT',
      `${what}: resultType must be a type from t, e.g. t.double, t.long.orNull() or t.array(t.string)` +
        (isDataType ? '; got a DataType, wrap it as t.* does' : `, got ${describe(rt)}`),
    );
  }
  for (const [key, role] of Object.entries(SPEC_FUNCTIONS)) {
    const f = (spec as unknown as Record<string, unknown>)[key];
    if (typeof f !== 'function') {
      throw userError('INVALID_ARGUMENT', `${what}: ${key} must be a function (${role}), got ${describe(f)}`);
    }
  }
  const known = new Set(['resultType', ...Object.keys(SPEC_FUNCTIONS)]);
  const extra = Object.keys(spec).filter((k) => !known.has(k));
  if (extra.length > 0) {
    throw userError(
      'INVALID_ARGUMENT',
      `${what}: unknown option(s) ${extra.map((k) => JSON.stringify(k)).join(', ')}; a udaf takes resultType, init, update, merge and finish`,
    );
  }
  const { init, update, merge } = spec;
  const nullable = rt.nullable;
  const resultType = rt.dataType;
  const finish = nullable
    ? spec.finish
    : (buf: unknown) => {
        const r = spec.finish(buf);
        if (r === null || r === undefined) {
          throw userError(
            'INVALID_RESULT',
            `${what}: finish returned ${String(r)} but resultType is not nullable; use .orNull() on the type`,
          );
        }
        return r;
      };
  const fn: AggregateFunction<unknown> = {
    init,
    update: update as AggregateFunction['update'],
    merge,
    finish,
  };
  return {
    name,
    minArgs: 0,
    maxArgs: Infinity,
    resultType: () => resultType,
    resultNullable: () => nullable,
    bind: (_args: readonly AggArgInfo[], { distinct }) => {
      checkPlainData(what, 'init()', init());
      if (distinct) {
        throw userError('INVALID_ARGUMENT', `${what}: DISTINCT is not supported for user aggregates`);
      }
      return fn;
    },
  };
}

/**
 * Throw when `v` is not plain data the state store can keep: a class
 * instance, a function or a symbol somewhere inside.
 */
export function checkPlainData(what: string, where: string, v: unknown, path = 'buffer', depth = 0): void {
  if (depth > 32) return;
  const bad = (desc: string): never => {
    throw userError(
      'INVALID_ARGUMENT',
      `${what}: ${where} returned ${desc}${path === 'buffer' ? '' : ` at ${path}`}; buffers are kept in the state store ` +
        `between batches, so use plain data (objects, arrays, numbers, strings, booleans, null, Uint8Array, Map, Set)`,
    );
  };
  if (v === null || v === undefined) return;
  switch (typeof v) {
    case 'number':
    case 'string':
    case 'boolean':
    case 'bigint':
      return;
    case 'function':
      return bad('a function');
    case 'symbol':
      return bad('a symbol');
    default:
      break;
  }
  if (Array.isArray(v)) {
    v.forEach((x, i) => checkPlainData(what, where, x, `${path}[${i}]`, depth + 1));
    return;
  }
  if (ArrayBuffer.isView(v) || v instanceof Date) return;
  if (v instanceof Map) {
    for (const [k, x] of v) {
      checkPlainData(what, where, k, `${path} key`, depth + 1);
      checkPlainData(what, where, x, `${path}.get(${String(k)})`, depth + 1);
    }
    return;
  }
  if (v instanceof Set) {
    for (const x of v) checkPlainData(what, where, x, `${path} element`, depth + 1);
    return;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) {
    return bad(`a ${(proto as { constructor?: { name?: string } }).constructor?.name ?? 'class'} instance`);
  }
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    checkPlainData(what, where, x, `${path}.${k}`, depth + 1);
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return v.constructor?.name ? `a ${v.constructor.name}` : 'an object';
  return `${typeof v} ${String(v)}`;
}
