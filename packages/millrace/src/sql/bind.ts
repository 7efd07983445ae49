/**
 * The binder: parsed statements → the logical plan nodes the typed API builds (`plan/logical.ts`,
 * `plan/joinNode.ts`), wrapped in a `Stream`. There is no SQL-only plan node and no second
 * execution path: every check, optimisation and operator serves SQL and the API alike.
 *
 *   SELECT …            project  (left out when it keeps every column as it is, as the API does)
 *   FROM v WATERMARK …  the view's plan, then watermark
 *   JOIN … ON / USING   join (stream–stream) or lookupJoin (a registered static table)
 *   WHERE               filter
 *   GROUP BY / aggs     aggregate (keys named as Spark names them: a column's name, `window`, …)
 *   HAVING              filter over the aggregate
 *   SELECT DISTINCT     dedup over all columns (the API's dropDuplicates())
 *   UNION ALL           union
 */
import type { TableSource } from '../connectors/contracts.ts';
import type { Expr } from '../expr/Expr.ts';
import { exprName } from '../expr/Expr.ts';
import {
  type LogicalPlan,
  type NamedExpr,
  aggregateNode,
  dedupNode,
  filterNode,
  projectNode,
  unionNode,
  watermarkNode,
} from '../plan/logical.ts';
import { type JoinOn, joinNode, lookupJoinNode, rightName, usingCondition } from '../plan/joinNode.ts';
import { Schema } from '../schema/index.ts';
import { Stream } from '../api/Stream.ts';
import type { Session } from '../api/Session.ts';
import type { FromItem, Query, QueryBody, Select, SqlExpr, Statement, WatermarkClause } from './ast.ts';
import type { TempViews, UserFunctions } from './catalog.ts';
import { type Span, atSpan, sqlError } from './errors.ts';
import { type AggState, ExprBinder, type ExprScope, type ScopeColumn } from './expressions.ts';
import { parseStatements } from './parser.ts';
import { didYouMean } from './suggest.ts';

/** A FROM item bound: a stream's plan, or a static table (only joinable), with its visible columns. */
type Relation =
  | { readonly kind: 'stream'; readonly plan: LogicalPlan; readonly columns: readonly ScopeColumn[] }
  | { readonly kind: 'table'; readonly table: TableSource<any>; readonly columns: readonly ScopeColumn[] };

type StreamRelation = Extract<Relation, { kind: 'stream' }>;

/**
 * Run the statements of `text` against the session's views: CREATE TEMPORARY VIEW registers its
 * query; the result is the last statement's stream (for a CREATE, the view's).
 */
export function sqlToStream(
  session: Session,
  views: TempViews,
  text: string,
  functions: UserFunctions,
): Stream {
  if (typeof text !== 'string') {
    throw sqlError(
      'SQL_PARSE',
      String(text),
      { start: 0, end: 0 },
      `sql(): give the SQL text as a string, got ${typeof text}`,
    );
  }
  const statements = parseStatements(text);
  const binder = new Binder(session, text, functions);
  let last: Stream | undefined;
  for (const s of statements) last = binder.statement(s, views);
  return last!;
}

class Binder {
  private readonly exprs: ExprBinder;

  private readonly hasAggregate: (e: SqlExpr) => boolean;

  constructor(
    private readonly session: Session,
    private readonly text: string,
    functions: UserFunctions,
  ) {
    this.exprs = new ExprBinder(text, functions);
    this.hasAggregate = (e) => containsAggregate(e, (name, arity) => this.exprs.isAggregateCall(name, arity));
  }

  private fail(
    span: Span,
    message: string,
    code: 'SQL_ANALYSIS' | 'SQL_UNSUPPORTED' = 'SQL_ANALYSIS',
  ): never {
    throw sqlError(code, this.text, span, message);
  }

  /** Build a plan node; an engine error becomes SQL_ANALYSIS at `span`. */
  private node<T>(span: Span, what: string, build: () => T): T {
    try {
      return build();
    } catch (err) {
      throw atSpan(this.text, span, what, err);
    }
  }

