/**
 * Millrace column types ↔ PostgreSQL, and how a column of a batch travels.
 *
 * Each column of a statement is ONE array parameter (`$1::int8[]`) holding
 * that column's values for every row; the statement unnests the arrays back
 * into rows. The arrays are sent as PostgreSQL array literals built here
 * (`{1,2,NULL}`), type-checked on the way so a bad value is reported with its
 * column and row instead of as a parse error from the server.
 *
 *   Millrace (runtime value)          created as        sent as     converted in SQL
 *   ─────────────────────────────     ────────────────  ──────────  ────────────────────────────────
 *   long (number)                     bigint            int8[]      —
 *   double (number)                   double precision  float8[]    —
 *   boolean                           boolean           bool[]      —
 *   string                            text              text[]      —
 *   timestamp (epoch ms)              timestamptz       float8[]    to_timestamp(ms / 1000)
 *   date (days since 1970-01-01)      date              int4[]      date '1970-01-01' + days
 *   binary (Uint8Array)               bytea             bytea[]     —
 *   json, array<…>, struct<…>         jsonb             text[]      ::jsonb (JSON text)
 *   null (always null)                text              text[]      —
 *
 * Inside jsonb, timestamps become ISO-8601 strings, dates `YYYY-MM-DD` and
 * binary `\x…` hex, so they read naturally in SQL (`(w->>'start')::timestamptz`).
 * For an existing table the conversion follows the column's actual type: a
 * timestamp into `timestamp without time zone` is stored as UTC wall time, into
 * a numeric column as epoch milliseconds; JSON into a `json`/`text` column as text.
 */
import type { DataType, Field, Row } from 'millrace';
import { quoteIdent } from './identifiers.ts';

/** A value that does not fit its column's type; the caller names the batch and table. */
export class BadValue extends Error {
  constructor(
    readonly column: string,
    readonly rowIndex: number,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`column "${column}" of row ${rowIndex} is ${showValue(value)}, not ${expected}`);
  }
}

export function showValue(v: unknown): string {
  if (v === undefined) return 'undefined (missing)';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Uint8Array) return `binary(${v.byteLength} bytes)`;
  if (typeof v === 'object') {
    let s: string;
    try {
      s = JSON.stringify(v);
    } catch {
      s = String(v);
    }
    return `${Array.isArray(v) ? 'an array' : 'an object'} ${s.length > 60 ? `${s.slice(0, 60)}…` : s}`;
  }
  return `${typeof v} ${String(v)}`;
}

/** The DDL type `createTable` uses for a Millrace type. */
export function ddlType(t: DataType): string {
  switch (t.kind) {
    case 'long':
      return 'bigint';
    case 'double':
      return 'double precision';
    case 'boolean':
      return 'boolean';
    case 'string':
    case 'null':
      return 'text';
    case 'timestamp':
      return 'timestamptz';
    case 'date':
      return 'date';
    case 'binary':
      return 'bytea';
    case 'json':
    case 'array':
    case 'struct':
      return 'jsonb';
  }
}

/** The array parameter type a Millrace type travels as. */
export function paramType(t: DataType): string {
  switch (t.kind) {
    case 'long':
      return 'int8[]';
    case 'double':
    case 'timestamp':
      return 'float8[]';
    case 'boolean':
      return 'bool[]';
    case 'date':
      return 'int4[]';
    case 'binary':
      return 'bytea[]';
    case 'string':
    case 'null':
    case 'json':
    case 'array':
    case 'struct':
      return 'text[]';
  }
}

const NUMERIC_TARGETS = new Set(['int2', 'int4', 'int8', 'numeric', 'float4', 'float8']);

/**
 * The SQL expression that turns unnested parameter `ref` into a value for a
 * column of PostgreSQL type `target` (pg_type.typname, e.g. `timestamptz`).
 */
export function selectExpression(t: DataType, ref: string, target: string): string {
  switch (t.kind) {
    case 'timestamp':
      if (NUMERIC_TARGETS.has(target)) return ref; // epoch milliseconds, as the engine has them
      if (target === 'timestamp') return `(to_timestamp(${ref} / 1000) AT TIME ZONE 'UTC')`;
      if (target === 'date') return `(to_timestamp(${ref} / 1000) AT TIME ZONE 'UTC')::date`;
      return `to_timestamp(${ref} / 1000)`;
    case 'date':
      if (NUMERIC_TARGETS.has(target)) return ref; // days since 1970-01-01
      return `(DATE '1970-01-01' + ${ref})`;
    case 'json':
    case 'array':
    case 'struct':
      if (target === 'jsonb' || target === 'json') return `${ref}::${target}`;
      return ref;
    default:
      return ref;
  }
}

// ---------------------------------------------------------------------------
// Encoding one column of many rows as an array literal

/** Builds the array literal of one column over `rows[from, to)`. */
export type ColumnEncoder = (rows: readonly Row[], from: number, to: number) => string;

