/** String, regex, JSON and array functions: Spark semantics, nulls and edge cases. */
import { describe, expect, it } from 'vitest';
import { callFunction, col, lit } from '../../src/api/functions/index.ts';
import {
  arrayContains,
  concat,
  concatWs,
  contains,
  elementAt,
  endswith,
  formatString,
  getJsonObject,
  ilike,
  initcap,
  instr,
  left,
  length,
  like,
  locate,
  lower,
  lpad,
  ltrim,
  regexpExtract,
  regexpExtractAll,
  regexpLike,
  regexpReplace,
  repeat,
  replace,
  reverse,
  right,
  rlike,
  rpad,
  rtrim,
  size,
  split,
  startswith,
  substring,
  translate,
  trim,
  upper,
} from '../../src/api/functions/string.ts';
import { D, TS, compiled, ev, typeOf } from './helpers.ts';

const s = col<string | null>('s');
const s2 = col<string | null>('s2');
const str = col<string>('str');
const n = col<number | null>('n');
const arr = col<string[] | null>('arr');
const nums = col<(number | null)[]>('nums');

/** Evaluate a string function of `s` on one value. */
const on = (c: ReturnType<typeof col>, v: unknown) => ev(c, { s: v });

describe('case and length', () => {
  it('upper / lower / initcap', () => {
    expect(ev(upper(s), { s: 'abc' })).toBe('ABC');
    expect(ev(lower(s), { s: 'ÀBC' })).toBe('àbc');
    expect(ev(upper(s), { s: null })).toBeNull();
    expect(ev(upper(s), { s: '' })).toBe('');
    expect(ev(initcap(s), { s: 'sPark sql  rocks' })).toBe('Spark Sql  Rocks');
    expect(ev(initcap(s), { s: 'hello-world foo_bar' })).toBe('Hello-world Foo_bar');
    expect(ev(callFunction('ucase', s), { s: 'a' })).toBe('A');
  });

  it('length counts characters (code points), bytes for binary', () => {
    expect(ev(length(s), { s: 'hello' })).toBe(5);
    expect(ev(length(s), { s: '' })).toBe(0);
    expect(ev(length(s), { s: 'a😀b' })).toBe(3);
    expect(ev(length(s), { s: null })).toBeNull();
    expect(ev(length(col<Uint8Array | null>('bin')), { bin: new Uint8Array([1, 2, 3]) })).toBe(3);
    expect(typeOf(length(str))).toEqual({ type: 'long', nullable: false });
  });
});

describe('concat', () => {
  it('concat is null when any argument is null', () => {
    expect(ev(concat(s, lit('-'), s2), { s: 'a', s2: 'b' })).toBe('a-b');
    expect(ev(concat(s, lit('-'), s2), { s: 'a', s2: null })).toBeNull();
    expect(ev(concat(s), { s: '' })).toBe('');
    expect(ev(concat(str, lit('!')), { str: 'x' })).toBe('x!');
  });

  it('concat of arrays', () => {
    expect(ev(callFunction('concat', arr, arr), { arr: ['a'] })).toEqual(['a', 'a']);
  });

  it('concat rejects non-strings with a hint', () => {
    expect(() => ev(callFunction('concat', s, n))).toThrow(
      /concat: argument 2 must be string.*got long.*cast\('string'\)/,
    );
  });

  it('concat_ws skips nulls and flattens arrays', () => {
    expect(ev(concatWs(lit(','), s, s2, lit('z')), { s: 'a', s2: null })).toBe('a,z');
    expect(ev(concatWs(lit('/'), arr, s), { arr: ['x', 'y'], s: 'z' })).toBe('x/y/z');
    expect(ev(concatWs(lit('/')), {})).toBe('');
    expect(ev(concatWs(s, lit('a'), lit('b')), { s: null })).toBeNull();
    expect(typeOf(concatWs(lit(','), s, s2)).nullable).toBe(false);
    expect(() => ev(callFunction('concat_ws', lit(','), n))).toThrow(
      /concat_ws: argument 2 must be string or array<string>, got long/,
    );
  });
});

