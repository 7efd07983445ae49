/**
 * Checks run at start(): the plan, output mode, sink and sources must fit
 * together (docs/architecture.md). Each failure names what is wrong and what would work.
 */
import type { OutputMode, Sink, Source } from '../connectors/contracts.ts';
import { userError } from '../errors/index.ts';
import { type LogicalPlan, type PlanKind, type PlanOf, children, collectSources } from './logical.ts';
import { eventTimeKeyOf, isSessionWindowCall } from './eventTime.ts';
import { joinStateBounds } from './bindJoin.ts';
import { exprToString } from '../expr/Expr.ts';

const OUTPUT_MODES: readonly OutputMode[] = ['append', 'update', 'complete'];

/** The nodes of one kind in a plan, outermost first. */
export function nodesOf<K extends PlanKind>(plan: LogicalPlan, kind: K, out: PlanOf<K>[] = []): PlanOf<K>[] {
  if (plan.kind === kind) out.push(plan as PlanOf<K>);
  for (const c of children(plan)) nodesOf(c, kind, out);
  return out;
}

/**
 * Output modes this plan supports, with the reason (Spark's rules):
 *   stateless                                   → append, update
 *   deduplication (no aggregation)              → append, update
 *   deduplication below an aggregation          → the aggregation's modes
 *   deduplication above an aggregation          → refused
 *   aggregation with a watermarked time key     → append, update, complete
 *   aggregation without one                     → update, complete
 *   processWithState (no aggregation)           → the output mode it declares
 *   processWithState with an aggregation        → refused (not supported yet)
 */
export function supportedOutputModes(plan: LogicalPlan): { modes: OutputMode[]; why: string } {
  const joins = nodesOf(plan, 'join');
  for (const j of joins) checkStreamJoin(j);
  const rest = modesWithoutJoins(plan);
  if (joins.length === 0) return rest;
  // Spark: a stream–stream join emits only final rows — append mode, and so must what follows it.
  if (!rest.modes.includes('append')) {
    throw userError(
      'UNSUPPORTED_OPERATION',
      `a stream–stream join supports only append output mode, but the rest of the query cannot run in append mode: ${rest.why}`,
    );
  }
  return {
    modes: ['append'],
    why: 'a stream–stream join emits each joined row once, when it is final (append mode only, as in Spark)',
  };
}

/**
 * Spark's rules for stream–stream joins: an outer (or semi) side's rows are emitted or dropped
 * only when the watermark proves no match can come, which needs a watermark on the OTHER side's
 * event time and a time range between the two sides in the condition.
 */
function checkStreamJoin(j: PlanOf<'join'>): void {
  const { analysis, leftEvictBy, rightEvictBy } = joinStateBounds(j);
  const { joinType } = j;
  const needLeft = joinType === 'leftOuter' || joinType === 'fullOuter' || joinType === 'leftSemi';
  const needRight = joinType === 'rightOuter' || joinType === 'fullOuter';
  const example =
    `e.g. withWatermark('<time>', '10 minutes') on both inputs and a condition like ` +
    `$r.time.between($l.time, $l.time.plus(interval('1 hour')))`;
  const t = analysis.time;
  const missing = (side: 'left' | 'right'): string => {
    const other = side === 'left' ? 'right' : 'left';
    if (t === null) return 'the join condition has no event-time range between the two sides';
    const ref = side === 'left' ? t.right : t.left;
    if (!ref.watermarked) return `the ${other} input has no watermark on "${ref.column}"`;
    return `the condition does not bound how far ${side === 'left' ? 'later' : 'earlier'} a ${other} row can match (the range is open on that end)`;
  };
  const refuse = (side: 'left' | 'right') => {
    throw userError(
      'UNSUPPORTED_OPERATION',
      `a ${joinType} stream–stream join must know when a ${side} row can no longer match, but ${missing(side)}; ` +
        `add a watermark on the ${side === 'left' ? 'right' : 'left'} input's event time and a time range in the condition (${example})`,
    );
  };
  if (needLeft && leftEvictBy === undefined) refuse('left');
  if (needRight && rightEvictBy === undefined) refuse('right');
  if (analysis.leftKeys.length === 0) {
    throw userError(
      'UNSUPPORTED_OPERATION',
      `a stream–stream join needs at least one equality between a left and a right column (e.g. on: ['id']); ` +
        `${exprToString(j.condition)} has none`,
    );
  }
}

