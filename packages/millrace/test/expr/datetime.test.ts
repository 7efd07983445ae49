/** Date and time functions: Spark semantics in UTC, leap years, negative epochs, patterns, nulls. */
import { describe, expect, it } from 'vitest';
import { callFunction, col, lit } from '../../src/api/functions/index.ts';
import {
  addMonths,
  dateAdd,
  dateFormat,
  dateFromUnixDate,
  dateSub,
  dateTrunc,
  datediff,
  dayofmonth,
  dayofweek,
  dayofyear,
  fromUnixtime,
  hour,
  lastDay,
  makeDate,
  minute,
  month,
  quarter,
  second,
  timestampMicros,
  timestampMillis,
  timestampSeconds,
  toDate,
  toTimestamp,
  trunc,
  unixDate,
  unixMicros,
  unixMillis,
  unixSeconds,
  unixTimestamp,
  weekday,
  weekofyear,
  year,
} from '../../src/api/functions/datetime.ts';
import { civilFromDays, daysFromCivil } from '../../src/expr/functions/datetime.ts';
import { D, TS, compiled, ev, typeOf } from './helpers.ts';

const ts = col<number | null>('ts');
const tsn = col<number>('tsn');
const dt = col<number | null>('dt');
const s = col<string | null>('s');
const n = col<number | null>('n');
const d = col<number | null>('d');

describe('calendar arithmetic', () => {
  it('days ⇄ civil dates round-trip, including before 1970 and year 1', () => {
    for (const days of [-719162, -141428, -1, 0, 1, 11016, 19782, 2932896]) {
      const [y, m, dd] = civilFromDays(days);
      expect(daysFromCivil(y, m, dd)).toBe(days);
    }
    expect(civilFromDays(-719162)).toEqual([1, 1, 1]);
    expect(civilFromDays(D(2024, 2, 29))).toEqual([2024, 2, 29]);
    expect(daysFromCivil(1969, 12, 31)).toBe(-1);
  });
});

describe('epoch conversions', () => {
  it('timestamp_seconds / millis / micros', () => {
    expect(ev(timestampSeconds(n), { n: 1230219000 })).toBe(TS(2008, 12, 25, 15, 30));
    expect(ev(timestampSeconds(d), { d: 1230219000.123 })).toBe(TS(2008, 12, 25, 15, 30, 0, 123));
    expect(ev(timestampSeconds(d), { d: 1.001 })).toBe(1001);
    expect(ev(timestampSeconds(d), { d: -1.5 })).toBe(-1500);
    expect(ev(timestampSeconds(d), { d: NaN })).toBeNull();
    expect(ev(timestampSeconds(n), { n: null })).toBeNull();
    expect(ev(timestampMillis(n), { n: -1 })).toBe(-1);
    expect(ev(timestampMicros(n), { n: 1_500_999 })).toBe(1500);
    expect(ev(timestampMicros(n), { n: -1 })).toBe(-1); // floor
    expect(typeOf(timestampSeconds(col<number>('long')))).toEqual({ type: 'timestamp', nullable: false });
    expect(typeOf(timestampSeconds(col<number>('dbl'))).nullable).toBe(true);
  });

  it('unix_seconds floors (negative epochs too), unix_millis, unix_micros, unix_date', () => {
    expect(ev(unixSeconds(ts), { ts: 1999 })).toBe(1);
    expect(ev(unixSeconds(ts), { ts: -1 })).toBe(-1);
    expect(ev(unixSeconds(ts), { ts: -1000 })).toBe(-1);
    expect(ev(unixSeconds(ts), { ts: -1001 })).toBe(-2);
    expect(ev(unixMillis(ts), { ts: 123 })).toBe(123);
    expect(ev(unixMicros(ts), { ts: 123 })).toBe(123_000);
    expect(ev(unixDate(dt), { dt: -5 })).toBe(-5);
    expect(ev(dateFromUnixDate(n), { n: 19782 })).toBe(19782);
    expect(() => ev(unixSeconds(n as never))).toThrow(/unix_seconds: argument 1 must be timestamp, got long/);
  });

  it('unix_timestamp of strings (default and custom formats), timestamps and dates', () => {
    expect(ev(unixTimestamp(s), { s: '2016-04-08 12:00:00' })).toBe(1460116800);
    expect(ev(unixTimestamp(s, 'yyyy-MM-dd'), { s: '2016-04-08' })).toBe(1460073600);
    expect(ev(unixTimestamp(s), { s: '2016-04-08' })).toBeNull(); // does not match the default format
    expect(ev(unixTimestamp(s), { s: 'garbage' })).toBeNull();
    expect(ev(unixTimestamp(s, s), { s: null })).toBeNull();
    expect(ev(unixTimestamp(ts), { ts: TS(1969, 12, 31, 23, 59, 59, 500) })).toBe(-1);
    expect(ev(unixTimestamp(dt), { dt: 1 })).toBe(86_400);
    expect(ev(callFunction('to_unix_timestamp', s, lit('dd/MM/yyyy')), { s: '01/01/1970' })).toBe(0);
    expect(typeOf(unixTimestamp(col<string>('str'))).nullable).toBe(true);
    expect(typeOf(unixTimestamp(tsn)).nullable).toBe(false);
  });

  it('from_unixtime formats epoch seconds', () => {
    expect(ev(fromUnixtime(n), { n: 0 })).toBe('1970-01-01 00:00:00');
    expect(ev(fromUnixtime(n), { n: -1 })).toBe('1969-12-31 23:59:59');
    expect(ev(fromUnixtime(n, 'yyyy/MM/dd h a'), { n: 1460116800 })).toBe('2016/04/08 12 PM');
    expect(ev(fromUnixtime(d), { d: 1.9 })).toBe('1970-01-01 00:00:01');
    expect(ev(fromUnixtime(n), { n: null })).toBeNull();
  });
});

