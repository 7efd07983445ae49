/**
 * String functions (Spark SQL names, Spark semantics).
 *
 * Lengths and positions count Unicode code points, as Spark counts UTF-8
 * characters; strings without surrogate pairs take a fast path on UTF-16
 * units. Regexes are Java-style patterns compiled to JS RegExps: once at
 * codegen when the pattern is a literal, through a small cache otherwise.
 */
import { userError } from '../../errors/index.ts';
import { BOOLEAN, LONG, STRING, type DataType, typeToString } from '../../schema/index.ts';
import type { ArgInfo, FunctionDef } from './FunctionDef.ts';
import { expectArg, literalArg } from './argcheck.ts';
import { formatDate, formatTimestamp } from '../temporal.ts';
import { javaDoubleToString, toFixedHalfUp } from './math.ts';

// ---------------------------------------------------------------------------
// Helpers

const STRING_ARRAY: DataType = { kind: 'array', element: STRING, containsNull: false };
const SURROGATE = /[\uD800-\uDFFF]/;

/** Number of code points. */
export function charLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** Code points of s when it has surrogate pairs, else null (use UTF-16 indexing). */
const codePoints = (s: string): string[] | null => (SURROGATE.test(s) ? Array.from(s) : null);

/** Code-point index of a UTF-16 index. */
const cpIndex = (s: string, unitIndex: number): number =>
  SURROGATE.test(s) ? charLength(s.slice(0, unitIndex)) : unitIndex;

/** UTF-16 index of a code-point index (clamped to the end). */
function unitIndex(s: string, cp: number): number {
  if (!SURROGATE.test(s)) return Math.min(cp, s.length);
  let i = 0;
  for (let k = 0; k < cp && i < s.length; k++) {
    const c = s.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1;
  }
  return i;
}

/** Spark's substring on code points: 1-based `pos`, negative counts from the end, 0 acts as 1. */
export function sparkSubstring(s: string, pos: number, len: number = Infinity): string {
  const cps = codePoints(s);
  const n = cps ? cps.length : s.length;
  let start = pos > 0 ? pos - 1 : pos < 0 ? n + pos : 0;
  const end = start + len;
  start = Math.max(start, 0);
  if (start >= end) return '';
  return cps ? cps.slice(start, end).join('') : s.slice(start, end);
}

/** `s` without leading/trailing characters from `chars` (Spark: only spaces by default). */
function trimChars(s: string, chars: string | null, left: boolean, right: boolean): string {
  let i = 0;
  let j = s.length;
  if (chars === null) {
    if (left) while (i < j && s.charCodeAt(i) === 32) i++;
    if (right) while (j > i && s.charCodeAt(j - 1) === 32) j--;
  } else {
    if (left) while (i < j && chars.includes(s[i]!)) i++;
    if (right) while (j > i && chars.includes(s[j - 1]!)) j--;
  }
  return i === 0 && j === s.length ? s : s.slice(i, j);
}

function pad(s: string, len: number, padding: string, left: boolean): string {
  const cps = codePoints(s);
  const n = cps ? cps.length : s.length;
  const missing = len - n;
  if (missing <= 0 || padding === '') return sparkSubstring(s, 1, Math.max(len, 0));
  const padCps = codePoints(padding);
  const padLen = padCps ? padCps.length : padding.length;
  let fill = padding.repeat(Math.floor(missing / padLen));
  const rest = missing % padLen;
  if (rest > 0) fill += padCps ? padCps.slice(0, rest).join('') : padding.slice(0, rest);
  return left ? fill + s : s + fill;
}

function reverseString(s: string): string {
  const cps = codePoints(s);
  if (cps) return cps.reverse().join('');
  let out = '';
  for (let i = s.length - 1; i >= 0; i--) out += s[i];
  return out;
}

/** Spark initcap: lower-case everything, then upper-case the first letter of each space-separated word. */
function initcap(s: string): string {
  const lower = s.toLowerCase();
  let out = '';
  let atStart = true;
  for (const ch of lower) {
    out += atStart ? ch.toUpperCase() : ch;
    atStart = ch === ' ';
  }
  return out;
}

// -- regexes ------------------------------------------------------------------

/**
 * A Java-style regex as a JS RegExp. Leading inline flags `(?i)`, `(?s)`, `(?m)`
 * become RegExp flags; `\p{…}` classes switch on Unicode mode.
 */
