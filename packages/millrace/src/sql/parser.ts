/**
 * A recursive-descent parser for Millrace's SQL dialect (Spark SQL's query syntax plus the
 * streaming clauses: `FROM STREAM t`, `WATERMARK col DELAY OF INTERVAL …`), with a precedence
 * climber for expressions. Hand-written rather than generated so every error names what was
 * expected at the exact token, and so valid SQL we do not run yet (ORDER BY, window functions,
 * scalar subqueries, …) is named as such (SQL_UNSUPPORTED) instead of "syntax error".
 *
 * Precedence, loosest first (as Spark): OR; AND; NOT; comparisons, IS, IN, BETWEEN, LIKE;
 * + - ||; * / %; unary minus.
 */
import type {
  FromItem,
  Query,
  QueryBody,
  Select,
  SelectItem,
  SqlBinaryOp,
  SqlExpr,
  Statement,
  WatermarkClause,
} from './ast.ts';
import { type Span, type SqlErrorCode, sqlError } from './errors.ts';
import { type Token, tokenize } from './lexer.ts';
import { parseDuration } from '../util/durations.ts';

/** Words that end an expression or a FROM item, so they are never read as an alias. */
const CLAUSE_WORDS = new Set([
  'from',
  'where',
  'group',
  'having',
  'order',
  'limit',
  'union',
  'intersect',
  'except',
  'join',
  'inner',
  'left',
  'right',
  'full',
  'cross',
  'outer',
  'semi',
  'anti',
  'on',
  'using',
  'watermark',
  'and',
  'or',
  'not',
  'as',
  'select',
  'with',
  'is',
  'in',
  'between',
  'like',
  'ilike',
  'rlike',
  'regexp',
  'then',
  'when',
  'else',
  'end',
  'case',
  'filter',
  'over',
  'lateral',
  'natural',
  'distinct',
  'all',
  'delay',
  'by',
  'sort',
  'cluster',
  'distribute',
  'qualify',
  'pivot',
  'unpivot',
  'tablesample',
]);

const COMPARISONS: Record<string, SqlBinaryOp> = {
  '=': '=',
  '==': '=',
  '!=': '!=',
  '<>': '!=',
  '<': '<',
  '<=': '<=',
  '>': '>',
  '>=': '>=',
  '<=>': '<=>',
};

/** Parse one or more statements separated by `;`. */
export function parseStatements(text: string): Statement[] {
  const p = new Parser(text);
  const out: Statement[] = [];
  while (!p.atEof()) {
    out.push(p.statement());
    if (!p.acceptOp(';')) {
      if (!p.atEof())
        p.fail(
          'SQL_PARSE',
          p.peek(),
          `expected ";" or the end of the statement, got ${p.describe(p.peek())}`,
        );
    }
    while (p.acceptOp(';'));
  }
  if (out.length === 0)
    p.fail('SQL_PARSE', p.peek(), 'the SQL text is empty; write a query, e.g. SELECT * FROM bids');
  return out;
}

class Parser {
  private readonly tokens: Token[];
  private pos = 0;

  constructor(private readonly text: string) {
    this.tokens = tokenize(text);
  }

  // -- tokens ------------------------------------------------------------------