describe('substring', () => {
  const sub = (v: string, pos: number, len?: number) => ev(substring(s, pos, len), { s: v });
  it('is 1-based; 0 acts like 1', () => {
    expect(sub('Spark SQL', 5)).toBe('k SQL');
    expect(sub('Spark SQL', 5, 1)).toBe('k');
    expect(sub('Spark SQL', 1, 3)).toBe('Spa');
    expect(sub('Spark SQL', 0, 3)).toBe('Spa');
  });
  it('counts negative positions from the end', () => {
    expect(sub('Spark SQL', -3)).toBe('SQL');
    expect(sub('Spark SQL', -3, 2)).toBe('SQ');
    expect(sub('hello', -10, 3)).toBe('');
    expect(sub('hello', -7, 4)).toBe('he');
  });
  it('out of range and non-positive lengths give empty strings', () => {
    expect(sub('hello', 10)).toBe('');
    expect(sub('hello', 2, 0)).toBe('');
    expect(sub('hello', 2, -1)).toBe('');
    expect(sub('', 1, 1)).toBe('');
  });
  it('counts code points', () => {
    expect(sub('😀ab😀', 2, 2)).toBe('ab');
    expect(sub('😀ab😀', -1)).toBe('😀');
  });
  it('null argument gives null; non-literal positions work', () => {
    expect(ev(substring(s, n), { s: 'abc', n: null })).toBeNull();
    expect(ev(substring(s, n, 1), { s: 'abc', n: 2 })).toBe('b');
    expect(ev(substring(s, 1), { s: null })).toBeNull();
    expect(ev(callFunction('substr', s, lit(2)), { s: 'abc' })).toBe('bc');
  });
  it('left / right', () => {
    expect(ev(left(s, 2), { s: 'hello' })).toBe('he');
    expect(ev(right(s, 2), { s: 'hello' })).toBe('lo');
    expect(ev(right(s, 0), { s: 'hello' })).toBe('');
    expect(ev(left(s, 10), { s: 'hi' })).toBe('hi');
  });
  it('rejects a string position', () => {
    expect(() => ev(callFunction('substring', s, lit('1')))).toThrow(
      /substring: argument 2 must be long, got string/,
    );
  });
});

describe('trim and pad', () => {
  it('trims spaces only (not tabs), or the given characters', () => {
    expect(ev(trim(s), { s: '  a b  ' })).toBe('a b');
    expect(ev(ltrim(s), { s: '  a  ' })).toBe('a  ');
    expect(ev(rtrim(s), { s: '  a  ' })).toBe('  a');
    expect(ev(trim(s), { s: '\ta\t' })).toBe('\ta\t');
    expect(ev(trim(s), { s: '   ' })).toBe('');
    expect(ev(trim(s, lit('xy')), { s: 'xyaxbyx' })).toBe('axb');
    expect(ev(trim(s), { s: null })).toBeNull();
  });

  it('lpad / rpad pad to the length and cut longer strings', () => {
    expect(ev(lpad(s, 5, lit('*')), { s: 'ab' })).toBe('***ab');
    expect(ev(rpad(s, 5, lit('xy')), { s: 'ab' })).toBe('abxyx');
    expect(ev(lpad(s, 6, lit('xy')), { s: 'ab' })).toBe('xyxyab');
    expect(ev(lpad(s, 2, lit('*')), { s: 'hello' })).toBe('he');
    expect(ev(rpad(s, 2, lit('*')), { s: 'hello' })).toBe('he');
    expect(ev(lpad(s, 4), { s: 'a' })).toBe('   a');
    expect(ev(lpad(s, 5, lit('')), { s: 'ab' })).toBe('ab');
    expect(ev(lpad(s, -1, lit('*')), { s: 'ab' })).toBe('');
    expect(ev(lpad(s, 3, lit('😀')), { s: 'a' })).toBe('😀😀a');
    expect(ev(lpad(s, 3, s2), { s: 'a', s2: null })).toBeNull();
  });
});

