/**
 * The parser alone: every statement kind, operator precedence, literals and the streaming clauses,
 * read into the syntax tree with the spans errors point at.
 */
import { describe, expect, it } from 'vitest';
import { parseStatements } from '../../src/sql/parser.ts';
import type { QueryBody, SqlExpr, Statement } from '../../src/sql/ast.ts';
import { MillraceError, createSession, memoryStream, schema, t } from '../../src/index.ts';

const one = (text: string): Statement => {
  const s = parseStatements(text);
  expect(s).toHaveLength(1);
  return s[0]!;
};
const selectOf = (text: string) => {
  const s = one(text);
  if (s.kind !== 'query' || s.query.body.kind !== 'select') throw new Error('not a SELECT');
  return s.query.body;
};
const whereOf = (cond: string): SqlExpr => selectOf(`SELECT a FROM s WHERE ${cond}`).where!;

/** An expression as a fully parenthesised string, to check precedence. */
function show(e: SqlExpr): string {
  switch (e.kind) {
    case 'ident':
      return e.parts.join('.');
    case 'literal':
      return typeof e.value === 'string' ? `'${e.value}'` : String(e.value);
    case 'interval':
      return `${e.ms}ms`;
    case 'binary':
      return `(${show(e.left)} ${e.op} ${show(e.right)})`;
    case 'unary':
      return `(${e.op} ${show(e.arg)})`;
    case 'isNull':
      return `(${show(e.arg)} IS ${e.negated ? 'NOT ' : ''}NULL)`;
    case 'between':
      return `(${show(e.arg)} ${e.negated ? 'NOT ' : ''}BETWEEN ${show(e.low)} AND ${show(e.high)})`;
    case 'in':
      return `(${show(e.arg)} ${e.negated ? 'NOT ' : ''}IN ${e.list.map(show).join(',')})`;
    case 'like':
      return `(${show(e.arg)} ${e.negated ? 'NOT ' : ''}${e.fn} ${show(e.pattern)})`;
    case 'call':
      return `${e.name}(${e.distinct ? 'DISTINCT ' : ''}${e.star ? '*' : e.args.map(show).join(',')})${e.filter ? ` FILTER ${show(e.filter)}` : ''}`;
    case 'cast':
      return `CAST(${show(e.arg)} AS ${e.type})`;
    case 'case':
      return `CASE ${e.operand ? show(e.operand) + ' ' : ''}${e.branches.map((b) => `WHEN ${show(b.when)} THEN ${show(b.then)}`).join(' ')}${e.otherwise ? ` ELSE ${show(e.otherwise)}` : ''} END`;
    case 'typedLiteral':
      return `${e.type} '${e.text}'`;
    case 'star':
      return `${e.qualifier ? e.qualifier + '.' : ''}*`;
  }
}