export function compileRegex(fn: string, pattern: string, flags = ''): RegExp {
  let src = pattern;
  let f = flags;
  const inline = /^\(\?([a-zA-Z]+)\)/.exec(src);
  if (inline) {
    for (const c of inline[1]!) {
      if (c !== 'i' && c !== 'm' && c !== 's') {
        throw userError(
          'INVALID_REGEX',
          `${fn}: unsupported inline regex flag "(?${c})" in "${pattern}"; use i, m or s`,
        );
      }
      if (!f.includes(c)) f += c;
    }
    src = src.slice(inline[0].length);
  }
  if (/\\[pP]\{/.test(src)) f += 'u';
  try {
    return new RegExp(src, f);
  } catch (e) {
    throw userError(
      'INVALID_REGEX',
      `${fn}: invalid regular expression "${pattern}": ${(e as Error).message}`,
    );
  }
}

/** Returns the regex for a pattern: precompiled when the pattern argument is a literal, else cached. */
function regexFor(fn: string, arg: ArgInfo | undefined, flags = ''): (pattern: string) => RegExp {
  const v = arg?.literal?.value;
  if (typeof v === 'string') {
    const re = compileRegex(fn, v, flags);
    return () => re;
  }
  return cached((p: string) => compileRegex(fn, p, flags));
}

/** Memoise a compile step for non-literal arguments (bounded; cleared when full). */
export function cached<K, V>(compile: (k: K) => V, max = 256): (k: K) => V {
  const m = new Map<K, V>();
  return (k: K) => {
    let v = m.get(k);
    if (v === undefined) {
      v = compile(k);
      if (m.size >= max) m.clear();
      m.set(k, v);
    }
    return v;
  };
}

const GROUP_COUNTS = new WeakMap<RegExp, number>();

/** Number of capture groups of a regex (memoised per RegExp). */
function groupCount(re: RegExp): number {
  let n = GROUP_COUNTS.get(re);
  if (n === undefined) {
    n = new RegExp(`${re.source}|`, re.flags.replace('g', '')).exec('')!.length - 1;
    GROUP_COUNTS.set(re, n);
  }
  return n;
}

/** Whether analysis already checked the group index (literal regex and literal or default index). */
const groupChecked = (a: readonly ArgInfo[]): boolean =>
  typeof a[1]?.literal?.value === 'string' && (a[2] === undefined || a[2].literal !== undefined);

/** Validate a literal regex argument at analysis time. */
function checkRegexArg(fn: string, args: readonly ArgInfo[], i: number): RegExp | undefined {
  const v = args[i]?.literal?.value;
  return typeof v === 'string' ? compileRegex(fn, v) : undefined;
}

/** Java's Matcher.replaceAll replacement syntax (`$1`, `${name}`, `\$`) in JS String.replace syntax. */
export function javaReplacement(rep: string): string {
  let out = '';
  for (let i = 0; i < rep.length; i++) {
    const c = rep[i]!;
    if (c === '\\' && i + 1 < rep.length) {
      const next = rep[++i]!;
      out += next === '$' ? '$$' : next;
    } else if (c === '$') {
      const m = /^\$(\d+|\{[A-Za-z][A-Za-z0-9]*\})/.exec(rep.slice(i));
      if (!m)
        throw userError(
          'INVALID_REGEX',
          `regexp_replace: illegal "$" in replacement "${rep}"; write \\$ for a dollar sign`,
        );
      out += m[1]![0] === '{' ? `$<${m[1]!.slice(1, -1)}>` : `$${m[1]}`;
      i += m[0].length - 1;
    } else {
      out += c;
    }
  }
  return out;
}

/** Java's String.split(regex, limit) with Spark's limit (≤ 0: no limit, trailing empties kept). */
export function regexSplit(s: string, re: RegExp, limit: number): string[] {
  if (limit <= 0) limit = -1;
  if (re.source === '(?:)' && s !== '') {
    // Spark: an empty pattern splits into characters, without a trailing empty string.
    const cps = Array.from(s);
    const n = limit > 0 && limit < cps.length ? limit : cps.length;
    return [...cps.slice(0, n - 1), cps.slice(n - 1).join('')];
  }
  const g = re.global ? re : new RegExp(re.source, re.flags + 'g');
  g.lastIndex = 0;
  const out: string[] = [];
  let index = 0;
  let m: RegExpExecArray | null;
  while ((m = g.exec(s)) !== null) {
    const start = m.index;
    const end = start + m[0].length;
    if (m[0].length === 0) g.lastIndex++;
    if (limit > 0 && out.length >= limit - 1) break;
    if (end === 0) continue; // a zero-width match at the start gives no leading empty string
    if (m[0].length === 0 && start >= s.length) break;
    out.push(s.slice(index, start));
    index = end;
  }
  if (out.length === 0) return [s];
  out.push(s.slice(index));
  return out;
}

/** SQL LIKE pattern → anchored regex (`%` any run, `_` one character, `escape` quotes the next one). */
export function likeToRegex(fn: string, pattern: string, escape: string, flags: string): RegExp {
  let src = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === escape) {
      const next = pattern[++i];
      if (next === undefined || (next !== '%' && next !== '_' && next !== escape)) {
        throw userError(
          'INVALID_ARGUMENT',
          `${fn}: the escape character "${escape}" must precede %, _ or itself in pattern "${pattern}"`,
        );
      }
      src += next.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    } else if (c === '%') src += '[\\s\\S]*';
    else if (c === '_') src += '[\\s\\S]';
    else src += c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^(?:${src})$`, flags);
}

// -- format_string ------------------------------------------------------------

interface Spec {
  readonly argIndex: number; // 0-based index into the value arguments, -1 for %% and %n
  readonly flags: string;
  readonly width: number;
  readonly precision: number; // -1 when absent
  readonly conv: string;
}
type Piece = string | Spec;

const SPEC_RE = /%(?:(\d+)\$)?([-#+ 0,(]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])/g;
const CONVERSIONS = 'sSdfeExXobBcn%';

/** Parse a printf format (Java Formatter subset: %s %d %f %e %x %o %b %c %% %n, flags -+ 0,, width, precision). */
export function parseFormat(fn: string, fmt: string): Piece[] {
  const pieces: Piece[] = [];
  let last = 0;
  let next = 0;
  SPEC_RE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = SPEC_RE.exec(fmt)) !== null) {
    if (m.index > last) pieces.push(fmt.slice(last, m.index));
    last = m.index + m[0].length;
    const conv = m[5]!;
    if (!CONVERSIONS.includes(conv)) {
      throw userError(
        'INVALID_ARGUMENT',
        `${fn}: unsupported conversion "%${conv}" in "${fmt}"; use %s, %d, %f, %e, %x, %o, %b, %c or %%`,
      );
    }
    if (conv === '%' || conv === 'n') {
      pieces.push(conv === '%' ? '%' : '\n');
      continue;
    }
    const argIndex = m[1] !== undefined ? Number(m[1]) - 1 : next++;
    pieces.push({
      argIndex,
      flags: m[2] ?? '',
      width: m[3] ? Number(m[3]) : 0,
      precision: m[4] !== undefined ? Number(m[4]) : -1,
      conv,
    });
  }
  if (fmt.slice(last).includes('%')) {
    throw userError(
      'INVALID_ARGUMENT',
      `${fn}: malformed format specifier in "${fmt}" at "${fmt.slice(last)}"`,
    );
  }
  if (last < fmt.length) pieces.push(fmt.slice(last));
  return pieces;
}

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Apply sign flags and width padding to a formatted number. */
function padNumber(body: string, negative: boolean, spec: Spec): string {
  const sign = negative ? '-' : spec.flags.includes('+') ? '+' : spec.flags.includes(' ') ? ' ' : '';
  if (spec.flags.includes('0') && !spec.flags.includes('-')) {
    return sign + body.padStart(spec.width - sign.length, '0');
  }
  return padText(sign + body, spec);
}

function padText(s: string, spec: Spec): string {
  if (s.length >= spec.width) return s;
  return spec.flags.includes('-') ? s.padEnd(spec.width) : s.padStart(spec.width);
}

/** `%s` text of a value of the given type (Java's String.valueOf for the value Spark passes). */
function textOf(v: unknown, type: DataType): string {
  if (v === null || v === undefined) return 'null';
  switch (type.kind) {
    case 'double':
      return javaDoubleToString(v as number);
    case 'timestamp':
      return formatTimestamp(v as number);
    case 'date':
      return formatDate(v as number);
    case 'string':
      return v as string;
    case 'array':
    case 'struct':
    case 'json':
      return JSON.stringify(v);
    default:
      return String(v);
  }
}

function formatOne(spec: Spec, v: unknown, type: DataType, fmt: string): string {
  const c = spec.conv;
  if (c === 's' || c === 'S') {
    let s = textOf(v, type);
    if (spec.precision >= 0) s = s.slice(0, spec.precision);
    return padText(c === 'S' ? s.toUpperCase() : s, spec);
  }
  if (c === 'b' || c === 'B') {
    const s = String(v === null || v === undefined ? false : typeof v === 'boolean' ? v : true);
    return padText(c === 'B' ? s.toUpperCase() : s, spec);
  }
  if (v === null || v === undefined) return padText('null', spec);
  if (c === 'c') {
    const s = typeof v === 'number' ? String.fromCodePoint(v) : String(v).slice(0, 1);
    return padText(s, spec);
  }
  if (typeof v !== 'number') {
    throw userError(
      'INVALID_ARGUMENT_TYPE',
      `format_string: %${c} needs a number, got ${JSON.stringify(v)} in "${fmt}"`,
    );
  }
  if (c === 'd') {
    if (!Number.isInteger(v)) {
      throw userError(
        'INVALID_ARGUMENT_TYPE',
        `format_string: %d needs an integer, got ${v} in "${fmt}"; use %f or cast()`,
      );
    }
    let body = String(Math.abs(v));
    if (spec.flags.includes(',')) body = groupThousands(body);
    return padNumber(body, v < 0, spec);
  }
  if (c === 'x' || c === 'X' || c === 'o') {
    const big = BigInt.asUintN(64, BigInt(Math.trunc(v)));
    const s = big.toString(c === 'o' ? 8 : 16);
    return padNumber(c === 'X' ? s.toUpperCase() : s, false, spec);
  }
  // f, e, E
  if (!Number.isFinite(v)) {
    return padText(
      Number.isNaN(v) ? 'NaN' : v > 0 ? (spec.flags.includes('+') ? '+Infinity' : 'Infinity') : '-Infinity',
      spec,
    );
  }
  const precision = spec.precision >= 0 ? spec.precision : 6;
  const negative = v < 0 || Object.is(v, -0);
  let body: string;
  if (c === 'f') {
    body = toFixedHalfUp(Math.abs(v), precision);
    if (spec.flags.includes(',')) {
      const [int, frac] = body.split('.');
      body = groupThousands(int!) + (frac !== undefined ? '.' + frac : '');
    }
  } else {
    const [mant, exp] = Math.abs(v).toExponential(precision).split('e');
    const e = Number(exp);
    body = `${mant}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
    if (c === 'E') body = body.toUpperCase();
  }
  return padNumber(body, negative, spec);
}