describe('replace, translate, reverse, repeat', () => {
  it('replace replaces all occurrences, literally', () => {
    expect(ev(replace(s, lit('a'), lit('$&')), { s: 'banana' })).toBe('b$&n$&n$&');
    expect(ev(replace(s, lit('an')), { s: 'banana' })).toBe('ba');
    expect(ev(replace(s, lit(''), lit('x')), { s: 'abc' })).toBe('abc');
    expect(ev(replace(s, lit('.'), lit('!')), { s: 'a.b' })).toBe('a!b');
  });
  it('translate maps characters, dropping those without a counterpart', () => {
    expect(ev(translate(s, lit('rnlt'), lit('123')), { s: 'translate' })).toBe('1a2s3ae');
    expect(ev(translate(s, lit('aa'), lit('xy')), { s: 'aa' })).toBe('xx');
  });
  it('reverse strings (keeping surrogate pairs) and arrays', () => {
    expect(ev(reverse(s), { s: 'abc' })).toBe('cba');
    expect(ev(reverse(s), { s: 'a😀b' })).toBe('b😀a');
    expect(ev(reverse(s), { s: '' })).toBe('');
    expect(ev(reverse(arr), { arr: ['a', 'b'] })).toEqual(['b', 'a']);
  });
  it('repeat', () => {
    expect(ev(repeat(s, 3), { s: 'ab' })).toBe('ababab');
    expect(ev(repeat(s, 0), { s: 'ab' })).toBe('');
    expect(ev(repeat(s, -2), { s: 'ab' })).toBe('');
    expect(ev(repeat(s, n), { s: 'ab', n: null })).toBeNull();
  });
});

describe('searching', () => {
  it('contains / startswith / endswith', () => {
    expect(ev(contains(s, lit('ar')), { s: 'Spark' })).toBe(true);
    expect(ev(contains(s, lit('')), { s: 'Spark' })).toBe(true);
    expect(ev(contains(s, lit('x')), { s: 'Spark' })).toBe(false);
    expect(ev(startswith(s, lit('Sp')), { s: 'Spark' })).toBe(true);
    expect(ev(endswith(s, lit('rk')), { s: 'Spark' })).toBe(true);
    expect(ev(endswith(s, s2), { s: 'Spark', s2: null })).toBeNull();
    expect(ev(startswith(s, lit('a')), { s: null })).toBeNull();
  });

  it('instr is 1-based, 0 when absent', () => {
    expect(ev(instr(s, lit('SQL')), { s: 'Spark SQL' })).toBe(7);
    expect(ev(instr(s, lit('x')), { s: 'Spark SQL' })).toBe(0);
    expect(ev(instr(s, lit('')), { s: 'abc' })).toBe(1);
    expect(ev(instr(s, lit('b')), { s: '😀b' })).toBe(2);
  });

  it('locate(sub, str[, pos])', () => {
    expect(ev(locate(lit('bar'), s), { s: 'foobarbar' })).toBe(4);
    expect(ev(locate(lit('bar'), s, 5), { s: 'foobarbar' })).toBe(7);
    expect(ev(locate(lit('bar'), s, 0), { s: 'foobarbar' })).toBe(0);
    expect(ev(locate(lit('bar'), s, 100), { s: 'foobarbar' })).toBe(0);
    expect(ev(locate(lit(''), s), { s: 'abc' })).toBe(1);
    expect(ev(locate(lit('x'), s), { s: null })).toBeNull();
    expect(ev(locate(lit('a'), s, n), { s: 'abc', n: null })).toBe(0); // Spark: null position gives 0
  });

  it('like / ilike', () => {
    expect(ev(like(s, lit('Sp%k')), { s: 'Spark' })).toBe(true);
    expect(ev(like(s, lit('Sp_rk')), { s: 'Spark' })).toBe(true);
    expect(ev(like(s, lit('sp%')), { s: 'Spark' })).toBe(false);
    expect(ev(ilike(s, lit('sp%')), { s: 'Spark' })).toBe(true);
    expect(ev(like(s, lit('100\\%')), { s: '100%' })).toBe(true);
    expect(ev(like(s, lit('100\\%')), { s: '1000' })).toBe(false);
    expect(ev(like(s, lit('a.c')), { s: 'abc' })).toBe(false);
    expect(ev(like(s, lit('%')), { s: 'multi\nline' })).toBe(true);
    expect(ev(like(s, s2), { s: 'abc', s2: 'a%' })).toBe(true);
  });
});

