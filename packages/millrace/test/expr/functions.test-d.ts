/** Static types of the function wrappers: value types and nullability flow through; wrong types do not compile. */
import { describe, expectTypeOf, it } from 'vitest';
import type { Column } from '../../src/api/Column.ts';
import {
  coalesce,
  col,
  concat,
  concatWs,
  dateFormat,
  dateTrunc,
  elementAt,
  greatest,
  hash,
  hour,
  ifnull,
  length,
  lit,
  log,
  nullif,
  regexpExtract,
  round,
  size,
  split,
  substring,
  toTimestamp,
  upper,
  year,
} from '../../src/api/functions/index.ts';

const s = col<string | null>('s');
const str = col<string>('str');
const n = col<number | null>('n');
const num = col<number>('num');
const ts = col<number>('ts');
const arr = col<string[]>('arr');

describe('string wrappers', () => {
  it('keep nullability', () => {
    expectTypeOf(upper(s)).toEqualTypeOf<Column<string | null>>();
    expectTypeOf(upper(str)).toEqualTypeOf<Column<string>>();
    expectTypeOf(upper('abc')).toEqualTypeOf<Column<string>>();
    expectTypeOf(length(str)).toEqualTypeOf<Column<number>>();
    expectTypeOf(length(s)).toEqualTypeOf<Column<number | null>>();
    expectTypeOf(concat(str, lit('-'), str)).toEqualTypeOf<Column<string>>();
    expectTypeOf(concat(str, s)).toEqualTypeOf<Column<string | null>>();
    expectTypeOf(concatWs(',', str, s)).toEqualTypeOf<Column<string>>();
    expectTypeOf(substring(str, 2)).toEqualTypeOf<Column<string>>();
    expectTypeOf(substring(str, n, 1)).toEqualTypeOf<Column<string | null>>();
  });

  it('regex wrappers', () => {
    expectTypeOf(regexpExtract(str, 'channel_id=([0-9]+)', 1)).toEqualTypeOf<Column<string>>();
    expectTypeOf(regexpExtract(s, '(x)')).toEqualTypeOf<Column<string | null>>();
    expectTypeOf(split(str, ',')).toEqualTypeOf<Column<string[]>>();
  });

  it('array wrappers', () => {
    expectTypeOf(elementAt(arr, 1)).toEqualTypeOf<Column<string | null>>();
    expectTypeOf(elementAt(split(str, ','), -1)).toEqualTypeOf<Column<string | null>>();
    expectTypeOf(size(arr)).toEqualTypeOf<Column<number>>();
  });

  it('reject wrong argument types', () => {
    // @ts-expect-error — upper needs a string column
    upper(num);
    // @ts-expect-error — upper needs a string column
    upper(n);
    // @ts-expect-error — the group index is a number
    regexpExtract(str, '(x)', '1');
    // @ts-expect-error — substring positions are numbers
    substring(str, '1');
    // @ts-expect-error — size needs an array
    size(str);
  });
});

describe('date/time wrappers', () => {
  it('keep nullability; strings may not parse', () => {
    expectTypeOf(hour(ts)).toEqualTypeOf<Column<number>>();
    expectTypeOf(hour(n)).toEqualTypeOf<Column<number | null>>();
    expectTypeOf(year(str)).toEqualTypeOf<Column<number | null>>();
    expectTypeOf(dateFormat(ts, 'yyyy-MM-dd')).toEqualTypeOf<Column<string>>();
    expectTypeOf(toTimestamp(str, 'dd/MM/yyyy')).toEqualTypeOf<Column<number | null>>();
    expectTypeOf(dateTrunc('hour', ts)).toEqualTypeOf<Column<number>>();
  });

  it('reject wrong argument types', () => {
    // @ts-expect-error — hour needs a timestamp (number) or string
    hour(col<boolean>('b'));
    // @ts-expect-error — unknown truncation unit
    dateTrunc('fortnight', ts);
  });
});

describe('math and null wrappers', () => {
  it('keep nullability', () => {
    expectTypeOf(round(num, 2)).toEqualTypeOf<Column<number>>();
    expectTypeOf(round(n)).toEqualTypeOf<Column<number | null>>();
    expectTypeOf(log(num)).toEqualTypeOf<Column<number | null>>();
    expectTypeOf(greatest(n, num)).toEqualTypeOf<Column<number>>();
    expectTypeOf(greatest(n, n)).toEqualTypeOf<Column<number | null>>();
    expectTypeOf(ifnull(n, 0)).toEqualTypeOf<Column<number>>();
    expectTypeOf(nullif(num, 0)).toEqualTypeOf<Column<number | null>>();
    expectTypeOf(hash(s, n)).toEqualTypeOf<Column<number>>();
    expectTypeOf(coalesce(n, 0)).toEqualTypeOf<Column<number>>();
  });

  it('reject wrong argument types', () => {
    // @ts-expect-error — round needs a number
    round(str);
    // @ts-expect-error — nullif compares values of one type
    nullif(num, 'x');
  });
});
