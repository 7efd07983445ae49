/**
 * Date and time functions (Spark SQL names, Spark semantics, session time
 * zone UTC). Timestamps are epoch milliseconds, dates are epoch days; the
 * calendar is proleptic Gregorian, as in Spark 3.
 *
 * Patterns (date_format, to_timestamp, …) follow Spark's datetime pattern
 * letters: y M L d D Q E a H h K k m s S z Z X x, 'quoted text' and ''.
 * A literal pattern is compiled once at codegen; others go through a cache.
 */
import { userError } from '../../errors/index.ts';
import { DATE, LONG, STRING, TIMESTAMP, type DataType } from '../../schema/index.ts';
import { MS_PER_DAY as DAY } from '../temporal.ts';
import type { ArgInfo, FunctionDef } from './FunctionDef.ts';
import { expectArg } from './argcheck.ts';
import { cached } from './string.ts';

// ---------------------------------------------------------------------------
// Calendar arithmetic (Howard Hinnant's days ⇄ civil algorithms)

export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** [year, month 1-12, day 1-31] of an epoch day. */
export function civilFromDays(days: number): [number, number, number] {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

export const isLeapYear = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
export const daysInMonth = (y: number, m: number): number =>
  m === 2 && isLeapYear(y) ? 29 : MONTH_DAYS[m - 1]!;

const yearOf = (days: number): number => civilFromDays(days)[0];
const monthOf = (days: number): number => civilFromDays(days)[1];
const dayOfMonthOf = (days: number): number => civilFromDays(days)[2];
const dayOfYearOf = (days: number): number => days - daysFromCivil(yearOf(days), 1, 1) + 1;
/** 1 = Sunday … 7 = Saturday (Spark's dayofweek). */
const dayOfWeekOf = (days: number): number => ((((days + 4) % 7) + 7) % 7) + 1;
/** 0 = Monday … 6 = Sunday (Spark's weekday). */
const weekdayOf = (days: number): number => (((days + 3) % 7) + 7) % 7;
/** ISO-8601 week number: weeks start on Monday, week 1 holds the year's first Thursday. */
function isoWeekOf(days: number): number {
  const thursday = days - weekdayOf(days) + 3;
  return Math.floor((thursday - daysFromCivil(yearOf(thursday), 1, 1)) / 7) + 1;
}
const quarterOf = (days: number): number => Math.floor((monthOf(days) - 1) / 3) + 1;
const msOfDay = (ms: number): number => ((ms % DAY) + DAY) % DAY;

/** Add months, clamping the day to the target month's length (Spark 3's add_months). */
function addMonths(days: number, n: number): number {
  const [y, m, d] = civilFromDays(days);
  const total = y * 12 + (m - 1) + n;
  const ty = Math.floor(total / 12);
  const tm = total - ty * 12 + 1;
  return daysFromCivil(ty, tm, Math.min(d, daysInMonth(ty, tm)));
}

// ---------------------------------------------------------------------------
// Parsing strings without a pattern (Spark's string → timestamp / date casts)

const TS_RE =
  /^\s*([+-]?\d{4,6})(?:-(\d{1,2})(?:-(\d{1,2})(?:(?:T|\s+)(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?)?)?)?\s*(Z|UTC|GMT|[+-]\d{1,2}(?::?\d{2})?)?\s*$/i;

/** Offset in ms of `Z`, `UTC`, `+hh`, `+hh:mm`, `+hhmm`; null when out of range. */
function zoneOffset(z: string | undefined): number | null {
  if (!z || /^(z|utc|gmt|ut)$/i.test(z)) return 0;
  const m = /^([+-])(\d{1,2})(?::?(\d{2}))?$/.exec(z);
  if (!m) return null;
  const h = Number(m[2]);
  const mi = Number(m[3] ?? 0);
  if (h > 18 || mi > 59) return null;
  return (m[1] === '-' ? -1 : 1) * (h * 60 + mi) * 60_000;
}

/**
 * `yyyy[-M[-d[ H:m[:s[.fff]]]]][zone]` → epoch ms, or null for anything else,
 * including impossible dates such as 2023-02-29 (Spark gives null).
 */
export function parseTimestampStrict(s: string): number | null {
  const m = TS_RE.exec(s);
  if (!m) return null;
  const y = Number(m[1]);
  const mo = m[2] ? Number(m[2]) : 1;
  const d = m[3] ? Number(m[3]) : 1;
  const h = m[4] ? Number(m[4]) : 0;
  const mi = m[5] ? Number(m[5]) : 0;
  const sec = m[6] ? Number(m[6]) : 0;
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || sec > 59) return null;
  const off = zoneOffset(m[8]);
  if (off === null) return null;
  const frac = m[7] ? Number(m[7].padEnd(3, '0').slice(0, 3)) : 0;
  return daysFromCivil(y, mo, d) * DAY + h * 3_600_000 + mi * 60_000 + sec * 1000 + frac - off;
}

const DATE_RE = /^\s*([+-]?\d{4,6})(?:-(\d{1,2})(?:-(\d{1,2})(?:[T ][\s\S]*)?)?)?\s*$/;

/** `yyyy[-M[-d[ anything]]]` → epoch day (a time part is ignored, as Spark does), or null. */
export function parseDateStrict(s: string): number | null {
  const m = DATE_RE.exec(s);
  if (!m) return null;
  const y = Number(m[1]);
  const mo = m[2] ? Number(m[2]) : 1;
  const d = m[3] ? Number(m[3]) : 1;
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return null;
  return daysFromCivil(y, mo, d);
}

// ---------------------------------------------------------------------------
// Datetime patterns

type Tok = { readonly lit: string } | { readonly letter: string; readonly n: number };

const MAX_COUNT: Record<string, number> = {
  y: 9,
  M: 4,
  L: 4,
  d: 2,
  D: 3,
  Q: 4,
  q: 4,
  E: 4,
  a: 1,
  H: 2,
  h: 2,
  K: 2,
  k: 2,
  m: 2,
  s: 2,
  S: 9,
  z: 4,
  Z: 5,
  X: 5,
  x: 5,
};
const SUPPORTED = Object.keys(MAX_COUNT).join(' ');

function badPattern(fn: string, pattern: string, why: string): never {
  throw userError('INVALID_ARGUMENT', `${fn}: invalid datetime pattern "${pattern}": ${why}`);
}

function tokenize(fn: string, pattern: string): Tok[] {
  const out: Tok[] = [];
  const lit = (text: string) => {
    const last = out[out.length - 1];
    if (last && 'lit' in last) out[out.length - 1] = { lit: last.lit + text };
    else out.push({ lit: text });
  };
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === "'") {
      if (pattern[i + 1] === "'") {
        lit("'");
        i += 2;
        continue;
      }
      let j = i + 1;
      let text = '';
      for (;;) {
        if (j >= pattern.length) badPattern(fn, pattern, 'unterminated quote');
        if (pattern[j] === "'") {
          if (pattern[j + 1] === "'") {
            text += "'";
            j += 2;
            continue;
          }
          break;
        }
        text += pattern[j++];
      }
      lit(text);
      i = j + 1;
    } else if (/[A-Za-z]/.test(c)) {
      let j = i;
      while (pattern[j] === c) j++;
      const max = MAX_COUNT[c];
      if (max === undefined)
        badPattern(fn, pattern, `unsupported letter '${c}'; supported letters: ${SUPPORTED}`);
      if (j - i > max) badPattern(fn, pattern, `too many '${c}' letters (at most ${max})`);
      out.push({ letter: c, n: j - i });
      i = j;
    } else if ('[]{}#'.includes(c)) {
      badPattern(fn, pattern, `'${c}' is reserved; quote it as '${c}'`);
    } else {
      lit(c);
      i++;
    }
  }
  return out;
}

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const ORDINALS = ['1st', '2nd', '3rd', '4th'];

