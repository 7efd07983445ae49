/**
 * Row-level pieces both joins share, compiled once per query: the key text of a row (equal keys,
 * equal text; null when a key is null — SQL equality never matches null), the joined row a
 * residual condition reads, and the output row.
 */
import { CodeBuilder, compileExpr, genExpr, propAccess } from '../../expr/codegen.ts';
import type { Expr } from '../../expr/Expr.ts';
import { resolveExpr } from '../../expr/resolve.ts';
import type { Row, Schema } from '../../schema/index.ts';
import type { OutputColumn } from '../../plan/joinNode.ts';

export type KeyText = (row: Row) => string | null;

/**
 * `a,b` text of the key expressions of one side. Numbers by `String` (so a long 1 and a double
 * 1.0 match, as Spark's equality after type coercion), strings and the rest by JSON.
 */
export function compileKeyText(keys: readonly Expr[], schema: Schema, where: string): KeyText {
  const b = new CodeBuilder();
  const parts: string[] = [];
  for (const k of keys) {
    const info = resolveExpr(k, schema, where);
    const v = genExpr(k, { schema, row: 'r', where }, b);
    const t = b.fresh('k');
    b.emit(`const ${t} = ${v};`);
    if (info.nullable) b.emit(`if (${t} == null) return null;`);
    const scalar = ['long', 'double', 'boolean', 'timestamp', 'date'].includes(info.type.kind);
    parts.push(scalar ? `String(${t})` : `JSON.stringify(${t})`);
  }
  return b.build(['r'], `${b.lines.join('\n')}\nreturn ${parts.join(" + ',' + ")};`, 'joinKey');
}

/** The joined row (left columns, then right ones under their joined names) a residual condition reads. */
export function compileJoinedRow(
  left: Schema,
  right: Schema,
  rightName: (n: string) => string,
): (l: Row | null, r: Row | null) => Row {
  const props = [
    ...left.names.map((n) => `${JSON.stringify(n)}: l === null ? null : ${propAccess('l', n)}`),
    ...right.names.map((n) => `${JSON.stringify(rightName(n))}: r === null ? null : ${propAccess('r', n)}`),
  ];
  return new CodeBuilder().build(['l', 'r'], `return { ${props.join(', ')} };`, 'joinedRow');
}

/** The output row from a left and a right row (either may be null for outer rows). */
export function compileOutputRow(output: readonly OutputColumn[]): (l: Row | null, r: Row | null) => Row {
  const props = output.map((o) => {
    const l = `(l === null ? null : ${propAccess('l', o.name)})`;
    const r = `(r === null ? null : ${propAccess('r', o.name)})`;
    const v = o.from === 'left' ? l : o.from === 'right' ? r : `(${l} ?? ${r})`;
    return `${JSON.stringify(o.as)}: ${v}`;
  });
  return new CodeBuilder().build(['l', 'r'], `return { ${props.join(', ')} };`, 'joinOutput');
}

/** The residual condition over a joined row: true when it holds (null counts as false). */
export function compileResidual(
  residual: Expr | null,
  joined: Schema,
  where: string,
): ((joinedRow: Row) => boolean) | null {
  if (residual === null) return null;
  const f = compileExpr(residual, joined, where);
  return (row) => f(row) === true;
}
