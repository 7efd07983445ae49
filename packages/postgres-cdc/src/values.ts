/**
 * Column values of pgoutput's text format, as JSON values (the `before` / `after` images are JSON
 * columns, and a replayed batch must give equal rows):
 *
 *   bool                         true / false
 *   int2, int4, oid, float4/8    number (NaN and ±Infinity stay text)
 *   int8                         number when a safe integer, else its text
 *   numeric                      number when at most 15 significant digits (exact in a double),
 *                                else its text (so money and ids never lose digits)
 *   json, jsonb                  the parsed value
 *   timestamp, timestamptz, date epoch milliseconds (timestamp without zone read as UTC);
 *                                ±infinity stays text
 *   arrays of the above          arrays, as node-postgres parses them
 *   everything else              PostgreSQL's text form (uuid, text, bytea as \x…, intervals, …)
 */
import pg from 'pg';

type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type TextParser = (text: string) => JsonValue;

const OID = {
  bool: 16,
  int8: 20,
  int2: 21,
  int4: 23,
  oid: 26,
  json: 114,
  float4: 700,
  float8: 701,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  jsonb: 3802,
} as const;

const toNumber: TextParser = (s) => {
  const n = Number(s);
  return Number.isFinite(n) ? n : s;
};

const int8: TextParser = (s) => {
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : s;
};

const numeric: TextParser = (s) => {
  const digits = s.replace(/^-/, '').replace('.', '').replace(/^0+/, '');
  const n = Number(s);
  return Number.isFinite(n) && digits.length <= 15 ? n : s;
};

const timestampUtc: TextParser = (s) => {
  // PostgreSQL's ISO output: `2024-05-01 12:00:00.123456` (years past 9999 and BC keep their text).
  const ms = Date.parse(`${s.replace(' ', 'T')}Z`);
  return Number.isNaN(ms) ? s : ms;
};

const timestampTz: TextParser = (s) => {
  // `2024-05-01 12:00:00.123+02` or `+05:30`: Date.parse wants the offset as ±hh:mm.
  const iso = s.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00');
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? s : ms;
};

const date: TextParser = (s) => {
  const ms = Date.parse(`${s}T00:00:00Z`);
  return Number.isNaN(ms) ? s : ms;
};

const SPECIAL = new Map<number, TextParser>([
  [OID.bool, (s) => s === 't'],
  [OID.int2, toNumber],
  [OID.int4, toNumber],
  [OID.oid, toNumber],
  [OID.float4, toNumber],
  [OID.float8, toNumber],
  [OID.int8, int8],
  [OID.numeric, numeric],
  [OID.json, (s) => JSON.parse(s) as JsonValue],
  [OID.jsonb, (s) => JSON.parse(s) as JsonValue],
  [OID.timestamp, timestampUtc],
  [OID.timestamptz, timestampTz],
  [OID.date, date],
]);

/** A value node-postgres parsed (arrays may hold Dates, Buffers, bigints) as plain JSON. */
function plain(v: unknown): JsonValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.getTime();
  if (Buffer.isBuffer(v)) return `\\x${v.toString('hex')}`;
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object') {
    const o: Record<string, JsonValue> = {};
    for (const [k, x] of Object.entries(v)) o[k] = plain(x);
    return o;
  }
  return String(v);
}

/** The parser of a column's text values, by the type OID pgoutput's Relation message gives. */
export function parserFor(typeOid: number): TextParser {
  const special = SPECIAL.get(typeOid);
  if (special) return special;
  const driver = pg.types.getTypeParser(typeOid, 'text') as (s: string) => unknown;
  return (s) => plain(driver(s));
}