const pad = (v: number, n: number): string =>
  v < 0 ? '-' + String(-v).padStart(n, '0') : String(v).padStart(n, '0');

type Part = string | ((days: number, msd: number, y: number, m: number, d: number) => string);

/** Compile a pattern into a formatter of epoch ms. */
export function compileFormatter(fn: string, pattern: string): (ms: number) => string {
  const parts: Part[] = tokenize(fn, pattern).map((t): Part => {
    if ('lit' in t) return t.lit;
    const n = t.n;
    switch (t.letter) {
      case 'y':
        return n === 2 ? (_, __, y) => pad(((y % 100) + 100) % 100, 2) : (_, __, y) => pad(y, n);
      case 'M':
      case 'L':
        return n === 1
          ? (_, __, ___, m) => String(m)
          : n === 2
            ? (_, __, ___, m) => pad(m, 2)
            : n === 3
              ? (_, __, ___, m) => MONTHS[m - 1]!.slice(0, 3)
              : (_, __, ___, m) => MONTHS[m - 1]!;
      case 'd':
        return (_, __, ___, ____, d) => pad(d, n);
      case 'D':
        return (days) => pad(dayOfYearOf(days), n);
      case 'Q':
      case 'q':
        return (_, __, ___, m) => {
          const q = Math.floor((m - 1) / 3) + 1;
          return n <= 2 ? pad(q, n) : n === 3 ? `Q${q}` : `${ORDINALS[q - 1]} quarter`;
        };
      case 'E':
        return (days) => (n <= 3 ? DAYS[dayOfWeekOf(days) - 1]!.slice(0, 3) : DAYS[dayOfWeekOf(days) - 1]!);
      case 'a':
        return (_, msd) => (msd < 43_200_000 ? 'AM' : 'PM');
      case 'H':
        return (_, msd) => pad(Math.floor(msd / 3_600_000), n);
      case 'h':
        return (_, msd) => pad(Math.floor(msd / 3_600_000) % 12 || 12, n);
      case 'K':
        return (_, msd) => pad(Math.floor(msd / 3_600_000) % 12, n);
      case 'k':
        return (_, msd) => pad(Math.floor(msd / 3_600_000) || 24, n);
      case 'm':
        return (_, msd) => pad(Math.floor(msd / 60_000) % 60, n);
      case 's':
        return (_, msd) => pad(Math.floor(msd / 1000) % 60, n);
      case 'S':
        return (_, msd) => {
          const f = pad(msd % 1000, 3);
          return n <= 3 ? f.slice(0, n) : f.padEnd(n, '0');
        };
      case 'z':
        return n <= 3 ? 'UTC' : 'Coordinated Universal Time';
      case 'Z':
        return n <= 3 ? '+0000' : n === 4 ? 'GMT' : 'Z';
      case 'X':
        return 'Z';
      default: // 'x'
        return n === 1 ? '+00' : n === 2 || n === 4 ? '+0000' : '+00:00';
    }
  });
  // Event times arrive roughly in order, so consecutive rows mostly fall in the same unit of the
  // pattern's finest field (the same day for 'yyyy-MM-dd'): remember the last text per unit.
  const unit = finestUnitMs(fn, pattern);
  let lastUnit = NaN;
  let lastText = '';
  return (ms: number) => {
    const u = Math.floor(ms / unit);
    if (u === lastUnit) return lastText;
    const days = Math.floor(ms / DAY);
    const msd = ms - days * DAY;
    const [y, m, d] = civilFromDays(days);
    let out = '';
    for (const p of parts) out += typeof p === 'string' ? p : p(days, msd, y, m, d);
    lastUnit = u;
    lastText = out;
    return out;
  };
}

