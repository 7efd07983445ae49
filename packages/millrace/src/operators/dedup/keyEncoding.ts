/**
 * Deduplication keys as state-store keys: one string per row, equal exactly
 * when the key values are equal under Spark's grouping equality (NaN equals
 * NaN, -0 equals 0, null equals null, structs and arrays compare by value).
 *
 * Each column is encoded by a function chosen from its type, and the parts are
 * joined with ','. Within one column every encoding is unambiguous (strings are
 * JSON-quoted, numbers are `String(n)` so NaN/Infinity stay distinct from null),
 * and a part never contains an unquoted ',', so the joined key is too.
 * Encodings are well-formed UTF-16 (JSON.stringify escapes lone surrogates).
 *
 * Keys longer than MAX_PLAIN_KEY code units (wide rows, long text) are stored
 * as `#` + their SHA-256 digest, so they fit every store (LMDB keys are
 * limited to ~2 KB). Two different keys share a digest with odds around 2^-128.
 */
import { createHash } from 'node:crypto';
import type { DataType, Row, Schema } from '../../schema/index.ts';

export const MAX_PLAIN_KEY = 512;

type Enc = (v: unknown) => string;

const encString: Enc = (v) => (v == null ? 'null' : JSON.stringify(v));
/** long, double, timestamp, date, boolean: `String` keeps NaN/±Infinity apart from null; String(-0) is '0'. */
const encScalar: Enc = (v) => (v == null ? 'null' : String(v));

/** Any value, canonically: object keys sorted, binary as base64, numbers as `String(n)`. */
export function encodeValue(v: unknown): string {
  if (v == null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
    case 'boolean':
      return String(v);
    case 'bigint':
      return `${v}n`;
    case 'object': {
      if (v instanceof Uint8Array)
        return `b"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}"`;
      if (Array.isArray(v)) return `[${v.map(encodeValue).join(',')}]`;
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${encodeValue(o[k])}`).join(',')}}`;
    }
    default:
      return JSON.stringify(String(v));
  }
}

function encoderFor(type: DataType): Enc {
  switch (type.kind) {
    case 'string':
      return encString;
    case 'long':
    case 'double':
    case 'boolean':
    case 'timestamp':
    case 'date':
    case 'null':
      return encScalar;
    case 'binary':
    case 'json':
    case 'array':
    case 'struct':
      return encodeValue;
  }
}

function bounded(key: string): string {
  return key.length <= MAX_PLAIN_KEY ? key : `#${createHash('sha256').update(key).digest('base64url')}`;
}

/** The key function for `columns` of `schema`. */
export function keyEncoder(schema: Schema, columns: readonly string[]): (row: Row) => string {
  const encs = columns.map((c) => encoderFor(schema.require(c, 'dropDuplicates').type));
  if (columns.length === 0) return () => '';
  if (columns.length === 1) {
    const c = columns[0]!;
    const e = encs[0]!;
    return (row) => bounded(e(row[c]));
  }
  return (row) => {
    let k = encs[0]!(row[columns[0]!]);
    for (let i = 1; i < columns.length; i++) k += ',' + encs[i]!(row[columns[i]!]);
    return bounded(k);
  };
}