  statement(s: Statement, views: TempViews): Stream {
    if (s.kind === 'query') return this.stream(this.query(s.query, views));
    if (views.has(s.name) && !s.orReplace) {
      this.fail(
        s.span,
        `a view named "${s.name}" exists already; write CREATE OR REPLACE TEMPORARY VIEW to replace it`,
      );
    }
    const stream = this.stream(this.query(s.query, views));
    views.set(s.name, { kind: 'stream', stream });
    return stream;
  }

  private stream(r: StreamRelation): Stream {
    return new Stream(this.session, r.plan);
  }

  private query(q: Query, views: TempViews): StreamRelation {
    let scope = views;
    if (q.with.length > 0) {
      scope = views.fork();
      for (const cte of q.with) {
        scope.set(cte.name, { kind: 'stream', stream: this.stream(this.query(cte.query, scope)) });
      }
    }
    return this.body(q.body, scope);
  }

  private body(b: QueryBody, views: TempViews): StreamRelation {
    if (b.kind === 'select') return this.select(b, views);
    const left = this.body(b.left, views);
    let right = this.body(b.right, views);
    const ln = left.plan.schema.names;
    const rn = right.plan.schema.names;
    if (ln.length !== rn.length) {
      this.fail(
        b.right.span,
        `UNION ALL: the left query has ${ln.length} columns (${ln.join(', ')}), the right ${rn.length} (${rn.join(', ')})`,
      );
    }
    if (rn.some((n, i) => n !== ln[i])) {
      // SQL unions by position: the right side takes the left's names.
      const exprs = rn.map((n, i) => ({ name: ln[i]!, expr: { kind: 'col', name: n } as Expr }));
      right = {
        ...right,
        plan: this.node(b.span, 'UNION ALL', () => projectNode(right.plan, exprs, 'UNION ALL')),
      };
    }
    const plan = this.node(b.span, 'UNION ALL', () => unionNode([left.plan, right.plan]));
    return { kind: 'stream', plan, columns: unqualified(plan.schema) };
  }

  // -- FROM --------------------------------------------------------------------

  private from(f: FromItem, views: TempViews): Relation {
    if (f.kind === 'join') return this.join(f, views);
    let rel: Relation;
    if (f.kind === 'subquery') rel = this.query(f.query, views);
    else {
      const v = views.get(f.name);
      if (!v) {
        const names = views.names();
        this.fail(
          f.span,
          `no stream or table named "${f.name}"${didYouMean(f.name, names)} ` +
            (names.length > 0 ? `(registered: ${names.join(', ')})` : '(none is registered') +
            `; register one with stream.createOrReplaceTempView('${f.name}')${names.length > 0 ? '' : ')'}`,
        );
      }
      if (v.kind === 'table') {
        if (f.stream) this.fail(f.span, `"${f.name}" is a static table, not a stream: drop STREAM`);
        if (f.watermark)
          this.fail(f.watermark.span, `"${f.name}" is a static table; a watermark belongs on a stream`);
        return {
          kind: 'table',
          table: v.table,
          columns: qualified(v.table.schema as Schema, f.alias ?? f.name),
        };
      }
      rel = { kind: 'stream', plan: v.stream.plan, columns: [] };
    }
    let plan = (rel as StreamRelation).plan;
    if (f.watermark) plan = this.watermark(plan, f.watermark);
    const qualifier = f.alias ?? (f.kind === 'table' ? f.name : null);
    return { kind: 'stream', plan, columns: qualified(plan.schema, qualifier) };
  }

  /** `WATERMARK ts DELAY OF …` = withWatermark('ts', …); `WATERMARK expr AS ts …` adds ts first (withColumn). */
  private watermark(plan: LogicalPlan, w: WatermarkClause): LogicalPlan {
    const sc: ExprScope = {
      columns: unqualified(plan.schema),
      schema: plan.schema,
      clause: 'WATERMARK',
      agg: null,
    };
    const e = this.exprs.bind(w.expr, sc);
    let column: string;
    if (w.alias !== null) {
      const names = plan.schema.names;
      const exprs: NamedExpr[] = names.map((n) =>
        n === w.alias ? { name: n, expr: e } : { name: n, expr: { kind: 'col', name: n } },
      );
      if (!names.includes(w.alias)) exprs.push({ name: w.alias, expr: e });
      plan = this.node(w.span, 'WATERMARK', () => projectNode(plan, exprs, `withColumn("${w.alias}")`));
      column = w.alias;
    } else if (e.kind === 'col') column = e.name;
    else
      return this.fail(
        w.expr.span,
        'WATERMARK takes an event-time column, or an expression with a name: WATERMARK to_timestamp(t) AS ts DELAY OF …',
      );
    return this.node(w.span, 'WATERMARK', () => watermarkNode(plan, column, w.delayMs));
  }

