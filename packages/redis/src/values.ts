/**
 * Row values ↔ Redis field strings (Redis stores strings only).
 *
 *   long, double        decimal text ("42", "1.5"; NaN/Infinity as "NaN"/"Infinity")
 *   boolean             "true" / "false"
 *   string              as is
 *   timestamp           epoch milliseconds as decimal text ("1735689600000")
 *   date                days since 1970-01-01 as decimal text
 *   binary              the bytes themselves (a binary-safe Redis string)
 *   json, array, struct JSON text
 *   null                the field is left out (HDEL in the hash sink)
 */
import type { DataType, Field, Row } from 'millrace';

export class BadValue extends Error {
  constructor(
    readonly column: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`column "${column}" is ${show(value)}, not ${expected}`);
  }
}

function show(v: unknown): string {
  if (v === undefined) return 'undefined (missing)';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (typeof v === 'object' && v !== null) return `an object ${JSON.stringify(v)?.slice(0, 60)}`;
  return `${typeof v} ${String(v)}`;
}

export type FieldValue = string | Buffer;

/** Encoder of a non-null value of type `t` in column `name`. */
export function fieldEncoder(name: string, t: DataType): (v: unknown) => FieldValue {
  const bad = (v: unknown, expected: string): never => {
    throw new BadValue(name, v, expected);
  };
  switch (t.kind) {
    case 'long':
      return (v) =>
        (typeof v === 'number' && Number.isSafeInteger(v)) || typeof v === 'bigint'
          ? String(v)
          : bad(v, 'a whole number (long)');
    case 'double':
      return (v) => (typeof v === 'number' ? String(v) : bad(v, 'a number (double)'));
    case 'timestamp':
      return (v) =>
        typeof v === 'number' && Number.isFinite(v) ? String(v) : bad(v, 'a timestamp (epoch milliseconds)');
    case 'date':
      return (v) =>
        typeof v === 'number' && Number.isSafeInteger(v)
          ? String(v)
          : bad(v, 'a date (whole days since 1970-01-01)');
    case 'boolean':
      return (v) => (v === true ? 'true' : v === false ? 'false' : bad(v, 'a boolean'));
    case 'string':
      return (v) => (typeof v === 'string' ? v : bad(v, 'a string'));
    case 'binary':
      return (v) =>
        v instanceof Uint8Array
          ? Buffer.from(v.buffer, v.byteOffset, v.byteLength)
          : bad(v, 'binary (a Uint8Array)');
    case 'null':
      return (v) => bad(v, 'null');
    case 'json':
    case 'array':
    case 'struct':
      return (v) => {
        let s: string | undefined;
        try {
          s = JSON.stringify(v);
        } catch (e) {
          return bad(v, `JSON-serialisable data (${(e as Error).message})`);
        }
        return s === undefined ? bad(v, 'JSON-serialisable data') : s;
      };
  }
}

/** The fields of a row: [name, value] for every non-null column (nulls listed apart). */
export function rowFields(
  fields: readonly Field[],
): (row: Row) => { set: [string, FieldValue][]; nulls: string[] } {
  const encs = fields.map((f) => [f.name, fieldEncoder(f.name, f.type)] as const);
  return (row) => {
    const set: [string, FieldValue][] = [];
    const nulls: string[] = [];
    for (const [name, enc] of encs) {
      const v = row[name];
      if (v === null || v === undefined) nulls.push(name);
      else set.push([name, enc(v)]);
    }
    return { set, nulls };
  };
}
