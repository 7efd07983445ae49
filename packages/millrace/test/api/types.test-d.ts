/**
 * Type tests for the Stream API (the API guide: types flow through the API).
 * Checked by tsc through vitest's typecheck mode; nothing here runs.
 */
import { describe, expectTypeOf, it } from 'vitest';
import {
  type Column,
  type RowOf,
  type Schema,
  type Stream,
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

const items = schema({ id: t.long, name: t.string, price: t.double, note: t.string.orNull(), ok: t.boolean });
type Item = { id: number; name: string; price: number; note: string | null; ok: boolean };
const session = createSession();
const s = session.readStream(memoryStream(items));

/** expectTypeOf on the row type of a stream / a schema. */
const rowOf = <R>(_s: Stream<R>) => expectTypeOf<R>();
const schemaRow = <R>(_s: Schema<R>) => expectTypeOf<R>();

describe('schemas and sources', () => {
  it('schema() infers the row type, nullability included', () => {
    expectTypeOf<RowOf<typeof items>>().toEqualTypeOf<Item>();
    expectTypeOf(s).toEqualTypeOf<Stream<Item>>();
    expectTypeOf(s.cols.note).toEqualTypeOf<Column<string | null>>();
    expectTypeOf(s.col('price')).toEqualTypeOf<Column<number>>();
    // @ts-expect-error — no such column
    s.col('nope');
  });

  it('arrays and structs', () => {
    const nested = schema({ tags: t.array(t.string), pos: t.struct({ x: t.double, y: t.double.orNull() }) });
    schemaRow(nested).toEqualTypeOf<{ tags: string[]; pos: { x: number; y: number | null } }>();
  });
});

describe('select', () => {
  it('select(names) narrows the row type', () => {
    const out = s.select('id', 'name');
    rowOf(out).toEqualTypeOf<{ id: number; name: string }>();
    expectTypeOf(s.select('note')).toEqualTypeOf<Stream<{ note: string | null }>>();
  });

  it('select($ => …) infers column types, including nullability', () => {
    const out = s.select(($) => ({
      id: $.id,
      euros: $.price.mul(0.908),
      note: $.note,
      hasNote: $.note.isNotNull(),
      cheap: $.price.lt(10),
      noteIsX: $.note.eq('x'),
      label: lit('x'),
      ratio: $.price.div(2),
      both: $.ok.and($.price.gt(1)),
    }));
    rowOf(out).toEqualTypeOf<{
      id: number;
      euros: number;
      note: string | null;
      hasNote: boolean;
      cheap: boolean;
      noteIsX: boolean | null;
      label: 'x';
      ratio: number | null;
      both: boolean;
    }>();
  });

  it('nullability propagates through arithmetic and comparisons', () => {
    const n = session.readStream(memoryStream(schema({ a: t.long.orNull(), b: t.long })));
    const out = n.select(($) => ({
      sum: $.a.plus($.b),
      gt: $.b.gt($.a),
      sumB: $.b.plus(1),
      neg: $.a.negate(),
    }));
    rowOf(out).toEqualTypeOf<{ sum: number | null; gt: boolean | null; sumB: number; neg: number | null }>();
  });

  it('when / coalesce / cast / udf have the expected column types', () => {
    const out = s.select(($) => ({
      band: when($.price.lt(10), 'cheap').otherwise('dear'),
      maybe: when($.price.lt(10), 1),
      note: coalesce($.note, 'none'),
      asText: $.price.cast('string'),
      len: udf('len', t.long, (x: string) => x.length)($.name),
    }));
    rowOf(out).toEqualTypeOf<{
      band: string;
      maybe: number | null;
      note: string;
      asText: string | null;
      len: number;
    }>();
  });

  it('untyped select with Columns gives Row', () => {
    const out = s.select('id', col('name').as('n'));
    rowOf(out).toEqualTypeOf<Record<string, unknown>>();
  });

  it('the untyped select overload still checks column names', () => {
    // @ts-expect-error — 'nope' is not a column of the stream
    s.select('nope');
    // @ts-expect-error — 'nope' is not a column of the stream
    s.select('id', 'nope');
    expectTypeOf(s.select('id', col('id').as('x'))).toEqualTypeOf<Stream<Record<string, unknown>>>();
  });

  it('$ has no property for an unknown column', () => {
    // @ts-expect-error — no such column
    s.select(($) => ({ x: $.nope }));
  });
});

describe('column operators are typed', () => {
  it('arithmetic on a string column does not compile', () => {
    // @ts-expect-error — mul needs a number column
    s.select(($) => ({ x: $.name.mul(2) }));
    // @ts-expect-error — plus needs a number column
    s.select(($) => ({ x: $.note.plus(1) }));
  });

  it('comparing a number column with a string does not compile', () => {
    // @ts-expect-error — price is a number
    s.select(($) => ({ x: $.price.eq('x') }));
    // @ts-expect-error — name is a string
    s.filter(($) => $.name.gt(3));
    // comparing with a column of the same type, or null, compiles
    s.filter(($) => $.price.eq($.price));
    s.filter(($) => $.note.eq(null));
  });

  it('boolean logic needs boolean columns', () => {
    // @ts-expect-error — price is not boolean
    s.filter(($) => $.price.and($.ok));
    // @ts-expect-error — name is not boolean
    s.filter(($) => $.name.not());
  });
});

describe('filter / where', () => {
  it('keep the row type', () => {
    expectTypeOf(s.filter(($) => $.price.gt(1))).toEqualTypeOf<Stream<Item>>();
    expectTypeOf(s.where(($) => $.note.eq('x'))).toEqualTypeOf<Stream<Item>>();
    expectTypeOf(s.where(col<boolean>('ok'))).toEqualTypeOf<Stream<Item>>();
  });

  it('a non-boolean condition does not compile', () => {
    // @ts-expect-error — price is a number column
    s.filter(($) => $.price);
    // @ts-expect-error — name is a string column
    s.where(s.cols.name);
    // @ts-expect-error — an arithmetic result is not a condition
    s.filter(($) => $.price.mul(2));
  });
});

describe('withColumn / withColumnRenamed / drop', () => {
  it('withColumn adds a typed column', () => {
    const out = s.withColumn('euros', ($) => $.price.mul(0.9));
    rowOf(out).toEqualTypeOf<{
      id: number;
      name: string;
      price: number;
      note: string | null;
      ok: boolean;
      euros: number;
    }>();
    const flag = s.withColumn('hasNote', s.cols.note.isNotNull());
    expectTypeOf(flag.cols.hasNote).toEqualTypeOf<Column<boolean>>();
  });

  it('withColumn replaces the type of an existing column', () => {
    const out = s.withColumn('price', ($) => $.price.cast('string'));
    expectTypeOf(out.cols.price).toEqualTypeOf<Column<string | null>>();
    rowOf(out).toEqualTypeOf<{
      id: number;
      name: string;
      price: string | null;
      note: string | null;
      ok: boolean;
    }>();
  });

  it('withColumnRenamed moves the type to the new name', () => {
    const out = s.withColumnRenamed('note', 'remark');
    rowOf(out).toEqualTypeOf<{
      id: number;
      name: string;
      price: number;
      ok: boolean;
      remark: string | null;
    }>();
    // @ts-expect-error — no such column to rename
    s.withColumnRenamed('nope', 'x');
  });

  it('drop removes columns from the type', () => {
    const out = s.drop('note', 'ok');
    rowOf(out).toEqualTypeOf<{ id: number; name: string; price: number }>();
    // @ts-expect-error — the dropped column is gone
    out.col('note');
    // @ts-expect-error — the dropped column is gone
    out.select(($) => ({ n: $.note }));
  });

  it('drop of an unknown column does not compile', () => {
    // @ts-expect-error — no such column
    s.drop('nope');
  });
});

describe('map / flatMap / union / withWatermark', () => {
  it('map: the output type is the schema type; the function sees the input row type', () => {
    const words = schema({ word: t.string, n: t.long });
    const out = s.map((r) => {
      expectTypeOf(r).toEqualTypeOf<Item>();
      return { word: r.name, n: r.id };
    }, words);
    expectTypeOf(out).toEqualTypeOf<Stream<{ word: string; n: number }>>();
    // @ts-expect-error — the function's result does not fit the schema
    s.map((r) => ({ word: r.id, n: r.id }), words);
  });

  it('flatMap: iterables of the schema type', () => {
    const words = schema({ word: t.string });
    const out = s.flatMap((r) => r.name.split(' ').map((word) => ({ word })), words);
    expectTypeOf(out).toEqualTypeOf<Stream<{ word: string }>>();
    // @ts-expect-error — must return an iterable of rows, not a row
    s.flatMap((r) => ({ word: r.name }), words);
  });

  it('union keeps the type and needs the same row type', () => {
    expectTypeOf(s.union(s.filter(($) => $.ok))).toEqualTypeOf<Stream<Item>>();
    // @ts-expect-error — a narrower row type is a different stream
    s.union(s.select('id'));
  });

  it('withWatermark needs a column of the stream and keeps the type', () => {
    const ev = session.readStream(memoryStream(schema({ ts: t.timestamp, v: t.long })));
    expectTypeOf(ev.withWatermark('ts', '1 minute')).toEqualTypeOf<typeof ev>();
    // @ts-expect-error — no such column
    ev.withWatermark('nope', 5);
  });

  it('writeStream().start() gives a StreamingQuery promise', () => {
    const p = s.select('id').writeStream({ sink: memorySink() }).start();
    expectTypeOf(p).resolves.toHaveProperty('stop');
    expectTypeOf(p).resolves.toHaveProperty('awaitTermination');
  });
});
