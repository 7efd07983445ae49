/**
 * Value conversions shared by the file source and the file sink:
 * text/JSON ↔ Millrace runtime values, per DataType.
 *
 * Runtime representation (schema/types.ts): timestamp = epoch ms (UTC),
 * date = days since epoch, long/double = number, binary = Uint8Array,
 * array = JS array, struct = plain object, json = any JSON value.
 */
import type { DataType } from '../../schema/index.ts';
import { typeToString } from '../../schema/index.ts';
import { parseDateStrict, parseTimestampStrict } from '../../expr/functions/datetime.ts';
import { ownValue } from '../../util/own.ts';

/** Thrown by the readers below when a value does not fit its type; `message` is the reason. */
export class BadValue extends Error {}

const MS_PER_DAY = 86_400_000;

/** A short quoted rendering of a bad value for error messages. */
export function quote(v: unknown): string {
  let s: string;
  if (typeof v === 'string') s = JSON.stringify(v);
  else if (v instanceof Uint8Array) s = `<${v.length} bytes>`;
  else {
    try {
      s = JSON.stringify(v) ?? String(v);
    } catch {
      s = String(v);
    }
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

// ---------------------------------------------------------------------------
// Timestamps and dates: ONE rule for text, the one CAST(text AS TIMESTAMP/DATE)
// uses (Spark's stringToTimestamp / stringToDate, which Spark's JSON and CSV
// readers also fall back to without a timestampFormat). No zone means UTC.

/** Timestamp text → epoch ms, as CAST(text AS TIMESTAMP); undefined when it is not a timestamp. */
export function parseTimestampText(text: string): number | undefined {
  return parseTimestampStrict(text) ?? undefined;
}

/** Date text (`yyyy[-M[-d]]`, a time part ignored) → days since epoch, as CAST(text AS DATE). */
export function parseDateText(text: string): number | undefined {
  return parseDateStrict(text) ?? undefined;
}

/** Epoch ms → `2024-01-31T10:00:00.000Z` (as Spark's default JSON/CSV timestampFormat in UTC). */
export function formatTimestamp(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime()))
    throw new BadValue(`${quote(ms)} is not a valid timestamp (epoch milliseconds)`);
  return d.toISOString();
}

/** Days since epoch → `YYYY-MM-DD`. */
export function formatDate(days: number): string {
  const d = new Date(days * MS_PER_DAY);
  if (!Number.isInteger(days) || Number.isNaN(d.getTime())) {
    throw new BadValue(`${quote(days)} is not a valid date (whole days since 1970-01-01)`);
  }
  return d.toISOString().slice(0, 10);
}

// ---------------------------------------------------------------------------
// Binary

const BASE64_RE = /^[A-Za-z0-9+/\-_]*={0,2}$/;

export function base64ToBytes(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  if (!BASE64_RE.test(clean)) throw new BadValue(`cannot read ${quote(s)} as binary: expected base64 text`);
  return Uint8Array.from(
    Buffer.from(clean, clean.includes('-') || clean.includes('_') ? 'base64url' : 'base64'),
  );
}

export function bytesToBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

// ---------------------------------------------------------------------------
// JSON → runtime value (JSON lines source, nested values in CSV/parquet)

function bad(v: unknown, type: DataType): never {
  throw new BadValue(`cannot read ${quote(v)} as ${typeToString(type)}`);
}

/**
 * Convert a parsed JSON value to the runtime value of `type`.
 * null/undefined → null (the caller checks nullability of top-level columns).
 */
