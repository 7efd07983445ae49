/**
 * Every Stream operator, driven through the public harness (testStream) with
 * memory sources and sinks: what each operator computes, the schema it
 * derives, the plans explain() shows and the errors bad definitions raise.
 */
import { describe, expect, it } from 'vitest';
import {
  MillraceError,
  type Row,
  coalesce,
  col,
  createSession,
  lit,
  memorySink,
  memoryStream,
  schema,
  t,
  udf,
  when,
} from '../../src/index.ts';
import { testStream } from '../../src/testing/index.ts';

const people = schema({ id: t.long, name: t.string, age: t.long.orNull(), score: t.double });
type Person = { id: number; name: string; age: number | null; score: number };

function setup(name?: string) {
  const session = createSession();
  const input = memoryStream(people, name ? { name } : {});
  const stream = session.readStream(input);
  return { session, input, stream };
}

const ann: Person = { id: 1, name: 'ann', age: 30, score: 1.5 };
const bob: Person = { id: 2, name: 'bob', age: null, score: 2 };
const cid: Person = { id: 3, name: 'cid', age: 17, score: -1 };

/** Runs `fn`, which must throw a MillraceError; returns it. */
function thrown(fn: () => unknown): MillraceError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MillraceError);
    return e as MillraceError;
  }
  throw new Error('expected a MillraceError, nothing was thrown');
}

describe('select', () => {
  it('by names: keeps those columns in the given order', async () => {
    const { input, stream } = setup();
    const out = stream.select('name', 'id');
    expect(out.schema.names).toEqual(['name', 'id']);
    await testStream(out)
      .addData(input, ann, bob)
      .checkNewRows([
        { name: 'ann', id: 1 },
        { name: 'bob', id: 2 },
      ])
      .assert('column order', (_q, sink) => {
        expect(Object.keys(sink.lastBatch()[0]!)).toEqual(['name', 'id']);
      })
      .run();
  });

  it('by a $ function: computes typed columns, derives types and nullability', async () => {
    const { input, stream } = setup();
    const out = stream.select(($) => ({
      who: $.name,
      next: $.age.plus(1),
      half: $.score.div(2),
      adult: $.age.ge(18),
      label: lit('x'),
    }));
    expect(out.schema.fields.map((f) => [f.name, f.type.kind, f.nullable])).toEqual([
      ['who', 'string', false],
      ['next', 'long', true],
      ['half', 'double', false],
      ['adult', 'boolean', true],
      ['label', 'string', false],
    ]);
    await testStream(out)
      .addData(input, ann, bob, cid)
      .checkNewRows([
        { who: 'ann', next: 31, half: 0.75, adult: true, label: 'x' },
        { who: 'bob', next: null, half: 1, adult: null, label: 'x' },
        { who: 'cid', next: 18, half: -0.5, adult: false, label: 'x' },
      ])
      .run();
  });

  it('untyped: names and Columns with .as(); an un-aliased expression is named after its text', async () => {
    const { input, stream } = setup();
    const out = stream.select('id', col('name').as('n'), col<number>('score').mul(10));
    expect(out.schema.names).toEqual(['id', 'n', '(score * 10)']);
    await testStream(out)
      .addData(input, ann)
      .checkNewRows([{ id: 1, n: 'ann', '(score * 10)': 15 }])
      .run();
  });

  it('with when/coalesce/udf expressions', async () => {
    const { input, stream } = setup();
    const shout = udf('shout', t.string, (s: string) => s.toUpperCase() + '!');
    const out = stream.select(($) => ({
      id: $.id,
      age: coalesce($.age, -1),
      band: when($.age.lt(18), 'minor').when($.age.ge(18), 'adult').otherwise('unknown'),
      loud: shout($.name),
    }));
    await testStream(out)
      .addData(input, ann, bob, cid)
      .checkNewRows([
        { id: 1, age: 30, band: 'adult', loud: 'ANN!' },
        { id: 2, age: -1, band: 'unknown', loud: 'BOB!' },
        { id: 3, age: 17, band: 'minor', loud: 'CID!' },
      ])
      .run();
  });

  it('an unknown column name fails at definition time, listing the available columns', () => {
    const { stream } = setup();
    for (const define of [
      () => stream.select('nope' as 'id'),
      () => stream.select('id', col('nope')),
      () => stream.select(() => ({ x: col('nope') })),
      () => stream.col('nope' as 'id'),
    ]) {
      const e = thrown(define);
      expect(e.code).toBe('UNKNOWN_COLUMN');
      expect(e.domain).toBe('user');
      expect(e.message).toContain('"nope"');
      expect(e.message).toContain('id, name, age, score');
    }
  });

  it('a type error in an expression fails at definition time with the expression quoted', () => {
    const { stream } = setup();
    const e = thrown(() => stream.select(() => ({ x: col<number>('name').mul(2) })));
    expect(e.code).toBe('INVALID_EXPRESSION');
    expect(e.message).toContain('(name * 2)');
    expect(e.message).toContain('string');
  });

  it('no columns at all is an error', () => {
    const { stream } = setup();
    expect(thrown(() => stream.select()).code).toBe('INVALID_PLAN');
  });
});

