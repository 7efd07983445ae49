/**
 * The SQL lexer: text → tokens with their offsets. Keywords are not special here (the parser
 * compares a word case-insensitively where the grammar expects one), so a column may be named
 * like a keyword wherever that is unambiguous, as in Spark.
 *
 * Strings follow Spark: 'single' or "double" quotes, a doubled quote or a backslash escape
 * (\' \" \\ \n \t \r) inside. `backquoted` identifiers keep any character.
 */
import { type Span, sqlError } from './errors.ts';

export type TokenKind = 'word' | 'quoted' | 'string' | 'number' | 'op' | 'eof';

export interface Token extends Span {
  readonly kind: TokenKind;
  /** Words as written (compare with `isWord`); strings and quoted identifiers unescaped. */
  readonly text: string;
}

const OPS = [
  '<=>',
  '<>',
  '!=',
  '<=',
  '>=',
  '==',
  '||',
  '(',
  ')',
  ',',
  '.',
  '*',
  '+',
  '-',
  '/',
  '%',
  '=',
  '<',
  '>',
  ';',
];
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '0': '\0' };

export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '-' && text[i + 1] === '-') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end === -1)
        throw sqlError('SQL_PARSE', text, { start: i, end: i + 2 }, 'this comment is never closed (*/)');
      i = end + 2;
      continue;
    }
    const start = i;
    if (/[A-Za-z_]/.test(c)) {
      while (i < n && /[A-Za-z0-9_]/.test(text[i]!)) i++;
      out.push({ kind: 'word', text: text.slice(start, i), start, end: i });
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      while (i < n && /[0-9]/.test(text[i]!)) i++;
      if (text[i] === '.' && /[0-9]/.test(text[i + 1] ?? '')) {
        i++;
        while (i < n && /[0-9]/.test(text[i]!)) i++;
      } else if (text[i] === '.' && !/[A-Za-z_]/.test(text[i + 1] ?? '')) {
        i++; // `1.` is a double, as in Spark
      }
      if ((text[i] === 'e' || text[i] === 'E') && /[-+0-9]/.test(text[i + 1] ?? '')) {
        i += text[i + 1] === '-' || text[i + 1] === '+' ? 2 : 1;
        if (!/[0-9]/.test(text[i] ?? '')) {
          throw sqlError('SQL_PARSE', text, { start, end: i }, 'a number needs digits after its exponent');
        }
        while (i < n && /[0-9]/.test(text[i]!)) i++;
      }
      if (/[A-Za-z_]/.test(text[i] ?? '')) {
        while (i < n && /[A-Za-z0-9_]/.test(text[i]!)) i++;
        throw sqlError(
          'SQL_PARSE',
          text,
          { start, end: i },
          `"${text.slice(start, i)}" is neither a number nor a name (a name cannot start with a digit; quote it with backticks)`,
        );
      }
      out.push({ kind: 'number', text: text.slice(start, i), start, end: i });
      continue;
    }
    if (c === "'" || c === '"' || c === '`') {
      let value = '';
      i++;
      for (;;) {
        if (i >= n) {
          const what = c === '`' ? 'quoted name' : 'string';
          throw sqlError('SQL_PARSE', text, { start, end: n }, `this ${what} is never closed (${c})`);
        }
        const d = text[i]!;
        if (d === c) {
          if (text[i + 1] === c) {
            value += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (d === '\\' && c !== '`' && i + 1 < n) {
          const e = text[i + 1]!;
          value += ESCAPES[e] ?? e;
          i += 2;
          continue;
        }
        value += d;
        i++;
      }
      out.push({ kind: c === '`' ? 'quoted' : 'string', text: value, start, end: i });
      continue;
    }
    const op = OPS.find((o) => text.startsWith(o, i));
    if (op) {
      i += op.length;
      out.push({ kind: 'op', text: op, start, end: i });
      continue;
    }
    throw sqlError('SQL_PARSE', text, { start, end: start + 1 }, `unexpected character "${c}"`);
  }
  out.push({ kind: 'eof', text: '', start: n, end: n });
  return out;
}