/** The length of the smallest unit a pattern shows: two times in the same unit format alike. */
function finestUnitMs(fn: string, pattern: string): number {
  let unit = DAY;
  for (const t of tokenize(fn, pattern)) {
    if ('lit' in t) continue;
    const u =
      t.letter === 'S'
        ? 1
        : t.letter === 's'
          ? 1000
          : t.letter === 'm'
            ? 60_000
            : 'HhKk'.includes(t.letter)
              ? 3_600_000
              : t.letter === 'a'
                ? 43_200_000
                : DAY;
    if (u < unit) unit = u;
  }
  return unit;
}

interface ParseState {
  y: number;
  mo: number;
  d: number;
  doy: number;
  h: number;
  h12: number;
  pm: number;
  mi: number;
  sec: number;
  ms: number;
  off: number;
}

type Setter = (st: ParseState, g: string) => boolean;

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

const nameIndex = (names: readonly string[], g: string, short: boolean): number =>
  names.findIndex((x) => (short ? x.slice(0, 3) : x).toLowerCase() === g.toLowerCase());

/** Compile a pattern into a parser: string → epoch ms, null when the text does not match or is impossible. */
export function compileParser(fn: string, pattern: string): (s: string) => number | null {
  let src = '^';
  const setters: Setter[] = [];
  const field = (re: string, set: Setter) => {
    src += `(${re})`;
    setters.push(set);
  };
  const digits = (n: number, max = 2) => (n === 1 ? `\\d{1,${max}}` : `\\d{${n}}`);
  const range =
    (lo: number, hi: number, put: (st: ParseState, v: number) => void): Setter =>
    (st, g) => {
      const v = Number(g);
      if (v < lo || v > hi) return false;
      put(st, v);
      return true;
    };
  const toks = tokenize(fn, pattern);
  const hasMonthOrDay = toks.some((t) => 'letter' in t && 'MLd'.includes(t.letter));
  for (const t of toks) {
    if ('lit' in t) {
      src += escapeRe(t.lit);
      continue;
    }
    const n = t.n;
    switch (t.letter) {
      case 'y':
        if (n === 2) field('\\d{2}', (st, g) => ((st.y = 2000 + Number(g)), true));
        else field(`[+-]?\\d{${n},${Math.max(n, 6)}}`, (st, g) => ((st.y = Number(g)), true));
        break;
      case 'M':
      case 'L':
        if (n <= 2)
          field(
            digits(n),
            range(1, 12, (st, v) => (st.mo = v)),
          );
        else
          field('[A-Za-z]+', (st, g) => {
            const i = nameIndex(MONTHS, g, n === 3);
            st.mo = i + 1;
            return i >= 0;
          });
        break;
      case 'd':
        field(
          digits(n),
          range(1, 31, (st, v) => (st.d = v)),
        );
        break;
      case 'D':
        field(
          n === 1 ? '\\d{1,3}' : n === 2 ? '\\d{2,3}' : '\\d{3}',
          range(1, 366, (st, v) => (st.doy = v)),
        );
        break;
      case 'Q':
      case 'q':
        field(n <= 2 ? digits(n, 1) : n === 3 ? 'Q\\d' : '\\d(?:st|nd|rd|th) quarter', () => true);
        break;
      case 'E':
        field('[A-Za-z]+', (_, g) => nameIndex(DAYS, g, n <= 3) >= 0);
        break;
      case 'a':
        field('[AaPp][Mm]', (st, g) => ((st.pm = g[0] === 'P' || g[0] === 'p' ? 1 : 0), true));
        break;
      case 'H':
        field(
          digits(n),
          range(0, 23, (st, v) => (st.h = v)),
        );
        break;
      case 'k':
        field(
          digits(n),
          range(1, 24, (st, v) => (st.h = v % 24)),
        );
        break;
      case 'h':
        field(
          digits(n),
          range(1, 12, (st, v) => (st.h12 = v % 12)),
        );
        break;
      case 'K':
        field(
          digits(n),
          range(0, 11, (st, v) => (st.h12 = v)),
        );
        break;
      case 'm':
        field(
          digits(n),
          range(0, 59, (st, v) => (st.mi = v)),
        );
        break;
      case 's':
        field(
          digits(n),
          range(0, 59, (st, v) => (st.sec = v)),
        );
        break;
      case 'S':
        // Spark accepts 1 to n fraction digits.
        field(`\\d{1,${n}}`, (st, g) => ((st.ms = Number(g.padEnd(3, '0').slice(0, 3))), true));
        break;
      case 'z':
        field('[A-Za-z]{1,5}', (st, g) => /^(utc|gmt|ut|z)$/i.test(g));
        break;
      default: // Z X x
        field('[Zz]|GMT|UTC|[+-]\\d{2}(?::?\\d{2})?', (st, g) => {
          const o = zoneOffset(g);
          if (o === null) return false;
          st.off = o;
          return true;
        });
    }
  }
  const re = new RegExp(src + '$', 'i');
  return (s: string) => {
    const m = re.exec(s);
    if (!m) return null;
    const st: ParseState = {
      y: 1970,
      mo: 1,
      d: 1,
      doy: -1,
      h: 0,
      h12: -1,
      pm: -1,
      mi: 0,
      sec: 0,
      ms: 0,
      off: 0,
    };
    for (let i = 0; i < setters.length; i++) if (!setters[i]!(st, m[i + 1]!)) return null;
    let days: number;
    if (st.doy >= 0 && !hasMonthOrDay) {
      if (st.doy > (isLeapYear(st.y) ? 366 : 365)) return null;
      days = daysFromCivil(st.y, 1, 1) + st.doy - 1;
    } else {
      if (st.d > daysInMonth(st.y, st.mo)) return null;
      days = daysFromCivil(st.y, st.mo, st.d);
    }
    const h = st.h12 >= 0 ? st.h12 + (st.pm === 1 ? 12 : 0) : st.h;
    return days * DAY + h * 3_600_000 + st.mi * 60_000 + st.sec * 1000 + st.ms - st.off;
  };
}

