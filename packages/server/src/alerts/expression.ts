/**
 * Small condition expressions for alert rules, compiled once to a function of a row:
 *
 *   cpu > 90
 *   bids >= 100 and channel == 'Google'
 *   not (status == "ok" or retries < 3)
 *   window.end - window.start >= 60000 && errors / total > 0.05
 *
 * Grammar (usual precedence, lowest first):
 *   or:  and (('or' | '||') and)*          and: not (('and' | '&&') not)*
 *   not: ('not' | '!') not | cmp           cmp: sum (('=='|'!='|'<'|'<='|'>'|'>=') sum)?
 *   sum: prod (('+'|'-') prod)*            prod: unary (('*'|'/'|'%') unary)*
 *   unary: '-' unary | atom                atom: number | 'text' | "text" | true | false | null
 *                                                | column(.field)* | '(' or ')'
 * Comparisons with null are false (as SQL), except `== null` / `!= null`.
 * Arithmetic on a non-number gives null.
 */
import { userError } from '../util/errors.ts';
import { ownValue } from 'millrace';

type Value = unknown;
type Fn = (row: Record<string, unknown>) => Value;

interface Token {
  readonly kind: 'num' | 'str' | 'id' | 'op' | 'end';
  readonly text: string;
  readonly pos: number;
  readonly value?: unknown;
}

const OPS = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '+', '-', '*', '/', '%', '(', ')', '!', '='];

function fail(source: string, pos: number, what: string): never {
  throw userError(
    'INVALID_ALERT_CONDITION',
    `alert condition ${JSON.stringify(source)}: ${what} at position ${pos + 1}; ` +
      `write e.g. "cpu > 90" or "bids >= 100 and channel == 'Google'"`,
  );
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i))!;
      out.push({ kind: 'num', text: m[0], pos: i, value: Number(m[0].replace(/_/g, '')) });
      i += m[0].length;
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let s = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\' && j + 1 < src.length) j++;
        s += src[j];
        j++;
      }
      if (j >= src.length) fail(src, i, 'unterminated text');
      out.push({ kind: 'str', text: src.slice(i, j + 1), pos: i, value: s });
      i = j + 1;
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*/.exec(src.slice(i))!;
      out.push({ kind: 'id', text: m[0], pos: i });
      i += m[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) fail(src, i, `unexpected character ${JSON.stringify(c)}`);
    out.push({ kind: 'op', text: op === '=' ? '==' : op, pos: i });
    i += op.length;
  }
  out.push({ kind: 'end', text: '', pos: src.length });
  return out;
}

const num = (v: Value): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function compare(op: string, a: Value, b: Value): boolean {
  if (op === '==') return a === b || (a === null && b === undefined) || (a === undefined && b === null);
  if (op === '!=') return !compare('==', a, b);
  if (a === null || a === undefined || b === null || b === undefined) return false;
  if (typeof a !== typeof b) return false;
  const x = a as number | string;
  const y = b as number | string;
  switch (op) {
    case '<':
      return x < y;
    case '<=':
      return x <= y;
    case '>':
      return x > y;
    default:
      return x >= y;
  }
}

class Parser {
  private i = 0;
  readonly columns = new Set<string>();

  constructor(
    private readonly src: string,
    private readonly toks: Token[],
  ) {}

  private peek(): Token {
    return this.toks[this.i]!;
  }

  private isOp(...ops: string[]): boolean {
    const t = this.peek();
    return (
      (t.kind === 'op' && ops.includes(t.text)) || (t.kind === 'id' && ops.includes(t.text.toLowerCase()))
    );
  }

  private next(): Token {
    return this.toks[this.i++]!;
  }

  parse(): Fn {
    const f = this.or();
    const t = this.peek();
    if (t.kind !== 'end') fail(this.src, t.pos, `unexpected ${JSON.stringify(t.text)}`);
    return f;
  }

