/**
 * The two row shapes of the scenario and how they travel as JSON.
 *
 *   agent / collectd ──MetricSample (one JSON object per record)──▶ topic "metrics"
 *   pipeline ──HostStats (one JSON object per closed window and host)──▶ topic "resource-stats"
 *
 * A sample carries what one machine measured at one instant. `cpu` or `mem` may be null: a
 * collectd value list carries one of them only (the cpu plugin and the memory plugin report
 * separately), and averages and peaks ignore nulls (as Spark's avg/max do).
 */
import { MillraceError, schema, t, type RowOf } from 'millrace';

export const metricSchema = schema({
  /** The machine's id (its host name, or `<name>-<i>` for simulated agents). */
  host: t.string,
  /** When the sample was taken (epoch ms; JSON: a number of ms or ISO-8601 text). */
  time: t.timestamp,
  /** CPU utilisation of the whole machine, 0–100 %. */
  cpu: t.double.orNull(),
  /** Memory in use, 0–100 % of physical memory. */
  mem: t.double.orNull(),
  /** Who produced it: 'agent', 'agent-fake', 'agent-sim', 'collectd'. */
  source: t.string.orNull(),
});
export type MetricSample = RowOf<typeof metricSchema>;

/** One closed window of one host, as the pipeline writes it to the `resource-stats` topic. */
export interface HostStats {
  readonly host: string;
  readonly window: { readonly start: number; readonly end: number };
  readonly samples: number;
  readonly cpuAvg: number | null;
  readonly cpuPeak: number | null;
  readonly memAvg: number | null;
  readonly memPeak: number | null;
}

/** The JSON text of a sample, as stored in the metrics topic (time as epoch ms). */
export function sampleToJson(s: MetricSample): string {
  return JSON.stringify({ host: s.host, time: s.time, cpu: s.cpu, mem: s.mem, source: s.source });
}

/** Checks a sample before it is published, so that a bad producer fails where the bug is. */
export function checkSample(s: MetricSample, where: string): MetricSample {
  const bad = (what: string) =>
    new MillraceError('INVALID_SAMPLE', `${where}: ${what} in sample ${JSON.stringify(s)}`, {
      domain: 'internal',
      context: { host: s.host },
    });
  if (typeof s.host !== 'string' || s.host === '') throw bad('host must be a non-empty string');
  if (!Number.isSafeInteger(s.time)) throw bad('time must be epoch milliseconds');
  for (const k of ['cpu', 'mem'] as const) {
    const v = s[k];
    if (v !== null && !(typeof v === 'number' && v >= 0 && v <= 100)) throw bad(`${k} must be 0–100 or null`);
  }
  return s;
}

/** Two decimals: what agents report (and what makes generated samples easy to read). */
export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

export function clampPercent(x: number): number {
  return x < 0 ? 0 : x > 100 ? 100 : x;
}