/** A compiled pattern for a (possibly literal, possibly defaulted) pattern argument. */
function patternArg<T>(
  fn: string,
  arg: ArgInfo | undefined,
  compile: (fn: string, p: string) => T,
  dflt?: string,
) {
  const lit = arg ? arg.literal?.value : dflt;
  if (typeof lit === 'string') {
    const c = compile(fn, lit);
    return (_p?: string) => c;
  }
  const get = cached((p: string) => compile(fn, p));
  return (p?: string) => get(p ?? dflt!);
}

/** Validate a literal pattern at analysis time. */
function checkPattern(
  fn: string,
  a: readonly ArgInfo[],
  i: number,
  compile: (fn: string, p: string) => unknown,
): void {
  expectArg(fn, a, i, 'string');
  const v = a[i]?.literal?.value;
  if (typeof v === 'string') compile(fn, v);
}

// ---------------------------------------------------------------------------
// Temporal argument conversion

const TEMPORAL = ['timestamp', 'date', 'string'] as const;

/** Epoch ms from a timestamp, date or string argument (strings parsed as Spark casts them; null if invalid). */
function msConv(t: DataType): (v: any) => number | null {
  return t.kind === 'date'
    ? (v: number) => v * DAY
    : t.kind === 'string'
      ? parseTimestampStrict
      : (v: number) => v;
}

