/**
 * SQL expressions → the engine's Expr trees, built exactly as the typed API's Column methods and
 * function builders build them (`a BETWEEN x AND y` is `a >= x AND a <= y` as `Column.between`,
 * `window(ts, '10 seconds')` calls the API's `window()`), so a SQL query and the same query
 * written in TypeScript have equal plans.
 *
 * Names resolve against a scope (the FROM clause's columns, with their qualifiers); an unknown
 * name fails here, at its position, with the closest known name. Types are checked by the engine's
 * analyser (`expr/resolve.ts`) as each call is built, so a type error points at the call.
 */
import type { Expr } from '../expr/Expr.ts';
import { exprToString } from '../expr/Expr.ts';
import { resolveExpr } from '../expr/resolve.ts';
import { parseDateText, parseTimestampText } from '../connectors/file/values.ts';
import type { NamedAgg, NamedExpr } from '../plan/logical.ts';
import type { AggExpr } from '../operators/aggregates/AggExpr.ts';
import {
  BINARY,
  BOOLEAN,
  DATE,
  DOUBLE,
  LONG,
  STRING,
  TIMESTAMP,
  type DataType,
  type Schema,
  typeToString,
} from '../schema/index.ts';
import { Column, litExpr } from '../api/Column.ts';
import { sessionWindow, window } from '../api/functions/datetime.ts';
import type { SqlExpr } from './ast.ts';
import { type UserFunctions, isAggregateName, lookupSqlFunction, sqlFunctionNames } from './catalog.ts';
import { AggColumn } from '../api/AggColumn.ts';
import { type Span, atSpan, sqlError } from './errors.ts';
import { didYouMean } from './suggest.ts';

/** A column visible in a clause: `qualifier.name` in SQL, `ref` in the plan. */
export interface ScopeColumn {
  readonly qualifier: string | null;
  readonly name: string;
  readonly ref: string;
}

/** Aggregation being built: grouping keys and aggregates found so far (SELECT and HAVING). */
export interface AggState {
  readonly keys: readonly NamedExpr[];
  readonly aggs: NamedAgg[];
  /** Nodes that already refer to the aggregation's output (a key or an aggregate by name). */
  readonly post: WeakSet<Expr>;
  /** The scope of the aggregation's input: aggregate arguments and FILTER resolve here. */
  readonly input: ExprScope;
}

export interface ExprScope {
  readonly columns: readonly ScopeColumn[];
  /** The schema `ref`s resolve in (struct fields, eager type checks). */
  readonly schema: Schema;
  /** The clause, for messages: SELECT, WHERE, GROUP BY, HAVING, ON, WATERMARK. */
  readonly clause: string;
  /** Set where aggregates are allowed (SELECT and HAVING of an aggregation). */
  readonly agg: AggState | null;
}

const CAST_TYPES: Record<string, DataType> = {
  string: STRING,
  varchar: STRING,
  char: STRING,
  text: STRING,
  int: LONG,
  integer: LONG,
  bigint: LONG,
  long: LONG,
  smallint: LONG,
  tinyint: LONG,
  short: LONG,
  byte: LONG,
  double: DOUBLE,
  float: DOUBLE,
  real: DOUBLE,
  boolean: BOOLEAN,
  bool: BOOLEAN,
  timestamp: TIMESTAMP,
  timestamp_ntz: TIMESTAMP,
  timestamp_ltz: TIMESTAMP,
  date: DATE,
  binary: BINARY,
};

export class ExprBinder {
  /** Where each column reference came from, for errors found after binding (GROUP BY checks). */
  readonly spans = new WeakMap<Expr, Span>();

  constructor(
    private readonly text: string,
    private readonly userFunctions: UserFunctions,
  ) {}

  /** Whether a call is an aggregate: a built-in one, or a registered udaf. */
  isAggregateCall(name: string, arity: number): boolean {
    if (this.userFunctions.get(name)) return this.userFunctions.isAggregate(name, arity);
    return isAggregateName(name);
  }

