/**
 * Spark's `Dataset.show()` table, as a pure function: values are cast to text
 * the way Spark casts them to string, cells longer than `truncate` characters
 * are cut (`first truncate-3 chars + "..."`), cells are right-aligned when
 * truncating and left-aligned otherwise, columns are at least 3 wide, and a
 * footer says when rows were left out.
 *
 * Text forms: null → `NULL`, timestamp → `yyyy-MM-dd HH:mm:ss.SSS` (UTC),
 * date → `yyyy-MM-dd`, double → Java's `Double.toString` (`1.0`, `1.0E10`),
 * array → `[a, b]`, struct → `{a, b}`, binary → `[0A FF]`, json → JSON text.
 */
import type { DataType, Row, Schema } from '../../schema/index.ts';

export interface FormatTableOptions {
  /** Rows to show; default 20. */
  numRows?: number;
  /** true (default) = cut cells to 20 characters; false = never cut; a number = cut to that many. */
  truncate?: boolean | number;
}

const pad2 = (n: number) => (n < 10 ? '0' : '') + n;
const pad3 = (n: number) => (n < 10 ? '00' : n < 100 ? '0' : '') + n;

function formatYear(y: number): string {
  if (y < 0) return '-' + String(-y).padStart(4, '0');
  return y < 1000 ? String(y).padStart(4, '0') : String(y);
}

/** `yyyy-MM-dd HH:mm:ss.SSS` in UTC. */
export function formatTimestampMillis(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  return (
    `${formatYear(d.getUTCFullYear())}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.${pad3(d.getUTCMilliseconds())}`
  );
}

function formatDateDays(days: number): string {
  const d = new Date(days * 86_400_000);
  if (Number.isNaN(d.getTime())) return String(days);
  return `${formatYear(d.getUTCFullYear())}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
}

/** Java's Double.toString: `1.0`, `0.001`, `1.0E7`, `1.5E-4`, `NaN`, `Infinity`. */
export function formatDouble(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const abs = Math.abs(v);
  if (abs >= 1e-3 && abs < 1e7) {
    const s = String(v);
    return s.includes('.') ? s : `${s}.0`;
  }
  const [mant, exp] = v.toExponential().split('e') as [string, string];
  return `${mant.includes('.') ? mant : `${mant}.0`}E${exp.startsWith('+') ? exp.slice(1) : exp}`;
}

/** A value as Spark's cast to string shows it (nested values the same way). */
export function formatValue(value: unknown, type: DataType): string {
  if (value === null || value === undefined) return 'NULL';
  switch (type.kind) {
    case 'string':
    case 'long':
      return String(value);
    case 'double':
      return typeof value === 'number' ? formatDouble(value) : String(value);
    case 'boolean':
      return String(value);
    case 'timestamp':
      return typeof value === 'number' ? formatTimestampMillis(value) : String(value);
    case 'date':
      return typeof value === 'number' ? formatDateDays(value) : String(value);
    case 'binary':
      return value instanceof Uint8Array ? formatBinary(value) : String(value);
    case 'json':
      return typeof value === 'string' ? value : JSON.stringify(value);
    case 'null':
      return 'NULL';
    case 'array':
      return Array.isArray(value)
        ? `[${value.map((e) => formatValue(e, type.element)).join(', ')}]`
        : String(value);
    case 'struct': {
      if (typeof value !== 'object') return String(value);
      const obj = value as Record<string, unknown>;
      return `{${type.fields.map((f) => formatValue(obj[f.name], f.type)).join(', ')}}`;
    }
  }
}

function formatBinary(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (i ? ' ' : '') + b[i]!.toString(16).toUpperCase().padStart(2, '0');
  return `[${s}]`;
}

const META: Record<string, string> = {
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\f': '\\f',
  '\b': '\\b',
  '\u000B': '\\v',
  '\u0007': '\\a',
};

/** Escape the control characters that would break the table (as Spark does). */
function escapeMeta(s: string): string {
  let out: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const rep = META[s[i]!];
    if (rep !== undefined) {
      out ??= s.slice(0, i);
      out += rep;
    } else if (out !== undefined) {
      out += s[i];
    }
  }
  return out ?? s;
}

// East Asian wide characters take two columns (Spark's Utils.stringHalfWidth).
const FULL_WIDTH =
  /[\u1100-\u115F\u2E80-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE10-\uFE19\uFE30-\uFE6F\uFF00-\uFF60\uFFE0-\uFFE6]/g;

function displayWidth(s: string): number {
  const wide = s.match(FULL_WIDTH);
  return s.length + (wide ? wide.length : 0);
}

function truncateCell(s: string, truncate: number): string {
  if (truncate <= 0 || s.length <= truncate) return s;
  return truncate < 4 ? s.slice(0, truncate) : `${s.slice(0, truncate - 3)}...`;
}

/** The `show()` text of `rows` (ends with a newline). */
export function formatTable(rows: readonly Row[], schema: Schema, options: FormatTableOptions = {}): string {
  const numRows = Math.max(0, Math.floor(options.numRows ?? 20));
  const t = options.truncate ?? true;
  const truncate = t === true ? 20 : t === false ? 0 : Math.max(0, Math.floor(t));
  const fields = schema.fields;

  const shown = rows.length > numRows ? rows.slice(0, numRows) : rows;
  const cells: string[][] = [fields.map((f) => escapeMeta(f.name))];
  for (const row of shown) {
    cells.push(fields.map((f) => truncateCell(escapeMeta(formatValue(row[f.name], f.type)), truncate)));
  }

  const widths = fields.map(() => 3);
  for (const line of cells) {
    for (let i = 0; i < line.length; i++) widths[i] = Math.max(widths[i]!, displayWidth(line[i]!));
  }
  const sep = `+${widths.map((w) => '-'.repeat(w)).join('+')}+\n`;
  const render = (line: string[]) =>
    `|${line
      .map((c, i) => {
        const fill = ' '.repeat(widths[i]! - displayWidth(c));
        return truncate > 0 ? fill + c : c + fill;
      })
      .join('|')}|\n`;

  let out = sep + render(cells[0]!) + sep;
  for (let r = 1; r < cells.length; r++) out += render(cells[r]!);
  out += sep;
  if (rows.length > numRows) out += `only showing top ${numRows} ${numRows === 1 ? 'row' : 'rows'}\n`;
  return out;
}