/** Epoch days from a timestamp, date or string argument. */
function daysConv(t: DataType): (v: any) => number | null {
  return t.kind === 'timestamp'
    ? (v: number) => Math.floor(v / DAY)
    : t.kind === 'string'
      ? parseDateStrict
      : (v: number) => v;
}

/** Nullability for a function whose string arguments may fail to parse. */
const parsedNullable = (idx: number[]) => (a: readonly ArgInfo[]) =>
  a.some((x) => x.nullable) || idx.some((i) => a[i]?.type.kind === 'string');

/** A date field (year, month, …) of a date, timestamp or string. */
function dateField(name: string, f: (days: number) => number): FunctionDef {
  return {
    name,
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (expectArg(name, a, 0, ...TEMPORAL), LONG),
    resultNullable: parsedNullable([0]),
    impl: (a) => {
      const conv = daysConv(a[0]!.type);
      if (a[0]!.type.kind === 'date') return f;
      return (v: unknown) => {
        const d = conv(v);
        return d === null ? null : f(d);
      };
    },
  };
}

/** A time field (hour, minute, second) of a timestamp, date or string. */
function timeField(name: string, unitMs: number, modulo: number): FunctionDef {
  const f = (ms: number) => Math.floor(msOfDay(ms) / unitMs) % modulo;
  return {
    name,
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (expectArg(name, a, 0, ...TEMPORAL), LONG),
    resultNullable: parsedNullable([0]),
    impl: (a) => {
      const conv = msConv(a[0]!.type);
      if (a[0]!.type.kind === 'timestamp') return f;
      return (v: unknown) => {
        const ms = conv(v);
        return ms === null ? null : f(ms);
      };
    },
    inline: ([x], a) =>
      a[0]!.type.kind === 'timestamp'
        ? `(Math.floor((((${x} % ${DAY}) + ${DAY}) % ${DAY}) / ${unitMs}) % ${modulo})`
        : undefined,
  };
}

const TRUNC_UNITS: Record<string, string> = {
  year: 'year',
  yyyy: 'year',
  yy: 'year',
  quarter: 'quarter',
  month: 'month',
  mon: 'month',
  mm: 'month',
  week: 'week',
  day: 'day',
  dd: 'day',
  hour: 'hour',
  minute: 'minute',
  second: 'second',
  millisecond: 'millisecond',
  microsecond: 'microsecond',
};
const DATE_TRUNC_UNITS = new Set(['year', 'quarter', 'month', 'week']);