describe('to_timestamp / to_date', () => {
  it('parses Spark cast formats without a pattern', () => {
    expect(ev(toTimestamp(s), { s: '2016-12-31 00:12:00' })).toBe(TS(2016, 12, 31, 0, 12));
    expect(ev(toTimestamp(s), { s: '2016-12-31T00:12:00.5Z' })).toBe(TS(2016, 12, 31, 0, 12, 0, 500));
    expect(ev(toTimestamp(s), { s: '2016-12-31 02:12:00+02:00' })).toBe(TS(2016, 12, 31, 0, 12));
    expect(ev(toTimestamp(s), { s: '2016-12-31' })).toBe(TS(2016, 12, 31));
    expect(ev(toTimestamp(s), { s: '2016' })).toBe(TS(2016, 1, 1));
    expect(ev(toTimestamp(s), { s: ' 1969-12-31 23:59:59.999 ' })).toBe(-1);
  });

  it('gives null for impossible or malformed values', () => {
    expect(ev(toTimestamp(s), { s: '2023-02-29 00:00:00' })).toBeNull();
    expect(ev(toTimestamp(s), { s: '2024-13-01' })).toBeNull();
    expect(ev(toTimestamp(s), { s: '2024-01-01 24:00:00' })).toBeNull();
    expect(ev(toTimestamp(s), { s: 'yesterday' })).toBeNull();
    expect(ev(toTimestamp(s), { s: '' })).toBeNull();
    expect(ev(toTimestamp(s), { s: null })).toBeNull();
  });

  it('parses with a pattern', () => {
    expect(ev(toTimestamp(s, 'dd/MM/yyyy HH:mm'), { s: '29/02/2024 13:05' })).toBe(TS(2024, 2, 29, 13, 5));
    expect(ev(toTimestamp(s, 'dd/MM/yyyy HH:mm'), { s: '29/02/2023 13:05' })).toBeNull();
    expect(ev(toTimestamp(s, 'dd/MM/yyyy HH:mm'), { s: '31/04/2024 13:05' })).toBeNull();
    expect(ev(toTimestamp(s, 'yyyyMMddHHmmss'), { s: '20250102030405' })).toBe(TS(2025, 1, 2, 3, 4, 5));
    expect(ev(toTimestamp(s, 'MMM d, yyyy h:mm a'), { s: 'Feb 3, 2025 12:30 AM' })).toBe(
      TS(2025, 2, 3, 0, 30),
    );
    expect(ev(toTimestamp(s, 'MMMM d yyyy hh a'), { s: 'december 25 2025 01 pm' })).toBe(
      TS(2025, 12, 25, 13),
    );
    expect(ev(toTimestamp(s, "yyyy-MM-dd'T'HH:mm:ssXXX"), { s: '2025-01-01T10:00:00+02:00' })).toBe(
      TS(2025, 1, 1, 8),
    );
    expect(ev(toTimestamp(s, "yyyy-MM-dd'T'HH:mm:ssX"), { s: '2025-01-01T10:00:00Z' })).toBe(
      TS(2025, 1, 1, 10),
    );
    expect(ev(toTimestamp(s, 'HH:mm:ss.SSS'), { s: '01:02:03.5' })).toBe(TS(1970, 1, 1, 1, 2, 3, 500));
    expect(ev(toTimestamp(s, 'yy-MM-dd'), { s: '25-06-30' })).toBe(TS(2025, 6, 30));
    expect(ev(toTimestamp(s, 'yyyy-D'), { s: '2024-366' })).toBe(TS(2024, 12, 31));
    expect(ev(toTimestamp(s, 'yyyy-D'), { s: '2023-366' })).toBeNull();
    expect(ev(toTimestamp(s, 'EEE, dd MMM yyyy'), { s: 'Sat, 01 Mar 2025' })).toBe(TS(2025, 3, 1));
    expect(ev(toTimestamp(s, 'yyyy-MM-dd'), { s: '2025-01-01 extra' })).toBeNull();
    expect(ev(toTimestamp(s, "'at' yyyy"), { s: 'at 2025' })).toBe(TS(2025, 1, 1));
  });

  it('non-literal patterns are cached and give the same results', () => {
    const f = compiled(toTimestamp(s, col<string>('s2')));
    expect(f({ s: '2025/01/02', s2: 'yyyy/MM/dd' })).toBe(TS(2025, 1, 2));
    expect(f({ s: '02.01.2025', s2: 'dd.MM.yyyy' })).toBe(TS(2025, 1, 2));
    expect(f({ s: '2025/01/02', s2: 'yyyy/MM/dd' })).toBe(TS(2025, 1, 2));
    expect(f({ s: '2025/01/02', s2: null })).toBeNull();
  });

  it('converts timestamps, dates and numbers (seconds)', () => {
    expect(ev(toTimestamp(dt), { dt: 1 })).toBe(86_400_000);
    expect(ev(toTimestamp(n), { n: 2 })).toBe(2000);
    expect(ev(toTimestamp(tsn), { tsn: 5 })).toBe(5);
    expect(typeOf(toTimestamp(tsn))).toEqual({ type: 'timestamp', nullable: false });
  });

  it('to_date keeps the date part and ignores the time', () => {
    expect(ev(toDate(s), { s: '2016-12-31' })).toBe(D(2016, 12, 31));
    expect(ev(toDate(s), { s: '2016-12-31 23:59:59' })).toBe(D(2016, 12, 31));
    expect(ev(toDate(s), { s: '2016-12-31T23:59:59-05:00' })).toBe(D(2016, 12, 31));
    expect(ev(toDate(s), { s: '1900-02-29' })).toBeNull(); // 1900 is not a leap year
    expect(ev(toDate(s), { s: '2000-02-29' })).toBe(D(2000, 2, 29));
    expect(ev(toDate(s, 'MM/dd/yyyy'), { s: '12/31/2016' })).toBe(D(2016, 12, 31));
    expect(ev(toDate(ts), { ts: -1 })).toBe(-1);
    expect(ev(toDate(ts), { ts: TS(2024, 2, 29, 23, 59) })).toBe(D(2024, 2, 29));
    expect(typeOf(toDate(ts))).toEqual({ type: 'date', nullable: true });
  });
});

