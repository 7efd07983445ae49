/**
 * Stream<R>: an unbounded table whose rows have the static type R (Spark's
 * streaming DataFrame/Dataset). Every method returns a new Stream over a new,
 * immutable logical plan; nothing runs until `writeStream(...).start()`.
 *
 *   session.readStream(source)
 *     .where($ => $.price.gt(1000))
 *     .select($ => ({ auction: $.auction, euros: $.price.mul(0.908) }))
 *     .writeStream({ sink: consoleSink(), checkpointLocation: 'cp/q1' })
 *     .start()
 */
import { userError } from '../errors/index.ts';
import type { Row, Schema } from '../schema/index.ts';
import {
  type LogicalPlan,
  type NamedExpr,
  dedupNode,
  filterNode,
  mapNode,
  projectNode,
  uidNode,
  unionNode,
  watermarkNode,
} from '../plan/logical.ts';
import { exprName } from '../expr/Expr.ts';
import { explainPlans } from '../plan/explain.ts';
import { parseDuration } from '../util/durations.ts';
import { Column, type Cols, type ColumnLike, toExpr } from './Column.ts';
import { DataStreamWriter, type WriteStreamOptions } from './DataStreamWriter.ts';
import { GroupedStream } from './GroupedStream.ts';
import { KeyedStream } from './KeyedStream.ts';
import type { Session } from './Session.ts';
import type { TableSource } from '../connectors/contracts.ts';
import {
  type JoinOn,
  type JoinType,
  joinNode,
  lookupJoinNode,
  readJoinType,
  rightName,
  usingCondition,
} from '../plan/joinNode.ts';

/** The join types by their names (Spark's names are accepted too: 'left', 'left_outer', 'full', …). */
export type JoinTypeName =
  | JoinType
  | 'left'
  | 'left_outer'
  | 'right'
  | 'right_outer'
  | 'full'
  | 'full_outer'
  | 'outer'
  | 'left_semi'
  | 'semi';

type NullableRow<R> = { [K in keyof R]: R[K] | null };
type Canonical<T extends JoinTypeName> = T extends 'left' | 'left_outer'
  ? 'leftOuter'
  : T extends 'right' | 'right_outer'
    ? 'rightOuter'
    : T extends 'full' | 'full_outer' | 'outer'
      ? 'fullOuter'
      : T extends 'left_semi' | 'semi'
        ? 'leftSemi'
        : T;

/** The row type of `L JOIN R` (outer sides become nullable; a semi join keeps the left row). */
export type JoinedRow<L, R, T extends JoinTypeName> =
  Canonical<T> extends 'leftSemi'
    ? L
    : Canonical<T> extends 'leftOuter'
      ? Simplify<L & Omit<NullableRow<R>, keyof L>>
      : Canonical<T> extends 'rightOuter'
        ? Simplify<Omit<NullableRow<L>, keyof R> & R>
        : Canonical<T> extends 'fullOuter'
          ? Simplify<NullableRow<L> & Omit<NullableRow<R>, keyof L>>
          : Simplify<L & Omit<R, keyof L>>;

export interface JoinOptions<L, R, T extends JoinTypeName> {
  /**
   * Column names present on both sides (a using-join: the key appears once in the output), or a
   * condition over the left (`$l`) and right (`$r`) columns: equalities between the sides are the
   * join keys; an event-time range (`$r.at.between($l.at, $l.at.plus(interval('1 hour')))`)
   * bounds a stream–stream join's state; anything else is checked on each matching pair.
   */
  readonly on:
    | (keyof L & keyof R & string)
    | readonly (keyof L & keyof R & string)[]
    | ((l: Cols<L>, r: Cols<R>) => Column<boolean | null>);
  /** With `on: [names]`: a further condition over both sides (e.g. the time range). */
  readonly where?: (l: Cols<L>, r: Cols<R>) => Column<boolean | null>;
  /** Default 'inner'. */
  readonly type?: T;
}

export type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ColumnType<C> = C extends Column<infer T> ? T : never;
type ColsFn<R, O> = ($: Cols<R>) => O;

export class Stream<R = Row> {
  private colsCache: Cols<R> | undefined;

  /** @internal — use `session.readStream(source)`. */
  constructor(
    readonly session: Session,
    readonly plan: LogicalPlan,
  ) {}

  get schema(): Schema<R> {
    return this.plan.schema as Schema<R>;
  }

  /** One typed Column per field: `stream.cols.price.gt(10)`. Also what `$` is in callbacks. */
  get cols(): Cols<R> {
    this.colsCache ??= Object.freeze(
      Object.fromEntries(this.schema.names.map((n) => [n, new Column({ kind: 'col', name: n })])),
    ) as Cols<R>;
    return this.colsCache;
  }

