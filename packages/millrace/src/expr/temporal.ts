/**
 * Timestamp and date conversions shared by casts and date/time functions.
 * Timestamps are epoch milliseconds, dates are epoch days; everything is UTC
 * (Spark's session time zone set to UTC).
 */
export const MS_PER_DAY = 86_400_000;

const pad2 = (n: number) => (n < 10 ? '0' : '') + n;
const pad3 = (n: number) => (n < 10 ? '00' : n < 100 ? '0' : '') + n;

/** `2025-01-01 12:00:00` or `2025-01-01 12:00:00.123` — Spark's timestamp-to-string cast. */
export function formatTimestamp(ms: number): string {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const base = `${y < 1000 ? String(y).padStart(4, '0') : y}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(
    d.getUTCHours(),
  )}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
  const frac = d.getUTCMilliseconds();
  return frac === 0 ? base : `${base}.${pad3(frac)}`;
}

/** `2025-01-01T12:00:00.000Z`, for JSON output. */
export function formatTimestampIso(ms: number): string {
  return new Date(ms).toISOString();
}

export function formatDate(days: number): string {
  return new Date(days * MS_PER_DAY).toISOString().slice(0, 10);
}