describe('regular expressions', () => {
  it('regexp_extract takes a group, "" when there is no match', () => {
    expect(ev(regexpExtract(s, '(\\d+)-(\\d+)', 1), { s: '100-200' })).toBe('100');
    expect(ev(regexpExtract(s, '(\\d+)-(\\d+)', 2), { s: '100-200' })).toBe('200');
    expect(ev(regexpExtract(s, '(\\d+)-(\\d+)', 0), { s: 'x100-200y' })).toBe('100-200');
    expect(ev(regexpExtract(s, '(\\d+)'), { s: 'ab12cd34' })).toBe('12');
    expect(ev(regexpExtract(s, '(\\d+)-(\\d+)', 1), { s: 'no digits' })).toBe('');
    expect(ev(regexpExtract(s, '(a)|(b)', 2), { s: 'a' })).toBe(''); // group did not take part
    expect(ev(regexpExtract(s, 'channel_id=([0-9]+)', 1), { s: null })).toBeNull();
  });

  it('regexp_extract with a non-literal pattern (cached) gives the same results', () => {
    const f = compiled(regexpExtract(s, s2, 1));
    expect(f({ s: 'a1b22', s2: '(\\d+)' })).toBe('1');
    expect(f({ s: 'a1b22', s2: '[a-z](\\d\\d)' })).toBe('22');
    expect(f({ s: 'a1b22', s2: '(\\d+)' })).toBe('1');
    expect(f({ s: 'a1b22', s2: null })).toBeNull();
    expect(() => f({ s: 'x', s2: 'x' })).toThrow(
      /group index 1 is out of range; the regex \/x\/ has 0 group/,
    );
    const g = compiled(regexpExtract(s, lit('(a)(b)?'), n));
    expect(g({ s: 'ab', n: 2 })).toBe('b');
    expect(() => g({ s: 'ab', n: 3 })).toThrow(/group index 3 is out of range/);
  });

  it('regexp_extract rejects bad regexes and group indexes at analysis', () => {
    expect(() => ev(regexpExtract(s, '(\\d+', 1))).toThrow(
      /regexp_extract: invalid regular expression "\(\\d\+"/,
    );
    expect(() => ev(regexpExtract(s, '(\\d+)', 2))).toThrow(
      /group index 2 is out of range; the regex \/\(\\d\+\)\/ has 1 group/,
    );
    expect(() => ev(regexpExtract(s, '(\\d+)', -1))).toThrow(/group index must not be negative/);
    expect(() => ev(regexpExtract(n as never, '(\\d+)'))).toThrow(
      /regexp_extract: argument 1 must be string, got long/,
    );
  });

  it('inline flags and case-insensitivity', () => {
    expect(ev(regexpExtract(s, '(?i)(spark)'), { s: 'SPARK' })).toBe('SPARK');
    expect(ev(regexpLike(s, lit('(?i)^abc$')), { s: 'ABC' })).toBe(true);
    expect(() => ev(regexpLike(s, lit('(?x)a')))).toThrow(/unsupported inline regex flag "\(\?x\)"/);
  });

  it('regexp_extract_all', () => {
    expect(ev(regexpExtractAll(s, '(\\d+)'), { s: 'a1b22c333' })).toEqual(['1', '22', '333']);
    expect(ev(regexpExtractAll(s, '(\\d+)([a-z])', 2), { s: '1a2b' })).toEqual(['a', 'b']);
    expect(ev(regexpExtractAll(s, '(\\d+)'), { s: 'none' })).toEqual([]);
    expect(ev(regexpExtractAll(s, '(x*)', 0), { s: 'ab' })).toEqual(['', '', '']);
  });

  it('regexp_replace replaces all matches with Java replacement syntax', () => {
    expect(ev(regexpReplace(s, '(\\d+)', lit('<$1>')), { s: 'a1b22' })).toBe('a<1>b<22>');
    expect(ev(regexpReplace(s, '\\s+', lit(' ')), { s: 'a  b \t c' })).toBe('a b c');
    expect(ev(regexpReplace(s, 'x', lit('y')), { s: 'abc' })).toBe('abc');
    expect(ev(regexpReplace(s, '(?<w>\\w+)', lit('[${w}]')), { s: 'ab cd' })).toBe('[ab] [cd]');
    expect(ev(regexpReplace(s, 'a', lit('\\$')), { s: 'banana' })).toBe('b$n$n$');
    expect(ev(regexpReplace(s, '', lit('-')), { s: 'abc' })).toBe('-a-b-c-');
    expect(ev(regexpReplace(s, s2, lit('_')), { s: 'a.b', s2: '\\.' })).toBe('a_b');
    expect(ev(regexpReplace(s, s2, lit('_')), { s: 'a.b', s2: null })).toBeNull();
    expect(() => ev(regexpReplace(s, 'a', lit('$')))).toThrow(/illegal "\$" in replacement/);
  });

  it('regexp_like / rlike find a match anywhere', () => {
    expect(ev(regexpLike(s, lit('\\d{3}')), { s: 'ab123' })).toBe(true);
    expect(ev(rlike(s, lit('^\\d{3}$')), { s: 'ab123' })).toBe(false);
    expect(ev(rlike(s, lit('')), { s: '' })).toBe(true);
    expect(ev(regexpLike(s, s2), { s: 'x', s2: null })).toBeNull();
    expect(ev(callFunction('regexp', s, lit('b')), { s: 'abc' })).toBe(true);
  });

  it('split (regex, optional limit) keeps trailing empty strings', () => {
    expect(ev(split(s, '[ABC]'), { s: 'oneAtwoBthreeC' })).toEqual(['one', 'two', 'three', '']);
    expect(ev(split(s, '[ABC]', 2), { s: 'oneAtwoBthreeC' })).toEqual(['one', 'twoBthreeC']);
    expect(ev(split(s, '[ABC]', -1), { s: 'oneAtwoBthreeC' })).toEqual(['one', 'two', 'three', '']);
    expect(ev(split(s, ','), { s: ',a,,b,' })).toEqual(['', 'a', '', 'b', '']);
    expect(ev(split(s, ','), { s: '' })).toEqual(['']);
    expect(ev(split(s, ','), { s: 'abc' })).toEqual(['abc']);
    expect(ev(split(s, ''), { s: 'abc' })).toEqual(['a', 'b', 'c']);
    expect(ev(split(s, '', 2), { s: 'abc' })).toEqual(['a', 'bc']);
    expect(ev(split(s, '\\.'), { s: 'a.b' })).toEqual(['a', 'b']);
    expect(ev(split(s, '(?=b)'), { s: 'abab' })).toEqual(['a', 'ba', 'b']);
    expect(ev(split(s, ','), { s: null })).toBeNull();
    expect(typeOf(split(s, ','))).toEqual({ type: 'array<string>', nullable: true });
  });
});

