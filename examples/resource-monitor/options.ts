/**
 * Reading command-line values (agent.ts, pipeline.ts, run.ts): durations, numbers, hot
 * spells. Every bad value is a MillraceError that names the option and shows an example.
 */
import { MillraceError, parseDuration } from 'millrace';

export function optionError(option: string, message: string): MillraceError {
  return new MillraceError('INVALID_OPTION', `${option}: ${message}`, {
    domain: 'user',
    context: { option },
  });
}

/** "10 seconds", "1 minute", "250ms", "30s" or a plain number of milliseconds → ms (> 0). */
export function durationMs(option: string, value: string | number): number {
  let ms: number | undefined;
  try {
    ms = parseDuration(
      typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value,
      option,
    );
  } catch {
    ms = undefined; // reported below, as an option error
  }
  if (ms !== undefined && ms > 0) return Math.round(ms);
  throw optionError(
    option,
    `cannot read "${value}" as a positive duration; write e.g. "10 seconds", "1 minute", "500ms"`,
  );
}

/** A number within [min, max]; `integer` refuses fractions. */
export function numberOption(
  option: string,
  value: string | number,
  {
    min = -Infinity,
    max = Infinity,
    integer = false,
  }: { min?: number; max?: number; integer?: boolean } = {},
): number {
  const n = typeof value === 'number' ? value : value.trim() === '' ? NaN : Number(value);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    const kind = integer ? 'an integer' : 'a number';
    const range =
      min > -Infinity && max < Infinity
        ? `${kind} from ${min} to ${max}`
        : `${kind}${min > -Infinity ? ` ≥ ${min}` : ''}${max < Infinity ? ` ≤ ${max}` : ''}`;
    throw optionError(option, `expected ${range}, got "${value}"`);
  }
  return n;
}

/** A time: epoch ms, or ISO-8601 text. */
export function timeOption(option: string, value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isSafeInteger(n)) {
    throw optionError(
      option,
      `cannot read "${value}" as a time; give ISO-8601 text (2026-01-01T00:00:00Z) or epoch ms`,
    );
  }
  return n;
}

/** A simulated hot spell: this host reports 92–100 % CPU from `fromMs` to `toMs` after the start. */
export interface HotSpell {
  readonly host: string;
  readonly fromMs: number;
  readonly toMs: number;
}

/** "host-2:60-180" → host-2 runs hot from 60 s to 180 s after the agent started. */
export function hotSpellOption(option: string, value: string): HotSpell {
  const m = /^(.+):(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(value.trim());
  if (!m || Number(m[2]) >= Number(m[3])) {
    throw optionError(
      option,
      `cannot read "${value}"; write <host>:<from>-<to> in seconds after the start, e.g. "host-2:60-180"`,
    );
  }
  return { host: m[1]!, fromMs: Math.round(Number(m[2]) * 1000), toMs: Math.round(Number(m[3]) * 1000) };
}