export function fromJson(v: unknown, type: DataType): unknown {
  if (v === null || v === undefined) return null;
  switch (type.kind) {
    case 'string':
      if (typeof v === 'string') return v;
      // As Spark: any other JSON token read as a string is its JSON text.
      return JSON.stringify(v);
    case 'long':
      if (typeof v === 'number' && Number.isInteger(v)) {
        if (!Number.isSafeInteger(v)) {
          throw new BadValue(`${quote(v)} is outside the safe integer range of long (±2^53-1)`);
        }
        return v;
      }
      return bad(v, type);
    case 'double':
      if (typeof v === 'number') return v;
      if (typeof v === 'string') {
        const special = SPECIAL_DOUBLES[v];
        if (special !== undefined) return special;
      }
      return bad(v, type);
    case 'boolean':
      if (typeof v === 'boolean') return v;
      return bad(v, type);
    case 'timestamp': {
      if (typeof v === 'number') {
        if (Number.isFinite(v) && !Number.isNaN(new Date(v).getTime())) return Math.trunc(v);
        return bad(v, type);
      }
      if (typeof v === 'string') {
        const ms = parseTimestampText(v);
        if (ms !== undefined) return ms;
        throw new BadValue(
          `cannot read ${quote(v)} as timestamp: expected ISO-8601 text like "2024-01-31T10:00:00Z" or epoch milliseconds`,
        );
      }
      return bad(v, type);
    }
    case 'date': {
      if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
      if (typeof v === 'string') {
        const d = parseDateText(v);
        if (d !== undefined) return d;
        throw new BadValue(`cannot read ${quote(v)} as date: expected "YYYY-MM-DD"`);
      }
      return bad(v, type);
    }
    case 'binary':
      if (typeof v === 'string') return base64ToBytes(v);
      if (Array.isArray(v) && v.every((b) => Number.isInteger(b) && b >= 0 && b < 256))
        return Uint8Array.from(v);
      return bad(v, type);
    case 'json':
      return v;
    case 'null':
      return bad(v, type);
    case 'array': {
      if (!Array.isArray(v)) return bad(v, type);
      return v.map((e, i) => {
        const out = fromJson(e, type.element);
        if (out === null && !type.containsNull) {
          throw new BadValue(`element ${i} is null but the array type does not allow nulls`);
        }
        return out;
      });
    }
    case 'struct': {
      if (typeof v !== 'object' || Array.isArray(v)) return bad(v, type);
      const o = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const f of type.fields) {
        let val: unknown;
        try {
          val = fromJson(ownValue(o, f.name), f.type);
        } catch (e) {
          if (e instanceof BadValue) throw new BadValue(`field "${f.name}": ${e.message}`);
          throw e;
        }
        if (val === null && !f.nullable)
          throw new BadValue(`field "${f.name}" is missing or null but is not nullable`);
        out[f.name] = val;
      }
      return out;
    }
  }
}

const SPECIAL_DOUBLES: Record<string, number> = Object.assign(Object.create(null) as Record<string, number>, {
  NaN: NaN,
  Infinity: Infinity,
  '+Infinity': Infinity,
  '-Infinity': -Infinity,
  Inf: Infinity,
  '+Inf': Infinity,
  '-Inf': -Infinity,
}); // null prototype: "toString" in a double column is a bad value, not Object.prototype.toString

// ---------------------------------------------------------------------------
// CSV field text → runtime value

const LONG_RE = /^[+-]?\d+$/;
const DOUBLE_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * One CSV field. An unquoted empty field is null (Spark's default nullValue "");
 * a quoted empty field is the empty string (no bytes) for string (binary) columns, null otherwise.
 * array/struct/json columns hold JSON text.
 */
export function fromCsvField(text: string, quoted: boolean, type: DataType): unknown {
  if (text === '' && (!quoted || (type.kind !== 'string' && type.kind !== 'binary'))) return null;
  switch (type.kind) {
    case 'string':
      return text;
    case 'long': {
      const s = text.trim();
      if (!LONG_RE.test(s)) return bad(text, type);
      const n = Number(s);
      if (!Number.isSafeInteger(n))
        throw new BadValue(`${quote(text)} is outside the safe integer range of long (±2^53-1)`);
      return n;
    }
    case 'double': {
      const s = text.trim();
      const special = SPECIAL_DOUBLES[s];
      if (special !== undefined) return special;
      if (!DOUBLE_RE.test(s)) return bad(text, type);
      return Number(s);
    }
    case 'boolean': {
      const s = text.trim().toLowerCase();
      if (s === 'true') return true;
      if (s === 'false') return false;
      return bad(text, type);
    }
    case 'timestamp': {
      const s = text.trim();
      if (LONG_RE.test(s)) return fromJson(Number(s), type);
      return fromJson(s, type);
    }
    case 'date':
      return fromJson(text.trim(), type);
    case 'binary':
      return base64ToBytes(text);
    case 'null':
      return bad(text, type);
    case 'json':
    case 'array':
    case 'struct': {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new BadValue(
          `cannot read ${quote(text)} as ${typeToString(type)}: the field is not valid JSON text`,
        );
      }
      return fromJson(parsed, type);
    }
  }
}

// ---------------------------------------------------------------------------
// Runtime value → JSON-safe value (JSON lines sink, nested values in CSV/parquet)

function wrongType(v: unknown, type: DataType): never {
  throw new BadValue(`value ${quote(v)} does not match the column type ${typeToString(type)}`);
}

/**
 * A JSON-serialisable representation: timestamps as ISO-8601 text, dates as
 * YYYY-MM-DD, binary as base64, NaN/±Infinity as text. Null struct fields are
 * left out (Spark's ignoreNullFields). Undefined counts as null.
 */