  private or(): Fn {
    let left = this.and();
    while (this.isOp('or', '||')) {
      this.next();
      const a = left;
      const b = this.and();
      left = (r) => Boolean(a(r)) || Boolean(b(r));
    }
    return left;
  }

  private and(): Fn {
    let left = this.not();
    while (this.isOp('and', '&&')) {
      this.next();
      const a = left;
      const b = this.not();
      left = (r) => Boolean(a(r)) && Boolean(b(r));
    }
    return left;
  }

  private not(): Fn {
    if (this.isOp('not', '!')) {
      this.next();
      const a = this.not();
      return (r) => !a(r);
    }
    return this.cmp();
  }

  private cmp(): Fn {
    const left = this.sum();
    if (this.isOp('==', '!=', '<', '<=', '>', '>=')) {
      const op = this.next().text;
      const right = this.sum();
      return (r) => compare(op, left(r), right(r));
    }
    return left;
  }

  private sum(): Fn {
    let left = this.prod();
    while (this.isOp('+', '-')) {
      const op = this.next().text;
      const a = left;
      const b = this.prod();
      left = (r) => {
        const x = num(a(r));
        const y = num(b(r));
        return x === null || y === null ? null : op === '+' ? x + y : x - y;
      };
    }
    return left;
  }

  private prod(): Fn {
    let left = this.unary();
    while (this.isOp('*', '/', '%')) {
      const op = this.next().text;
      const a = left;
      const b = this.unary();
      left = (r) => {
        const x = num(a(r));
        const y = num(b(r));
        if (x === null || y === null) return null;
        if (op === '*') return x * y;
        if (y === 0) return null;
        return op === '/' ? x / y : x % y;
      };
    }
    return left;
  }

  private unary(): Fn {
    if (this.isOp('-')) {
      this.next();
      const a = this.unary();
      return (r) => {
        const x = num(a(r));
        return x === null ? null : -x;
      };
    }
    return this.atom();
  }

  private atom(): Fn {
    const t = this.next();
    if (t.kind === 'num' || t.kind === 'str') {
      const v = t.value;
      return () => v;
    }
    if (t.kind === 'id') {
      const lower = t.text.toLowerCase();
      if (lower === 'true') return () => true;
      if (lower === 'false') return () => false;
      if (lower === 'null') return () => null;
      if (['and', 'or', 'not'].includes(lower)) fail(this.src, t.pos, `"${t.text}" needs a value before it`);
      const path = t.text.split('.');
      this.columns.add(t.text);
      return (r) => {
        let v: unknown = r;
        for (const p of path) {
          if (v === null || typeof v !== 'object') return null;
          v = ownValue(v, p); // own fields only: a missing "constructor" column is null
        }
        return v === undefined ? null : typeof v === 'bigint' ? Number(v) : v;
      };
    }
    if (t.kind === 'op' && t.text === '(') {
      const f = this.or();
      const close = this.next();
      if (close.kind !== 'op' || close.text !== ')') fail(this.src, close.pos, 'expected ")"');
      return f;
    }
    fail(
      this.src,
      t.pos,
      t.kind === 'end' ? 'the expression ends too early' : `unexpected ${JSON.stringify(t.text)}`,
    );
  }
}

export interface CompiledCondition {
  readonly source: string;
  /** Columns the expression reads (top-level path text). */
  readonly columns: readonly string[];
  test(row: Record<string, unknown>): boolean;
}

/** Compile a condition; a syntax error is a MillraceError (INVALID_ALERT_CONDITION) naming the position. */
export function compileCondition(source: string): CompiledCondition {
  if (typeof source !== 'string' || source.trim() === '') {
    throw userError('INVALID_ALERT_CONDITION', 'alert condition: give an expression such as "cpu > 90"');
  }
  const p = new Parser(source, tokenize(source));
  const fn = p.parse();
  return { source, columns: [...p.columns], test: (row) => fn(row) === true };
}
