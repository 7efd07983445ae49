/**
 * redisFieldsDecoder(schema): turns an entry's (or a hash's) string fields back into a typed row —
 * the inverse of the sinks' encoding (values.ts). For a query that reads entries another Millrace
 * query wrote:
 *
 *   readStream(redisStreamSource({ streams: 'orders' })).map((e) => decode(e.fields), orderSchema)
 *
 * A field that is missing decodes to null; one that does not parse as its type throws a
 * MillraceError (REDIS_BAD_FIELD) naming the field and the value.
 */
import { MillraceError, type DataType, type Row, type Schema } from 'millrace';

function decoder(name: string, t: DataType): (s: string | Buffer) => unknown {
  const bad = (s: string | Buffer, expected: string): never => {
    throw new MillraceError(
      'REDIS_BAD_FIELD',
      `field "${name}" is ${JSON.stringify(String(s).slice(0, 60))}, not ${expected}`,
      { domain: 'user', context: { field: name } },
    );
  };
  const num = (s: string | Buffer, expected: string, whole: boolean) => {
    const n = Number(String(s));
    return String(s).trim() === '' ||
      (Number.isNaN(n) && String(s) !== 'NaN') ||
      (whole && !Number.isSafeInteger(n))
      ? bad(s, expected)
      : n;
  };
  switch (t.kind) {
    case 'long':
      return (s) => num(s, 'a whole number', true);
    case 'double':
      return (s) => num(s, 'a number', false);
    case 'timestamp':
      return (s) => num(s, 'epoch milliseconds', false);
    case 'date':
      return (s) => num(s, 'days since 1970-01-01', true);
    case 'boolean':
      return (s) => (String(s) === 'true' ? true : String(s) === 'false' ? false : bad(s, 'true or false'));
    case 'string':
      return (s) => String(s);
    case 'binary':
      return (s) => new Uint8Array(typeof s === 'string' ? Buffer.from(s) : s);
    case 'null':
      return () => null;
    case 'json':
    case 'array':
    case 'struct':
      return (s) => {
        try {
          return JSON.parse(String(s));
        } catch {
          return bad(s, 'JSON text');
        }
      };
  }
}

export function redisFieldsDecoder<R>(
  schema: Schema<R>,
): (fields: Readonly<Record<string, string | Buffer>>) => R {
  const decs = schema.fields.map((f) => [f.name, decoder(f.name, f.type)] as const);
  return (fields) => {
    const row: Row = {};
    for (const [name, dec] of decs) {
      const v = fields[name];
      row[name] = v === undefined ? null : dec(v);
    }
    return row as R;
  };
}