/** A formatter for a parsed format string, checked against the value argument types. */
function makeFormatter(
  fn: string,
  fmt: string,
  types: readonly DataType[],
): (vals: readonly unknown[]) => string {
  const pieces = parseFormat(fn, fmt);
  for (const p of pieces) {
    if (typeof p === 'string') continue;
    if (p.argIndex >= types.length) {
      throw userError(
        'INVALID_ARGUMENT',
        `${fn}: format "${fmt}" needs at least ${p.argIndex + 1} value argument(s), got ${types.length}`,
      );
    }
    const t = types[p.argIndex]!;
    const fail = (want: string) => {
      throw userError(
        'INVALID_ARGUMENT_TYPE',
        `${fn}: %${p.conv} needs ${want}, argument ${p.argIndex + 2} is ${typeToString(t)} (in "${fmt}")`,
      );
    };
    if (t.kind === 'null') continue;
    if (p.conv === 'd' || p.conv === 'x' || p.conv === 'X' || p.conv === 'o') {
      if (t.kind !== 'long') fail(p.conv === 'd' ? 'a long (use %f for doubles or cast())' : 'a long');
    } else if (p.conv === 'f' || p.conv === 'e' || p.conv === 'E') {
      if (t.kind !== 'long' && t.kind !== 'double') fail('a number');
    } else if (p.conv === 'c') {
      if (t.kind !== 'long' && t.kind !== 'string') fail('a long code point or a string');
    }
  }
  return (vals) => {
    let out = '';
    for (const p of pieces)
      out += typeof p === 'string' ? p : formatOne(p, vals[p.argIndex], types[p.argIndex]!, fmt);
    return out;
  };
}