  private join(f: Extract<FromItem, { kind: 'join' }>, views: TempViews): Relation {
    const left = this.from(f.left, views);
    const right = this.from(f.right, views);
    if (left.kind === 'table') {
      this.fail(
        f.left.span,
        'a static table can only be the right side of a join with a stream: put the stream first',
      );
    }
    const leftSchema = left.plan.schema;
    const rightSchema = right.kind === 'table' ? (right.table.schema as Schema) : right.plan.schema;
    const using = f.using.map((u) => {
      const l = leftSchema.names.find((n) => n.toLowerCase() === u.name.toLowerCase());
      const r = rightSchema.names.find((n) => n.toLowerCase() === u.name.toLowerCase());
      if (!l || !r) {
        const side = !l ? 'left' : 'right';
        const names = (!l ? leftSchema : rightSchema).names;
        this.fail(
          u.span,
          `USING (${u.name}): the ${side} side has no column "${u.name}"${didYouMean(u.name, names)}`,
        );
      }
      if (l !== r)
        this.fail(u.span, `USING (${u.name}): the sides spell it differently (${l}, ${r}); rename one`);
      return l;
    });
    const clashes = rightSchema.names.filter((n) => leftSchema.names.includes(n) && !using.includes(n));
    if (clashes.length > 0) {
      this.fail(
        f.right.span,
        `both sides have the column(s) ${clashes.join(', ')}: join USING (${clashes.join(', ')}) if they are the key, ` +
          `or rename one side in a subquery, e.g. (SELECT ${clashes[0]} AS ${clashes[0]}2, … FROM …)`,
      );
    }
    const rightCols = right.columns.map((c) => ({ ...c, ref: rightName(using, c.ref) }));
    let condition: Expr | null = null;
    if (f.on) {
      const joined = new Schema([
        ...leftSchema.fields,
        ...rightSchema.fields.map((x) => ({ ...x, name: rightName(using, x.name) })),
      ]);
      condition = this.exprs.bind(f.on, {
        columns: [...left.columns, ...rightCols],
        schema: joined,
        clause: 'ON',
        agg: null,
      });
    }
    const on: JoinOn =
      using.length > 0
        ? {
            using,
            condition: condition
              ? { kind: 'binary', op: 'and', left: usingCondition(using), right: condition }
              : null,
          }
        : { using: [], condition };
    const plan = this.node(f.span, 'JOIN', () =>
      right.kind === 'table'
        ? lookupJoinNode(left.plan, right.table, f.type, on)
        : joinNode(left.plan, right.plan, f.type, on),
    );
    const columns =
      f.type === 'leftSemi'
        ? left.columns
        : [...left.columns, ...right.columns.filter((c) => !using.includes(c.ref))];
    return { kind: 'stream', plan, columns };
  }

  // -- SELECT ------------------------------------------------------------------

  private select(s: Select, views: TempViews): StreamRelation {
    const input = this.from(s.from, views);
    if (input.kind === 'table') {
      return this.fail(
        s.from.span,
        'a static table is not a stream: join it to a stream (FROM orders JOIN products ON …)',
      );
    }
    let plan = input.plan;
    const scope = (clause: string): ExprScope => ({
      columns: input.columns,
      schema: plan.schema,
      clause,
      agg: null,
    });
    if (s.where) {
      const cond = this.exprs.bind(s.where, scope('WHERE'));
      plan = this.node(s.where.span, 'WHERE', () => filterNode(plan, cond));
    }
    const aggregating =
      s.groupBy.length > 0 || s.having !== null || s.items.some((i) => this.hasAggregate(i.expr));
    const out = aggregating ? this.aggregate(s, plan, input.columns) : this.project(s, plan, input.columns);
    plan = out;
    if (s.distinct) plan = this.node(s.span, 'SELECT DISTINCT', () => dedupNode(plan, [], false));
    return { kind: 'stream', plan, columns: unqualified(plan.schema) };
  }