  fail(span: Span, message: string, code: 'SQL_ANALYSIS' | 'SQL_UNSUPPORTED' = 'SQL_ANALYSIS'): never {
    throw sqlError(code, this.text, span, message);
  }

  /** `e` as an engine expression; `aliasHint` names an aggregate that is a whole select item. */
  bind(e: SqlExpr, sc: ExprScope, aliasHint: string | null = null): Expr {
    switch (e.kind) {
      case 'ident':
        return this.ident(e, sc);
      case 'literal':
        if (typeof e.value === 'number')
          return { kind: 'lit', value: e.value, type: e.integer ? LONG : DOUBLE };
        return litExpr(e.value);
      case 'interval':
        // As the API's interval(): a long of milliseconds; a timestamp plus it is a timestamp.
        return litExpr(e.ms);
      case 'typedLiteral': {
        const v = e.type === 'timestamp' ? parseTimestampText(e.text) : parseDateText(e.text);
        if (v === undefined) {
          this.fail(
            e.span,
            `'${e.text}' is not a ${e.type} (write e.g. ${e.type === 'timestamp' ? "'2024-01-31 10:00:00'" : "'2024-01-31'"})`,
          );
        }
        return { kind: 'lit', value: v, type: e.type === 'timestamp' ? TIMESTAMP : DATE };
      }
      case 'binary': {
        const left = this.bind(e.left, sc);
        const right = this.bind(e.right, sc);
        const out: Expr =
          e.op === '||'
            ? { kind: 'call', name: 'concat', args: [left, right] }
            : { kind: 'binary', op: e.op, left, right };
        return this.checked(out, e.span, sc);
      }
      case 'unary':
        return this.checked({ kind: 'unary', op: e.op, arg: this.bind(e.arg, sc) }, e.span, sc);
      case 'isNull':
        return { kind: 'unary', op: e.negated ? 'isNotNull' : 'isNull', arg: this.bind(e.arg, sc) };
      case 'between': {
        // Column.between: a >= low AND a <= high.
        const a = this.bind(e.arg, sc);
        const both: Expr = {
          kind: 'binary',
          op: 'and',
          left: { kind: 'binary', op: '>=', left: a, right: this.bind(e.low, sc) },
          right: { kind: 'binary', op: '<=', left: a, right: this.bind(e.high, sc) },
        };
        return this.checked(e.negated ? { kind: 'unary', op: 'not', arg: both } : both, e.span, sc);
      }
      case 'in': {
        // Column.isin: a = v1 OR a = v2 …
        const a = this.bind(e.arg, sc);
        let out: Expr = { kind: 'binary', op: '=', left: a, right: this.bind(e.list[0]!, sc) };
        for (const v of e.list.slice(1)) {
          out = {
            kind: 'binary',
            op: 'or',
            left: out,
            right: { kind: 'binary', op: '=', left: a, right: this.bind(v, sc) },
          };
        }
        return this.checked(e.negated ? { kind: 'unary', op: 'not', arg: out } : out, e.span, sc);
      }
      case 'like': {
        const call: Expr = {
          kind: 'call',
          name: e.fn,
          args: [this.bind(e.arg, sc), this.bind(e.pattern, sc)],
        };
        return this.checked(e.negated ? { kind: 'unary', op: 'not', arg: call } : call, e.span, sc);
      }
      case 'case': {
        const operand = e.operand ? this.bind(e.operand, sc) : null;
        const branches = e.branches.map((b) => {
          const w = this.bind(b.when, sc);
          return {
            when: operand ? ({ kind: 'binary', op: '=', left: operand, right: w } as Expr) : w,
            then: this.bind(b.then, sc),
          };
        });
        const out: Expr = {
          kind: 'case',
          branches,
          otherwise: e.otherwise ? this.bind(e.otherwise, sc) : null,
        };
        return this.checked(out, e.span, sc);
      }
      case 'cast': {
        const to = CAST_TYPES[e.type];
        if (!to) {
          if (e.type === 'decimal' || e.type === 'numeric' || e.type === 'dec') {
            this.fail(
              e.typeSpan,
              'DECIMAL is not supported yet; cast to DOUBLE (or BIGINT for whole numbers)',
              'SQL_UNSUPPORTED',
            );
          }
          this.fail(
            e.typeSpan,
            `unknown type "${e.type}"${didYouMean(e.type, Object.keys(CAST_TYPES))}; types: ${Object.keys(CAST_TYPES).join(', ')}`,
          );
        }
        return this.checked({ kind: 'cast', arg: this.bind(e.arg, sc), to }, e.span, sc);
      }
      case 'call':
        return this.call(e, sc, aliasHint);
      case 'star':
        return this.fail(e.span, '* is only allowed alone in a select list or as count(*)');
    }
  }

