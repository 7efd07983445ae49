/**
 * SQL identifiers. Every table and column name the sink puts into SQL text goes
 * through `quoteIdent`: double quotes around it, inner double quotes doubled —
 * so a name is always taken literally (case kept, no keyword clash, no
 * injection). Values never appear in SQL text at all: they travel as parameters.
 */

/** `my "odd" Name` → `"my ""odd"" Name"`. */
export function quoteIdent(name: string): string {
  if (name.includes('\0'))
    throw new Error(`an identifier cannot contain a NUL character: ${JSON.stringify(name)}`);
  return `"${name.replace(/"/g, '""')}"`;
}

/** A table name, optionally in a schema. `schema` undefined: PostgreSQL's search_path decides. */
export interface TableName {
  readonly schema: string | undefined;
  readonly name: string;
}

/** `"schema"."name"` or `"name"`. */
export function qualified(t: TableName): string {
  return t.schema === undefined ? quoteIdent(t.name) : `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
}

/** `schema.name` for messages (unquoted, readable). */
export function displayName(t: TableName): string {
  return t.schema === undefined ? t.name : `${t.schema}.${t.name}`;
}

/**
 * Parse the `table` option: `'events'`, `'analytics.events'` or
 * `{ schema: 'analytics', name: 'events' }` (the object form takes names with
 * dots). Returns an error text instead of throwing, for the option validator.
 */
export function parseTableName(value: unknown, option: string): TableName | string {
  if (typeof value === 'string') {
    const parts = value.split('.');
    if (parts.some((p) => p.trim() === '') || parts.length > 2) {
      return (
        `"${option}" must be a table name or schema.table, got ${JSON.stringify(value)}; ` +
        `for names that contain dots use the object form { schema: 'my.schema', name: 'my.table' }`
      );
    }
    return parts.length === 2
      ? { schema: parts[0]!, name: parts[1]! }
      : { schema: undefined, name: parts[0]! };
  }
  if (value !== null && typeof value === 'object') {
    const o = value as { schema?: unknown; name?: unknown };
    if (typeof o.name !== 'string' || o.name === '') {
      return `"${option}.name" must be a non-empty string, got ${JSON.stringify(o.name)}`;
    }
    if (o.schema !== undefined && (typeof o.schema !== 'string' || o.schema === '')) {
      return `"${option}.schema" must be a non-empty string when given, got ${JSON.stringify(o.schema)}`;
    }
    return { schema: o.schema as string | undefined, name: o.name };
  }
  return `"${option}" must be a table name like 'events' or 'analytics.events', got ${JSON.stringify(value)}`;
}