  peek(k = 0): Token {
    return this.tokens[Math.min(this.pos + k, this.tokens.length - 1)]!;
  }
  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.pos++;
    return t;
  }
  atEof(): boolean {
    return this.peek().kind === 'eof';
  }
  private prevEnd(): number {
    return this.tokens[Math.max(0, this.pos - 1)]!.end;
  }
  private isWord(t: Token, ...words: string[]): boolean {
    return t.kind === 'word' && words.includes(t.text.toLowerCase());
  }
  private atWord(...words: string[]): boolean {
    return this.isWord(this.peek(), ...words);
  }
  private acceptWord(...words: string[]): Token | undefined {
    return this.atWord(...words) ? this.next() : undefined;
  }
  private expectWord(word: string, after: string): Token {
    const t = this.peek();
    if (!this.isWord(t, word))
      this.fail('SQL_PARSE', t, `expected ${word.toUpperCase()} ${after}, got ${this.describe(t)}`);
    return this.next();
  }
  acceptOp(op: string): Token | undefined {
    const t = this.peek();
    return t.kind === 'op' && t.text === op ? this.next() : undefined;
  }
  private expectOp(op: string, after: string): Token {
    const t = this.peek();
    if (!(t.kind === 'op' && t.text === op))
      this.fail('SQL_PARSE', t, `expected "${op}" ${after}, got ${this.describe(t)}`);
    return this.next();
  }
  describe(t: Token): string {
    if (t.kind === 'eof') return 'the end of the text';
    if (t.kind === 'string') return `the string '${t.text}'`;
    return `"${this.text.slice(t.start, t.end)}"`;
  }
  fail(code: SqlErrorCode, at: Span, message: string): never {
    throw sqlError(code, this.text, at, message);
  }
  private unsupported(at: Span, what: string): never {
    this.fail(
      'SQL_UNSUPPORTED',
      at,
      `${what} is not supported yet (see docs/guide/sql.md, "Not supported yet")`,
    );
  }
  private span(start: number): Span {
    return { start, end: this.prevEnd() };
  }

  /** A name: a word that is not a clause keyword, or a `quoted` one. */
  private name(what: string): { name: string; span: Span } {
    const t = this.peek();
    if (t.kind === 'quoted' || (t.kind === 'word' && !CLAUSE_WORDS.has(t.text.toLowerCase()))) {
      this.next();
      return { name: t.text, span: t };
    }
    this.fail('SQL_PARSE', t, `expected ${what}, got ${this.describe(t)}`);
  }

  // -- statements --------------------------------------------------------------

  statement(): Statement {
    const start = this.peek().start;
    if (this.atWord('create')) return this.createView();
    if (this.atWord('insert', 'update', 'delete', 'merge', 'drop', 'alter')) {
      this.unsupported(this.peek(), `${this.peek().text.toUpperCase()} (a query writes through writeStream)`);
    }
    if (!this.atWord('select', 'with') && !(this.peek().kind === 'op' && this.peek().text === '(')) {
      this.fail(
        'SQL_PARSE',
        this.peek(),
        `expected SELECT, WITH or CREATE TEMPORARY VIEW, got ${this.describe(this.peek())}`,
      );
    }
    const query = this.query();
    return { kind: 'query', query, span: this.span(start) };
  }

  private createView(): Statement {
    const start = this.next().start;
    let orReplace = false;
    if (this.acceptWord('or')) {
      this.expectWord('replace', 'after CREATE OR');
      orReplace = true;
    }
    if (!this.acceptWord('temporary', 'temp')) {
      const t = this.peek();
      if (this.isWord(t, 'view'))
        this.fail('SQL_PARSE', t, 'write CREATE TEMPORARY VIEW: views live in the session, not in a catalog');
      this.unsupported(t, `CREATE ${this.describe(t)} (only CREATE TEMPORARY VIEW is)`);
    }
    this.expectWord('view', 'after CREATE TEMPORARY');
    const name = this.name('the view name').name;
    this.expectWord('as', `after CREATE TEMPORARY VIEW ${name}`);
    const query = this.query();
    return { kind: 'createView', name, query, orReplace, span: this.span(start) };
  }

  private query(): Query {
    const start = this.peek().start;
    const ctes: { name: string; query: Query; span: Span }[] = [];
    if (this.acceptWord('with')) {
      do {
        const s = this.peek().start;
        const name = this.name('the name of a WITH query').name;
        this.expectWord('as', `after WITH ${name}`);
        this.expectOp('(', `after WITH ${name} AS`);
        const q = this.query();
        this.expectOp(')', `to close WITH ${name} AS (…`);
        ctes.push({ name, query: q, span: this.span(s) });
      } while (this.acceptOp(','));
    }
    const body = this.queryBody();
    if (this.atWord('order', 'sort', 'cluster', 'distribute')) {
      this.unsupported(
        this.peek(),
        `${this.peek().text.toUpperCase()} BY on a stream (a stream has no end to sort)`,
      );
    }
    if (this.atWord('limit')) this.unsupported(this.peek(), 'LIMIT on a stream');
    return { with: ctes, body, span: this.span(start) };
  }

  private queryBody(): QueryBody {
    const start = this.peek().start;
    let left: QueryBody = this.queryTerm();
    for (;;) {
      const t = this.peek();
      if (this.isWord(t, 'intersect', 'except', 'minus')) this.unsupported(t, t.text.toUpperCase());
      if (!this.isWord(t, 'union')) return left;
      this.next();
      if (!this.acceptWord('all')) {
        this.unsupported(
          t,
          'UNION without ALL (it removes duplicates: write UNION ALL, then SELECT DISTINCT over it)',
        );
      }
      const right = this.queryTerm();
      left = { kind: 'unionAll', left, right, span: this.span(start) };
    }
  }

  private queryTerm(): QueryBody {
    if (this.acceptOp('(')) {
      const body = this.queryBody();
      this.expectOp(')', 'to close the parenthesised query');
      return body;
    }
    return this.select();
  }

  private select(): Select {
    const start = this.expectWord('select', 'to start a query').start;
    let distinct = false;
    if (this.acceptWord('distinct')) distinct = true;
    else this.acceptWord('all');
    const items: SelectItem[] = [];
    do items.push(this.selectItem());
    while (this.acceptOp(','));
    if (!this.atWord('from')) {
      const t = this.peek();
      if (t.kind === 'eof' || (t.kind === 'op' && (t.text === ';' || t.text === ')'))) {
        this.fail('SQL_PARSE', t, 'expected FROM: a streaming query reads a stream (SELECT … FROM <stream>)');
      }
      this.fail('SQL_PARSE', t, `expected "," or FROM after a select item, got ${this.describe(t)}`);
    }
    this.next();
    const from = this.fromClause();
    const where = this.acceptWord('where') ? this.expr() : null;
    const groupBy: SqlExpr[] = [];
    if (this.atWord('group')) {
      this.next();
      this.expectWord('by', 'after GROUP');
      if (this.atWord('rollup', 'cube', 'grouping'))
        this.unsupported(this.peek(), this.peek().text.toUpperCase());
      do groupBy.push(this.expr());
      while (this.acceptOp(','));
    }
    const having = this.acceptWord('having') ? this.expr() : null;
    if (this.atWord('window', 'qualify'))
      this.unsupported(this.peek(), `${this.peek().text.toUpperCase()} clause`);
    return { kind: 'select', distinct, items, from, where, groupBy, having, span: this.span(start) };
  }

  private selectItem(): SelectItem {
    const start = this.peek().start;
    const t = this.peek();
    if (t.kind === 'op' && t.text === '*') {
      this.next();
      return { expr: { kind: 'star', qualifier: null, span: t }, alias: null, span: t };
    }
    if (
      (t.kind === 'word' || t.kind === 'quoted') &&
      this.peek(1).text === '.' &&
      this.peek(2).text === '*'
    ) {
      this.pos += 3;
      const span = this.span(start);
      return { expr: { kind: 'star', qualifier: t.text, span }, alias: null, span };
    }
    const expr = this.expr();
    let alias: string | null = null;
    if (this.acceptWord('as')) alias = this.name('a column name after AS').name;
    else if (
      this.peek().kind === 'quoted' ||
      (this.peek().kind === 'word' && !CLAUSE_WORDS.has(this.peek().text.toLowerCase()))
    ) {
      alias = this.next().text;
    }
    return { expr, alias, span: this.span(start) };
  }

  // -- FROM --------------------------------------------------------------------

  private fromClause(): FromItem {
    const start = this.peek().start;
    let left = this.fromPrimary();
    for (;;) {
      const t = this.peek();
      if (t.kind === 'op' && t.text === ',')
        this.unsupported(t, 'a comma join (FROM a, b); write a JOIN … ON');
      if (this.isWord(t, 'cross', 'natural', 'lateral')) this.unsupported(t, `${t.text.toUpperCase()} JOIN`);
      let type: Extract<FromItem, { kind: 'join' }>['type'];
      if (this.acceptWord('join')) type = 'inner';
      else if (this.acceptWord('inner')) {
        this.expectWord('join', 'after INNER');
        type = 'inner';
      } else if (this.atWord('left', 'right', 'full')) {
        const side = this.next().text.toLowerCase();
        if (side === 'left' && this.atWord('anti')) this.unsupported(this.peek(), 'LEFT ANTI JOIN');
        if (side === 'left' && this.acceptWord('semi')) type = 'leftSemi';
        else {
          this.acceptWord('outer');
          type = side === 'left' ? 'leftOuter' : side === 'right' ? 'rightOuter' : 'fullOuter';
        }
        this.expectWord('join', `after ${side.toUpperCase()}${type === 'leftSemi' ? ' SEMI' : ''}`);
      } else if (this.acceptWord('semi')) {
        this.expectWord('join', 'after SEMI');
        type = 'leftSemi';
      } else return left;
      const right = this.fromPrimary();
      let on: SqlExpr | null = null;
      const using: { name: string; span: Span }[] = [];
      if (this.acceptWord('on')) on = this.expr();
      else if (this.acceptWord('using')) {
        this.expectOp('(', 'after USING');
        do using.push(this.name('a column name in USING (…)'));
        while (this.acceptOp(','));
        this.expectOp(')', 'to close USING (…');
      } else {
        this.fail(
          'SQL_PARSE',
          this.peek(),
          `expected ON <condition> or USING (<columns>) after the joined stream, got ${this.describe(this.peek())}`,
        );
      }
      left = { kind: 'join', type, left, right, on, using, span: this.span(start) };
    }
  }

  private fromPrimary(): FromItem {
    const start = this.peek().start;
    let item: { kind: 'table'; name: string; stream: boolean } | { kind: 'subquery'; query: Query };
    if (this.acceptOp('(')) {
      if (!this.atWord('select', 'with') && !(this.peek().text === '(')) {
        this.fail(
          'SQL_PARSE',
          this.peek(),
          `expected a query (SELECT …) in parentheses, got ${this.describe(this.peek())}`,
        );
      }
      const query = this.query();
      this.expectOp(')', 'to close the subquery');
      item = { kind: 'subquery', query };
    } else {
      let stream = false;
      if (
        this.atWord('stream') &&
        (this.peek(1).kind === 'word' || this.peek(1).kind === 'quoted' || this.peek(1).text === '(')
      ) {
        this.next();
        stream = true;
      }
      if (stream && this.acceptOp('(')) {
        const n = this.name('a stream name in STREAM(…)').name;
        this.expectOp(')', 'to close STREAM(…');
        item = { kind: 'table', name: n, stream };
      } else {
        item = { kind: 'table', name: this.name('a stream name after FROM').name, stream };
      }
      if (this.acceptOp('.'))
        this.unsupported(
          this.peek(),
          'a catalog or database qualifier (register the stream as a view and use its name)',
        );
    }
    let watermark = this.watermark();
    let alias: string | null = null;
    if (this.acceptWord('as')) alias = this.name('an alias after AS').name;
    else if (
      this.peek().kind === 'quoted' ||
      (this.peek().kind === 'word' && !CLAUSE_WORDS.has(this.peek().text.toLowerCase()))
    ) {
      alias = this.next().text;
    }
    if (watermark === null) watermark = this.watermark();
    return { ...item, alias, watermark, span: this.span(start) };
  }

  /** `WATERMARK col DELAY OF INTERVAL 10 SECONDS`, or `WATERMARK expr AS name DELAY OF …` (Databricks SQL). */
  private watermark(): WatermarkClause | null {
    const start = this.peek().start;
    if (!this.acceptWord('watermark')) return null;
    const expr = this.expr();
    const alias = this.acceptWord('as') ? this.name('the event-time column name after AS').name : null;
    this.expectWord('delay', 'after WATERMARK <column> (WATERMARK ts DELAY OF INTERVAL 10 SECONDS)');
    this.expectWord('of', 'after DELAY');
    const t = this.peek();
    let delayMs: number;
    if (this.isWord(t, 'interval')) {
      const iv = this.primary();
      delayMs = (iv as { ms: number }).ms;
    } else if (t.kind === 'string') {
      this.next();
      delayMs = this.durationText(t.text, t);
    } else {
      this.fail(
        'SQL_PARSE',
        t,
        `expected an INTERVAL after DELAY OF (e.g. DELAY OF INTERVAL 10 SECONDS), got ${this.describe(t)}`,
      );
    }
    return { expr, alias, delayMs, span: this.span(start) };
  }

  // -- expressions -------------------------------------------------------------

  expr(): SqlExpr {
    return this.binary(1);
  }

  private binary(minPrec: number): SqlExpr {
    let left = this.prefix(minPrec);
    for (;;) {
      const t = this.peek();
      const start = left.span.start;
      if (minPrec <= 1 && this.isWord(t, 'or')) {
        this.next();
        const right = this.binary(2);
        left = { kind: 'binary', op: 'or', left, right, span: this.span(start) };
        continue;
      }
      if (minPrec <= 2 && this.isWord(t, 'and')) {
        this.next();
        const right = this.binary(3);
        left = { kind: 'binary', op: 'and', left, right, span: this.span(start) };
        continue;
      }
      if (minPrec <= 4) {
        const cmp = t.kind === 'op' ? COMPARISONS[t.text] : undefined;
        if (cmp) {
          this.next();
          const right = this.binary(5);
          left = { kind: 'binary', op: cmp, left, right, span: this.span(start) };
          continue;
        }
        const predicate = this.predicate(left);
        if (predicate) {
          left = predicate;
          continue;
        }
      }
      if (minPrec <= 5 && t.kind === 'op' && (t.text === '+' || t.text === '-' || t.text === '||')) {
        this.next();
        const right = this.binary(6);
        left = { kind: 'binary', op: t.text as SqlBinaryOp, left, right, span: this.span(start) };
        continue;
      }
      if (minPrec <= 6 && t.kind === 'op' && (t.text === '*' || t.text === '/' || t.text === '%')) {
        this.next();
        const right = this.binary(7);
        left = { kind: 'binary', op: t.text as SqlBinaryOp, left, right, span: this.span(start) };
        continue;
      }
      if (this.isWord(t, 'div')) this.unsupported(t, 'integer division DIV (use floor(a / b))');
      return left;
    }
  }

  /** IS [NOT] NULL, [NOT] BETWEEN, [NOT] IN, [NOT] LIKE / ILIKE / RLIKE after `left`, or undefined. */
  private predicate(left: SqlExpr): SqlExpr | undefined {
    const start = left.span.start;
    if (this.acceptWord('is')) {
      const negated = !!this.acceptWord('not');
      if (this.acceptWord('null')) return { kind: 'isNull', arg: left, negated, span: this.span(start) };
      if (this.acceptWord('distinct')) {
        this.expectWord('from', 'after IS DISTINCT');
        const right = this.binary(5);
        const same: SqlExpr = { kind: 'binary', op: '<=>', left, right, span: this.span(start) };
        return negated ? same : { kind: 'unary', op: 'not', arg: same, span: this.span(start) };
      }
      this.fail(
        'SQL_PARSE',
        this.peek(),
        `expected NULL or DISTINCT FROM after IS${negated ? ' NOT' : ''}, got ${this.describe(this.peek())}`,
      );
    }
    const save = this.pos;
    const negated = !!this.acceptWord('not');
    if (this.acceptWord('between')) {
      const low = this.binary(5);
      this.expectWord('and', 'in BETWEEN … AND …');
      const high = this.binary(5);
      return { kind: 'between', arg: left, low, high, negated, span: this.span(start) };
    }
    if (this.acceptWord('in')) {
      this.expectOp('(', 'after IN');
      if (this.atWord('select', 'with')) this.unsupported(this.peek(), 'a subquery in IN (…)');
      const list: SqlExpr[] = [];
      do list.push(this.expr());
      while (this.acceptOp(','));
      this.expectOp(')', 'to close IN (…');
      return { kind: 'in', arg: left, list, negated, span: this.span(start) };
    }
    const like = this.acceptWord('like', 'ilike', 'rlike', 'regexp');
    if (like) {
      const w = like.text.toLowerCase();
      if (this.atWord('any', 'all', 'some'))
        this.unsupported(this.peek(), `${w.toUpperCase()} ${this.peek().text.toUpperCase()}`);
      const pattern = this.binary(5);
      if (this.atWord('escape')) this.unsupported(this.peek(), 'LIKE … ESCAPE (the escape character is \\)');
      const fn = w === 'like' ? 'like' : w === 'ilike' ? 'ilike' : 'regexp_like';
      return { kind: 'like', fn, arg: left, pattern, negated, span: this.span(start) };
    }
    this.pos = save;
    return undefined;
  }

  private prefix(minPrec: number): SqlExpr {
    const t = this.peek();
    if (this.isWord(t, 'not') && minPrec <= 3) {
      this.next();
      const arg = this.binary(4);
      return { kind: 'unary', op: 'not', arg, span: this.span(t.start) };
    }
    if (t.kind === 'op' && (t.text === '-' || t.text === '+')) {
      this.next();
      const n = this.peek();
      if (t.text === '-' && n.kind === 'number' && n.start === t.end) {
        const lit = this.primary() as Extract<SqlExpr, { kind: 'literal' }>;
        return { ...lit, value: -(lit.value as number), span: this.span(t.start) };
      }
      const arg = this.binary(7);
      return t.text === '-' ? { kind: 'unary', op: 'neg', arg, span: this.span(t.start) } : arg;
    }
    return this.primary();
  }

  private primary(): SqlExpr {
    const t = this.peek();
    const start = t.start;
    switch (t.kind) {
      case 'number': {
        this.next();
        const integer = /^[0-9]+$/.test(t.text);
        const value = Number(t.text);
        if (integer && !Number.isSafeInteger(value)) {
          this.fail(
            'SQL_PARSE',
            t,
            `${t.text} is larger than the largest exact integer (${Number.MAX_SAFE_INTEGER})`,
          );
        }
        return { kind: 'literal', value, integer, span: t };
      }
      case 'string':
        this.next();
        return { kind: 'literal', value: t.text, span: t };
      case 'quoted':
        return this.identOrCall();
      case 'op':
        if (t.text === '(') {
          this.next();
          if (this.atWord('select', 'with')) this.unsupported(this.peek(), 'a scalar subquery');
          const e = this.expr();
          this.expectOp(')', 'to close "("');
          return { ...e, span: this.span(start) };
        }
        if (t.text === '*')
          return this.fail('SQL_PARSE', t, '* is only allowed alone in a select list or as count(*)');
        return this.fail('SQL_PARSE', t, `expected an expression, got ${this.describe(t)}`);
      case 'eof':
        return this.fail('SQL_PARSE', t, 'expected an expression, got the end of the text');
      case 'word':
        break;
    }
    const w = t.text.toLowerCase();
    if (w === 'null') {
      this.next();
      return { kind: 'literal', value: null, span: t };
    }
    if (w === 'true' || w === 'false') {
      this.next();
      return { kind: 'literal', value: w === 'true', span: t };
    }
    if (w === 'case') return this.caseExpr();
    if (w === 'cast' && this.peek(1).text === '(') return this.castExpr();
    if (w === 'interval') return this.interval();
    if ((w === 'timestamp' || w === 'date') && this.peek(1).kind === 'string') {
      this.next();
      const s = this.next();
      return { kind: 'typedLiteral', type: w, text: s.text, span: this.span(start) };
    }
    if (w === 'exists') this.unsupported(t, 'EXISTS (…)');
    if (CLAUSE_WORDS.has(w) && !(this.peek(1).text === '(' && (w === 'left' || w === 'right'))) {
      this.fail('SQL_PARSE', t, `expected an expression, got the keyword ${t.text.toUpperCase()}`);
    }
    return this.identOrCall();
  }

  private identOrCall(): SqlExpr {
    const first = this.next();
    if (this.peek().kind === 'op' && this.peek().text === '(' && first.kind === 'word')
      return this.call(first);
    const parts = [first.text];
    while (this.peek().text === '.' && this.peek().kind === 'op') {
      this.next();
      const t = this.peek();
      if (t.kind !== 'word' && t.kind !== 'quoted') {
        this.fail('SQL_PARSE', t, `expected a name after ".", got ${this.describe(t)}`);
      }
      this.next();
      parts.push(t.text);
    }
    return { kind: 'ident', parts, span: this.span(first.start) };
  }

  private call(nameTok: Token): SqlExpr {
    this.expectOp('(', 'after the function name');
    const args: SqlExpr[] = [];
    let star = false;
    let distinct = false;
    let closed = false;
    if (this.acceptOp('*')) star = true;
    else if (this.acceptOp(')')) closed = true;
    else {
      if (this.acceptWord('distinct')) distinct = true;
      else this.acceptWord('all');
      do args.push(this.expr());
      while (this.acceptOp(','));
    }
    if (!closed) this.expectOp(')', `to close ${nameTok.text}(…`);
    let filter: SqlExpr | null = null;
    if (this.atWord('filter') && this.peek(1).text === '(') {
      this.next();
      this.next();
      this.expectWord('where', 'in FILTER (WHERE …)');
      filter = this.expr();
      this.expectOp(')', 'to close FILTER (WHERE …');
    }
    if (this.atWord('over'))
      this.unsupported(this.peek(), 'a window function (OVER …); group by window(…) instead');
    if (this.atWord('within', 'respect', 'ignore'))
      this.unsupported(this.peek(), `${this.peek().text.toUpperCase()} after a function call`);
    return {
      kind: 'call',
      name: nameTok.text,
      nameSpan: nameTok,
      args,
      star,
      distinct,
      filter,
      span: this.span(nameTok.start),
    };
  }

  private caseExpr(): SqlExpr {
    const start = this.next().start;
    const operand = this.atWord('when') ? null : this.expr();
    const branches: { when: SqlExpr; then: SqlExpr }[] = [];
    while (this.acceptWord('when')) {
      const when = this.expr();
      this.expectWord('then', 'after CASE … WHEN <condition>');
      branches.push({ when, then: this.expr() });
    }
    if (branches.length === 0)
      this.fail('SQL_PARSE', this.peek(), `expected WHEN in CASE, got ${this.describe(this.peek())}`);
    const otherwise = this.acceptWord('else') ? this.expr() : null;
    this.expectWord('end', 'to close CASE');
    return { kind: 'case', operand, branches, otherwise, span: this.span(start) };
  }

  private castExpr(): SqlExpr {
    const start = this.next().start;
    this.expectOp('(', 'after CAST');
    const arg = this.expr();
    this.expectWord('as', 'in CAST(<value> AS <type>)');
    const typeStart = this.peek().start;
    const tt = this.peek();
    if (tt.kind !== 'word')
      this.fail('SQL_PARSE', tt, `expected a type name after AS, got ${this.describe(tt)}`);
    this.next();
    const type = tt.text.toLowerCase();
    // VARCHAR(10), DECIMAL(10, 2): the parameters are read and checked by the binder's type table.
    if (this.acceptOp('(')) {
      while (!this.acceptOp(')')) {
        if (this.atEof()) this.fail('SQL_PARSE', this.peek(), 'expected ")" to close the type parameters');
        this.next();
      }
    }
    const typeSpan = this.span(typeStart);
    this.expectOp(')', 'to close CAST(…');
    return { kind: 'cast', arg, type, typeSpan, span: this.span(start) };
  }

  /** INTERVAL 10 SECONDS, INTERVAL 1 HOUR 30 MINUTES, INTERVAL '10' SECOND, INTERVAL '10 seconds'. */
  private interval(): SqlExpr {
    const start = this.next().start;
    let ms = 0;
    let parts = 0;
    for (;;) {
      const t = this.peek();
      const negative = t.kind === 'op' && t.text === '-';
      const v = negative ? this.peek(1) : t;
      if (v.kind === 'string' && !negative && !this.isUnit(this.peek(1))) {
        this.next();
        ms += this.durationText(v.text, v);
        parts++;
        continue;
      }
      if (v.kind !== 'number' && v.kind !== 'string') break;
      const u = negative ? this.peek(2) : this.peek(1);
      if (!this.isUnit(u)) {
        this.fail(
          'SQL_PARSE',
          u,
          `expected a unit (SECONDS, MINUTES, HOURS, DAYS, …) after INTERVAL ${v.text}, got ${this.describe(u)}`,
        );
      }
      this.pos += negative ? 3 : 2;
      const n = Number(v.text);
      if (!Number.isFinite(n))
        this.fail('SQL_PARSE', v, `"${v.text}" is not a number of ${u.text.toLowerCase()}`);
      ms += (negative ? -1 : 1) * this.unitMs(u) * n;
      parts++;
    }
    if (parts === 0) {
      this.fail(
        'SQL_PARSE',
        this.peek(),
        `expected a duration after INTERVAL (e.g. INTERVAL 10 SECONDS), got ${this.describe(this.peek())}`,
      );
    }
    return { kind: 'interval', ms, span: this.span(start) };
  }

  private isUnit(t: Token): boolean {
    if (t.kind !== 'word') return false;
    const u = t.text.toLowerCase();
    return /^(millisecond|second|minute|hour|day|week|month|year|microsecond)s?$/.test(u);
  }

  private unitMs(t: Token): number {
    const u = t.text.toLowerCase().replace(/s$/, '');
    if (u === 'month' || u === 'year') {
      this.unsupported(t, `an interval in ${u}s (their length varies; give days)`);
    }
    if (u === 'microsecond') this.unsupported(t, 'an interval in microseconds (times are milliseconds)');
    return parseDuration(`1 ${u}`, 'INTERVAL');
  }

  /** '10 seconds', '1 hour 30 minutes': the engine's duration text, summed. */
  durationText(text: string, at: Span): number {
    const parts = text.trim().match(/-?\d+(?:\.\d+)?\s*[A-Za-z]+/g);
    const rest = text.replace(/-?\d+(?:\.\d+)?\s*[A-Za-z]+/g, '').trim();
    if (!parts || rest !== '') {
      this.fail(
        'SQL_PARSE',
        at,
        `'${text}' is not a duration; write e.g. '10 seconds' or '1 hour 30 minutes'`,
      );
    }
    let ms = 0;
    for (const p of parts) {
      try {
        ms += p.startsWith('-') ? -parseDuration(p.slice(1), 'INTERVAL') : parseDuration(p, 'INTERVAL');
      } catch (e) {
        this.fail('SQL_PARSE', at, `'${text}' is not a duration: ${(e as Error).message}`);
      }
    }
    return ms;
  }
}