  /** The engine's type check of `out` now, so an error points at this expression's text. */
  private checked(out: Expr, span: Span, sc: ExprScope): Expr {
    if (sc.agg === null) {
      try {
        resolveExpr(out, sc.schema, sc.clause);
      } catch (err) {
        throw atSpan(this.text, span, null, err);
      }
    }
    return out;
  }

  private column(ref: string, span: Span): Expr {
    const c: Expr = { kind: 'col', name: ref };
    this.spans.set(c, span);
    return c;
  }

  private ident(e: Extract<SqlExpr, { kind: 'ident' }>, sc: ExprScope): Expr {
    const [first, ...rest] = e.parts as [string, ...string[]];
    let base: Expr | undefined;
    let fields = rest;
    const qualified = rest.length > 0 ? sc.columns.filter((c) => eqi(c.qualifier, first)) : [];
    if (qualified.length > 0) {
      const name = rest[0]!;
      const c = pick(qualified, name);
      if (!c) {
        this.fail(
          e.span,
          `${first} has no column named "${name}"${didYouMean(
            name,
            qualified.map((q) => q.name),
          )} (it has: ${list(qualified.map((q) => q.name))})`,
        );
      }
      base = this.column(c.ref, e.span);
      fields = rest.slice(1);
    } else {
      const matches = matching(sc.columns, first);
      const refs = [...new Set(matches.map((m) => m.ref))];
      if (refs.length > 1) {
        const quals = matches.map((m) => m.qualifier).filter((q) => q !== null);
        this.fail(e.span, `"${first}" is ambiguous: both ${list(quals)} have it; write ${quals[0]}.${first}`);
      }
      if (refs.length === 1) base = this.column(refs[0]!, e.span);
      else if (sc.agg) {
        const key = sc.agg.keys.find((k) => k.name === first) ?? sc.agg.keys.find((k) => eqi(k.name, first));
        if (key) {
          base = { kind: 'col', name: key.name };
          sc.agg.post.add(base);
        }
      }
      if (!base && rest.length === 0 && first.toLowerCase() === 'current_timestamp') {
        return { kind: 'call', name: 'current_timestamp', args: [] };
      }
      if (!base) {
        const names = [...sc.columns.map((c) => c.name), ...(sc.agg?.keys.map((k) => k.name) ?? [])];
        const quals = [...new Set(sc.columns.map((c) => c.qualifier).filter((q): q is string => q !== null))];
        this.fail(
          e.span,
          `no column named "${first}" in ${sc.clause}${didYouMean(first, [...names, ...(rest.length > 0 ? quals : [])])} ` +
            `(the input has: ${list(names)})`,
        );
      }
    }
    // Further parts are fields of a struct (window.start): Column.getField.
    for (const f of fields) {
      let type: DataType | undefined;
      try {
        // A grouping key named in SELECT: its type is its expression's over the aggregation's input.
        const key = sc.agg?.post.has(base)
          ? sc.agg.keys.find((k) => base!.kind === 'col' && k.name === base!.name)
          : undefined;
        if (key) type = resolveExpr(key.expr, sc.agg!.input.schema, sc.clause).type;
        else if (!sc.agg?.post.has(base)) type = resolveExpr(base, sc.schema, sc.clause).type;
      } catch {
        type = undefined;
      }
      if (type && type.kind !== 'struct') {
        this.fail(
          e.span,
          `${exprToString(base)} is ${typeToString(type)}, not a struct: it has no field "${f}"`,
        );
      }
      if (type?.kind === 'struct' && !type.fields.some((x) => x.name === f)) {
        const names = type.fields.map((x) => x.name);
        this.fail(
          e.span,
          `${exprToString(base)} has no field "${f}"${didYouMean(f, names)} (its fields: ${list(names)})`,
        );
      }
      const wasPost = sc.agg?.post.has(base) ?? false;
      base = { kind: 'call', name: 'get_field', args: [base, litExpr(f)] };
      if (wasPost) sc.agg!.post.add(base);
    }
    return base;
  }