  /** The select list over `plan` (no aggregation); no node when it keeps every column as is. */
  private project(s: Select, plan: LogicalPlan, columns: readonly ScopeColumn[]): LogicalPlan {
    const sc: ExprScope = { columns, schema: plan.schema, clause: 'SELECT', agg: null };
    const named: { name: string; expr: Expr; span: Span }[] = [];
    for (const item of s.items) {
      if (item.expr.kind === 'star') {
        for (const c of this.star(item.expr, columns))
          named.push({ name: c.name, expr: { kind: 'col', name: c.ref }, span: item.span });
        continue;
      }
      const expr = this.exprs.bind(item.expr, sc);
      named.push({ name: item.alias ?? itemName(item.expr, expr), expr, span: item.span });
    }
    return this.projection(plan, named);
  }

  private projection(plan: LogicalPlan, named: { name: string; expr: Expr; span: Span }[]): LogicalPlan {
    const seen = new Map<string, Span>();
    for (const n of named) {
      if (seen.has(n.name))
        this.fail(n.span, `the column name "${n.name}" appears twice in SELECT; give one an alias (AS …)`);
      seen.set(n.name, n.span);
    }
    const fields = plan.schema.fields;
    const identity =
      named.length === fields.length &&
      named.every((n, i) => n.name === fields[i]!.name && n.expr.kind === 'col' && n.expr.name === n.name);
    if (identity) return plan;
    const whole = { start: named[0]!.span.start, end: named.at(-1)!.span.end };
    return this.node(whole, 'SELECT', () =>
      projectNode(
        plan,
        named.map(({ name, expr }) => ({ name, expr })),
        'select',
      ),
    );
  }

  private star(
    e: Extract<SqlExpr, { kind: 'star' }>,
    columns: readonly ScopeColumn[],
  ): readonly ScopeColumn[] {
    if (e.qualifier === null) return columns;
    const own = columns.filter(
      (c) => c.qualifier !== null && c.qualifier.toLowerCase() === e.qualifier!.toLowerCase(),
    );
    if (own.length === 0) {
      const quals = [...new Set(columns.map((c) => c.qualifier).filter((q): q is string => q !== null))];
      this.fail(e.span, `no stream named "${e.qualifier}" in FROM${didYouMean(e.qualifier, quals)}`);
    }
    return own;
  }

  /** GROUP BY, aggregates, HAVING, then the select list over the aggregate's output. */
  private aggregate(s: Select, plan: LogicalPlan, columns: readonly ScopeColumn[]): LogicalPlan {
    const inputScope: ExprScope = { columns, schema: plan.schema, clause: 'GROUP BY', agg: null };
    const keys: NamedExpr[] = [];
    for (const g of s.groupBy) {
      const key = this.groupKey(g, s, inputScope);
      if (keys.some((k) => k.name === key.name)) this.fail(g.span, `GROUP BY names "${key.name}" twice`);
      keys.push(key);
    }
    const agg: AggState = { keys, aggs: [], post: new WeakSet(), input: inputScope };
    const sc: ExprScope = { columns, schema: plan.schema, clause: 'SELECT', agg };
    const items: { name: string; expr: Expr; span: Span }[] = [];
    for (const item of s.items) {
      if (item.expr.kind === 'star')
        this.fail(item.span, 'SELECT * cannot be used with GROUP BY; name the keys and aggregates');
      const hint = item.expr.kind === 'call' ? item.alias : null;
      const bound = this.exprs.bind(item.expr, sc, hint);
      items.push({ name: item.alias ?? itemName(item.expr, bound), expr: bound, span: item.span });
    }
    const having = s.having ? this.exprs.bind(s.having, { ...sc, clause: 'HAVING' }) : null;
    if (agg.aggs.length === 0) {
      this.fail(
        s.groupBy[0]?.span ?? s.span,
        'GROUP BY without an aggregate: add one (count(*), sum(x), …) or use SELECT DISTINCT',
        'SQL_UNSUPPORTED',
      );
    }
    const aggregated = this.node(s.groupBy[0]?.span ?? s.span, 'GROUP BY', () =>
      aggregateNode(plan, keys, agg.aggs),
    );
    let out = aggregated;
    if (having && s.having) {
      const cond = this.exprs.overAggregate(having, agg, s.having.span);
      out = this.node(s.having.span, 'HAVING', () => filterNode(aggregated, cond));
    }
    const named = items.map((i) => ({ ...i, expr: this.exprs.overAggregate(i.expr, agg, i.span) }));
    return this.projection(out, named);
  }