describe('statements', () => {
  it('SELECT with every clause', () => {
    const s = selectOf(
      "SELECT DISTINCT a, b AS x, c y, t.* FROM STREAM s AS t WATERMARK ts DELAY OF INTERVAL 5 SECONDS WHERE a > 1 GROUP BY a, window(ts, '1 minute') HAVING count(*) > 2",
    );
    expect(s.distinct).toBe(true);
    expect(s.items.map((i) => [show(i.expr), i.alias])).toEqual([
      ['a', null],
      ['b', 'x'],
      ['c', 'y'],
      ['t.*', null],
    ]);
    expect(s.from).toMatchObject({ kind: 'table', name: 's', stream: true, alias: 't' });
    expect(s.from.kind === 'table' && s.from.watermark).toMatchObject({ delayMs: 5000, alias: null });
    expect(s.groupBy.map(show)).toEqual(['a', "window(ts,'1 minute')"]);
    expect(show(s.having!)).toBe('(count(*) > 2)');
  });

  it('STREAM(name), a watermark after the alias, and WATERMARK expr AS name', () => {
    expect(selectOf('SELECT * FROM STREAM(bids)').from).toMatchObject({
      kind: 'table',
      name: 'bids',
      stream: true,
    });
    const f = selectOf(
      "SELECT * FROM bids b WATERMARK to_timestamp(t) AS ts DELAY OF '1 hour 30 minutes'",
    ).from;
    expect(f).toMatchObject({ alias: 'b', watermark: { alias: 'ts', delayMs: 90 * 60_000 } });
  });

  it('CREATE [OR REPLACE] TEMPORARY VIEW, and several statements separated by ;', () => {
    const s = parseStatements(`
      -- a comment
      CREATE TEMPORARY VIEW big AS SELECT * FROM bids WHERE price > 10;
      CREATE OR REPLACE TEMP VIEW big AS SELECT * FROM bids; /* another */
      SELECT * FROM big;;`);
    expect(s.map((x) => [x.kind, x.kind === 'createView' ? [x.name, x.orReplace] : null])).toEqual([
      ['createView', ['big', false]],
      ['createView', ['big', true]],
      ['query', null],
    ]);
  });

  it('WITH, subqueries in FROM and UNION ALL chains (left-associative)', () => {
    const s = one(
      'WITH a AS (SELECT x FROM s), b AS (SELECT x FROM a) SELECT x FROM (SELECT x FROM b) q UNION ALL SELECT x FROM a UNION ALL (SELECT x FROM b)',
    );
    if (s.kind !== 'query') throw new Error('not a query');
    expect(s.query.with.map((w) => w.name)).toEqual(['a', 'b']);
    const shape = (b: QueryBody): string =>
      b.kind === 'select'
        ? b.from.kind === 'subquery'
          ? 'sub'
          : (b.from as { name: string }).name
        : `(${shape(b.left)} + ${shape(b.right)})`;
    expect(shape(s.query.body)).toBe('((sub + a) + b)');
  });

  it('joins: types, ON and USING, left to right', () => {
    const s = selectOf(
      'SELECT * FROM a JOIN b ON a.k = b.k LEFT OUTER JOIN c USING (k, j) LEFT SEMI JOIN d ON true FULL JOIN e ON 1 = 1 RIGHT JOIN f ON 1 = 1 INNER JOIN g ON 1 = 1',
    );
    const types: string[] = [];
    let f = s.from;
    while (f.kind === 'join') {
      types.unshift(`${f.type}${f.using.length ? `(${f.using.map((u) => u.name).join(',')})` : ''}`);
      f = f.left;
    }
    expect(types).toEqual(['inner', 'leftOuter(k,j)', 'leftSemi', 'fullOuter', 'rightOuter', 'inner']);
  });
});