function truncDays(unit: string, days: number): number {
  switch (unit) {
    case 'year':
      return daysFromCivil(yearOf(days), 1, 1);
    case 'quarter': {
      const [y, m] = civilFromDays(days);
      return daysFromCivil(y, Math.floor((m - 1) / 3) * 3 + 1, 1);
    }
    case 'month': {
      const [y, m] = civilFromDays(days);
      return daysFromCivil(y, m, 1);
    }
    case 'week':
      return days - weekdayOf(days);
    default:
      return days;
  }
}

function truncMs(unit: string, ms: number): number {
  switch (unit) {
    case 'hour':
      return Math.floor(ms / 3_600_000) * 3_600_000;
    case 'minute':
      return Math.floor(ms / 60_000) * 60_000;
    case 'second':
      return Math.floor(ms / 1000) * 1000;
    case 'millisecond':
    case 'microsecond':
      return ms;
    default:
      return truncDays(unit, Math.floor(ms / DAY)) * DAY;
  }
}

function truncUnit(fn: string, a: readonly ArgInfo[], i: number, dateOnly: boolean): string | undefined {
  const v = a[i]?.literal?.value;
  if (typeof v !== 'string') return undefined;
  const u = TRUNC_UNITS[v.toLowerCase()];
  if (!u || (dateOnly && !DATE_TRUNC_UNITS.has(u))) {
    const ok = Object.keys(TRUNC_UNITS).filter((k) => !dateOnly || DATE_TRUNC_UNITS.has(TRUNC_UNITS[k]!));
    throw userError('INVALID_ARGUMENT', `${fn}: unknown unit '${v}'; use one of ${ok.join(', ')}`);
  }
  return u;
}

function unixTimestampDef(name: string): FunctionDef {
  return {
    name,
    minArgs: 1,
    maxArgs: 2,
    returnType: (a) => {
      expectArg(name, a, 0, ...TEMPORAL);
      if (a[1]) checkPattern(name, a, 1, compileParser);
      return LONG;
    },
    resultNullable: parsedNullable([0]),
    impl: (a) => {
      const k = a[0]!.type.kind;
      if (k === 'timestamp') return (ms: number) => Math.floor(ms / 1000);
      if (k === 'date') return (d: number) => d * 86_400;
      const parser = patternArg(name, a[1], compileParser, 'yyyy-MM-dd HH:mm:ss');
      return (s: string, p?: string) => {
        const ms = parser(p)(s);
        return ms === null ? null : Math.floor(ms / 1000);
      };
    },
  };
}

function dayAddDef(name: string, sign: 1 | -1): FunctionDef {
  return {
    name,
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => (expectArg(name, a, 0, ...TEMPORAL), expectArg(name, a, 1, 'long'), DATE),
    resultNullable: parsedNullable([0]),
    impl: (a) => {
      const conv = daysConv(a[0]!.type);
      return (v: unknown, n: number) => {
        const d = conv(v);
        return d === null ? null : d + sign * n;
      };
    },
    inline: ([d, n], a) => (a[0]!.type.kind === 'date' ? `(${d} ${sign === 1 ? '+' : '-'} ${n})` : undefined),
  };
}

// ---------------------------------------------------------------------------
// Definitions

/** `current_timestamp()`: the micro-batch's timestamp; bound by the planner (plan/batchTime.ts). */
const currentTimestamp: FunctionDef = {
  name: 'current_timestamp',
  minArgs: 0,
  maxArgs: 0,
  returnType: () => TIMESTAMP,
  resultNullable: () => false,
  impl: () => () => {
    throw userError(
      'INVALID_EXPRESSION',
      'current_timestamp() has a value only inside a running streaming query (it is the batch timestamp)',
    );
  },
};

