/**
 * Schema columns named like Object.prototype members (toString, valueOf,
 * constructor, hasOwnProperty): a record without the field reads it as
 * missing (null), not as the inherited function (issue 17).
 */
import { describe, expect, it } from 'vitest';
import { parseFileText, type ParsePlan } from '../../src/connectors/file/parse.ts';
import { BadValue, fromCsvField, fromJson } from '../../src/connectors/file/values.ts';
import { JsonRecordDecoder, schema, t } from '../../src/index.ts';

const s = schema({
  id: t.long,
  toString: t.long.orNull(),
  valueOf: t.string.orNull(),
  constructor: t.double.orNull(),
  hasOwnProperty: t.boolean.orNull(),
  _corrupt_record: t.string.orNull(),
});
const nulls = { toString: null, valueOf: null, constructor: null, hasOwnProperty: null };

function plan(format: 'jsonl' | 'csv', mode: ParsePlan['mode'] = 'failFast'): ParsePlan {
  return {
    schema: s as ParsePlan['schema'],
    format,
    mode,
    corruptColumn: '_corrupt_record',
    csvHeader: true,
    csvDelimiter: ',',
    source: 'test',
  };
}

describe('columns named like object built-ins', () => {
  it('JsonRecordDecoder: a record without them is not malformed and reads null', () => {
    const d = new JsonRecordDecoder(s, { mode: 'failFast' });
    expect(d.decode('{"id":1}', () => 'here').row).toEqual({ id: 1, ...nulls, _corrupt_record: null });
    expect(d.decode('{"id":2,"toString":5,"valueOf":"v"}', () => 'here').row).toMatchObject({
      id: 2,
      toString: 5,
      valueOf: 'v',
    });
  });

  it('JsonRecordDecoder permissive: a malformed record keeps nulls, not inherited functions', () => {
    const d = new JsonRecordDecoder(s);
    const r = d.decode('not json', () => 'here');
    expect(r.row).toEqual({ id: null, ...nulls, _corrupt_record: 'not json' });
  });

  it('file source JSON lines and CSV with a header that lacks them', () => {
    const j = parseFileText('{"id":1}\n{"id":2,"constructor":1.5}\n', 'f.jsonl', plan('jsonl'));
    expect(j.malformed).toEqual([]);
    expect(j.rows).toEqual([
      { id: 1, ...nulls, _corrupt_record: null },
      { id: 2, ...nulls, constructor: 1.5, _corrupt_record: null },
    ]);
    const c = parseFileText('id\n1\n', 'f.csv', plan('csv'));
    expect(c.malformed).toEqual([]);
    expect(c.rows).toEqual([{ id: 1, ...nulls, _corrupt_record: null }]);
    const bad = parseFileText('{oops\n', 'f.jsonl', plan('jsonl', 'permissive'));
    expect(bad.rows).toEqual([]); // id is not nullable: dropped, and no function leaked into a row
  });

  it('struct fields named like built-ins', () => {
    const long = { kind: 'long' } as const;
    const type = {
      kind: 'struct',
      fields: [
        { name: 'toString', type: long, nullable: true },
        { name: 'a', type: long, nullable: true },
      ],
    } as const;
    expect(fromJson({ a: 1 }, type)).toEqual({ toString: null, a: 1 });
  });

  it('a double value spelled like a built-in is a bad value, not a function', () => {
    const double = { kind: 'double' } as const;
    for (const text of ['toString', 'constructor', '__proto__', 'valueOf']) {
      expect(() => fromJson(text, double), text).toThrow(BadValue);
      expect(() => fromCsvField(text, false, double), text).toThrow(BadValue);
    }
    expect(fromCsvField('NaN', false, double)).toBeNaN();
  });
});