describe('withColumn', () => {
  it('adds a column at the end', async () => {
    const { input, stream } = setup();
    const out = stream.withColumn('double', ($) => $.score.mul(2));
    expect(out.schema.names).toEqual(['id', 'name', 'age', 'score', 'double']);
    await testStream(out)
      .addData(input, ann)
      .checkNewRows([{ ...ann, double: 3 }])
      .run();
  });

  it('replaces a column in place, keeping the column order', async () => {
    const { input, stream } = setup();
    const out = stream.withColumn('name', col<string>('id').cast('string'));
    expect(out.schema.names).toEqual(['id', 'name', 'age', 'score']);
    await testStream(out)
      .addData(input, ann, bob)
      .checkNewRows([
        { id: 1, name: '1', age: 30, score: 1.5 },
        { id: 2, name: '2', age: null, score: 2 },
      ])
      .assert('order kept', (_q, sink) =>
        expect(Object.keys(sink.lastBatch()[0]!)).toEqual(['id', 'name', 'age', 'score']),
      )
      .run();
  });

  it('a replaced column can read its old value', async () => {
    const { input, stream } = setup();
    await testStream(stream.withColumn('score', ($) => $.score.plus(1)).select('id', 'score'))
      .addData(input, ann, cid)
      .checkNewRows([
        { id: 1, score: 2.5 },
        { id: 3, score: 0 },
      ])
      .run();
  });

  it('rejects something that is not a Column, and unknown columns inside the value', () => {
    const { stream } = setup();
    expect(thrown(() => stream.withColumn('x', 5 as never)).code).toBe('INVALID_ARGUMENT');
    const e = thrown(() => stream.withColumn('x', col('nope')));
    expect(e.code).toBe('UNKNOWN_COLUMN');
    expect(e.message).toContain('id, name, age, score');
  });
});

describe('withColumnRenamed', () => {
  it('renames in place and keeps values', async () => {
    const { input, stream } = setup();
    const out = stream.withColumnRenamed('name', 'who');
    expect(out.schema.names).toEqual(['id', 'who', 'age', 'score']);
    expect(out.schema.field('who')).toEqual({ name: 'who', type: { kind: 'string' }, nullable: false });
    expect(out.schema.field('age')?.nullable).toBe(true);
    await testStream(out)
      .addData(input, ann)
      .checkNewRows([{ id: 1, who: 'ann', age: 30, score: 1.5 }])
      .run();
  });

  it('an unknown column is an error naming the available columns', () => {
    const { stream } = setup();
    const e = thrown(() => stream.withColumnRenamed('nope' as 'id', 'x'));
    expect(e.code).toBe('UNKNOWN_COLUMN');
    expect(e.message).toContain('withColumnRenamed');
    expect(e.message).toContain('id, name, age, score');
  });

  it('renaming onto an existing column is a duplicate-column error', () => {
    const { stream } = setup();
    expect(thrown(() => stream.withColumnRenamed('name', 'id')).code).toBe('DUPLICATE_COLUMN');
  });
});

describe('drop', () => {
  it('removes columns and keeps the order of the rest', async () => {
    const { input, stream } = setup();
    const out = stream.drop('age', 'id');
    expect(out.schema.names).toEqual(['name', 'score']);
    await testStream(out)
      .addData(input, ann, bob)
      .checkNewRows([
        { name: 'ann', score: 1.5 },
        { name: 'bob', score: 2 },
      ])
      .run();
  });

  it('an unknown column is an error naming the available columns (a typo should not pass)', () => {
    const { stream } = setup();
    const e = thrown(() => stream.drop('age', 'nope' as 'id'));
    expect(e.code).toBe('UNKNOWN_COLUMN');
    expect(e.message).toContain('drop');
    expect(e.message).toContain('"nope"');
    expect(e.message).toContain('id, name, age, score');
  });

  it('dropping every column is an error', () => {
    const { stream } = setup();
    expect(thrown(() => stream.drop('id', 'name', 'age', 'score')).code).toBe('INVALID_PLAN');
  });
});

