/**
 * Column naming of SQL sinks: `'as-is'` writes the query's names (windowStart → "windowStart",
 * which SQL users must then quote), `'snake_case'` writes windowStart → window_start, the usual
 * SQL style (no quotes needed). Only top-level columns are renamed; JSON and struct contents keep
 * their keys. keyColumns may name either form.
 *
 * Shared by the SQL sinks (@millrace/postgres, @millrace/mariadb) through `millrace/sql-sink`.
 */
import { MillraceError } from '../../errors/index.ts';
import { Schema, type Row } from '../../schema/index.ts';

export type ColumnNaming = 'as-is' | 'snake_case';

/** windowStart → window_start, HTTPStatus → http_status, userId2 → user_id2; lower-case names stay. */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase();
}

export interface Renaming {
  /** The query's schema with the table's column names. */
  readonly schema: Schema;
  /** keyColumns as column names. */
  readonly keyColumns: readonly string[];
  /** A row with the column names as keys; undefined when no name changes. */
  readonly row: ((r: Row) => Row) | undefined;
}

export function renameColumns(
  schema: Schema,
  keyColumns: readonly string[],
  naming: ColumnNaming,
  who: string,
): Renaming {
  if (naming === 'as-is') return { schema, keyColumns, row: undefined };
  const pairs = schema.fields.map((f) => [f.name, snakeCase(f.name)] as const);
  const taken = new Map<string, string>();
  for (const [from, to] of pairs) {
    const other = taken.get(to);
    if (other !== undefined)
      throw new MillraceError(
        'DUPLICATE_COLUMN',
        `${who}: columns "${other}" and "${from}" both become "${to}" with columnNames: 'snake_case'; rename one in the query (or use columnNames: 'as-is')`,
        { domain: 'user' },
      );
    taken.set(to, from);
  }
  const renamed = new Schema(schema.fields.map((f, i) => ({ ...f, name: pairs[i]![1] })));
  const toColumn = new Map(pairs);
  const keys = keyColumns.map((k) => toColumn.get(k) ?? k);
  if (pairs.every(([a, b]) => a === b)) return { schema: renamed, keyColumns: keys, row: undefined };
  return {
    schema: renamed,
    keyColumns: keys,
    row: (r) => {
      const out: Row = {};
      for (const [from, to] of pairs) out[to] = r[from];
      return out;
    },
  };
}