describe('date_format', () => {
  const t1 = TS(2024, 2, 29, 13, 5, 7, 89);
  it('formats the Spark pattern letters', () => {
    expect(ev(dateFormat(tsn, 'yyyy-MM-dd HH:mm:ss.SSS'), { tsn: t1 })).toBe('2024-02-29 13:05:07.089');
    expect(ev(dateFormat(tsn, 'EEE, d MMM yy'), { tsn: t1 })).toBe('Thu, 29 Feb 24');
    expect(ev(dateFormat(tsn, 'EEEE MMMM'), { tsn: t1 })).toBe('Thursday February');
    expect(ev(dateFormat(tsn, 'h:mm a|hh|K|k'), { tsn: t1 })).toBe('1:05 PM|01|1|13');
    expect(ev(dateFormat(tsn, 'h a|k'), { tsn: TS(2024, 1, 1) })).toBe('12 AM|24');
    expect(ev(dateFormat(tsn, 'D DDD Q QQQ'), { tsn: t1 })).toBe('60 060 1 Q1');
    expect(ev(dateFormat(tsn, 'M/d/y'), { tsn: t1 })).toBe('2/29/2024');
    expect(ev(dateFormat(tsn, "yyyy'T'HH 'o''clock' ''"), { tsn: t1 })).toBe("2024T13 o'clock '");
    expect(ev(dateFormat(tsn, 'S SS SSSSSS'), { tsn: t1 })).toBe('0 08 089000');
    expect(ev(dateFormat(tsn, 'z Z XXX x'), { tsn: t1 })).toBe('UTC +0000 Z +00');
  });

  it('formats negative epochs and early years', () => {
    expect(ev(dateFormat(tsn, 'yyyy-MM-dd HH:mm:ss.SSS'), { tsn: -1 })).toBe('1969-12-31 23:59:59.999');
    expect(ev(dateFormat(dt, 'yyyy-MM-dd EEE'), { dt: daysFromCivil(1, 1, 1) })).toBe('0001-01-01 Mon');
  });

  it('takes dates and strings; unparsable strings give null', () => {
    expect(ev(dateFormat(dt, 'yyyy-MM-dd HH:mm'), { dt: D(2024, 2, 29) })).toBe('2024-02-29 00:00');
    expect(ev(dateFormat(s, 'dd.MM.yyyy'), { s: '2024-02-29 10:00:00' })).toBe('29.02.2024');
    expect(ev(dateFormat(s, 'dd.MM.yyyy'), { s: 'nope' })).toBeNull();
    expect(ev(dateFormat(ts, 'yyyy'), { ts: null })).toBeNull();
    expect(typeOf(dateFormat(tsn, 'yyyy'))).toEqual({ type: 'string', nullable: false });
    expect(typeOf(dateFormat(col<string>('str'), 'yyyy')).nullable).toBe(true);
  });

  it('rejects unsupported patterns at analysis', () => {
    expect(() => ev(dateFormat(tsn, 'YYYY-ww'))).toThrow(
      /date_format: invalid datetime pattern "YYYY-ww": unsupported letter 'Y'/,
    );
    expect(() => ev(dateFormat(tsn, "yyyy 'oops"))).toThrow(/unterminated quote/);
    expect(() => ev(dateFormat(tsn, 'MMMMM'))).toThrow(/too many 'M' letters/);
    expect(() => ev(dateFormat(tsn, 'yyyy[-MM]'))).toThrow(/'\[' is reserved/);
    expect(() => ev(toTimestamp(s, 'bad pattern'))).toThrow(
      /to_timestamp: invalid datetime pattern "bad pattern": unsupported letter 'b'/,
    );
    expect(() => ev(dateFormat(n as never, 'yyyy'))).toThrow(
      /date_format: argument 1 must be timestamp or date or string, got long/,
    );
  });
});