describe('format_string', () => {
  const f = (fmt: string, ...args: unknown[]) =>
    ev(formatString(lit(fmt), ...args.map((a) => lit(a as never))));
  it('formats %s %d %f with widths, flags and precision', () => {
    expect(f('Hello %s, you are %d', 'Ann', 42)).toBe('Hello Ann, you are 42');
    expect(f('%.2f', 3.14159)).toBe('3.14');
    expect(f('%.2f', 2.675)).toBe('2.68'); // HALF_UP on the decimal value, as Java
    expect(f('%.0f', 2.5)).toBe('3');
    expect(f('%f', 1.5)).toBe('1.500000');
    expect(f('%5d|%-5d|%05d', 42, 42, -42)).toBe('   42|42   |-0042');
    expect(f('%,d', 1234567)).toBe('1,234,567');
    expect(f('%,.2f', 1234567.891)).toBe('1,234,567.89');
    expect(f('%+d %+.1f', 5, -0.04)).toBe('+5 -0.0');
    expect(f('%10.3f|', Math.PI)).toBe('     3.142|');
    expect(f('%-6s|%6s|%.2s', 'ab', 'ab', 'abc')).toBe('ab    |    ab|ab');
    expect(f('%x %X %o', 255, 255, 8)).toBe('ff FF 10');
    expect(f('%x', -1)).toBe('ffffffffffffffff');
    expect(f('%e', 12345.678)).toBe('1.234568e+04');
    expect(f('%b %b', true, false)).toBe('true false');
    expect(f('100%% %s', 'sure')).toBe('100% sure');
    expect(f('%2$s %1$s', 'a', 'b')).toBe('b a');
    expect(f('%S', 'up')).toBe('UP');
    expect(f('no args')).toBe('no args');
  });

  it('formats doubles with %s like Java', () => {
    expect(f('%s', 1.5)).toBe('1.5');
    expect(ev(formatString(lit('%s'), col('d')), { d: 2 })).toBe('2.0');
    expect(ev(formatString(lit('%s'), col('d')), { d: 1e7 })).toBe('1.0E7');
    expect(
      ev(formatString(lit('%s|%s'), col('tsn'), col('dt')), {
        tsn: TS(2025, 1, 2, 3, 4, 5),
        dt: D(2024, 2, 29),
      }),
    ).toBe('2025-01-02 03:04:05|2024-02-29');
  });

  it('prints null arguments as "null"; a null format gives null', () => {
    expect(ev(formatString(lit('[%s] [%d] [%5s]'), col('s'), col('n'), col('s2')), {})).toBe(
      '[null] [null] [ null]',
    );
    expect(ev(formatString(col<string | null>('s'), lit(1)), { s: null })).toBeNull();
    expect(ev(formatString(col<string | null>('s'), lit(1)), { s: '%d!' })).toBe('1!');
  });

  it('checks a literal format against the argument types at analysis', () => {
    expect(() => f('%d', 1.5)).toThrow(
      /format_string: %d needs a long \(use %f for doubles or cast\(\)\), argument 2 is double/,
    );
    expect(() => f('%f', 'x')).toThrow(/format_string: %f needs a number, argument 2 is string/);
    expect(() => f('%s %s', 'x')).toThrow(
      /format_string: format "%s %s" needs at least 2 value argument\(s\), got 1/,
    );
    expect(() => f('%q', 'x')).toThrow(/unsupported conversion "%q"/);
    expect(() => f('50%')).toThrow(/malformed format specifier/);
  });
});

