/**
 * How far a source is behind: its latest available offset minus the end offset
 * of the last batch, in the source's own offset units (events, records, bytes…).
 * Works for numeric offsets and for JSON objects whose numeric leaves line up
 * (e.g. `{ topic: { "0": 120, "1": 98 } }`: the per-partition differences are
 * summed). A source that reports a numeric `lag` metric is taken at its word.
 * Anything else (file lists, opaque tokens) has no lag: null.
 */
import type { Offset, SourceProgress } from 'millrace';

function diff(latest: Offset | null | undefined, end: Offset | null | undefined): number | null {
  if (typeof latest === 'number') {
    if (end === null || end === undefined) return latest;
    return typeof end === 'number' ? Math.max(0, latest - end) : null;
  }
  if (latest !== null && typeof latest === 'object' && !Array.isArray(latest)) {
    const e = end !== null && typeof end === 'object' && !Array.isArray(end) ? end : {};
    let total = 0;
    let any = false;
    for (const [k, v] of Object.entries(latest)) {
      const d = diff(v, (e as Record<string, Offset>)[k]);
      if (d === null) return null;
      total += d;
      any = true;
    }
    return any ? total : null;
  }
  return null;
}

/** One source's lag, or null when it cannot be known. */
export function lagOf(s: Pick<SourceProgress, 'latestOffset' | 'endOffset' | 'metrics'>): number | null {
  const reported = s.metrics?.lag;
  if (typeof reported === 'number' && Number.isFinite(reported)) return reported;
  return diff(s.latestOffset, s.endOffset);
}

/** The sum over sources that report a lag; null when none does. */
export function sourceLag(sources: readonly SourceProgress[]): number | null {
  let total: number | null = null;
  for (const s of sources) {
    const l = lagOf(s);
    if (l !== null) total = (total ?? 0) + l;
  }
  return total;
}

/** Offset units per second between two end offsets (numeric leaves summed), or null. */
export function offsetAdvance(from: Offset | null | undefined, to: Offset | null | undefined): number | null {
  return diff(to, from);
}