  /** A typed column of this stream. */
  col<K extends keyof R & string>(name: K): Column<R[K]> {
    this.schema.require(name, 'col');
    return new Column({ kind: 'col', name });
  }

  /**
   * Keep some columns (`select('a', 'b')`), compute new ones
   * (`select($ => ({ a: $.a, b2: $.b.mul(2) }))`), or, untyped, a list of
   * names and Columns (`select('a', col('b').as('c'))`).
   */
  select<K extends keyof R & string>(...names: K[]): Stream<Simplify<Pick<R, K>>>;
  select<O extends Record<string, Column<any>>>(
    fn: ColsFn<R, O>,
  ): Stream<Simplify<{ [K in keyof O]: ColumnType<O[K]> }>>;
  select<K extends keyof R & string>(...cols: (K | Column<any>)[]): Stream<Row>;
  select(...args: unknown[]): Stream<any> {
    if (args.length === 1 && typeof args[0] === 'function') {
      const out = (args[0] as ColsFn<R, Record<string, Column<any>>>)(this.cols);
      return this.derive(projectNode(this.plan, namedFromObject(out, 'select'), 'select'));
    }
    const exprs: NamedExpr[] = args.map((a, i) => {
      if (typeof a === 'string') return { name: a, expr: { kind: 'col', name: a } };
      if (a instanceof Column) return { name: exprName(a.expr), expr: a.expr };
      throw userError('INVALID_ARGUMENT', `select: argument ${i + 1} is neither a column name nor a Column`);
    });
    return this.derive(projectNode(this.plan, exprs, 'select'));
  }

  /** Add or replace a column. */
  withColumn<N extends string, T>(
    name: N,
    value: Column<T> | ColsFn<R, Column<T>>,
  ): Stream<Simplify<Omit<R, N> & { [P in N]: T }>> {
    const c = typeof value === 'function' ? value(this.cols) : value;
    if (!(c instanceof Column))
      throw userError('INVALID_ARGUMENT', `withColumn("${name}"): give a Column or a function returning one`);
    const names = this.schema.names;
    const exprs: NamedExpr[] = names.map((n) =>
      n === name ? { name, expr: c.expr } : { name: n, expr: { kind: 'col', name: n } },
    );
    if (!names.includes(name)) exprs.push({ name, expr: c.expr });
    return this.derive(projectNode(this.plan, exprs, `withColumn("${name}")`));
  }

  withColumnRenamed<O extends keyof R & string, N extends string>(
    existing: O,
    name: N,
  ): Stream<Simplify<Omit<R, O> & { [P in N]: R[O] }>> {
    this.schema.require(existing, 'withColumnRenamed');
    const exprs: NamedExpr[] = this.schema.names.map((n) => ({
      name: n === existing ? name : n,
      expr: { kind: 'col', name: n },
    }));
    return this.derive(projectNode(this.plan, exprs, 'withColumnRenamed'));
  }

  /** Remove columns. Names not in the stream are an error (unlike Spark, which ignores them: a typo should not pass). */
  drop<K extends keyof R & string>(...names: K[]): Stream<Simplify<Omit<R, K>>> {
    for (const n of names) this.schema.require(n, 'drop');
    const keep = this.schema.names.filter((n) => !(names as string[]).includes(n));
    if (keep.length === 0) throw userError('INVALID_PLAN', 'drop: cannot drop every column');
    return this.derive(
      projectNode(
        this.plan,
        keep.map((n) => ({ name: n, expr: { kind: 'col', name: n } })),
        'drop',
      ),
    );
  }

  /** Keep rows where the condition is true (null counts as false, as in SQL). */
  filter(condition: Column<boolean | null> | ColsFn<R, Column<boolean | null>>): Stream<R> {
    const c = typeof condition === 'function' ? condition(this.cols) : condition;
    if (!(c instanceof Column))
      throw userError('INVALID_ARGUMENT', 'filter: give a boolean Column or a function returning one');
    return this.derive(filterNode(this.plan, c.expr));
  }

  where(condition: Column<boolean | null> | ColsFn<R, Column<boolean | null>>): Stream<R> {
    return this.filter(condition);
  }

  /** A typed function per row; the output schema is needed because TS types do not exist at run time. */
  map<O>(fn: (row: R) => O, schema: Schema<O>, options: { name?: string } = {}): Stream<O> {
    return this.derive(mapNode(this.plan, fn, schema as Schema, { flat: false, ...options }));
  }

  /** Zero or more output rows per input row. */
  flatMap<O>(fn: (row: R) => Iterable<O>, schema: Schema<O>, options: { name?: string } = {}): Stream<O> {
    return this.derive(mapNode(this.plan, fn, schema as Schema, { flat: true, ...options }));
  }