describe('filter / where', () => {
  it('keeps rows where the condition is true; null counts as false', async () => {
    const { input, stream } = setup();
    // age is null for bob: age >= 18 is null, so bob is dropped — and also by its negation.
    await testStream(stream.filter(($) => $.age.ge(18)).select('id'))
      .addData(input, ann, bob, cid)
      .checkNewRows([{ id: 1 }])
      .run();
    const second = setup();
    await testStream(second.stream.where(($) => $.age.ge(18).not()).select('id'))
      .addData(second.input, ann, bob, cid)
      .checkNewRows([{ id: 3 }])
      .run();
  });

  it('where is filter; Column and function forms agree; three-valued OR keeps true-or-null', async () => {
    const { input, stream } = setup();
    const out = stream
      .where(col<number | null>('age').gt(10).or(col<string>('name').eq('bob')))
      .filter(($) => $.score.ge(0));
    await testStream(out).addData(input, ann, bob, cid).checkNewRows([ann, bob]).run();
  });

  it('a literal null condition drops every row; isNull finds the nulls', async () => {
    const { input, stream } = setup();
    await testStream(stream.filter(lit(null)))
      .addData(input, ann, bob)
      .checkNewRows([])
      .run();
    const s2 = setup();
    await testStream(s2.stream.filter(($) => $.age.isNull()).select('name'))
      .addData(s2.input, ann, bob, cid)
      .checkNewRows([{ name: 'bob' }])
      .run();
  });

  it('a non-boolean condition is rejected at definition time', () => {
    const { stream } = setup();
    const e = thrown(() => stream.filter(col('score') as never));
    expect(e.code).toBe('INVALID_PLAN');
    expect(e.message).toContain('double');
    expect(e.message).toContain('not boolean');
    expect(thrown(() => stream.filter(42 as never)).code).toBe('INVALID_ARGUMENT');
    const unknown = thrown(() => stream.where(col<number>('nope').gt(1)));
    expect(unknown.code).toBe('UNKNOWN_COLUMN');
    expect(unknown.message).toContain('id, name, age, score');
  });
});

