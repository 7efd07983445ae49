/**
 * What SQL names resolve to: the session's temporary views (streams and static tables, registered
 * with `stream.createOrReplaceTempView(name)` / `session.createOrReplaceTempView(name, table)` or
 * `CREATE TEMPORARY VIEW`) and the functions. Functions are not listed again here: scalar names are
 * the engine's registry (`expr/functions/registry.ts`), aggregates the aggregate registry
 * (`operators/aggregates/registry.ts`) — the very names the typed API's builders call — so a
 * function added there is callable from SQL with no change here.
 */
import type { TableSource } from '../connectors/contracts.ts';
import { userError } from '../errors/index.ts';
import { BUILTIN_FUNCTIONS } from '../expr/functions/registry.ts';
import type { FunctionDef } from '../expr/functions/FunctionDef.ts';
import { BUILTIN_AGGREGATES } from '../operators/aggregates/registry.ts';
import type { AggregateDef } from '../operators/aggregates/AggregateFunction.ts';
import type { Stream } from '../api/Stream.ts';
import { AggColumn } from '../api/AggColumn.ts';
import { Column } from '../api/Column.ts';
import { NULL_TYPE } from '../schema/index.ts';

/** A registered name: a stream (anything FROM can read) or a static table (the right side of a join). */
export type TempView =
  | { readonly kind: 'stream'; readonly stream: Stream<any> }
  | { readonly kind: 'table'; readonly table: TableSource<any> };

const VIEW_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The temporary views of one session (names are case-insensitive, as in Spark). */
export class TempViews {
  private readonly byName = new Map<string, { readonly name: string; readonly view: TempView }>();

  set(name: string, view: TempView): void {
    if (typeof name !== 'string' || !VIEW_NAME.test(name)) {
      throw userError(
        'INVALID_ARGUMENT',
        `createOrReplaceTempView: a view name is letters, digits and _, not starting with a digit; got ${JSON.stringify(name)}`,
      );
    }
    this.byName.set(name.toLowerCase(), { name, view });
  }

  get(name: string): TempView | undefined {
    return this.byName.get(name.toLowerCase())?.view;
  }

  has(name: string): boolean {
    return this.byName.has(name.toLowerCase());
  }

  names(): string[] {
    return [...this.byName.values()].map((v) => v.name);
  }

  /** A copy whose changes do not reach this one (a statement's WITH queries). */
  fork(): TempViews {
    const out = new TempViews();
    for (const [k, v] of this.byName) out.byName.set(k, v);
    return out;
  }
}

/** Functions SQL handles itself (their arguments are durations, not values), mapped to the API's builders. */
export const SPECIAL_FUNCTIONS = new Set(['window', 'session_window']);

export type SqlFunction =
  | { readonly kind: 'scalar'; readonly def: FunctionDef }
  | { readonly kind: 'aggregate'; readonly def: AggregateDef }
  | { readonly kind: 'special'; readonly name: 'window' | 'session_window' };

/** Internal helpers of the engine that are not SQL functions. */
const HIDDEN = new Set(['get_field']);

export function lookupSqlFunction(name: string): SqlFunction | undefined {
  const n = name.toLowerCase();
  if (SPECIAL_FUNCTIONS.has(n)) return { kind: 'special', name: n as 'window' | 'session_window' };
  const agg = BUILTIN_AGGREGATES.get(n);
  if (agg) return { kind: 'aggregate', def: agg };
  const f = HIDDEN.has(n) ? undefined : BUILTIN_FUNCTIONS.get(n);
  return f ? { kind: 'scalar', def: f } : undefined;
}

export function isAggregateName(name: string): boolean {
  return BUILTIN_AGGREGATES.has(name.toLowerCase());
}

/** Every function name SQL accepts (for suggestions and the docs). */
export function sqlFunctionNames(): string[] {
  return [...[...BUILTIN_FUNCTIONS.keys()].filter((n) => !HIDDEN.has(n)), ...BUILTIN_AGGREGATES.keys()];
}

/** What `session.udf.register` takes: a builder from `udf()` or `udaf()`, or any function of Columns. */
export type UserFunction = (...args: any[]) => Column<any> | AggColumn<any>;

/**
 * The session's functions for SQL (Spark's `spark.udf.register`): the builders `udf()` and
 * `udaf()` return, called with the SQL call's arguments as Columns — so a user function builds the
 * same expression from SQL as from TypeScript. A name here shadows a built-in of that name.
 */
export class UserFunctions {
  private readonly byName = new Map<string, { readonly name: string; readonly fn: UserFunction }>();

  /** `session.udf.register('countC', udf('countC', t.long, (s: string) => …))`. */
  register(name: string, fn: UserFunction): void {
    if (typeof name !== 'string' || !VIEW_NAME.test(name)) {
      throw userError(
        'INVALID_ARGUMENT',
        `udf.register: a function name is letters, digits and _, not starting with a digit; got ${JSON.stringify(name)}`,
      );
    }
    if (typeof fn !== 'function') {
      throw userError(
        'INVALID_ARGUMENT',
        `udf.register("${name}"): give the function udf() or udaf() returned, e.g. udf('${name}', t.long, (x: number) => x + 1)`,
      );
    }
    this.byName.set(name.toLowerCase(), { name, fn });
  }

  get(name: string): UserFunction | undefined {
    return this.byName.get(name.toLowerCase())?.fn;
  }

  names(): string[] {
    return [...this.byName.values()].map((f) => f.name);
  }

  /**
   * Whether calling `name` with `arity` arguments gives an aggregate (a udaf): found by calling
   * the builder with placeholder columns (builders only build expressions; nothing runs).
   */
  isAggregate(name: string, arity: number): boolean {
    const fn = this.get(name);
    if (!fn) return false;
    try {
      const placeholder = new Column({ kind: 'lit', value: null, type: NULL_TYPE });
      return fn(...Array.from({ length: arity }, () => placeholder)) instanceof AggColumn;
    } catch {
      return false; // the real call reports the problem, at its position
    }
  }
}
