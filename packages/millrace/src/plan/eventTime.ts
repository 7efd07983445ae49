/**
 * How an aggregation relates to event time: which grouping key, if any, is a
 * watermarked time (a window or session window over a watermarked column, or
 * the column itself). That key decides late rows (`end <= watermark` /
 * `time <= watermark`; for a session, the row's own `time + gap <= watermark`), when
 * groups are final (append mode) and when their state can go.
 */
import type { Expr } from '../expr/Expr.ts';
import type { WindowSpec } from '../expr/windows.ts';
import { type PlanOf, keyTimeColumn, watermarkedColumns } from './logical.ts';

export type EventTimeKey =
  | { readonly kind: 'window'; readonly keyIndex: number; readonly time: Expr; readonly spec: WindowSpec }
  | { readonly kind: 'column'; readonly keyIndex: number; readonly column: string }
  | { readonly kind: 'session'; readonly keyIndex: number; readonly time: Expr; readonly gap: Expr };

export function isWindowCall(e: Expr): e is Extract<Expr, { kind: 'call' }> {
  return e.kind === 'call' && e.name === 'window';
}

/** `session_window(time, gap)`: planned as operators/session/SessionAggregate. */
export function isSessionWindowCall(e: Expr): boolean {
  return e.kind === 'call' && e.name === 'session_window';
}

export function windowSpecOfCall(e: Extract<Expr, { kind: 'call' }>): WindowSpec {
  const lit = (i: number) => {
    const a = e.args[i]!;
    return a.kind === 'lit' ? Number(a.value) : NaN;
  };
  return { sizeMs: lit(1), slideMs: lit(2), startMs: lit(3) };
}

export function eventTimeKeyOf(agg: PlanOf<'aggregate'>): EventTimeKey | null {
  const marked = watermarkedColumns(agg.input);
  for (let i = 0; i < agg.keys.length; i++) {
    const raw = agg.keys[i]!.expr;
    const column = keyTimeColumn(raw);
    if (column === undefined || !marked.has(column)) continue;
    const e = raw.kind === 'alias' ? raw.arg : raw;
    if (isSessionWindowCall(e)) {
      const [time, gap] = (e as Extract<Expr, { kind: 'call' }>).args as [Expr, Expr];
      return { kind: 'session', keyIndex: i, time, gap };
    }
    if (isWindowCall(e)) return { kind: 'window', keyIndex: i, time: e.args[0]!, spec: windowSpecOfCall(e) };
    return { kind: 'column', keyIndex: i, column };
  }
  return null;
}
