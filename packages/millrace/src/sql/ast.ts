/**
 * The SQL syntax tree: what the parser read, with the span of every node so the binder can point
 * at the text an error is about. Nothing here is resolved: names are as written.
 */
import type { Span } from './errors.ts';

export type SqlExpr =
  /** `a`, `t.a`, `window.start`: resolved by the binder (qualifier, column or struct field). */
  | { readonly kind: 'ident'; readonly parts: readonly string[]; readonly span: Span }
  | {
      readonly kind: 'literal';
      readonly value: string | number | boolean | null;
      /** Numbers: whether written without a fraction or exponent (a long, else a double). */
      readonly integer?: boolean;
      readonly span: Span;
    }
  /** `INTERVAL 10 SECONDS`, `INTERVAL '1' HOUR`, `INTERVAL '10 seconds'`: milliseconds. */
  | { readonly kind: 'interval'; readonly ms: number; readonly span: Span }
  /** `TIMESTAMP '2024-01-01 10:00:00'`, `DATE '2024-01-01'`. */
  | {
      readonly kind: 'typedLiteral';
      readonly type: 'timestamp' | 'date';
      readonly text: string;
      readonly span: Span;
    }
  | {
      readonly kind: 'binary';
      readonly op: SqlBinaryOp;
      readonly left: SqlExpr;
      readonly right: SqlExpr;
      readonly span: Span;
    }
  | { readonly kind: 'unary'; readonly op: 'not' | 'neg'; readonly arg: SqlExpr; readonly span: Span }
  | { readonly kind: 'isNull'; readonly arg: SqlExpr; readonly negated: boolean; readonly span: Span }
  | {
      readonly kind: 'between';
      readonly arg: SqlExpr;
      readonly low: SqlExpr;
      readonly high: SqlExpr;
      readonly negated: boolean;
      readonly span: Span;
    }
  | {
      readonly kind: 'in';
      readonly arg: SqlExpr;
      readonly list: readonly SqlExpr[];
      readonly negated: boolean;
      readonly span: Span;
    }
  | {
      /** LIKE, ILIKE, RLIKE / REGEXP: the function of that name. */
      readonly kind: 'like';
      readonly fn: 'like' | 'ilike' | 'regexp_like';
      readonly arg: SqlExpr;
      readonly pattern: SqlExpr;
      readonly negated: boolean;
      readonly span: Span;
    }
  | {
      readonly kind: 'case';
      /** `CASE x WHEN 1 THEN …`: compared with each WHEN value. */
      readonly operand: SqlExpr | null;
      readonly branches: readonly { readonly when: SqlExpr; readonly then: SqlExpr }[];
      readonly otherwise: SqlExpr | null;
      readonly span: Span;
    }
  | {
      readonly kind: 'cast';
      readonly arg: SqlExpr;
      readonly type: string;
      readonly typeSpan: Span;
      readonly span: Span;
    }
  | {
      readonly kind: 'call';
      readonly name: string;
      readonly nameSpan: Span;
      readonly args: readonly SqlExpr[];
      /** `count(*)`. */
      readonly star: boolean;
      /** `count(DISTINCT x)`. */
      readonly distinct: boolean;
      /** `sum(x) FILTER (WHERE …)`. */
      readonly filter: SqlExpr | null;
      readonly span: Span;
    }
  /** `*` or `t.*` in a select list. */
  | { readonly kind: 'star'; readonly qualifier: string | null; readonly span: Span };

export type SqlBinaryOp =
  '+' | '-' | '*' | '/' | '%' | '=' | '!=' | '<' | '<=' | '>' | '>=' | '<=>' | 'and' | 'or' | '||';

export interface SelectItem {
  readonly expr: SqlExpr;
  readonly alias: string | null;
  readonly span: Span;
}

export interface WatermarkClause {
  /** The event-time column: a name, or an expression with `AS name` (added as a column first). */
  readonly expr: SqlExpr;
  readonly alias: string | null;
  readonly delayMs: number;
  readonly span: Span;
}

export type FromItem =
  | {
      readonly kind: 'table';
      readonly name: string;
      /** Written `STREAM name` or `STREAM(name)`. */
      readonly stream: boolean;
      readonly alias: string | null;
      readonly watermark: WatermarkClause | null;
      readonly span: Span;
    }
  | {
      readonly kind: 'subquery';
      readonly query: Query;
      readonly alias: string | null;
      readonly watermark: WatermarkClause | null;
      readonly span: Span;
    }
  | {
      readonly kind: 'join';
      readonly type: 'inner' | 'leftOuter' | 'rightOuter' | 'fullOuter' | 'leftSemi';
      readonly left: FromItem;
      readonly right: FromItem;
      readonly on: SqlExpr | null;
      readonly using: readonly { readonly name: string; readonly span: Span }[];
      readonly span: Span;
    };

export interface Select {
  readonly kind: 'select';
  readonly distinct: boolean;
  readonly items: readonly SelectItem[];
  readonly from: FromItem;
  readonly where: SqlExpr | null;
  readonly groupBy: readonly SqlExpr[];
  readonly having: SqlExpr | null;
  readonly span: Span;
}

export type QueryBody =
  | Select
  | { readonly kind: 'unionAll'; readonly left: QueryBody; readonly right: QueryBody; readonly span: Span };

export interface Query {
  readonly with: readonly { readonly name: string; readonly query: Query; readonly span: Span }[];
  readonly body: QueryBody;
  readonly span: Span;
}

export type Statement =
  | { readonly kind: 'query'; readonly query: Query; readonly span: Span }
  | {
      readonly kind: 'createView';
      readonly name: string;
      readonly query: Query;
      readonly orReplace: boolean;
      readonly span: Span;
    };