  private call(e: Extract<SqlExpr, { kind: 'call' }>, sc: ExprScope, aliasHint: string | null): Expr {
    const user = this.userFunctions.get(e.name);
    if (user) return this.userCall(e, user, sc, aliasHint);
    const fn = lookupSqlFunction(e.name);
    if (!fn) {
      const names = [...sqlFunctionNames(), ...this.userFunctions.names()];
      this.fail(
        e.nameSpan,
        `no function named "${e.name}"${didYouMean(e.name, names)} (docs/guide/sql.md lists the functions; ` +
          `register your own with session.udf.register)`,
      );
    }
    if (fn.kind === 'aggregate') {
      const def = fn.def;
      return this.aggregate(e, sc, aliasHint, (args) => {
        if (args.length < def.minArgs || args.length > def.maxArgs) {
          const want = def.minArgs === def.maxArgs ? `${def.minArgs}` : `${def.minArgs} to ${def.maxArgs}`;
          this.fail(e.span, `${def.name}() takes ${want} argument(s), got ${args.length}`);
        }
        return { kind: 'agg', name: def.name, args, distinct: e.distinct };
      });
    }
    if (e.distinct || e.star || e.filter) {
      const what = e.distinct ? 'DISTINCT' : e.star ? '*' : 'FILTER (WHERE …)';
      this.fail(e.span, `${what} is only allowed in an aggregate function; ${e.name}() is a row function`);
    }
    const args = e.args.map((a) => this.bind(a, sc));
    if (fn.kind === 'special') return this.windowCall(e, fn.name, args, sc);
    const def = fn.def;
    if (args.length < def.minArgs || args.length > def.maxArgs) {
      const want =
        def.minArgs === def.maxArgs
          ? `${def.minArgs}`
          : def.maxArgs === Infinity
            ? `at least ${def.minArgs}`
            : `${def.minArgs} to ${def.maxArgs}`;
      this.fail(e.span, `${def.name}() takes ${want} argument(s), got ${args.length}`);
    }
    return this.checked({ kind: 'call', name: def.name, args }, e.span, sc);
  }

  /** window(time, '10 seconds'[, slide[, start]]) and session_window(time, gap): the API's builders. */
  private windowCall(
    e: Extract<SqlExpr, { kind: 'call' }>,
    name: 'window' | 'session_window',
    args: Expr[],
    sc: ExprScope,
  ): Expr {
    const duration = (i: number, what: string): string | number => {
      const a = e.args[i]!;
      if (a.kind === 'interval') return a.ms;
      if (a.kind === 'literal' && typeof a.value === 'string') return a.value;
      return this.fail(
        a.span,
        `${name}(): the ${what} must be a duration such as '10 seconds' or INTERVAL 10 SECONDS`,
      );
    };
    try {
      if (name === 'window') {
        if (args.length < 2 || args.length > 4) {
          this.fail(
            e.span,
            `window() takes 2 to 4 arguments (time, duration[, slide[, start]]), got ${args.length}`,
          );
        }
        const c = window(
          new Column(args[0]!) as Column<number | null>,
          duration(1, 'window duration'),
          args.length > 2 ? duration(2, 'slide duration') : undefined,
          args.length > 3 ? duration(3, 'start time') : undefined,
        );
        return this.checked(c.expr, e.span, sc);
      }
      if (args.length !== 2)
        this.fail(e.span, `session_window() takes 2 arguments (time, gap), got ${args.length}`);
      const g = e.args[1]!;
      const gap =
        g.kind === 'interval' || (g.kind === 'literal' && typeof g.value === 'string')
          ? duration(1, 'gap')
          : new Column(args[1]!);
      return this.checked(
        sessionWindow(new Column(args[0]!) as Column<number | null>, gap as string | number).expr,
        e.span,
        sc,
      );
    } catch (err) {
      throw atSpan(this.text, e.span, `${name}()`, err);
    }
  }