function quoteElement(s: string): string {
  // Inside an array literal, `"` and `\` are escaped with a backslash.
  return /["\\]/.test(s) ? `"${s.replace(/["\\]/g, '\\$&')}"` : `"${s}"`;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

function isoTimestamp(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

function isoDate(days: number): string {
  const d = new Date(days * 86_400_000);
  if (Number.isNaN(d.getTime())) return String(days);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
}

/** Does a JSON-bound type contain values that need converting before JSON.stringify? */
function needsJsonConversion(t: DataType): boolean {
  switch (t.kind) {
    case 'timestamp':
    case 'date':
    case 'binary':
      return true;
    case 'array':
      return needsJsonConversion(t.element);
    case 'struct':
      return t.fields.some((f) => needsJsonConversion(f.type));
    default:
      return false;
  }
}

/** A function that makes a value of type `t` JSON-ready (timestamps → ISO strings, …). */
function jsonConverter(t: DataType): (v: unknown) => unknown {
  if (!needsJsonConversion(t)) return (v) => v;
  switch (t.kind) {
    case 'timestamp':
      return (v) => (typeof v === 'number' ? isoTimestamp(v) : v);
    case 'date':
      return (v) => (typeof v === 'number' ? isoDate(v) : v);
    case 'binary':
      return (v) => (v instanceof Uint8Array ? `\\x${hex(v)}` : v);
    case 'array': {
      const el = jsonConverter(t.element);
      return (v) => (Array.isArray(v) ? v.map((x) => (x === null || x === undefined ? x : el(x))) : v);
    }
    case 'struct': {
      const fields = t.fields.map((f) => [f.name, jsonConverter(f.type)] as const);
      return (v) => {
        if (v === null || typeof v !== 'object') return v;
        const o = v as Record<string, unknown>;
        const out: Record<string, unknown> = {};
        for (const [name, conv] of fields) {
          const x = o[name];
          out[name] = x === null || x === undefined ? x : conv(x);
        }
        return out;
      };
    }
    default:
      return (v) => v;
  }
}

/**
 * The encoder of a column. Values are checked against the declared type; a
 * wrong one throws BadValue (with the row index relative to `rows`).
 */
export function columnEncoder(field: Field): ColumnEncoder {
  const name = field.name;
  const t = field.type;
  const build =
    (elem: (v: unknown, i: number) => string): ColumnEncoder =>
    (rows, from, to) => {
      let out = '{';
      for (let i = from; i < to; i++) {
        if (i > from) out += ',';
        const v = rows[i]![name];
        out += v === null || v === undefined ? 'NULL' : elem(v, i);
      }
      return out + '}';
    };
  const bad = (v: unknown, i: number, expected: string): never => {
    throw new BadValue(name, i, v, expected);
  };
  switch (t.kind) {
    case 'long':
      return build((v, i) => {
        if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
        if (typeof v === 'bigint') return v.toString();
        return bad(v, i, 'a whole number (long)');
      });
    case 'double':
      return build((v, i) => (typeof v === 'number' ? String(v) : bad(v, i, 'a number (double)')));
    case 'timestamp':
      return build((v, i) =>
        typeof v === 'number' && Number.isFinite(v)
          ? String(v)
          : bad(v, i, 'a timestamp (epoch milliseconds)'),
      );
    case 'date':
      return build((v, i) =>
        typeof v === 'number' && Number.isSafeInteger(v) && Math.abs(v) < 2 ** 31
          ? String(v)
          : bad(v, i, 'a date (whole days since 1970-01-01)'),
      );
    case 'boolean':
      return build((v, i) => (v === true ? 't' : v === false ? 'f' : bad(v, i, 'a boolean')));
    case 'string':
      return build((v, i) => (typeof v === 'string' ? quoteElement(v) : bad(v, i, 'a string')));
    case 'binary':
      return build((v, i) =>
        v instanceof Uint8Array ? `"\\\\x${hex(v)}"` : bad(v, i, 'binary (a Uint8Array)'),
      );
    case 'null':
      return build((v, i) => bad(v, i, 'null (the column has type null)'));
    case 'json':
    case 'array':
    case 'struct': {
      const conv = jsonConverter(t);
      return build((v, i) => {
        let s: string | undefined;
        try {
          s = JSON.stringify(conv(v));
        } catch (e) {
          return bad(v, i, `JSON-serialisable data (${(e as Error).message})`);
        }
        return s === undefined ? bad(v, i, 'JSON-serialisable data') : quoteElement(s);
      });
    }
  }
}

/**
 * A function giving the upsert key of a row (for de-duplicating a statement's
 * rows): the value itself for one key column, else the values joined.
 * Returns null when a key value is null (the caller reports it).
 */
export function keyExtractor(fields: readonly Field[]): (row: Row) => unknown {
  const part = (f: Field) => {
    const n = f.name;
    switch (f.type.kind) {
      case 'binary':
        return (r: Row) => (r[n] instanceof Uint8Array ? hex(r[n]) : r[n]);
      case 'json':
      case 'array':
      case 'struct':
        return (r: Row) => (r[n] === null || r[n] === undefined ? null : JSON.stringify(r[n]));
      default:
        return (r: Row) => r[n];
    }
  };
  const parts = fields.map(part);
  if (parts.length === 1) {
    const p = parts[0]!;
    return (r) => p(r) ?? null;
  }
  return (r) => {
    let k = '';
    for (const p of parts) {
      const v = p(r);
      if (v === null || v === undefined) return null;
      // Strings JSON-quoted, so no value can imitate the separator.
      k += typeof v === 'string' ? `${JSON.stringify(v)},` : `${String(v)},`;
    }
    return k;
  };
}

/** `"a", "b"` */
export function columnList(names: readonly string[]): string {
  return names.map(quoteIdent).join(', ');
}