describe('fields', () => {
  const t1 = TS(2024, 2, 29, 13, 5, 7, 89);
  it('year, quarter, month, dayofmonth, hour, minute, second', () => {
    expect(ev(year(ts), { ts: t1 })).toBe(2024);
    expect(ev(quarter(ts), { ts: t1 })).toBe(1);
    expect(ev(quarter(ts), { ts: TS(2024, 10, 1) })).toBe(4);
    expect(ev(month(ts), { ts: t1 })).toBe(2);
    expect(ev(dayofmonth(ts), { ts: t1 })).toBe(29);
    expect(ev(hour(ts), { ts: t1 })).toBe(13);
    expect(ev(minute(ts), { ts: t1 })).toBe(5);
    expect(ev(second(ts), { ts: t1 })).toBe(7);
    expect(ev(callFunction('day', ts), { ts: t1 })).toBe(29);
  });

  it('negative epochs', () => {
    const before = -1; // 1969-12-31 23:59:59.999
    expect([year, month, dayofmonth, hour, minute, second].map((f) => ev(f(ts), { ts: before }))).toEqual([
      1969, 12, 31, 23, 59, 59,
    ]);
    expect(ev(dayofyear(ts), { ts: before })).toBe(365);
    expect(ev(dayofweek(ts), { ts: before })).toBe(4); // Wednesday
  });

  it('dayofweek is 1 = Sunday, weekday 0 = Monday', () => {
    expect(ev(dayofweek(dt), { dt: D(2009, 7, 30) })).toBe(5); // a Thursday
    expect(ev(dayofweek(dt), { dt: D(2024, 3, 3) })).toBe(1); // a Sunday
    expect(ev(dayofweek(dt), { dt: D(2024, 3, 9) })).toBe(7); // a Saturday
    expect(ev(weekday(dt), { dt: D(2024, 3, 4) })).toBe(0); // a Monday
    expect(ev(weekday(dt), { dt: D(2024, 3, 3) })).toBe(6);
  });

  it('dayofyear in leap and common years', () => {
    expect(ev(dayofyear(dt), { dt: D(2024, 2, 29) })).toBe(60);
    expect(ev(dayofyear(dt), { dt: D(2024, 12, 31) })).toBe(366);
    expect(ev(dayofyear(dt), { dt: D(2023, 12, 31) })).toBe(365);
    expect(ev(dayofyear(dt), { dt: D(2023, 3, 1) })).toBe(60);
  });

  it('weekofyear is the ISO-8601 week', () => {
    expect(ev(weekofyear(dt), { dt: D(2008, 2, 20) })).toBe(8);
    expect(ev(weekofyear(dt), { dt: D(2021, 1, 1) })).toBe(53); // belongs to 2020's last week
    expect(ev(weekofyear(dt), { dt: D(2024, 12, 30) })).toBe(1); // belongs to 2025's first week
    expect(ev(weekofyear(dt), { dt: D(2026, 1, 1) })).toBe(1);
    expect(ev(weekofyear(dt), { dt: D(2020, 12, 31) })).toBe(53);
  });

  it('fields of dates, strings and nulls', () => {
    expect(ev(year(dt), { dt: -1 })).toBe(1969);
    expect(ev(hour(dt), { dt: 5 })).toBe(0);
    expect(ev(year(s), { s: '2024-02-29' })).toBe(2024);
    expect(ev(year(s), { s: '2023-02-29' })).toBeNull();
    expect(ev(hour(s), { s: '2024-02-29 17:30:00' })).toBe(17);
    expect(ev(month(ts), { ts: null })).toBeNull();
    expect(typeOf(hour(tsn))).toEqual({ type: 'long', nullable: false });
    expect(typeOf(year(col<string>('str'))).nullable).toBe(true);
    expect(() => ev(year(n as never))).toThrow(
      /year: argument 1 must be timestamp or date or string, got long/,
    );
  });

  it('hour of a non-nullable timestamp is inlined', () => {
    const f = compiled(hour(tsn));
    expect(f.toString()).toContain('Math.floor');
    expect(f.toString()).not.toContain('== null');
    expect(f({ tsn: TS(2025, 1, 1, 23) })).toBe(23);
  });
});