describe('map / flatMap', () => {
  const words = schema({ word: t.string, len: t.long });

  it('map: a typed function per row with an output schema', async () => {
    const { input, stream } = setup();
    const out = stream.map((p) => ({ word: p.name.toUpperCase(), len: p.name.length + p.id }), words, {
      name: 'upper',
    });
    expect(out.schema).toBe(words);
    expect(out.explain()).toContain('Map upper');
    await testStream(out)
      .addData(input, ann, cid)
      .checkNewRows([
        { word: 'ANN', len: 4 },
        { word: 'CID', len: 6 },
      ])
      .run();
  });

  it('flatMap: zero, one or many rows per input row', async () => {
    const session = createSession();
    const lines = memoryStream(schema({ line: t.string }));
    const out = session.readStream(lines).flatMap(function split(r) {
      return r.line
        .split(' ')
        .filter((w) => w.length > 0)
        .map((w) => ({ word: w, len: w.length }));
    }, words);
    expect(out.explain()).toContain('FlatMap split');
    await testStream(out)
      .addData(lines, { line: 'a bb ccc' }, { line: '' }, { line: 'dddd' })
      .checkNewRows(
        [
          { word: 'a', len: 1 },
          { word: 'bb', len: 2 },
          { word: 'ccc', len: 3 },
          { word: 'dddd', len: 4 },
        ],
        { ordered: true },
      )
      .addData(lines, { line: '   ' })
      .checkNewRows([])
      .run();
  });

  it('flatMap accepts any iterable (a generator)', async () => {
    const session = createSession();
    const n = memoryStream(schema({ n: t.long }));
    const out = session.readStream(n).flatMap(
      function* (r) {
        for (let i = 0; i < r.n; i++) yield { i };
      },
      schema({ i: t.long }),
    );
    await testStream(out)
      .addData(n, { n: 3 }, { n: 0 }, { n: 1 })
      .checkNewRows([{ i: 0 }, { i: 1 }, { i: 2 }, { i: 0 }], { ordered: true })
      .run();
  });

  it('a filter after a flatMap drops only the produced rows that fail it', async () => {
    const session = createSession();
    const lines = memoryStream(schema({ line: t.string }));
    const out = session
      .readStream(lines)
      .flatMap((r) => r.line.split(' ').map((w) => ({ word: w, len: w.length })), words)
      .filter(($) => $.len.gt(1))
      .select(($) => ({ w: $.word }));
    expect(out.explain().match(/\*Pipeline/g)).toHaveLength(1);
    await testStream(out)
      .addData(lines, { line: 'a bb c dd' }, { line: 'e fff' })
      .checkNewRows([{ w: 'bb' }, { w: 'dd' }, { w: 'fff' }], { ordered: true })
      .run();
  });

  it('map and flatMap after select see the projected row', async () => {
    const { input, stream } = setup();
    const seen: Row[] = [];
    const out = stream.select('id', 'name').map((r) => {
      seen.push(r);
      return { word: r.name, len: r.id };
    }, words);
    await testStream(out)
      .addData(input, ann)
      .checkNewRows([{ word: 'ann', len: 1 }])
      .run();
    expect(seen).toEqual([{ id: 1, name: 'ann' }]);
  });

  it('map/flatMap without a function or schema are rejected at definition time', () => {
    const { stream } = setup();
    expect(thrown(() => stream.map((r) => r, undefined as never)).code).toBe('INVALID_PLAN');
    expect(thrown(() => stream.flatMap(5 as never, words)).code).toBe('INVALID_PLAN');
    expect(thrown(() => stream.map((r) => r, undefined as never)).message).toContain('schema(');
  });

  it('a user function that throws fails the query with OPERATOR_FAILED', async () => {
    const { input, stream } = setup();
    const out = stream.map(function boom(p) {
      if (p.id === 2) throw new Error('bad row 2');
      return { word: p.name, len: 0 };
    }, words);
    await testStream(out)
      .addData(input, ann)
      .checkNewRows([{ word: 'ann', len: 0 }])
      .addData(input, bob)
      .expectFailure({ code: 'OPERATOR_FAILED', message: 'bad row 2' })
      .run();
  });

  it('the OPERATOR_FAILED error reaches awaitTermination and exception, with batch and operator context', async () => {
    const { session, input, stream } = setup();
    const out = stream.flatMap(() => {
      throw new TypeError('kaput');
    }, words);
    const q = await out.writeStream({ sink: memorySink() }).start();
    input.addData(ann);
    const err = await q.awaitTermination(10_000).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(MillraceError);
    const e = err as MillraceError;
    expect(e.code).toBe('OPERATOR_FAILED');
    expect(e.message).toContain('kaput');
    expect(e.message).toContain('FlatMap');
    expect(e.context).toMatchObject({ batch: 0, operator: 'pipeline' });
    expect(e.cause).toBeInstanceOf(TypeError);
    expect(q.exception).toBe(e);
    expect(q.isActive).toBe(false);
    expect(session.streams.active).toEqual([]);
  });

  it('a udf that throws fails the query with OPERATOR_FAILED', async () => {
    const { input, stream } = setup();
    const bad = udf('bad', t.long, (n: number) => {
      if (n > 1) throw new RangeError('too big');
      return n;
    });
    await testStream(stream.select(($) => ({ v: bad($.id) })))
      .addData(input, ann, bob)
      .expectFailure({ code: 'OPERATOR_FAILED', message: /too big/ })
      .run();
  });
});

describe('union', () => {
  it('rows of both streams, without deduplication', async () => {
    const session = createSession();
    const a = memoryStream(people, { name: 'a' });
    const b = memoryStream(people, { name: 'b' });
    const out = session.readStream(a).union(session.readStream(b)).select('id', 'name');
    await testStream(out)
      .addData(a, ann)
      .addData(b, bob, ann)
      .checkNewRows([
        { id: 1, name: 'ann' },
        { id: 2, name: 'bob' },
        { id: 1, name: 'ann' },
      ])
      .addData(b, cid)
      .checkNewRows([{ id: 3, name: 'cid' }])
      .addData(a, cid)
      .checkNewRows([{ id: 3, name: 'cid' }])
      .run();
  });

  it('each side runs its own pipeline; the result is nullable where either side is', async () => {
    const session = createSession();
    const a = memoryStream(schema({ v: t.long }), { name: 'left' });
    const b = memoryStream(schema({ v: t.long.orNull() }), { name: 'right' });
    const left = session.readStream(a).select(($) => ({ v: $.v.mul(10) }));
    const right = session.readStream(b).filter(($) => $.v.isNotNull());
    const out = left.union(right as never);
    expect(out.schema.field('v')?.nullable).toBe(true);
    const plan = out.explain();
    expect(plan).toContain('Union');
    expect(plan.match(/\*Pipeline/g)).toHaveLength(2);
    await testStream(out)
      .addData(a, { v: 1 }, { v: 2 })
      .addData(b, { v: null }, { v: 7 })
      .checkNewRows([{ v: 10 }, { v: 20 }, { v: 7 }])
      .run();
  });

  it('a union of three streams', async () => {
    const session = createSession();
    const s = [1, 2, 3].map((i) => memoryStream(schema({ v: t.long }), { name: `u${i}` }));
    const [x, y, z] = s.map((m) => session.readStream(m));
    await testStream(x!.union(y!, z!))
      .addData(s[0]!, { v: 1 })
      .addData(s[1]!, { v: 2 })
      .addData(s[2]!, { v: 3 })
      .checkNewRows([{ v: 1 }, { v: 2 }, { v: 3 }])
      .run();
  });

  it('different columns, order or types are rejected naming both schemas', () => {
    const session = createSession();
    const a = session.readStream(memoryStream(schema({ id: t.long, name: t.string })));
    const reordered = session.readStream(memoryStream(schema({ name: t.string, id: t.long })));
    const retyped = session.readStream(memoryStream(schema({ id: t.string, name: t.string })));
    const fewer = session.readStream(memoryStream(schema({ id: t.long })));
    for (const other of [reordered, retyped, fewer]) {
      const e = thrown(() => a.union(other as never));
      expect(e.code).toBe('INVALID_PLAN');
      expect(e.message).toContain('union');
      expect(e.message).toContain('[id: long, name: string]');
    }
  });
});