describe('get_json_object', () => {
  const doc = '{"a":{"b":[10,{"c":"x"}],"n":null,"t":true},"k e y":1.5}';
  it('extracts values by JSONPath', () => {
    expect(ev(getJsonObject(s, '$.a.b[0]'), { s: doc })).toBe('10');
    expect(ev(getJsonObject(s, '$.a.b[1].c'), { s: doc })).toBe('x');
    expect(ev(getJsonObject(s, '$.a.b'), { s: doc })).toBe('[10,{"c":"x"}]');
    expect(ev(getJsonObject(s, '$.a.t'), { s: doc })).toBe('true');
    expect(ev(getJsonObject(s, "$['k e y']"), { s: doc })).toBe('1.5');
    expect(ev(getJsonObject(s, '$'), { s: '"str"' })).toBe('str');
  });
  it('gives null when absent, JSON null, or invalid', () => {
    expect(ev(getJsonObject(s, '$.a.n'), { s: doc })).toBeNull();
    expect(ev(getJsonObject(s, '$.zz'), { s: doc })).toBeNull();
    expect(ev(getJsonObject(s, '$.a.b[5]'), { s: doc })).toBeNull();
    expect(ev(getJsonObject(s, '$.a.b.c'), { s: doc })).toBeNull();
    expect(ev(getJsonObject(s, '$.a'), { s: '{not json' })).toBeNull();
    expect(ev(getJsonObject(s, '$.a'), { s: null })).toBeNull();
    expect(ev(getJsonObject(s, s2), { s: doc, s2: 'bad path' })).toBeNull();
    expect(typeOf(getJsonObject(str, '$.a')).nullable).toBe(true);
  });
  it('reads json columns without parsing', () => {
    expect(ev(getJsonObject(col('j'), '$.x[1]'), { j: { x: [1, 2] } })).toBe('2');
  });
  it('rejects an unsupported literal path', () => {
    expect(() => ev(getJsonObject(s, 'a.b'))).toThrow(/get_json_object: unsupported JSON path "a.b"/);
    expect(() => ev(getJsonObject(s, '$.a[*]'))).toThrow(/unsupported JSON path/);
  });
});