  /**
   * A grouping key and its name: a column keeps its name, window(…) is `window` and
   * session_window(…) `session_window` (as Spark), an expression the select list names is named
   * so; `GROUP BY 1` and `GROUP BY alias` refer to the select list.
   */
  private groupKey(g: SqlExpr, s: Select, sc: ExprScope): NamedExpr {
    if (this.hasAggregate(g)) this.fail(g.span, 'an aggregate is not allowed in GROUP BY');
    if (g.kind === 'literal' && typeof g.value === 'number' && g.integer) {
      const item = s.items[g.value - 1];
      if (!item || item.expr.kind === 'star')
        this.fail(g.span, `GROUP BY ${g.value}: the select list has no item ${g.value}`);
      return this.groupKey(item.expr, s, sc);
    }
    if (
      g.kind === 'ident' &&
      g.parts.length === 1 &&
      !sc.columns.some((c) => c.name.toLowerCase() === g.parts[0]!.toLowerCase())
    ) {
      const item = s.items.find(
        (i) => i.alias !== null && i.alias.toLowerCase() === g.parts[0]!.toLowerCase(),
      );
      if (item) return { name: item.alias!, expr: this.exprs.bind(item.expr, sc) };
    }
    const expr = this.exprs.bind(g, sc);
    if (expr.kind === 'col') return { name: expr.name, expr };
    if (expr.kind === 'call' && (expr.name === 'window' || expr.name === 'session_window')) {
      const aliased = this.aliasOf(expr, s, sc);
      return { name: aliased ?? expr.name, expr };
    }
    return { name: this.aliasOf(expr, s, sc) ?? exprName(expr), expr };
  }

  /** The alias of the select item that is exactly `expr`, if any. */
  private aliasOf(expr: Expr, s: Select, sc: ExprScope): string | undefined {
    for (const item of s.items) {
      if (item.alias === null || item.expr.kind === 'star' || this.hasAggregate(item.expr)) continue;
      try {
        if (JSON.stringify(this.exprs.bind(item.expr, sc)) === JSON.stringify(expr)) return item.alias;
      } catch {
        // Not an expression of the input (it may name a key): not this key's alias.
      }
    }
    return undefined;
  }
}

/** Spark's name for a select item without an alias: a column's (or field's) own name, else the expression. */
function itemName(e: SqlExpr, bound: Expr): string {
  if (e.kind === 'ident') {
    // The name as the schema spells it (`PRICE` resolves to, and is named, `price`).
    if (bound.kind === 'col') return bound.name;
    const field = bound.kind === 'call' && bound.name === 'get_field' ? bound.args[1] : undefined;
    if (field?.kind === 'lit' && typeof field.value === 'string') return field.value;
    return e.parts.at(-1)!;
  }
  return exprName(bound);
}

/** Whether `e` calls an aggregate (`isAggregate(name, arity)`: built-in or registered). */
function containsAggregate(e: SqlExpr, isAggregate: (name: string, arity: number) => boolean): boolean {
  const has = (x: SqlExpr): boolean => containsAggregate(x, isAggregate);
  switch (e.kind) {
    case 'call':
      return isAggregate(e.name, e.args.length) || e.args.some(has);
    case 'binary':
      return has(e.left) || has(e.right);
    case 'unary':
    case 'isNull':
    case 'cast':
      return has(e.arg);
    case 'between':
      return has(e.arg) || has(e.low) || has(e.high);
    case 'in':
      return has(e.arg) || e.list.some(has);
    case 'like':
      return has(e.arg) || has(e.pattern);
    case 'case':
      return (
        (e.operand !== null && has(e.operand)) ||
        e.branches.some((b) => has(b.when) || has(b.then)) ||
        (e.otherwise !== null && has(e.otherwise))
      );
    default:
      return false;
  }
}

function qualified(schema: Schema, qualifier: string | null): ScopeColumn[] {
  return schema.names.map((n) => ({ qualifier, name: n, ref: n }));
}

function unqualified(schema: Schema): ScopeColumn[] {
  return qualified(schema, null);
}
