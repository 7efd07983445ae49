/** How numbers, durations, times and JSON values are shown. */

const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const oneFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
const twoFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

/** 1,234 · 12.5 · 0.25; '—' for null/NaN. */
export function num(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  const a = Math.abs(n);
  return a >= 100 ? intFmt.format(n) : a >= 1 ? oneFmt.format(n) : twoFmt.format(n);
}

/** 1.2k · 3.4M for axis labels. */
export function compact(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '';
  const a = Math.abs(n);
  if (a >= 1e9) return `${oneFmt.format(n / 1e9)}G`;
  if (a >= 1e6) return `${oneFmt.format(n / 1e6)}M`;
  if (a >= 1e4) return `${oneFmt.format(n / 1e3)}k`;
  return num(n);
}

/** Milliseconds as "12 ms", "1.25 s", "2 min 5 s". */
export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  if (Math.abs(n) < 1000) return `${num(n)} ms`;
  return seconds(n / 1000);
}

/** Seconds as "3.2 s", "4 min 3 s", "2 h 5 min", "3 d 4 h". */
export function seconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—';
  const sign = s < 0 ? '−' : '';
  const a = Math.abs(s);
  if (a < 60) return `${sign}${a < 10 ? twoFmt.format(a) : oneFmt.format(a)} s`;
  if (a < 3600) return `${sign}${Math.floor(a / 60)} min ${Math.floor(a % 60)} s`;
  if (a < 86400) return `${sign}${Math.floor(a / 3600)} h ${Math.floor((a % 3600) / 60)} min`;
  return `${sign}${Math.floor(a / 86400)} d ${Math.floor((a % 86400) / 3600)} h`;
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${oneFmt.format(n / 1024)} KiB`;
  if (n < 1024 ** 3) return `${oneFmt.format(n / 1024 ** 2)} MiB`;
  return `${oneFmt.format(n / 1024 ** 3)} GiB`;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** Local time: "14:03:07" today, "2026-01-02 14:03:07" on another day; '—' for null. */
export function time(v: string | number | null | undefined, withMs = false): string {
  if (v === null || v === undefined) return '—';
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${withMs ? `.${pad(d.getMilliseconds(), 3)}` : ''}`;
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return hms;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
}

/** "5 s ago" from an ISO time (or epoch ms). */
export function ago(v: string | number | null | undefined, now = Date.now()): string {
  if (v === null || v === undefined) return '—';
  const t = typeof v === 'number' ? v : Date.parse(v);
  if (!Number.isFinite(t)) return '—';
  const s = (now - t) / 1000;
  return s < 1 ? 'just now' : `${seconds(Math.round(s))} ago`;
}

/** Compact JSON, cut at `max` characters (with …). */
export function json(v: unknown, max = 120): string {
  let s: string;
  try {
    s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Without a schema only: names that look like times (window.start, windowStart, updatedAt…). */
const TIME_NAME = /(^|[._])(start|end|time|timestamp|date|datetime)$|[a-z](At|Time|Start|End|Date)$/i;
/** Identifiers (id, userId, order_id): shown as written, without thousands separators. */
const ID_NAME = /(^|[._])id$|[a-z0-9](Id|ID|_id)$/;

/** Days since 1970-01-01 (a `date` column) as 2026-01-02. */
function isoDate(days: number): string {
  return new Date(days * 86_400_000).toISOString().slice(0, 10);
}

/**
 * A result value as text for a table cell, by the column's type from the result's schema
 * (`timestamp`, `date`, `long`, `double`, …): timestamps as times, identifiers without thousands
 * separators, other numbers with them. Without a type (an older server), names that look like
 * times decide, as before.
 */
export function cellValue(column: string, v: unknown, type?: string): string {
  if (v === null || v === undefined) return '';
  if (type === 'timestamp' && (typeof v === 'number' || typeof v === 'string')) return time(v);
  if (type === 'date' && typeof v === 'number') return isoDate(v);
  if (typeof v === 'number') {
    if (ID_NAME.test(column) && Number.isInteger(v)) return String(v);
    if (type === undefined && TIME_NAME.test(column) && v > 1e11 && v < 1e14) return time(v);
    return num(v);
  }
  if (typeof v === 'string') {
    if (type === undefined && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v)) return time(v);
    return v;
  }
  if (typeof v === 'boolean') return String(v);
  return json(v, 200);
}

/** The element type of `array<…>` / the field types of `struct<…>` (top level only). */
export function elementType(type: string | undefined): string | undefined {
  const m = type === undefined ? null : /^array<(.*)>$/.exec(type);
  return m ? m[1] : undefined;
}

export function fieldTypes(type: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  const m = type === undefined ? null : /^struct<(.*)>$/.exec(type);
  if (!m) return out;
  // Split "a: long, b: struct<c: string, d: long>" at top-level commas.
  let depth = 0;
  let start = 0;
  const body = m[1]!;
  const parts: string[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '<') depth++;
    else if (c === '>') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(body.slice(start));
  for (const p of parts) {
    const at = p.indexOf(':');
    if (at > 0) out.set(p.slice(0, at).trim(), p.slice(at + 1).trim());
  }
  return out;
}

/** "a=1, b=x" from labels. */
export function labels(l: Record<string, string>): string {
  const e = Object.entries(l);
  return e.length === 0 ? '—' : e.map(([k, v]) => `${k}=${v}`).join(', ');
}