describe('expressions', () => {
  it('precedence: OR < AND < NOT < comparison < + - || < * / % < unary minus', () => {
    expect(show(whereOf('a OR b AND NOT c = 1 + 2 * -d'))).toBe(
      '(a or (b and (not (c = (1 + (2 * (neg d)))))))',
    );
    expect(show(whereOf("a || 'x' = 'y' OR a <> b AND a <=> b"))).toBe(
      "(((a || 'x') = 'y') or ((a != b) and (a <=> b)))",
    );
    expect(show(whereOf('(a OR b) AND c'))).toBe('((a or b) and c)');
    expect(show(whereOf('a - b - c = a / b % c'))).toBe('(((a - b) - c) = ((a / b) % c))');
  });

  it('predicates: IS [NOT] NULL, [NOT] BETWEEN, [NOT] IN, [NOT] LIKE/ILIKE/RLIKE, IS [NOT] DISTINCT FROM', () => {
    expect(show(whereOf('a IS NOT NULL AND b IS NULL'))).toBe('((a IS NOT NULL) and (b IS NULL))');
    expect(show(whereOf('a NOT BETWEEN 1 AND 2 AND b BETWEEN c AND d + 1'))).toBe(
      '((a NOT BETWEEN 1 AND 2) and (b BETWEEN c AND (d + 1)))',
    );
    expect(show(whereOf("a NOT IN (1, 2) OR b IN ('x')"))).toBe("((a NOT IN 1,2) or (b IN 'x'))");
    expect(show(whereOf("a LIKE 'x%' AND a NOT ILIKE 'y' AND a RLIKE '\\\\d+' AND a REGEXP 'z'"))).toBe(
      "((((a like 'x%') and (a NOT ilike 'y')) and (a regexp_like '\\d+')) and (a regexp_like 'z'))",
    );
    expect(show(whereOf('a IS DISTINCT FROM b AND a IS NOT DISTINCT FROM c'))).toBe(
      '((not (a <=> b)) and (a <=> c))',
    );
  });

  it('literals: numbers, strings with escapes, booleans, NULL, TIMESTAMP/DATE, INTERVAL forms', () => {
    const items = selectOf(
      `SELECT 42, 4.5, 1e3, -7, .5, 'it''s', "say \\"hi\\"", 'tab\\there', TRUE, false, NULL,
              TIMESTAMP '2024-01-31 10:00:00', DATE '2024-01-31',
              INTERVAL 10 SECONDS, INTERVAL '1' HOUR, INTERVAL '90 seconds', INTERVAL 1 HOUR 30 MINUTES, INTERVAL 250 MILLISECONDS
       FROM s`,
    ).items.map((i) => i.expr);
    expect(items.map((e) => (e.kind === 'literal' ? [e.value, e.integer ?? null] : show(e)))).toEqual([
      [42, true],
      [4.5, false],
      [1000, false],
      [-7, true],
      [0.5, false],
      ["it's", null],
      ['say "hi"', null],
      ['tab\there', null],
      [true, null],
      [false, null],
      [null, null],
      "timestamp '2024-01-31 10:00:00'",
      "date '2024-01-31'",
      '10000ms',
      '3600000ms',
      '90000ms',
      '5400000ms',
      '250ms',
    ]);
  });

  it('CASE (searched and simple), CAST with type parameters, calls with DISTINCT, *, FILTER', () => {
    const items = selectOf(
      `SELECT CASE WHEN a > 1 THEN 'x' ELSE 'y' END, CASE a WHEN 1 THEN 'one' END, CAST(a AS VARCHAR(10)),
              count(*), count(DISTINCT a, b), sum(a) FILTER (WHERE a > 0), now(), \`odd name\`, window.end
       FROM s`,
    ).items.map((i) => show(i.expr));
    expect(items).toEqual([
      "CASE WHEN (a > 1) THEN 'x' ELSE 'y' END",
      "CASE a WHEN 1 THEN 'one' END",
      'CAST(a AS varchar)',
      'count(*)',
      'count(DISTINCT a,b)',
      'sum(a) FILTER (a > 0)',
      'now()',
      'odd name',
      'window.end',
    ]);
  });

  it('spans cover the text of each node', () => {
    const text = 'SELECT upper(url) AS u FROM bids';
    const item = selectOf(text).items[0]!;
    expect(text.slice(item.expr.span.start, item.expr.span.end)).toBe('upper(url)');
    expect(text.slice(item.span.start, item.span.end)).toBe('upper(url) AS u');
  });
});

describe('views and session.sql', () => {
  const setup = () => {
    const session = createSession();
    const s = session.readStream(memoryStream(schema({ a: t.long, b: t.string })));
    return { session, s };
  };

  it('view names are case-insensitive; createOrReplaceTempView replaces; CREATE OR REPLACE too', () => {
    const { session, s } = setup();
    s.createOrReplaceTempView('Events');
    expect(session.sql('SELECT a FROM EVENTS').schema.names).toEqual(['a']);
    s.select('b').createOrReplaceTempView('events');
    expect(session.sql('SELECT * FROM events').schema.names).toEqual(['b']);
    // The new definition reads the old one (bound before the name is replaced).
    session.sql('CREATE OR REPLACE TEMPORARY VIEW events AS SELECT b, upper(b) AS c FROM events');
    expect(session.sql('SELECT * FROM events').schema.names).toEqual(['b', 'c']);
  });

  it('a CREATE returns the view; WITH names do not outlive their statement', () => {
    const { session, s } = setup();
    s.createOrReplaceTempView('events');
    const v = session.sql('CREATE TEMPORARY VIEW doubled AS SELECT a * 2 AS a2 FROM events');
    expect(v.schema.names).toEqual(['a2']);
    expect(session.tempViews.names()).toEqual(['events', 'doubled']);
    session.sql('WITH w AS (SELECT a FROM events) SELECT a FROM w');
    expect(() => session.sql('SELECT * FROM w')).toThrow(/no stream or table named "w"/);
  });

  it('bad registrations are refused', () => {
    const { session, s } = setup();
    expect(() => s.createOrReplaceTempView('1bad')).toThrow(MillraceError);
    expect(() => createSession().createOrReplaceTempView('x', s)).toThrow(/belongs to another session/);
    expect(() => session.createOrReplaceTempView('x', {} as never)).toThrow(/give a Stream or a table/);
    expect(() => session.sql(42 as never)).toThrow(/give the SQL text as a string/);
  });
});
