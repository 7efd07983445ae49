/** Result types, nullability and the errors of analysis (wrong argument types, bad literals, unknown names). */
import { describe, expect, it } from 'vitest';
import { MillraceError } from '../../src/errors/index.ts';
import type { AggArgInfo } from '../../src/operators/aggregates/AggregateFunction.ts';
import { BUILTIN_AGGREGATES, lookupAggregate } from '../../src/operators/aggregates/registry.ts';
import { JSON_TYPE, type DataType } from '../../src/schema/index.ts';
import { BINARY, BOOLEAN, DATE, DOUBLE, LONG, NULL_TYPE, STRING, TIMESTAMP, col, litArg } from './helpers.ts';

const type = (name: string, args: AggArgInfo[]): DataType => lookupAggregate(name).resultType(args);
const nullable = (name: string, args: AggArgInfo[]): boolean => lookupAggregate(name).resultNullable(args);
const arrayOf = (element: DataType): DataType => ({ kind: 'array', element, containsNull: false });

function typeError(name: string, args: AggArgInfo[]): MillraceError {
  try {
    lookupAggregate(name).resultType(args);
  } catch (e) {
    expect(e).toBeInstanceOf(MillraceError);
    expect((e as MillraceError).domain).toBe('user');
    return e as MillraceError;
  }
  throw new Error(`${name}: expected a type error`);
}

describe('result types', () => {
  it('count family: long, never null', () => {
    expect(type('count', [])).toEqual(LONG);
    expect(type('count', [col(STRING), col(JSON_TYPE)])).toEqual(LONG);
    expect(nullable('count', [col(STRING)])).toBe(false);
    expect(type('count_distinct', [col(DOUBLE)])).toEqual(LONG);
    expect(type('approx_count_distinct', [col(STRING)])).toEqual(LONG);
    expect(nullable('approx_count_distinct', [col(STRING)])).toBe(false);
    expect(type('count_if', [col(BOOLEAN)])).toEqual(LONG);
  });

  it('sum: long → long, double → double; avg and statistics: double', () => {
    expect(type('sum', [col(LONG)])).toEqual(LONG);
    expect(type('sum', [col(DOUBLE)])).toEqual(DOUBLE);
    expect(type('sum', [col(NULL_TYPE)])).toEqual(DOUBLE);
    expect(type('sum_distinct', [col(LONG)])).toEqual(LONG);
    expect(type('avg', [col(LONG)])).toEqual(DOUBLE);
    expect(type('mean', [col(LONG)])).toEqual(DOUBLE);
    for (const n of ['stddev', 'std', 'stddev_samp', 'stddev_pop', 'variance', 'var_samp', 'var_pop']) {
      expect(type(n, [col(LONG)])).toEqual(DOUBLE);
    }
  });

  it('nullability follows the input (sample statistics are always nullable)', () => {
    expect(nullable('sum', [col(LONG, false)])).toBe(false);
    expect(nullable('sum', [col(LONG, true)])).toBe(true);
    expect(nullable('max', [col(STRING, false)])).toBe(false);
    expect(nullable('var_pop', [col(DOUBLE, false)])).toBe(false);
    expect(nullable('var_samp', [col(DOUBLE, false)])).toBe(true);
    expect(nullable('max_by', [col(STRING, false), col(LONG, true)])).toBe(true);
    expect(nullable('max_by', [col(STRING, false), col(LONG, false)])).toBe(false);
    expect(nullable('collect_list', [col(LONG, true)])).toBe(false);
  });

  it('min, max, first, last, max_by keep the value type', () => {
    for (const t of [LONG, DOUBLE, STRING, BOOLEAN, TIMESTAMP, DATE, BINARY, arrayOf(STRING)]) {
      expect(type('min', [col(t)])).toEqual(t);
      expect(type('max', [col(t)])).toEqual(t);
    }
    expect(type('first', [col(JSON_TYPE), litArg(true)])).toEqual(JSON_TYPE);
    expect(type('last', [col(DATE)])).toEqual(DATE);
    expect(type('max_by', [col(JSON_TYPE), col(TIMESTAMP)])).toEqual(JSON_TYPE);
  });

  it('collect_list / collect_set: arrays of non-null elements', () => {
    expect(type('collect_list', [col(STRING)])).toEqual(arrayOf(STRING));
    expect(type('collect_set', [col(TIMESTAMP)])).toEqual(arrayOf(TIMESTAMP));
  });

  it('percentile_approx: the input type, or an array of it for an array of percentages', () => {
    expect(type('percentile_approx', [col(LONG), litArg(0.5)])).toEqual(LONG);
    expect(type('percentile_approx', [col(TIMESTAMP), litArg(1)])).toEqual(TIMESTAMP);
    expect(type('approx_percentile', [col(DOUBLE), litArg([0.1, 0.9]), litArg(100)])).toEqual(
      arrayOf(DOUBLE),
    );
    expect(type('percentile_approx', [col(NULL_TYPE), litArg(0.5)])).toEqual(DOUBLE);
  });
});