function modesWithoutJoins(plan: LogicalPlan): { modes: OutputMode[]; why: string } {
  const aggs = nodesOf(plan, 'aggregate');
  const dedups = nodesOf(plan, 'dedup');
  for (const d of dedups) {
    if (nodesOf(d.input, 'aggregate').length > 0) {
      throw userError(
        'UNSUPPORTED_OPERATION',
        `${dedupName(d)} after an aggregation is not supported on a stream (as in Spark) — ` +
          `deduplicate the input before groupBy(…), or write the aggregation to a sink and read it as a new stream`,
      );
    }
  }
  const keyeds = nodesOf(plan, 'keyed');
  if (keyeds.length > 0) {
    if (aggs.length > 0) {
      throw userError(
        'UNSUPPORTED_OPERATION',
        `${keyedName(keyeds[0]!)} in the same query as an aggregation is not supported yet — ` +
          `write one of them to a sink and read it as a new stream`,
      );
    }
    const declared = keyeds[0]!.options.outputMode;
    const other = keyeds.find((k) => k.options.outputMode !== declared);
    if (other) {
      throw userError(
        'INVALID_OUTPUT_MODE',
        `${keyedName(keyeds[0]!)} declares outputMode '${declared}' but ${keyedName(other)} declares ` +
          `'${other.options.outputMode}'; every processWithState of a query must declare the query's output mode`,
      );
    }
    return {
      modes: [declared],
      why: `${keyedName(keyeds[0]!)} declares outputMode '${declared}' (it must match the query's output mode)`,
    };
  }
  if (aggs.length === 0 && dedups.length > 0) {
    return {
      modes: ['append', 'update'],
      why:
        `${dedupName(dedups[0]!)} emits each row once and keeps no result table to re-emit in complete mode ` +
        `(complete mode needs an aggregation)`,
    };
  }
  if (aggs.length === 0) {
    return {
      modes: ['append', 'update'],
      why: 'a stateless query has no result table to re-emit in complete mode',
    };
  }
  if (aggs.length > 1) {
    // Chained aggregations (Spark 3.5): append mode only, each one on watermarked event time, so
    // every operator's output is final and the next one can treat it as event-time input.
    const blind = aggs.find((a) => eventTimeKeyOf(a) === null);
    if (blind) {
      throw userError(
        'UNSUPPORTED_OPERATION',
        `chained aggregations need a watermarked event-time key in each aggregation; the aggregation by ` +
          `[${blind.keys.map((k) => k.name).join(', ')}] has none — group it by window(<watermarked time>, …) ` +
          `or, downstream, by the window column of the aggregation before it`,
      );
    }
    return {
      modes: ['append'],
      why: `the query chains ${aggs.length} aggregations; chained stateful operators emit only final rows (append mode), as in Spark`,
    };
  }
  const agg = aggs[0]!;
  const keys = agg.keys.map((k) => k.name).join(', ') || '(no keys)';
  const watermarked = eventTimeKeyOf(agg) !== null;
  // Spark: no update mode for session windows — a session already emitted can later merge into a
  // longer one, and the emitted row would never be taken back.
  if (agg.keys.some((k) => isSessionWindowCall(k.expr.kind === 'alias' ? k.expr.arg : k.expr))) {
    // Spark (UnsupportedOperationChecker): a session window alone is a global aggregation, whose
    // sessions would all merge into one state key.
    if (agg.keys.length === 1) {
      throw userError(
        'UNSUPPORTED_OPERATION',
        'Global aggregation with session window in streaming query is not supported: the aggregation by ' +
          `[${keys}] has no key besides the session window; group by session_window(…) and at least one ` +
          'other column (e.g. the user or device the sessions belong to)',
      );
    }
    return watermarked
      ? {
          modes: ['append', 'complete'],
          why: 'session windows can merge after they were emitted, so update mode could emit a session that later changes identity (Spark refuses it too)',
        }
      : {
          modes: ['complete'],
          why:
            `the session aggregation by [${keys}] has no watermark on its time column, so no session is ever final; ` +
            `add withWatermark('<time column>', '<delay>') for append mode`,
        };
  }
  if (watermarked) return { modes: ['append', 'update', 'complete'], why: '' };
  return {
    modes: ['update', 'complete'],
    why:
      `the aggregation by [${keys}] has no watermarked event-time key, so no group is ever final; ` +
      `for append mode add withWatermark('<time column>', '<delay>') and group by window(<time column>, …), ` +
      `session_window(<time column>, …) or the time column itself`,
  };
}

function keyedName(k: PlanOf<'keyed'>): string {
  return k.options.name ? `processWithState "${k.options.name}"` : 'processWithState';
}

function dedupName(d: PlanOf<'dedup'>): string {
  return `${d.withinWatermark ? 'dropDuplicatesWithinWatermark' : 'dropDuplicates'}(${d.columns.join(', ')})`;
}

export function checkOutputMode(plan: LogicalPlan, mode: OutputMode, sink: Sink): void {
  if (!OUTPUT_MODES.includes(mode)) {
    throw userError(
      'INVALID_OUTPUT_MODE',
      `unknown output mode "${mode}"; use one of: ${OUTPUT_MODES.join(', ')}`,
    );
  }
  const { modes, why } = supportedOutputModes(plan);
  if (!modes.includes(mode)) {
    throw userError(
      'INVALID_OUTPUT_MODE',
      `${mode} output mode is not supported by this query: ${why}; use ${modes.join(' or ')}`,
    );
  }
  if (sink.supportedOutputModes && !sink.supportedOutputModes.includes(mode)) {
    throw userError(
      'INVALID_OUTPUT_MODE',
      `sink "${sink.name}" (${sink.describe()}) does not support output mode ${mode}; it supports: ${sink.supportedOutputModes.join(', ')}`,
    );
  }
}

/** Offsets and state are stored by source name, so names must be unique within a query. */
export function checkSourceNames(plan: LogicalPlan): Source<any>[] {
  const sources = collectSources(plan);
  const byName = new Map<string, Source<any>>();
  for (const s of sources) {
    const other = byName.get(s.name);
    if (other && other !== s) {
      throw userError(
        'DUPLICATE_SOURCE_NAME',
        `two different sources are both named "${s.name}" (${other.describe()} and ${s.describe()}); ` +
          `give each a unique { name } option — offsets in the checkpoint are stored by source name`,
      );
    }
    byName.set(s.name, s);
  }
  return [...byName.values()];
}

export function checkSink(sink: Sink): void {
  const missing = (['name', 'addBatch', 'open', 'close', 'describe'] as const).filter(
    (k) => !(sink as any)?.[k],
  );
  if (missing.length > 0) {
    throw userError(
      'INVALID_SINK',
      `the sink is missing ${missing.join(', ')}; pass a sink such as consoleSink() or memorySink()`,
    );
  }
}