  /** Rows of both streams (same columns, same order, same types). Like Spark, no deduplication. */
  union(...others: Stream<R>[]): Stream<R> {
    return this.derive(unionNode([this.plan, ...others.map((o) => o.plan)]));
  }

  /**
   * Join with another stream (stream–stream: both sides buffered in state, bounded by watermarks
   * and the condition's time range; append mode) or with a static table (stream–table: a lookup
   * per row; inner or leftOuter). See docs/guide/api.md, "Joins".
   */
  join<R2, T extends JoinTypeName = 'inner'>(
    other: Stream<R2> | TableSource<R2>,
    options: JoinOptions<R, R2, T>,
  ): Stream<JoinedRow<R, R2, T>> {
    if (options === null || typeof options !== 'object') {
      throw userError('INVALID_ARGUMENT', "join: give options, e.g. { on: ['id'], type: 'leftOuter' }");
    }
    const joinType = readJoinType(options.type ?? 'inner', 'join');
    const isStream = other instanceof Stream;
    const rightSchema = (isStream ? other.schema : (other as TableSource<R2>)?.schema) as Schema | undefined;
    if (!rightSchema) {
      throw userError(
        'INVALID_ARGUMENT',
        'join: join with a Stream or a table (staticTable(), fileTable(), …)',
      );
    }
    const using =
      typeof options.on === 'string'
        ? [options.on]
        : Array.isArray(options.on)
          ? [...(options.on as string[])]
          : [];
    const leftCols = this.cols as Cols<R>;
    const rightCols = Object.freeze(
      Object.fromEntries(
        rightSchema.names.map((n) => [n, new Column({ kind: 'col', name: rightName(using, n) })]),
      ),
    ) as Cols<R2>;
    let on: JoinOn;
    if (typeof options.on === 'function') {
      if (options.where) {
        throw userError(
          'INVALID_ARGUMENT',
          'join: with a condition function for on, put everything in it (where is for on: [names])',
        );
      }
      on = { using: [], condition: toExpr(options.on(leftCols, rightCols)) };
    } else if (using.length > 0) {
      on = {
        using,
        condition: options.where
          ? {
              kind: 'binary',
              op: 'and',
              left: usingCondition(using),
              right: toExpr(options.where(leftCols, rightCols)),
            }
          : null,
      };
    } else {
      throw userError(
        'INVALID_ARGUMENT',
        'join: give on: a column name, a list of them, or ($l, $r) => condition',
      );
    }
    const plan = isStream
      ? joinNode(this.plan, (other as Stream<R2>).plan, joinType, on)
      : lookupJoinNode(this.plan, other as TableSource<R2>, joinType, on);
    return this.derive(plan);
  }

  /**
   * Name the stateful operator that produced this stream (Flink's `uid`): its state is kept in the
   * checkpoint under this id, shown in explain() and progress, instead of an id derived from its
   * position (`aggregate-1`), so adding or removing a stateful operator upstream keeps its state.
   * Call it right after `agg`/`count`, `dropDuplicates…`, a stream–stream `join` or
   * `processWithState`:
   *
   *   bids.groupBy('auction').count().uid('bids-per-auction')
   *
   * Naming an operator of an existing checkpoint that was started without a uid changes its id: the
   * checkpoint refuses the change at start() (its state is under the old id).
   */
  uid(id: string): Stream<R> {
    return this.derive(uidNode(this.plan, id));
  }

  /**
   * Declare the event-time column and how late rows may arrive. The watermark
   * is `max event time seen - delay`; stateful operators use it to drop late
   * rows and close windows.
   */
  withWatermark<K extends keyof R & string>(eventTime: K, delay: string | number): Stream<R> {
    return this.derive(watermarkNode(this.plan, eventTime, parseDuration(delay, 'withWatermark delay')));
  }

  /**
   * Keep the first row of each key (`dropDuplicates('id')`; no names: all
   * columns), drop the later ones. The key is remembered in the query's state:
   * if the key includes the watermarked event-time column, a key is forgotten
   * once the watermark passes its event time (rows at or below the watermark
   * are late: dropped and counted); otherwise every key is kept forever.
   *
   *   events.withWatermark('time', '10 minutes').dropDuplicates('id', 'time')
   */
  dropDuplicates<K extends keyof R & string>(...names: K[]): Stream<R> {
    return this.derive(dedupNode(this.plan, names, false));
  }

