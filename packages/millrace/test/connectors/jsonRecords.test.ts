import { describe, expect, it } from 'vitest';
import { JsonRecordDecoder, JsonRecordEncoder, MillraceError, schema, t } from '../../src/index.ts';

const s = schema({
  id: t.long,
  name: t.string.orNull(),
  at: t.timestamp,
  _corrupt_record: t.string.orNull(),
});
const where = () => 'topic "t" partition 0 offset 7';
const bytes = (x: string) => new TextEncoder().encode(x);

describe('JsonRecordDecoder', () => {
  it('decodes bytes and text into typed rows', () => {
    const d = new JsonRecordDecoder(s);
    expect(d.decode(bytes('{"id":1,"name":"a","at":"2024-01-01T00:00:00Z"}'), where).row).toEqual({
      id: 1,
      name: 'a',
      at: Date.UTC(2024, 0, 1),
      _corrupt_record: null,
    });
    expect(d.decode('{"id":2,"at":5}', where).row).toEqual({
      id: 2,
      name: null,
      at: 5,
      _corrupt_record: null,
    });
  });

  it('permissive keeps a bad record with its raw text and reason', () => {
    const d = new JsonRecordDecoder(s);
    const r = d.decode('{"id":"x","at":1}', where);
    expect(r.row).toEqual({ id: null, name: null, at: 1, _corrupt_record: '{"id":"x","at":1}' });
    expect(r.malformedReason).toMatch(/column "id"/);
    expect(d.decode(null, where).malformedReason).toMatch(/no value/);
    expect(d.decode(new Uint8Array([0xff, 0xfe]), where).malformedReason).toMatch(/UTF-8/);
  });

  it('dropMalformed drops, failFast throws with the location', () => {
    expect(new JsonRecordDecoder(s, { mode: 'dropMalformed' }).decode('[1]', where)).toEqual({
      row: undefined,
      malformedReason: 'expected a JSON object, got [1]',
    });
    const ff = new JsonRecordDecoder(s, { mode: 'failFast' });
    let err: unknown;
    try {
      ff.decode('{"id":1}', where);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MillraceError);
    expect((err as MillraceError).code).toBe('MALFORMED_RECORD');
    expect((err as Error).message).toMatch(/offset 7: column "at" is missing or null/);
  });

  it('rejects a bad mode and a non-string corrupt column', () => {
    expect(() => new JsonRecordDecoder(s, { mode: 'lenient' as never })).toThrow(/mode must be/);
    expect(() => new JsonRecordDecoder(schema({ a: t.long, c: t.long }), { corruptColumn: 'c' })).toThrow(
      /must be a string column/,
    );
  });

  it('the encoder writes what the decoder reads back', () => {
    const s2 = schema({ id: t.long, name: t.string.orNull(), at: t.timestamp, b: t.binary });
    const row = { id: 3, name: null, at: 1700000000123, b: new Uint8Array([1, 2, 3]) };
    const text = new JsonRecordEncoder(s2).encode(row);
    expect(JSON.parse(text)).toEqual({ id: 3, at: '2023-11-14T22:13:20.123Z', b: 'AQID' });
    expect(new JsonRecordDecoder(s2).decode(text, where).row).toEqual(row);
  });
});
