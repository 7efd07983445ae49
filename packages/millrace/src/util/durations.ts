import { userError } from '../errors/index.ts';

const UNITS: Record<string, number> = {
  ms: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
};

/** A duration in ms from a number (ms) or text like "10 seconds", "5 min", "1h", "250ms". */
export function parseDuration(value: number | string, what: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw userError('INVALID_DURATION', `${what}: ${value} is not a non-negative number of milliseconds`);
    }
    return value;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$/.exec(value);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw userError(
      'INVALID_DURATION',
      `${what}: cannot read "${value}" as a duration; write e.g. "10 seconds", "5 minutes", "250 ms" or a number of milliseconds`,
    );
  }
  return Math.round(Number(m[1]) * unit);
}
