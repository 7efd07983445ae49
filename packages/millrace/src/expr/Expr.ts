/**
 * Expression trees: immutable data with a `kind`. The API's Column wraps one;
 * the analyzer types it against a schema (resolve.ts); codegen.ts compiles it
 * into plain JS source so nothing walks a tree per row.
 */
import type { DataType } from '../schema/index.ts';

export type ArithmeticOp = '+' | '-' | '*' | '/' | '%';
export type ComparisonOp = '=' | '!=' | '<' | '<=' | '>' | '>=' | '<=>';
export type LogicalOp = 'and' | 'or';
export type BinaryOp = ArithmeticOp | ComparisonOp | LogicalOp;
export type UnaryOp = 'not' | 'neg' | 'isNull' | 'isNotNull';

export type Expr =
  | { readonly kind: 'col'; readonly name: string }
  | { readonly kind: 'lit'; readonly value: unknown; readonly type: DataType }
  | { readonly kind: 'binary'; readonly op: BinaryOp; readonly left: Expr; readonly right: Expr }
  | { readonly kind: 'unary'; readonly op: UnaryOp; readonly arg: Expr }
  | {
      readonly kind: 'case';
      readonly branches: readonly { readonly when: Expr; readonly then: Expr }[];
      readonly otherwise: Expr | null;
    }
  | { readonly kind: 'cast'; readonly arg: Expr; readonly to: DataType }
  | { readonly kind: 'call'; readonly name: string; readonly args: readonly Expr[] }
  | {
      readonly kind: 'udf';
      readonly name: string;
      readonly fn: (...args: any[]) => unknown;
      readonly returnType: DataType;
      readonly nullable: boolean;
      readonly args: readonly Expr[];
    }
  | { readonly kind: 'alias'; readonly arg: Expr; readonly name: string };

export type ExprKind = Expr['kind'];
export type ExprOf<K extends ExprKind> = Extract<Expr, { kind: K }>;

/** The output name of an expression in a projection (Spark's auto-naming, simplified). */
export function exprName(e: Expr): string {
  switch (e.kind) {
    case 'alias':
      return e.name;
    case 'col':
      return e.name;
    default:
      return exprToString(e);
  }
}

const SQL_OPS: Record<BinaryOp, string> = {
  '+': '+',
  '-': '-',
  '*': '*',
  '/': '/',
  '%': '%',
  '=': '=',
  '!=': '!=',
  '<': '<',
  '<=': '<=',
  '>': '>',
  '>=': '>=',
  '<=>': '<=>',
  and: 'AND',
  or: 'OR',
};

/** A readable, SQL-like rendering for explain() and error messages. */
export function exprToString(e: Expr): string {
  const render: { [K in ExprKind]: (x: ExprOf<K>) => string } = {
    col: (x) => x.name,
    lit: (x) => (typeof x.value === 'string' ? `'${x.value}'` : x.value === null ? 'NULL' : String(x.value)),
    binary: (x) => `(${exprToString(x.left)} ${SQL_OPS[x.op]} ${exprToString(x.right)})`,
    unary: (x) =>
      x.op === 'not'
        ? `(NOT ${exprToString(x.arg)})`
        : x.op === 'neg'
          ? `(- ${exprToString(x.arg)})`
          : `(${exprToString(x.arg)} ${x.op === 'isNull' ? 'IS NULL' : 'IS NOT NULL'})`,
    case: (x) =>
      `CASE ${x.branches.map((b) => `WHEN ${exprToString(b.when)} THEN ${exprToString(b.then)}`).join(' ')}${
        x.otherwise ? ` ELSE ${exprToString(x.otherwise)}` : ''
      } END`,
    cast: (x) => `CAST(${exprToString(x.arg)} AS ${x.to.kind.toUpperCase()})`,
    call: (x) => `${x.name}(${x.args.map(exprToString).join(', ')})`,
    udf: (x) => `${x.name}(${x.args.map(exprToString).join(', ')})`,
    alias: (x) => `${exprToString(x.arg)} AS ${x.name}`,
  };
  return (render[e.kind] as (x: Expr) => string)(e);
}

/** Columns an expression reads (for pruning and analysis messages). */
export function referencedColumns(e: Expr, out = new Set<string>()): Set<string> {
  switch (e.kind) {
    case 'col':
      out.add(e.name);
      break;
    case 'lit':
      break;
    case 'binary':
      referencedColumns(e.left, out);
      referencedColumns(e.right, out);
      break;
    case 'unary':
    case 'cast':
    case 'alias':
      referencedColumns(e.arg, out);
      break;
    case 'case':
      for (const b of e.branches) {
        referencedColumns(b.when, out);
        referencedColumns(b.then, out);
      }
      if (e.otherwise) referencedColumns(e.otherwise, out);
      break;
    case 'call':
    case 'udf':
      for (const a of e.args) referencedColumns(a, out);
      break;
  }
  return out;
}