// -- get_json_object ------------------------------------------------------------

type PathStep = string | number;

/** Parse a JSONPath subset: `$`, `.name`, `['name']`, `["name"]`, `[index]`; null when invalid. */
export function parseJsonPath(path: string): PathStep[] | null {
  if (!path.startsWith('$')) return null;
  const steps: PathStep[] = [];
  let i = 1;
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      const m = /^[^.[\]]+/.exec(path.slice(i + 1));
      if (!m || m[0] === '*') return null;
      steps.push(m[0]);
      i += 1 + m[0].length;
    } else if (c === '[') {
      const rest = path.slice(i);
      const idx = /^\[(\d+)\]/.exec(rest);
      const quoted = /^\[(?:'([^']*)'|"([^"]*)")\]/.exec(rest);
      if (idx) {
        steps.push(Number(idx[1]));
        i += idx[0].length;
      } else if (quoted) {
        steps.push(quoted[1] ?? quoted[2]!);
        i += quoted[0].length;
      } else return null;
    } else return null;
  }
  return steps;
}

function jsonPathGet(value: unknown, steps: readonly PathStep[]): string | null {
  let v: unknown = value;
  for (const s of steps) {
    if (v === null || typeof v !== 'object') return null;
    if (typeof s === 'number') {
      if (!Array.isArray(v)) return null;
      v = v[s];
    } else {
      if (Array.isArray(v) || !Object.prototype.hasOwnProperty.call(v, s)) return null;
      v = (v as Record<string, unknown>)[s];
    }
  }
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

// ---------------------------------------------------------------------------
// Definitions

const str = (name: string, args: readonly ArgInfo[], ...idx: number[]) => {
  for (const i of idx) expectArg(name, args, i, 'string');
};

/** A one-string-argument function returning `type`. */
function unary(
  name: string,
  type: DataType,
  f: (s: string) => unknown,
  inline?: (s: string) => string,
): FunctionDef {
  return {
    name,
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (str(name, a, 0), type),
    impl: () => f,
    ...(inline ? { inline: ([s]: readonly string[]) => inline(s!) } : {}),
  };
}

function lengthDef(name: string): FunctionDef {
  return {
    name,
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (expectArg(name, a, 0, 'string', 'binary'), LONG),
    impl: (a) => (a[0]!.type.kind === 'binary' ? (b: Uint8Array) => b.length : charLength),
  };
}

function substringDef(name: string): FunctionDef {
  return {
    name,
    minArgs: 2,
    maxArgs: 3,
    returnType: (a) => {
      str(name, a, 0);
      expectArg(name, a, 1, 'long');
      expectArg(name, a, 2, 'long');
      return STRING;
    },
    impl: () => sparkSubstring,
  };
}

function trimDef(name: string, left: boolean, right: boolean): FunctionDef {
  return {
    name,
    minArgs: 1,
    maxArgs: 2,
    returnType: (a) => (str(name, a, 0, 1), STRING),
    impl: () => (s: string, chars?: string) => trimChars(s, chars ?? null, left, right),
  };
}

function padDef(name: string, left: boolean): FunctionDef {
  return {
    name,
    minArgs: 2,
    maxArgs: 3,
    returnType: (a) => {
      str(name, a, 0, 2);
      expectArg(name, a, 1, 'long');
      return STRING;
    },
    impl:
      () =>
      (s: string, len: number, p: string = ' ') =>
        pad(s, len, p, left),
  };
}

function locateDef(name: string): FunctionDef {
  return {
    name,
    minArgs: 2,
    maxArgs: 3,
    nulls: 'handled',
    returnType: (a) => {
      str(name, a, 0, 1);
      expectArg(name, a, 2, 'long');
      return LONG;
    },
    resultNullable: (a) => a[0]!.nullable || a[1]!.nullable,
    impl: (a) => {
      const hasPos = a.length === 3;
      return (sub: string | null, s: string | null, pos?: number | null) => {
        if (hasPos && pos == null) return 0; // Spark (as Hive): a null start position gives 0
        if (sub == null || s == null) return null;
        const p = pos ?? 1;
        if (p < 1) return 0;
        if (sub === '') return 1;
        const i = s.indexOf(sub, unitIndex(s, p - 1));
        return i < 0 ? 0 : cpIndex(s, i) + 1;
      };
    },
  };
}

function regexLikeDef(name: string): FunctionDef {
  return {
    name,
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => (str(name, a, 0, 1), checkRegexArg(name, a, 1), BOOLEAN),
    impl: (a) => {
      const re = regexFor(name, a[1]);
      return (s: string, p: string) => re(p).test(s);
    },
  };
}

function likeDef(name: string, flags: string): FunctionDef {
  return {
    name,
    minArgs: 2,
    maxArgs: 3,
    returnType: (a) => {
      str(name, a, 0, 1, 2);
      const esc = a[2] ? literalArg<string>(name, a, 2, 'escape character') : '\\';
      if (typeof esc === 'string' && esc.length !== 1) {
        throw userError(
          'INVALID_ARGUMENT',
          `${name}: the escape character must be one character, got "${esc}"`,
        );
      }
      const p = a[1]!.literal?.value;
      if (typeof p === 'string' && typeof esc === 'string') likeToRegex(name, p, esc, flags);
      return BOOLEAN;
    },
    impl: (a) => {
      const esc = (a[2]?.literal?.value as string | undefined) ?? '\\';
      const p = a[1]!.literal?.value;
      if (typeof p === 'string') {
        const re = likeToRegex(name, p, esc, flags);
        return (s: string) => re.test(s);
      }
      const get = cached((pattern: string) => likeToRegex(name, pattern, esc, flags));
      return (s: string, pattern: string) => get(pattern).test(s);
    },
  };
}

function formatStringDef(name: string): FunctionDef {
  return {
    name,
    minArgs: 1,
    maxArgs: Infinity,
    nulls: 'handled',
    returnType: (a) => {
      str(name, a, 0);
      const fmt = a[0]!.literal?.value;
      if (typeof fmt === 'string')
        makeFormatter(
          name,
          fmt,
          a.slice(1).map((x) => x.type),
        );
      return STRING;
    },
    resultNullable: (a) => a[0]!.nullable,
    impl: (a) => {
      const types = a.slice(1).map((x) => x.type);
      const fmt = a[0]!.literal?.value;
      const get =
        typeof fmt === 'string'
          ? (
              (f) => () =>
                f
            )(makeFormatter(name, fmt, types))
          : cached((f: string) => makeFormatter(name, f, types));
      return (f: string | null, ...vals: unknown[]) => (f == null ? null : get(f)(vals));
    },
  };
}

export const stringFunctions: FunctionDef[] = [
  unary(
    'upper',
    STRING,
    (s) => s.toUpperCase(),
    (s) => `${s}.toUpperCase()`,
  ),
  unary(
    'ucase',
    STRING,
    (s) => s.toUpperCase(),
    (s) => `${s}.toUpperCase()`,
  ),
  unary(
    'lower',
    STRING,
    (s) => s.toLowerCase(),
    (s) => `${s}.toLowerCase()`,
  ),
  unary(
    'lcase',
    STRING,
    (s) => s.toLowerCase(),
    (s) => `${s}.toLowerCase()`,
  ),
  lengthDef('length'),
  lengthDef('char_length'),
  lengthDef('character_length'),
  unary('initcap', STRING, initcap),
  {
    name: 'concat',
    minArgs: 1,
    maxArgs: Infinity,
    returnType: (a) => {
      const first = a.find((x) => x.type.kind !== 'null')?.type;
      if (first?.kind === 'array') {
        for (let i = 0; i < a.length; i++) expectArg('concat', a, i, 'array');
        return first;
      }
      for (let i = 0; i < a.length; i++) {
        if (a[i]!.type.kind !== 'string' && a[i]!.type.kind !== 'null') {
          throw userError(
            'INVALID_ARGUMENT_TYPE',
            `concat: argument ${i + 1} must be string (or all arguments arrays), got ${typeToString(a[i]!.type)}; ` +
              `use .cast('string') for other types`,
          );
        }
      }
      return STRING;
    },
    impl: (a) =>
      a.some((x) => x.type.kind === 'array')
        ? (...arrays: unknown[][]) => ([] as unknown[]).concat(...arrays)
        : (...parts: string[]) => parts.join(''),
    inline: (js, a) =>
      a.some((x) => x.type.kind === 'array') ? undefined : `(${['""', ...js].join(' + ')})`,
  },
  {
    name: 'concat_ws',
    minArgs: 1,
    maxArgs: Infinity,
    nulls: 'handled',
    returnType: (a) => {
      str('concat_ws', a, 0);
      for (let i = 1; i < a.length; i++) {
        const t = a[i]!.type;
        if (
          t.kind !== 'string' &&
          t.kind !== 'null' &&
          !(t.kind === 'array' && t.element.kind === 'string')
        ) {
          throw userError(
            'INVALID_ARGUMENT_TYPE',
            `concat_ws: argument ${i + 1} must be string or array<string>, got ${typeToString(t)}`,
          );
        }
      }
      return STRING;
    },
    resultNullable: (a) => a[0]!.nullable,
    impl: () =>
      function concatWs(sep: string | null, ...vs: unknown[]) {
        if (sep == null) return null;
        const parts: string[] = [];
        for (const v of vs) {
          if (v == null) continue;
          if (Array.isArray(v)) {
            for (const x of v) if (x != null) parts.push(x as string);
          } else parts.push(v as string);
        }
        return parts.join(sep);
      },
  },
  substringDef('substring'),
  substringDef('substr'),
  {
    name: 'left',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => (str('left', a, 0), expectArg('left', a, 1, 'long'), STRING),
    impl: () => (s: string, n: number) => sparkSubstring(s, 1, n),
  },
  {
    name: 'right',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => (str('right', a, 0), expectArg('right', a, 1, 'long'), STRING),
    impl: () => (s: string, n: number) => (n <= 0 ? '' : sparkSubstring(s, -n)),
  },
  trimDef('trim', true, true),
  trimDef('btrim', true, true),
  trimDef('ltrim', true, false),
  trimDef('rtrim', false, true),
  padDef('lpad', true),
  padDef('rpad', false),
  {
    name: 'replace',
    minArgs: 2,
    maxArgs: 3,
    returnType: (a) => (str('replace', a, 0, 1, 2), STRING),
    impl:
      () =>
      (s: string, search: string, rep: string = '') =>
        search === '' ? s : s.split(search).join(rep),
  },
  {
    name: 'translate',
    minArgs: 3,
    maxArgs: 3,
    returnType: (a) => (str('translate', a, 0, 1, 2), STRING),
    impl: () => (s: string, from: string, to: string) => {
      const f = Array.from(from);
      const t = Array.from(to);
      const map = new Map<string, string>();
      f.forEach((c, i) => {
        if (!map.has(c)) map.set(c, t[i] ?? '');
      });
      let out = '';
      for (const c of s) out += map.get(c) ?? c;
      return out;
    },
  },
  {
    name: 'contains',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => (str('contains', a, 0, 1), BOOLEAN),
    impl: () => (s: string, x: string) => s.includes(x),
    inline: ([s, x]) => `${s}.includes(${x})`,
  },
  {
    name: 'startswith',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => (str('startswith', a, 0, 1), BOOLEAN),
    impl: () => (s: string, x: string) => s.startsWith(x),
    inline: ([s, x]) => `${s}.startsWith(${x})`,
  },
  {
    name: 'endswith',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => (str('endswith', a, 0, 1), BOOLEAN),
    impl: () => (s: string, x: string) => s.endsWith(x),
    inline: ([s, x]) => `${s}.endsWith(${x})`,
  },
  {
    name: 'instr',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => (str('instr', a, 0, 1), LONG),
    impl: () => (s: string, sub: string) => {
      const i = s.indexOf(sub);
      return i < 0 ? 0 : cpIndex(s, i) + 1;
    },
  },
  locateDef('locate'),
  locateDef('position'),
  {
    name: 'split',
    minArgs: 2,
    maxArgs: 3,
    returnType: (a) => {
      str('split', a, 0, 1);
      expectArg('split', a, 2, 'long');
      checkRegexArg('split', a, 1);
      return STRING_ARRAY;
    },
    impl: (a) => {
      const re = regexFor('split', a[1], 'g');
      return (s: string, p: string, limit = -1) => regexSplit(s, re(p), limit);
    },
  },
  {
    name: 'regexp_extract',
    minArgs: 2,
    maxArgs: 3,
    returnType: (a) => {
      str('regexp_extract', a, 0, 1);
      expectArg('regexp_extract', a, 2, 'long');
      checkGroupIndex('regexp_extract', a);
      return STRING;
    },
    impl: (a) => {
      const re = regexFor('regexp_extract', a[1]);
      const checked = groupChecked(a);
      return (s: string, p: string, idx = 1) => {
        const r = re(p);
        if (!checked) checkGroup('regexp_extract', r, idx);
        const m = r.exec(s);
        return m ? (m[idx] ?? '') : '';
      };
    },
  },
  {
    name: 'regexp_extract_all',
    minArgs: 2,
    maxArgs: 3,
    returnType: (a) => {
      str('regexp_extract_all', a, 0, 1);
      expectArg('regexp_extract_all', a, 2, 'long');
      checkGroupIndex('regexp_extract_all', a);
      return STRING_ARRAY;
    },
    impl: (a) => {
      const re = regexFor('regexp_extract_all', a[1], 'g');
      const checked = groupChecked(a);
      return (s: string, p: string, idx = 1) => {
        const r = re(p);
        if (!checked) checkGroup('regexp_extract_all', r, idx);
        r.lastIndex = 0;
        const out: string[] = [];
        let m: RegExpExecArray | null;
        while ((m = r.exec(s)) !== null) {
          out.push(m[idx] ?? '');
          if (m[0].length === 0) r.lastIndex++;
        }
        return out;
      };
    },
  },
  {
    name: 'regexp_replace',
    minArgs: 3,
    maxArgs: 3,
    returnType: (a) => {
      str('regexp_replace', a, 0, 1, 2);
      checkRegexArg('regexp_replace', a, 1);
      const rep = a[2]!.literal?.value;
      if (typeof rep === 'string') javaReplacement(rep);
      return STRING;
    },
    impl: (a) => {
      const re = regexFor('regexp_replace', a[1], 'g');
      const repLit = a[2]!.literal?.value;
      const rep =
        typeof repLit === 'string'
          ? (
              (r) => () =>
                r
            )(javaReplacement(repLit))
          : cached(javaReplacement);
      return (s: string, p: string, r: string) => s.replace(re(p), rep(r));
    },
  },
  regexLikeDef('regexp_like'),
  regexLikeDef('rlike'),
  regexLikeDef('regexp'),
  likeDef('like', 's'),
  likeDef('ilike', 'si'),
  {
    name: 'reverse',
    minArgs: 1,
    maxArgs: 1,
    returnType: (a) => (expectArg('reverse', a, 0, 'string', 'array'), a[0]!.type),
    impl: (a) => (a[0]!.type.kind === 'array' ? (v: unknown[]) => v.slice().reverse() : reverseString),
  },
  {
    name: 'repeat',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => (str('repeat', a, 0), expectArg('repeat', a, 1, 'long'), STRING),
    impl: () => (s: string, n: number) => (n <= 0 ? '' : s.repeat(n)),
  },
  formatStringDef('format_string'),
  formatStringDef('printf'),
  {
    name: 'get_json_object',
    minArgs: 2,
    maxArgs: 2,
    returnType: (a) => {
      expectArg('get_json_object', a, 0, 'string', 'json');
      str('get_json_object', a, 1);
      const p = a[1]!.literal?.value;
      if (typeof p === 'string' && parseJsonPath(p) === null) {
        throw userError(
          'INVALID_ARGUMENT',
          `get_json_object: unsupported JSON path "${p}"; use $, .field, ['field'] and [index] steps`,
        );
      }
      return STRING;
    },
    resultNullable: () => true,
    impl: (a) => {
      const parsed = a[0]!.type.kind === 'json';
      const lit = a[1]!.literal?.value;
      const steps =
        typeof lit === 'string'
          ? (
              (s) => () =>
                s
            )(parseJsonPath(lit))
          : cached(parseJsonPath);
      return (v: unknown, path: string) => {
        const st = steps(path);
        if (st === null) return null;
        let doc: unknown = v;
        if (!parsed) {
          try {
            doc = JSON.parse(v as string);
          } catch {
            return null;
          }
        }
        return jsonPathGet(doc, st);
      };
    },
  },
];

function checkGroup(fn: string, re: RegExp, idx: number): void {
  const n = groupCount(re);
  if (idx < 0 || idx > n) {
    throw userError(
      'INVALID_ARGUMENT',
      `${fn}: group index ${idx} is out of range; the regex /${re.source}/ has ${n} group(s)`,
    );
  }
}

function checkGroupIndex(fn: string, a: readonly ArgInfo[]): void {
  const re = checkRegexArg(fn, a, 1);
  const idx = a[2]?.literal?.value ?? (a[2] ? undefined : 1);
  if (typeof idx === 'number') {
    if (idx < 0) throw userError('INVALID_ARGUMENT', `${fn}: group index must not be negative, got ${idx}`);
    if (re) checkGroup(fn, re, idx);
  }
}