  /** A registered udf() (its expression, as from TypeScript) or udaf() (an aggregate). */
  private userCall(
    e: Extract<SqlExpr, { kind: 'call' }>,
    fn: (...args: Column<any>[]) => Column<any> | AggColumn<any>,
    sc: ExprScope,
    aliasHint: string | null,
  ): Expr {
    const build = (args: Expr[]): Column<any> | AggColumn<any> => {
      try {
        return fn(...args.map((a) => new Column(a)));
      } catch (err) {
        throw atSpan(this.text, e.span, `${e.name}()`, err);
      }
    };
    if (this.userFunctions.isAggregate(e.name, e.args.length)) {
      return this.aggregate(e, sc, aliasHint, (args) => {
        const out = build(args);
        if (e.distinct)
          this.fail(
            e.span,
            `DISTINCT is not supported for the user aggregate ${e.name}()`,
            'SQL_UNSUPPORTED',
          );
        return (out as AggColumn<any>).agg;
      });
    }
    if (e.distinct || e.star || e.filter) {
      const what = e.distinct ? 'DISTINCT' : e.star ? '*' : 'FILTER (WHERE …)';
      this.fail(e.span, `${what} is only allowed in an aggregate function; ${e.name}() is a row function`);
    }
    const out = build(e.args.map((a) => this.bind(a, sc)));
    if (!(out instanceof Column)) {
      this.fail(e.span, `the function registered as ${e.name} returned neither a Column nor an aggregate`);
    }
    return this.checked(out.expr, e.span, sc);
  }

  /** An aggregate call: its arguments bound over the aggregation's input, `build` makes the AggExpr. */
  private aggregate(
    e: Extract<SqlExpr, { kind: 'call' }>,
    sc: ExprScope,
    aliasHint: string | null,
    build: (args: Expr[]) => AggExpr,
  ): Expr {
    const agg = sc.agg;
    if (!agg) {
      const where = sc.clause === 'WHERE' ? ' (filter groups with HAVING)' : '';
      this.fail(e.span, `the aggregate ${e.name}() is not allowed in ${sc.clause}${where}`);
    }
    const name = e.name.toLowerCase();
    if (e.star && name !== 'count')
      this.fail(e.span, `${e.name}(*) is not allowed; only count(*) counts rows`);
    const inner: ExprScope = { ...agg.input, agg: null, clause: `${e.name}()` };
    let args = e.args.map((a) => this.bindAggArg(a, inner, e));
    // count(1) counts rows, as count(*) (the API's count()).
    const only = args.length === 1 ? args[0]! : undefined;
    if (name === 'count' && !e.distinct && only?.kind === 'lit' && only.value !== null) args = [];
    if ((name === 'percentile_approx' || name === 'approx_percentile') && args.length >= 2) {
      args = [args[0]!, this.percentages(e.args[1]!), ...args.slice(2)];
    }
    const built = build(args);
    const filter = e.filter ? this.bind(e.filter, { ...inner, clause: 'FILTER (WHERE …)' }) : undefined;
    const a: AggExpr = filter ? { ...built, filter } : built;
    const same = agg.aggs.find((x) => aggEquals(x.agg, a));
    let out: string;
    if (same && (aliasHint === null || same.name === aliasHint)) out = same.name;
    else {
      out = aliasHint ?? defaultAggName(e.name, a);
      if (agg.keys.some((k) => k.name === out) || agg.aggs.some((x) => x.name === out)) {
        if (aliasHint === null) out = `${out}#${agg.aggs.length}`;
        else
          this.fail(
            e.span,
            `the name "${out}" is given twice in this aggregation; give each aggregate its own name`,
          );
      }
      agg.aggs.push({ name: out, agg: a });
    }
    const ref: Expr = { kind: 'col', name: out };
    agg.post.add(ref);
    return ref;
  }