describe('date arithmetic', () => {
  it('date_add / date_sub / datediff', () => {
    expect(ev(dateAdd(dt, 1), { dt: D(2024, 2, 28) })).toBe(D(2024, 2, 29));
    expect(ev(dateAdd(dt, 2), { dt: D(2023, 2, 28) })).toBe(D(2023, 3, 2));
    expect(ev(dateSub(dt, 1), { dt: D(2024, 3, 1) })).toBe(D(2024, 2, 29));
    expect(ev(dateAdd(dt, -1), { dt: 0 })).toBe(-1);
    expect(ev(dateAdd(ts, 1), { ts: TS(2024, 2, 28, 23, 59) })).toBe(D(2024, 2, 29));
    expect(ev(dateAdd(s, 1), { s: '2016-07-30' })).toBe(D(2016, 7, 31));
    expect(ev(dateAdd(dt, n), { dt: 0, n: null })).toBeNull();
    expect(ev(datediff(dt, col<number>('dt2')), { dt: D(2009, 7, 31), dt2: D(2009, 7, 30) })).toBe(1);
    expect(ev(datediff(dt, col<number>('dt2')), { dt: D(2024, 3, 1), dt2: D(2024, 2, 1) })).toBe(29);
    expect(ev(datediff(s, lit('2009-07-31')), { s: '2009-07-30' })).toBe(-1);
    expect(ev(datediff(ts, dt), { ts: TS(2024, 1, 2, 23), dt: D(2024, 1, 1) })).toBe(1);
    expect(typeOf(dateAdd(col<number>('dt'), 1)).type).toBe('date');
    expect(() => ev(dateAdd(dt, 1.5))).toThrow(/date_add: argument 2 must be long, got double/);
  });

  it('add_months clamps to the end of the month; last_day; make_date', () => {
    expect(ev(addMonths(dt, 1), { dt: D(2016, 8, 31) })).toBe(D(2016, 9, 30));
    expect(ev(addMonths(dt, 1), { dt: D(2024, 1, 31) })).toBe(D(2024, 2, 29));
    expect(ev(addMonths(dt, 13), { dt: D(2023, 1, 31) })).toBe(D(2024, 2, 29));
    expect(ev(addMonths(dt, -2), { dt: D(2024, 1, 15) })).toBe(D(2023, 11, 15));
    expect(ev(lastDay(dt), { dt: D(2009, 1, 12) })).toBe(D(2009, 1, 31));
    expect(ev(lastDay(dt), { dt: D(2024, 2, 1) })).toBe(D(2024, 2, 29));
    expect(ev(lastDay(dt), { dt: D(2100, 2, 1) })).toBe(D(2100, 2, 28));
    expect(ev(makeDate(2024, 2, 29))).toBe(D(2024, 2, 29));
    expect(ev(makeDate(2023, 2, 29))).toBeNull();
    expect(ev(makeDate(2023, 13, 1))).toBeNull();
  });

  it('date_trunc(unit, ts)', () => {
    const t1 = TS(2024, 8, 7, 13, 45, 30, 123); // a Wednesday
    const tr = (u: Parameters<typeof dateTrunc>[0]) => ev(dateTrunc(u, tsn), { tsn: t1 });
    expect(tr('year')).toBe(TS(2024, 1, 1));
    expect(tr('YYYY')).toBe(TS(2024, 1, 1));
    expect(tr('quarter')).toBe(TS(2024, 7, 1));
    expect(tr('month')).toBe(TS(2024, 8, 1));
    expect(tr('mm')).toBe(TS(2024, 8, 1));
    expect(tr('week')).toBe(TS(2024, 8, 5));
    expect(tr('day')).toBe(TS(2024, 8, 7));
    expect(tr('hour')).toBe(TS(2024, 8, 7, 13));
    expect(tr('minute')).toBe(TS(2024, 8, 7, 13, 45));
    expect(tr('second')).toBe(TS(2024, 8, 7, 13, 45, 30));
    expect(tr('millisecond')).toBe(t1);
    expect(ev(dateTrunc('hour', tsn), { tsn: -1 })).toBe(-3_600_000);
    expect(ev(dateTrunc('week', tsn), { tsn: 0 })).toBe(TS(1969, 12, 29)); // Monday before 1970-01-01
    expect(ev(dateTrunc('day', ts), { ts: null })).toBeNull();
    expect(typeOf(dateTrunc('day', tsn))).toEqual({ type: 'timestamp', nullable: false });
    expect(() => ev(dateTrunc('fortnight' as never, tsn))).toThrow(
      /date_trunc: unknown unit 'fortnight'; use one of year/,
    );
  });

  it('date_trunc with a non-literal unit gives null for unknown units', () => {
    const f = compiled(callFunction('date_trunc', col('s'), col('tsn')));
    expect(f({ s: 'MONTH', tsn: TS(2024, 8, 7, 1) })).toBe(TS(2024, 8, 1));
    expect(f({ s: 'fortnight', tsn: 0 })).toBeNull();
  });

  it('trunc(date, unit)', () => {
    expect(ev(trunc(dt, 'year'), { dt: D(2024, 8, 7) })).toBe(D(2024, 1, 1));
    expect(ev(trunc(dt, 'MM'), { dt: D(2024, 8, 7) })).toBe(D(2024, 8, 1));
    expect(ev(trunc(dt, 'quarter'), { dt: D(2024, 12, 31) })).toBe(D(2024, 10, 1));
    expect(ev(trunc(dt, 'week'), { dt: D(2024, 8, 11) })).toBe(D(2024, 8, 5));
    expect(ev(trunc(s, 'month'), { s: '2009-02-12' })).toBe(D(2009, 2, 1));
    expect(() => ev(trunc(dt, 'hour' as never))).toThrow(/trunc: unknown unit 'hour'/);
  });
});

it('inlined epoch conversions compile without calls', () => {
  const f = compiled(unixMillis(timestampMillis(col<number>('long'))));
  expect(f.toString()).not.toMatch(/k\d+\(/);
  expect(f({ long: 42 })).toBe(42);
});
