/**
 * Checks run at start(): the plan, output mode, sink and sources must fit
 * together (DESIGN.md §2). Each failure names what is wrong and what would work.
 */
import type { OutputMode, Sink, Source } from '../connectors/contracts.ts';
import { userError } from '../errors/index.ts';
import { type LogicalPlan, collectSources } from './logical.ts';

const OUTPUT_MODES: readonly OutputMode[] = ['append', 'update', 'complete'];

/** Output modes this plan supports. Stateless plans: append and update (Spark). */
export function supportedOutputModes(_plan: LogicalPlan): OutputMode[] {
  // Every node kind so far is stateless. Stateful operators (aggregations, joins,
  // dedup) will decide per plan here.
  return ['append', 'update'];
}

export function checkOutputMode(plan: LogicalPlan, mode: OutputMode, sink: Sink): void {
  if (!OUTPUT_MODES.includes(mode)) {
    throw userError(
      'INVALID_OUTPUT_MODE',
      `unknown output mode "${mode}"; use one of: ${OUTPUT_MODES.join(', ')}`,
    );
  }
  const ok = supportedOutputModes(plan);
  if (!ok.includes(mode)) {
    throw userError(
      'INVALID_OUTPUT_MODE',
      mode === 'complete'
        ? `complete output mode is not supported when there are no streaming aggregations: a stateless query has no result table to re-emit; use ${ok.join(' or ')}`
        : `output mode ${mode} is not supported by this query; use ${ok.join(' or ')}`,
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