describe('type errors name the function and the expected types', () => {
  it('sum over a string', () => {
    const e = typeError('sum', [col(STRING)]);
    expect(e.code).toBe('INVALID_ARGUMENT_TYPE');
    expect(e.message).toBe('sum: argument 1 (value) must be numeric (long or double), got string');
  });

  it('other numeric aggregates', () => {
    expect(typeError('avg', [col(TIMESTAMP)]).message).toMatch(
      /^avg: .*numeric \(long or double\), got timestamp/,
    );
    expect(typeError('stddev_pop', [col(BOOLEAN)]).message).toMatch(/^stddev_pop: .*numeric/);
    expect(typeError('mean', [col(STRING)]).message).toMatch(/^mean: /);
    expect(typeError('sum_distinct', [col(arrayOf(LONG))]).message).toMatch(/got array<long>/);
  });

  it('min/max/max_by need an orderable type', () => {
    expect(typeError('max', [col(JSON_TYPE)]).message).toMatch(
      /^max: argument 1 \(value\) must be an orderable type .* got json/,
    );
    expect(typeError('max_by', [col(STRING), col(JSON_TYPE)]).message).toMatch(
      /^max_by: argument 2 \(ordering\)/,
    );
    expect(typeError('min', [col(arrayOf(JSON_TYPE))]).message).toMatch(/got array<json>/);
  });

  it('boolean aggregates', () => {
    expect(typeError('count_if', [col(LONG)]).message).toBe(
      'count_if: argument 1 (condition) must be boolean, got long',
    );
    expect(typeError('bool_and', [col(STRING)]).message).toMatch(/^bool_and: /);
    expect(typeError('every', [col(STRING)]).message).toMatch(/^every: /);
  });

  it('first/last: ignoreNulls must be a boolean literal', () => {
    expect(typeError('first', [col(LONG), col(BOOLEAN)]).message).toBe(
      'first: argument 2 (ignoreNulls) must be a literal value, not a column or expression',
    );
    expect(typeError('last', [col(LONG), litArg(1)]).message).toMatch(
      /last: argument 2 \(ignoreNulls\) must be boolean/,
    );
  });

  it('percentile_approx: value type, literal percentages in [0, 1], positive integer accuracy', () => {
    expect(typeError('percentile_approx', [col(STRING), litArg(0.5)]).message).toBe(
      'percentile_approx: argument 1 (value) must be long or double or timestamp or date, got string',
    );
    expect(typeError('percentile_approx', [col(LONG), col(DOUBLE)]).message).toMatch(
      /argument 2 \(percentage\) must be a literal value/,
    );
    expect(typeError('percentile_approx', [col(LONG), litArg('x')]).message).toMatch(
      /argument 2 \(percentage\) must be double or array<double>, got string/,
    );
    expect(typeError('percentile_approx', [col(LONG), litArg(1.5)]).message).toMatch(
      /between 0.0 and 1.0, got 1.5/,
    );
    expect(typeError('percentile_approx', [col(LONG), litArg([0.5, -1])]).message).toMatch(/got -1/);
    expect(typeError('percentile_approx', [col(LONG), litArg([])]).message).toMatch(
      /at least one percentage/,
    );
    expect(typeError('percentile_approx', [col(LONG), litArg(0.5), litArg(0)]).message).toMatch(
      /accuracy must be a positive integer/,
    );
    expect(typeError('approx_percentile', [col(LONG), litArg(0.5), litArg(2.5)]).message).toMatch(
      /^approx_percentile: /,
    );
  });

  it('approx_count_distinct: rsd literal and range', () => {
    expect(typeError('approx_count_distinct', [col(LONG), litArg(0.5)]).message).toMatch(
      /rsd 0.5 is too large.*at most 0.39/,
    );
    expect(typeError('approx_count_distinct', [col(LONG), litArg(0.0001)]).message).toMatch(
      /rsd 0.0001 is too small/,
    );
    expect(typeError('approx_count_distinct', [col(LONG), litArg(-1)]).message).toMatch(
      /must be a positive number/,
    );
    expect(typeError('approx_count_distinct', [col(LONG), col(DOUBLE)]).message).toMatch(
      /must be a literal value/,
    );
  });

  it('a null literal fits any argument', () => {
    expect(type('sum', [litArg(null)])).toEqual(DOUBLE);
    expect(type('count_if', [litArg(null)])).toEqual(LONG);
  });
});

describe('registry', () => {
  it('finds aggregates case-insensitively, aliases carry their own name', () => {
    expect(lookupAggregate('SUM')).toBe(lookupAggregate('sum'));
    expect(lookupAggregate('mean').name).toBe('mean');
    expect(lookupAggregate('approx_percentile').name).toBe('approx_percentile');
    for (const [name, def] of BUILTIN_AGGREGATES) {
      expect(def.name).toBe(name);
      expect(def.minArgs).toBeLessThanOrEqual(def.maxArgs);
    }
  });

  it('unknown names: a clear error with known names and a suggestion', () => {
    const err = (n: string) => {
      try {
        lookupAggregate(n);
      } catch (e) {
        return e as MillraceError;
      }
      throw new Error('expected an error');
    };
    const e = err('summ');
    expect(e.code).toBe('UNKNOWN_FUNCTION');
    expect(e.message).toMatch(/no built-in aggregate named "summ"\. Did you mean "sum"\?/);
    expect(e.message).toMatch(/Known aggregates include count, sum, avg, min, max/);
    expect(e.message).toMatch(/use udaf\(\) for your own/);
    expect(err('colect_list').message).toMatch(/Did you mean "collect_list"/);
    expect(err('upper').message).toMatch(/"upper" is a row function, not an aggregate/);
    expect(err('zzzzzzzz').message).not.toMatch(/Did you mean/);
  });

  it('arity limits', () => {
    expect(lookupAggregate('count')).toMatchObject({ minArgs: 0, maxArgs: Infinity });
    expect(lookupAggregate('percentile_approx')).toMatchObject({ minArgs: 2, maxArgs: 3 });
    expect(lookupAggregate('max_by')).toMatchObject({ minArgs: 2, maxArgs: 2 });
    expect(lookupAggregate('first')).toMatchObject({ minArgs: 1, maxArgs: 2 });
  });
});