describe('explain and printSchema', () => {
  it('chained stateless operators fuse into one *Pipeline', () => {
    const { stream } = setup('people');
    const out = stream
      .filter(($) => $.score.gt(0))
      .withColumn('twice', ($) => $.score.mul(2))
      .withColumnRenamed('name', 'who')
      .drop('age')
      .select('who', 'twice');
    const text = out.explain();
    expect(text).toContain('== Logical Plan ==');
    expect(text).toContain('== Physical Plan ==');
    const physical = text.split('== Physical Plan ==')[1]!;
    expect(physical.match(/\*Pipeline/g)).toHaveLength(1);
    expect(physical).toMatch(/Filter[^\n]* → Project/);
    expect(physical).toContain('MicroBatchScan people');
    const logical = text.split('== Physical Plan ==')[0]!;
    expect(logical).toContain('Filter (score > 0)');
    expect(logical).toContain('(score * 2) AS twice');
    expect(logical).toContain('StreamingRelation people');
  });

  it('a bare source has no pipeline', () => {
    const { stream } = setup('bare');
    const text = stream.explain();
    expect(text).toContain('MicroBatchScan bare');
    expect(text).not.toContain('*Pipeline');
  });

  it('withWatermark shows as EventTimeWatermark; a non-timestamp or unknown event-time column is rejected', () => {
    const session = createSession();
    const ev = memoryStream(schema({ ts: t.timestamp, n: t.long }));
    const s = session.readStream(ev);
    expect(s.withWatermark('ts', '10 seconds').explain()).toContain('EventTimeWatermark ts, 10000 ms');
    const e = thrown(() => s.withWatermark('n', '1 second'));
    expect(e.code).toBe('INVALID_PLAN');
    expect(e.message).toContain('timestamp');
    expect(thrown(() => s.withWatermark('nope' as 'ts', 5)).code).toBe('UNKNOWN_COLUMN');
    expect(thrown(() => s.withWatermark('ts', 'soon')).code).toBe('INVALID_DURATION');
  });

  it('printSchema is Spark-like, with types and nullability', () => {
    const { stream } = setup();
    expect(stream.select(($) => ({ id: $.id, age: $.age, s: $.score.cast('string') })).printSchema()).toBe(
      [
        'root',
        ' |-- id: long (nullable = false)',
        ' |-- age: long (nullable = true)',
        ' |-- s: string (nullable = false)',
      ].join('\n'),
    );
  });

  it('the running query explains its plan and sink', async () => {
    const { stream } = setup();
    const sink = memorySink({ name: 'explained' });
    const q = await stream.select('id').writeStream({ sink }).start();
    try {
      const text = q.explain();
      expect(text).toContain('== Physical Plan ==');
      expect(text).toContain('to MemorySink[explained]');
    } finally {
      await q.stop();
    }
  });
});

describe('streams are immutable', () => {
  it('deriving a stream does not change its parent', async () => {
    const { input, stream } = setup();
    const narrowed = stream.select('id');
    const filtered = stream.filter(($) => $.id.gt(1));
    expect(stream.schema.names).toEqual(['id', 'name', 'age', 'score']);
    expect(narrowed.schema.names).toEqual(['id']);
    await testStream(filtered).addData(input, ann, bob).checkNewRows([bob]).run();
  });
});
