/**
 * Binds a logical deduplication to the operator's spec: the key encoder and
 * the mode that decides how its state is bounded (see operators/dedup/Deduplicate.ts).
 *
 *   dropDuplicates(cols), a watermarked column among cols → eventTimeKey (state expires with the watermark)
 *   dropDuplicates(cols), none among cols                 → unbounded (state grows forever, as in Spark)
 *   dropDuplicatesWithinWatermark(cols)                   → withinWatermark (the input's event time + delay)
 */
import { internalError } from '../errors/index.ts';
import type { DedupSpec } from '../operators/dedup/Deduplicate.ts';
import { keyEncoder } from '../operators/dedup/keyEncoding.ts';
import { type LogicalPlan, type PlanOf, watermarkedColumns } from './logical.ts';

export function bindDedup(p: PlanOf<'dedup'>, operatorId: string): DedupSpec {
  const schema = p.input.schema;
  const marked = watermarkedColumns(p.input);
  if (p.withinWatermark) {
    const column = [...marked][0];
    const delayMs = column === undefined ? undefined : watermarkDelayOf(p.input, column);
    if (column === undefined || delayMs === undefined) {
      throw internalError(
        `${operatorId}: dropDuplicatesWithinWatermark has no watermarked input column (the analysis should have refused it)`,
        { operator: operatorId },
      );
    }
    return {
      operatorId,
      keyNames: p.columns,
      keyOf: keyEncoder(schema, p.columns),
      mode: { kind: 'withinWatermark', column, delayMs },
    };
  }
  // Spark uses the first key column carrying event-time metadata.
  const column = p.columns.find((c) => marked.has(c));
  if (column === undefined) {
    return {
      operatorId,
      keyNames: p.columns,
      keyOf: keyEncoder(schema, p.columns),
      mode: { kind: 'unbounded' },
    };
  }
  return {
    operatorId,
    keyNames: p.columns,
    keyOf: keyEncoder(
      schema,
      p.columns.filter((c) => c !== column),
    ),
    mode: { kind: 'eventTimeKey', column },
  };
}

/**
 * The watermark delay of a watermarked column of `p`'s output, following it
 * through renames down to its withWatermark (the largest one across a union).
 */
export function watermarkDelayOf(p: LogicalPlan, column: string): number | undefined {
  switch (p.kind) {
    case 'source':
    case 'map':
    case 'aggregate':
    case 'keyed':
      return undefined;
    case 'watermark':
      return p.column === column ? p.delayMs : watermarkDelayOf(p.input, column);
    case 'filter':
    case 'dedup':
      return watermarkDelayOf(p.input, column);
    case 'project': {
      const item = p.exprs.find((e) => e.name === column);
      if (item === undefined) return undefined;
      const e = item.expr.kind === 'alias' ? item.expr.arg : item.expr;
      return e.kind === 'col' ? watermarkDelayOf(p.input, e.name) : undefined;
    }
    case 'union': {
      const delays = p.inputs.map((i) => watermarkDelayOf(i, column));
      return delays.some((d) => d === undefined) ? undefined : Math.max(...(delays as number[]));
    }
  }
}

/** How explain shows the mode. */
export function describeDedupMode(spec: DedupSpec): string {
  const m = spec.mode;
  switch (m.kind) {
    case 'unbounded':
      return 'state: unbounded (no watermarked key column)';
    case 'eventTimeKey':
      return `eventTime=${m.column} (state expires when ${m.column} <= watermark)`;
    case 'withinWatermark':
      return `eventTime=${m.column}, delay=${m.delayMs} ms (state expires when first ${m.column} + delay <= watermark)`;
  }
}