export const dateTimeFunctions: FunctionDef[] = [
  currentTimestamp,
  {
    name: 'timestamp_seconds',
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (expectArg('timestamp_seconds', a, 0, 'numeric'), TIMESTAMP),
    resultNullable: (a) => a[0]!.nullable || a[0]!.type.kind === 'double',
    // Doubles: round to microseconds first (1.001 s is 1001 ms, not 1000.999…), then floor to ms.
    impl: (a) =>
      a[0]!.type.kind === 'double'
        ? (v: number) => (Number.isFinite(v) ? Math.floor(Math.round(v * 1e6) / 1000) : null)
        : (v: number) => v * 1000,
    inline: ([v], a) => (a[0]!.type.kind === 'double' ? undefined : `(${v} * 1000)`),
  },
  {
    name: 'timestamp_millis',
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (expectArg('timestamp_millis', a, 0, 'long'), TIMESTAMP),
    impl: () => (v: number) => v,
    inline: ([v]) => v,
  },
  {
    name: 'timestamp_micros',
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (expectArg('timestamp_micros', a, 0, 'long'), TIMESTAMP),
    impl: () => (v: number) => Math.floor(v / 1000),
    inline: ([v]) => `Math.floor(${v} / 1000)`,
  },
  {
    name: 'unix_seconds',
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (expectArg('unix_seconds', a, 0, 'timestamp'), LONG),
    impl: () => (v: number) => Math.floor(v / 1000),
    inline: ([v]) => `Math.floor(${v} / 1000)`,
  },
  {
    name: 'unix_millis',
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (expectArg('unix_millis', a, 0, 'timestamp'), LONG),
    impl: () => (v: number) => v,
    inline: ([v]) => v,
  },
  {
    name: 'unix_micros',
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (expectArg('unix_micros', a, 0, 'timestamp'), LONG),
    impl: () => (v: number) => v * 1000,
    inline: ([v]) => `(${v} * 1000)`,
  },
  {
    name: 'unix_date',
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (expectArg('unix_date', a, 0, 'date'), LONG),
    impl: () => (v: number) => v,
    inline: ([v]) => v,
  },
  {
    name: 'date_from_unix_date',
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (expectArg('date_from_unix_date', a, 0, 'long'), DATE),
    impl: () => (v: number) => v,
    inline: ([v]) => v,
  },
  unixTimestampDef('unix_timestamp'),
  unixTimestampDef('to_unix_timestamp'),
  {
    name: 'from_unixtime',
    minArgs: 1,
    maxArgs: 2,
    returnType: (a) => {
      expectArg('from_unixtime', a, 0, 'numeric');
      if (a[1]) checkPattern('from_unixtime', a, 1, compileFormatter);
      return STRING;
    },
    impl: (a) => {
      const fmt = patternArg('from_unixtime', a[1], compileFormatter, 'yyyy-MM-dd HH:mm:ss');
      return (sec: number, p?: string) => fmt(p)(Math.floor(sec) * 1000);
    },
  },
  {
    name: 'to_timestamp',
    minArgs: 1,
    maxArgs: 2,
    returnType: (a) => {
      expectArg('to_timestamp', a, 0, 'string', 'timestamp', 'date', 'numeric');
      if (a[1]) checkPattern('to_timestamp', a, 1, compileParser);
      return TIMESTAMP;
    },
    resultNullable: (a) =>
      a.some((x) => x.nullable) || a[0]!.type.kind === 'string' || a[0]!.type.kind === 'double',
    impl: (a) => {
      switch (a[0]!.type.kind) {
        case 'timestamp':
          return (v: number) => v;
        case 'date':
          return (v: number) => v * DAY;
        case 'long':
          return (v: number) => v * 1000;
        case 'double':
          return (v: number) => (Number.isFinite(v) ? Math.floor(v * 1000) : null);
      }
      if (!a[1]) return parseTimestampStrict;
      const parser = patternArg('to_timestamp', a[1], compileParser);
      return (s: string, p: string) => parser(p)(s);
    },
  },
  {
    name: 'to_date',
    minArgs: 1,
    maxArgs: 2,
    returnType: (a) => {
      expectArg('to_date', a, 0, ...TEMPORAL);
      if (a[1]) checkPattern('to_date', a, 1, compileParser);
      return DATE;
    },
    resultNullable: parsedNullable([0]),
    impl: (a) => {
      if (a[0]!.type.kind !== 'string' || !a[1]) return daysConv(a[0]!.type);
      const parser = patternArg('to_date', a[1], compileParser);
      return (s: string, p: string) => {
        const ms = parser(p)(s);
        return ms === null ? null : Math.floor(ms / DAY);
      };
    },
  },
  {
    name: 'date_format',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => {
      expectArg('date_format', a, 0, ...TEMPORAL);
      checkPattern('date_format', a, 1, compileFormatter);
      return STRING;
    },
    resultNullable: parsedNullable([0]),
    impl: (a) => {
      const conv = msConv(a[0]!.type);
      const fmt = patternArg('date_format', a[1], compileFormatter);
      return (v: unknown, p: string) => {
        const ms = conv(v);
        return ms === null ? null : fmt(p)(ms);
      };
    },
  },
  dateField('year', yearOf),
  dateField('quarter', quarterOf),
  dateField('month', monthOf),
  dateField('dayofmonth', dayOfMonthOf),
  dateField('day', dayOfMonthOf),
  dateField('dayofweek', dayOfWeekOf),
  dateField('weekday', weekdayOf),
  dateField('dayofyear', dayOfYearOf),
  dateField('weekofyear', isoWeekOf),
  timeField('hour', 3_600_000, 24),
  timeField('minute', 60_000, 60),
  timeField('second', 1000, 60),
  dayAddDef('date_add', 1),
  dayAddDef('date_sub', -1),
  {
    name: 'datediff',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => (
      expectArg('datediff', a, 0, ...TEMPORAL),
      expectArg('datediff', a, 1, ...TEMPORAL),
      LONG
    ),
    resultNullable: parsedNullable([0, 1]),
    impl: (a) => {
      const ce = daysConv(a[0]!.type);
      const cs = daysConv(a[1]!.type);
      return (end: unknown, start: unknown) => {
        const e = ce(end);
        const s = cs(start);
        return e === null || s === null ? null : e - s;
      };
    },
    inline: ([e, s], a) =>
      a[0]!.type.kind === 'date' && a[1]!.type.kind === 'date' ? `(${e} - ${s})` : undefined,
  },
  {
    name: 'add_months',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => (
      expectArg('add_months', a, 0, ...TEMPORAL),
      expectArg('add_months', a, 1, 'long'),
      DATE
    ),
    resultNullable: parsedNullable([0]),
    impl: (a) => {
      const conv = daysConv(a[0]!.type);
      return (v: unknown, n: number) => {
        const d = conv(v);
        return d === null ? null : addMonths(d, n);
      };
    },
  },
  {
    name: 'last_day',
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (expectArg('last_day', a, 0, ...TEMPORAL), DATE),
    resultNullable: parsedNullable([0]),
    impl: (a) => {
      const conv = daysConv(a[0]!.type);
      return (v: unknown) => {
        const d = conv(v);
        if (d === null) return null;
        const [y, m] = civilFromDays(d);
        return daysFromCivil(y, m, daysInMonth(y, m));
      };
    },
  },
  {
    name: 'make_date',
    minArgs: 3,
    maxArgs: 3,
    returnType: (a) => {
      for (let i = 0; i < 3; i++) expectArg('make_date', a, i, 'long');
      return DATE;
    },
    resultNullable: () => true,
    impl: () => (y: number, m: number, d: number) =>
      m < 1 || m > 12 || d < 1 || d > daysInMonth(y, m) ? null : daysFromCivil(y, m, d),
  },
  {
    // date_trunc(unit, timestamp) → timestamp
    name: 'date_trunc',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => {
      expectArg('date_trunc', a, 0, 'string');
      expectArg('date_trunc', a, 1, ...TEMPORAL);
      truncUnit('date_trunc', a, 0, false);
      return TIMESTAMP;
    },
    resultNullable: (a) => parsedNullable([1])(a) || !a[0]!.literal,
    impl: (a) => {
      const conv = msConv(a[1]!.type);
      const lit = truncUnit('date_trunc', a, 0, false);
      return (unit: string, v: unknown) => {
        const u = lit ?? TRUNC_UNITS[unit.toLowerCase()];
        const ms = conv(v);
        return u === undefined || ms === null ? null : truncMs(u, ms);
      };
    },
  },
  {
    // trunc(date, unit) → date
    name: 'trunc',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => {
      expectArg('trunc', a, 0, ...TEMPORAL);
      expectArg('trunc', a, 1, 'string');
      truncUnit('trunc', a, 1, true);
      return DATE;
    },
    resultNullable: (a) => parsedNullable([0])(a) || !a[1]!.literal,
    impl: (a) => {
      const conv = daysConv(a[0]!.type);
      const lit = truncUnit('trunc', a, 1, true);
      return (v: unknown, unit: string) => {
        const u = lit ?? TRUNC_UNITS[unit.toLowerCase()];
        const d = conv(v);
        return u === undefined || !DATE_TRUNC_UNITS.has(u) || d === null ? null : truncDays(u, d);
      };
    },
  },
];
