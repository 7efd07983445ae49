/**
 * Millrace column types ↔ MariaDB / MySQL, and how a value travels.
 *
 * A batch is sent as one prepared INSERT executed for many rows at once (the driver's `batch`:
 * MariaDB's bulk protocol, or a rewritten multi-row INSERT on MySQL), each row an array of
 * parameters built here. Values are type-checked on the way, so a bad value is reported with its
 * column and row instead of as a conversion warning from the server.
 *
 *   Millrace (runtime value)          created as          sent as
 *   ─────────────────────────────     ──────────────────  ─────────────────────────────────────
 *   long (number)                     BIGINT              number (or bigint)
 *   double (number)                   DOUBLE              number
 *   boolean                           BOOLEAN (tinyint)   1 / 0
 *   string                            LONGTEXT            string  (a key column: VARCHAR(255))
 *   timestamp (epoch ms)              DATETIME(3)         'YYYY-MM-DD HH:MM:SS.mmm' in UTC
 *   date (days since 1970-01-01)      DATE                'YYYY-MM-DD'
 *   binary (Uint8Array)               LONGBLOB            Buffer  (a key column: VARBINARY(255))
 *   json, array<…>, struct<…>         JSON (MariaDB:      JSON text
 *                                     LONGTEXT + check)
 *   null (always null)                LONGTEXT            null
 *
 * DATETIME keeps no time zone: the sink's session runs in UTC, so values are UTC wall time (a
 * TIMESTAMP column, read in another session time zone, shows that zone's time of the same instant).
 * For an existing table the conversion follows the column's type: a timestamp into a numeric column
 * is stored as epoch milliseconds, a date as days since 1970-01-01. Inside JSON, timestamps become
 * ISO-8601 strings, dates `YYYY-MM-DD` and binary `\x…` hex.
 */
import type { DataType, Field, Row } from 'millrace';

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
  if (typeof v === 'object' && v !== null) {
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

/** The DDL type `createTable` uses for a Millrace type (`key`: part of the primary key, so indexable). */
export function ddlType(t: DataType, key = false): string {
  switch (t.kind) {
    case 'long':
      return 'BIGINT';
    case 'double':
      return 'DOUBLE';
    case 'boolean':
      return 'BOOLEAN';
    case 'string':
    case 'null':
      return key ? 'VARCHAR(255)' : 'LONGTEXT';
    case 'timestamp':
      return 'DATETIME(3)';
    case 'date':
      return 'DATE';
    case 'binary':
      return key ? 'VARBINARY(255)' : 'LONGBLOB';
    case 'json':
    case 'array':
    case 'struct':
      return 'JSON';
  }
}

const NUMERIC_TARGETS = new Set([
  'tinyint',
  'smallint',
  'mediumint',
  'int',
  'bigint',
  'decimal',
  'float',
  'double',
]);

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** Epoch ms → `YYYY-MM-DD HH:MM:SS.mmm` (UTC), the literal DATETIME and TIMESTAMP take. */
export function sqlDateTime(ms: number): string {
  const d = new Date(ms);
  return (
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)} ` +
    `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}.${pad(d.getUTCMilliseconds(), 3)}`
  );
}

/** Days since 1970-01-01 → `YYYY-MM-DD`. */
export function sqlDate(days: number): string {
  const d = new Date(days * 86_400_000);
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

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

/** Makes a value of type `t` JSON-ready (timestamps → ISO strings, …). */
function jsonConverter(t: DataType): (v: unknown) => unknown {
  if (!needsJsonConversion(t)) return (v) => v;
  switch (t.kind) {
    case 'timestamp':
      return (v) => (typeof v === 'number' && Number.isFinite(v) ? new Date(v).toISOString() : v);
    case 'date':
      return (v) => (typeof v === 'number' ? sqlDate(v) : v);
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

/** Turns a row's value (non-null) into the parameter sent; throws BadValue for a wrong one. */
export type ValueEncoder = (v: unknown, rowIndex: number) => unknown;

/**
 * The encoder of a column, for a target column of MariaDB type `target` (information_schema
 * DATA_TYPE, e.g. `datetime`; '' when unknown).
 */
export function valueEncoder(field: Field, target: string): ValueEncoder {
  const name = field.name;
  const t = field.type;
  const bad = (v: unknown, i: number, expected: string): never => {
    throw new BadValue(name, i, v, expected);
  };
  const numeric = NUMERIC_TARGETS.has(target);
  switch (t.kind) {
    case 'long':
      return (v, i) =>
        (typeof v === 'number' && Number.isSafeInteger(v)) || typeof v === 'bigint'
          ? v
          : bad(v, i, 'a whole number (long)');
    case 'double':
      return (v, i) =>
        typeof v === 'number' && Number.isFinite(v)
          ? v
          : bad(v, i, 'a finite number (MariaDB stores no NaN or Infinity)');
    case 'timestamp':
      return (v, i) =>
        typeof v === 'number' && Number.isFinite(v)
          ? numeric
            ? v
            : sqlDateTime(v)
          : bad(v, i, 'a timestamp (epoch milliseconds)');
    case 'date':
      return (v, i) =>
        typeof v === 'number' && Number.isSafeInteger(v) && Math.abs(v) < 3_000_000
          ? numeric
            ? v
            : sqlDate(v)
          : bad(v, i, 'a date (whole days since 1970-01-01)');
    case 'boolean':
      return (v, i) => (v === true ? 1 : v === false ? 0 : bad(v, i, 'a boolean'));
    case 'string':
      return (v, i) => (typeof v === 'string' ? v : bad(v, i, 'a string'));
    case 'binary':
      return (v, i) =>
        v instanceof Uint8Array
          ? Buffer.from(v.buffer, v.byteOffset, v.byteLength)
          : bad(v, i, 'binary (a Uint8Array)');
    case 'null':
      return (v, i) => bad(v, i, 'null (the column has type null)');
    case 'json':
    case 'array':
    case 'struct': {
      const conv = jsonConverter(t);
      return (v, i) => {
        let s: string | undefined;
        try {
          s = JSON.stringify(conv(v));
        } catch (e) {
          return bad(v, i, `JSON-serialisable data (${(e as Error).message})`);
        }
        return s === undefined ? bad(v, i, 'JSON-serialisable data') : s;
      };
    }
  }
}

/** A row → its parameter array, in field order. */
export function rowEncoder(
  fields: readonly Field[],
  targets: ReadonlyMap<string, string>,
): (row: Row, rowIndex: number) => unknown[] {
  const names = fields.map((f) => f.name);
  const encs = fields.map((f) => valueEncoder(f, targets.get(f.name) ?? ''));
  const n = names.length;
  return (row, i) => {
    const out = new Array<unknown>(n);
    for (let c = 0; c < n; c++) {
      const v = row[names[c]!];
      out[c] = v === null || v === undefined ? null : encs[c]!(v, i);
    }
    return out;
  };
}