  /**
   * Keep the first row of each key (no names: all columns) and drop rows with
   * the same key until the watermark passes the first row's event time plus
   * the watermark delay (Spark 3.5's dropDuplicatesWithinWatermark). The key
   * need not include the event time, so duplicates whose event times differ
   * (a retried send) are caught too. Needs `withWatermark` before it.
   *
   *   events.withWatermark('time', '1 hour').dropDuplicatesWithinWatermark('id')
   */
  dropDuplicatesWithinWatermark<K extends keyof R & string>(...names: K[]): Stream<R> {
    return this.derive(dedupNode(this.plan, names, true));
  }

  /**
   * Group rows for aggregation: by column names (`groupBy('word')`), by named key
   * columns (`groupBy($ => ({ window: window($.t, '1 minute'), host: $.host }))`),
   * or untyped (`groupBy(col('a'), window(col('t'), '10 seconds'))`, a window key is named `window`,
   * a `sessionWindow(…)` key `session_window`, as in Spark).
   */
  groupBy<K extends keyof R & string>(...names: K[]): GroupedStream<R, Simplify<Pick<R, K>>>;
  groupBy<O extends Record<string, Column<any>>>(
    fn: ColsFn<R, O>,
  ): GroupedStream<R, Simplify<{ [K in keyof O]: ColumnType<O[K]> }>>;
  groupBy<K extends keyof R & string>(...cols: (K | Column<any>)[]): GroupedStream<R, Row>;
  groupBy(...args: unknown[]): GroupedStream<R, any> {
    let keys: NamedExpr[];
    if (args.length === 1 && typeof args[0] === 'function') {
      keys = namedFromObject((args[0] as ColsFn<R, Record<string, Column<any>>>)(this.cols), 'groupBy');
    } else {
      keys = args.map((a, i) => {
        if (typeof a === 'string') {
          this.schema.require(a, 'groupBy');
          return { name: a, expr: { kind: 'col', name: a } };
        }
        if (a instanceof Column) {
          const e = a.expr;
          const name =
            e.kind === 'call' && (e.name === 'window' || e.name === 'session_window') ? e.name : exprName(e);
          return { name, expr: e };
        }
        throw userError(
          'INVALID_ARGUMENT',
          `groupBy: argument ${i + 1} is neither a column name nor a Column`,
        );
      });
    }
    return new GroupedStream(this, keys);
  }

  /**
   * Group rows by a key for `processWithState` (keyed state with timers): by a
   * column name (`groupByKey('userId')`), one column (`groupByKey($ => $.userId)`;
   * the key is its value) or an object of columns (`groupByKey($ => ({ a: $.a, b: $.b }))`;
   * the key is an object).
   */
  groupByKey<N extends keyof R & string>(name: N): KeyedStream<R, R[N]>;
  groupByKey<T>(fn: ColsFn<R, Column<T>>): KeyedStream<R, T>;
  groupByKey<O extends Record<string, Column<any>>>(
    fn: ColsFn<R, O>,
  ): KeyedStream<R, Simplify<{ [K in keyof O]: ColumnType<O[K]> }>>;
  groupByKey(key: unknown): KeyedStream<R, any> {
    if (typeof key === 'string') {
      this.schema.require(key, 'groupByKey');
      return new KeyedStream(this, [{ name: key, expr: { kind: 'col', name: key } }], true);
    }
    if (typeof key !== 'function') {
      throw userError(
        'INVALID_ARGUMENT',
        `groupByKey: give a column name or a function returning a Column or an object of Columns`,
      );
    }
    const k = (key as ColsFn<R, unknown>)(this.cols);
    if (k instanceof Column) return new KeyedStream(this, [{ name: exprName(k.expr), expr: k.expr }], true);
    return new KeyedStream(this, namedFromObject(k as Record<string, Column<any>>, 'groupByKey'), false);
  }

  /** Where this stream's result goes and how; `.start()` runs it. */
  writeStream(options: WriteStreamOptions): DataStreamWriter {
    return new DataStreamWriter(this.session, this.plan, options);
  }

  /** Name this stream for SQL in its session: `session.sql('SELECT … FROM <name>')` (Spark's method). */
  createOrReplaceTempView(name: string): void {
    this.session.createOrReplaceTempView(name, this);
  }

  /** The logical and physical plans, as text. */
  explain(): string {
    return explainPlans(this.plan);
  }

  printSchema(): string {
    return this.schema.treeString();
  }

  private derive<O>(plan: LogicalPlan): Stream<O> {
    return new Stream<O>(this.session, plan);
  }
}

function namedFromObject(obj: Record<string, ColumnLike<unknown>>, where: string): NamedExpr[] {
  if (obj === null || typeof obj !== 'object') {
    throw userError(
      'INVALID_ARGUMENT',
      `${where}: the function must return an object of columns, e.g. $ => ({ a: $.a })`,
    );
  }
  return Object.entries(obj).map(([name, c]) => ({ name, expr: toExpr(c) }));
}