export function toJson(v: unknown, type: DataType): unknown {
  if (v === null || v === undefined) return null;
  switch (type.kind) {
    case 'string':
      return typeof v === 'string' ? v : wrongType(v, type);
    case 'long':
      if (typeof v === 'bigint') return Number(v);
      return typeof v === 'number' && Number.isInteger(v) ? v : wrongType(v, type);
    case 'double':
      if (typeof v !== 'number') return wrongType(v, type);
      return Number.isFinite(v) ? v : String(v);
    case 'boolean':
      return typeof v === 'boolean' ? v : wrongType(v, type);
    case 'timestamp':
      if (v instanceof Date) return formatTimestamp(v.getTime());
      return typeof v === 'number' ? formatTimestamp(v) : wrongType(v, type);
    case 'date':
      return typeof v === 'number' ? formatDate(v) : wrongType(v, type);
    case 'binary':
      return v instanceof Uint8Array ? bytesToBase64(v) : wrongType(v, type);
    case 'json':
      return v;
    case 'null':
      return null;
    case 'array':
      return Array.isArray(v) ? v.map((e) => toJson(e, type.element)) : wrongType(v, type);
    case 'struct': {
      if (typeof v !== 'object' || Array.isArray(v)) return wrongType(v, type);
      const o = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const f of type.fields) {
        const val = toJson(ownValue(o, f.name), f.type);
        if (val !== null) out[f.name] = val;
      }
      return out;
    }
  }
}

/** Text of one CSV field, or null for a null value (written as an empty unquoted field). */
export function toCsvText(v: unknown, type: DataType): string | null {
  if (v === null || v === undefined) return null;
  switch (type.kind) {
    case 'string':
      return typeof v === 'string' ? v : wrongType(v, type);
    case 'long':
    case 'double':
    case 'boolean':
    case 'timestamp':
    case 'date':
    case 'binary':
      return String(toJson(v, type));
    case 'null':
      return null;
    case 'json':
    case 'array':
    case 'struct':
      return JSON.stringify(toJson(v, type));
  }
}

// ---------------------------------------------------------------------------
// Hive-style partition directory values

export const HIVE_DEFAULT_PARTITION = '__HIVE_DEFAULT_PARTITION__';

/** Characters Spark escapes in partition path names (ExternalCatalogUtils.escapePathName). */
const ESCAPED = new Set(['"', '#', '%', "'", '*', '/', ':', '=', '?', '\\', '\x7F', '{', '[', ']', '^']);

export function escapePathName(s: string): string {
  let out = '';
  for (const ch of s) {
    const code = ch.charCodeAt(0);
    if (ch.length === 1 && ((code >= 0x01 && code <= 0x1f) || ESCAPED.has(ch))) {
      out += `%${code.toString(16).toUpperCase().padStart(2, '0')}`;
    } else {
      out += ch;
    }
  }
  return out;
}

export function unescapePathName(s: string): string {
  return s.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** The unescaped partition value text; null for null and the empty string (as Spark). */
export function partitionText(v: unknown, type: DataType): string | null {
  if (v === null || v === undefined) return null;
  switch (type.kind) {
    case 'string':
      if (typeof v !== 'string') return wrongType(v, type);
      return v === '' ? null : v;
    case 'timestamp': {
      // Spark's partition format: "yyyy-MM-dd HH:mm:ss[.SSS]" (here always UTC).
      const ms = v instanceof Date ? v.getTime() : typeof v === 'number' ? v : wrongType(v, type);
      const d = new Date(ms);
      if (Number.isNaN(d.getTime())) return wrongType(v, type);
      const frac = d.getUTCMilliseconds();
      return (
        `${d.toISOString().slice(0, 10)} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}` +
        (frac ? `.${String(frac).padStart(3, '0')}` : '')
      );
    }
    default:
      return String(toJson(v, type));
  }
}

/** `col=value` path segment for a partition column value. */
export function partitionSegment(col: string, v: unknown, type: DataType): string {
  const text = partitionText(v, type);
  return `${escapePathName(col)}=${text === null ? HIVE_DEFAULT_PARTITION : escapePathName(text)}`;
}

/** Read back a (still escaped) partition value from a directory name. */
export function parsePartitionValue(escaped: string, type: DataType): unknown {
  if (escaped === HIVE_DEFAULT_PARTITION) return null;
  return fromCsvField(unescapePathName(escaped), true, type);
}

/** Types a column must have to be used in partitionBy (atomic types only, as Spark). */
export function isPartitionableType(type: DataType): boolean {
  return ['string', 'long', 'double', 'boolean', 'timestamp', 'date'].includes(type.kind);
}

export { MS_PER_DAY };