describe('arrays', () => {
  it('element_at is 1-based, negative from the end, null out of range', () => {
    expect(ev(elementAt(arr, 1), { arr: ['a', 'b', 'c'] })).toBe('a');
    expect(ev(elementAt(arr, -1), { arr: ['a', 'b', 'c'] })).toBe('c');
    expect(ev(elementAt(arr, 4), { arr: ['a', 'b', 'c'] })).toBeNull();
    expect(ev(elementAt(arr, -4), { arr: ['a', 'b', 'c'] })).toBeNull();
    expect(ev(elementAt(arr, 1), { arr: null })).toBeNull();
    expect(ev(elementAt(split(s, ','), 2), { s: 'x,y' })).toBe('y');
    expect(typeOf(elementAt(nums, 1))).toEqual({ type: 'long', nullable: true });
  });
  it('element_at rejects index 0', () => {
    expect(() => ev(elementAt(arr, 0))).toThrow(/element_at: SQL array indices start at 1/);
    expect(() => ev(elementAt(arr, n), { arr: ['a'], n: 0 })).toThrow(/indices start at 1/);
    expect(() => ev(callFunction('element_at', s, lit(1)))).toThrow(
      /element_at: argument 1 must be array, got string/,
    );
  });
  it('size is -1 for null arrays', () => {
    expect(ev(size(arr), { arr: ['a', 'b'] })).toBe(2);
    expect(ev(size(arr), { arr: [] })).toBe(0);
    expect(ev(size(arr), { arr: null })).toBe(-1);
    expect(typeOf(size(arr)).nullable).toBe(false);
  });
  it('array_contains follows SQL null semantics', () => {
    expect(ev(arrayContains(nums, 2), { nums: [1, 2] })).toBe(true);
    expect(ev(arrayContains(nums, 3), { nums: [1, 2] })).toBe(false);
    expect(ev(arrayContains(nums, 3), { nums: [1, null] })).toBeNull();
    expect(ev(arrayContains(nums, null), { nums: [1] })).toBeNull();
    expect(() => ev(callFunction('array_contains', nums, lit('x')))).toThrow(
      /array_contains: argument 2 must be long/,
    );
  });
});

it('literal and column patterns agree', () => {
  const lits = compiled(regexpReplace(s, '[aeiou]', lit('*')));
  const cols = compiled(regexpReplace(s, s2, lit('*')));
  for (const v of ['banana', '', 'xyz', 'AEIOU aeiou'])
    expect(cols({ s: v, s2: '[aeiou]' })).toBe(lits({ s: v }));
  expect(on(upper(s), 'q')).toBe('Q');
});
