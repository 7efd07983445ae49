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

const TS_RE = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/;

/** Parse `yyyy-MM-dd[ HH:mm[:ss[.fff]]][Z|±hh:mm]`; null when it is not a timestamp. */
export function parseTimestamp(s: string): number | null {
  const m = TS_RE.exec(s.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, sec, frac, zone] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(sec ?? 0));
  if (frac) ms += Math.floor(Number(frac.padEnd(3, '0').slice(0, 3)));
  if (zone && zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  return Number.isNaN(ms) ? null : ms;
}

export function parseDate(s: string): number | null {
  const ms = parseTimestamp(s);
  return ms === null ? null : Math.floor(ms / MS_PER_DAY);
}