  private bindAggArg(a: SqlExpr, inner: ExprScope, call: Extract<SqlExpr, { kind: 'call' }>): Expr {
    if (a.kind === 'call' && this.isAggregateCall(a.name, a.args.length)) {
      this.fail(
        a.span,
        `an aggregate inside another aggregate (${a.name}() in ${call.name}()) is not allowed`,
      );
    }
    return this.bind(a, inner);
  }

  /** percentile_approx's percentage: a number, or array(…) of numbers — as the API's percentileApprox. */
  private percentages(a: SqlExpr): Expr {
    const num = (x: SqlExpr): number => {
      if (x.kind === 'literal' && typeof x.value === 'number' && x.value >= 0 && x.value <= 1) return x.value;
      return this.fail(x.span, 'a percentage must be a number between 0 and 1');
    };
    if (a.kind === 'call' && a.name.toLowerCase() === 'array') {
      if (a.args.length === 0) this.fail(a.span, 'give at least one percentage');
      return {
        kind: 'lit',
        value: a.args.map(num),
        type: { kind: 'array', element: DOUBLE, containsNull: false },
      };
    }
    return { kind: 'lit', value: num(a), type: DOUBLE };
  }

  /**
   * A bound SELECT/HAVING expression of an aggregation, over the aggregation's output: parts equal
   * to a grouping key become that key's column; any other column is an error (Spark: "neither
   * present in the group by, nor an aggregate").
   */
  overAggregate(e: Expr, agg: AggState, itemSpan: Span): Expr {
    if (agg.post.has(e)) return e;
    const key = agg.keys.find((k) => exprEquals(k.expr, e));
    if (key) return { kind: 'col', name: key.name };
    const rec = (x: Expr): Expr => this.overAggregate(x, agg, itemSpan);
    switch (e.kind) {
      case 'col':
        return this.fail(
          this.spans.get(e) ?? itemSpan,
          `column "${e.name}" is neither grouped nor aggregated; add it to GROUP BY or aggregate it (e.g. max(${e.name}))`,
        );
      case 'lit':
        return e;
      case 'binary':
        return { ...e, left: rec(e.left), right: rec(e.right) };
      case 'unary':
      case 'cast':
      case 'alias':
        return { ...e, arg: rec(e.arg) };
      case 'case':
        return {
          ...e,
          branches: e.branches.map((b) => ({ when: rec(b.when), then: rec(b.then) })),
          otherwise: e.otherwise ? rec(e.otherwise) : null,
        };
      case 'call':
      case 'udf':
        return { ...e, args: e.args.map(rec) };
    }
  }
}

/** Spark's default name of an aggregate column: count(1), sum(price), count(DISTINCT bidder). */
function defaultAggName(written: string, a: AggExpr): string {
  if (a.name === 'count' && a.args.length === 0) return 'count(1)';
  return `${written.toLowerCase()}(${a.distinct ? 'DISTINCT ' : ''}${a.args.map(exprToString).join(', ')})`;
}

function eqi(a: string | null, b: string): boolean {
  return a !== null && a.toLowerCase() === b.toLowerCase();
}

/** Columns named `name`: exact matches, else case-insensitive ones (Spark resolves names case-insensitively). */
function matching(cols: readonly ScopeColumn[], name: string): ScopeColumn[] {
  const exact = cols.filter((c) => c.name === name);
  return exact.length > 0 ? exact : cols.filter((c) => eqi(c.name, name));
}

function pick(cols: readonly ScopeColumn[], name: string): ScopeColumn | undefined {
  return matching(cols, name)[0];
}

function list(names: readonly string[]): string {
  const shown = names.slice(0, 12).join(', ');
  return names.length > 12 ? `${shown}, … (${names.length} in all)` : shown || '(nothing)';
}

export function exprEquals(a: Expr, b: Expr): boolean {
  return deepEqual(a, b);
}

function aggEquals(a: AggExpr, b: AggExpr): boolean {
  return deepEqual(a, b);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
