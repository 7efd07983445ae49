/**
 * SQL identifiers. Every database, table and column name the sink puts into SQL text goes through
 * `quoteIdent`: backticks around it, inner backticks doubled — so a name is always taken literally
 * (no keyword clash, no injection). Values never appear in SQL text: they travel as parameters.
 */

/** `my `odd` name` → `` `my ``odd`` name` ``. */
export function quoteIdent(name: string): string {
  if (name.includes('\0'))
    throw new Error(`an identifier cannot contain a NUL character: ${JSON.stringify(name)}`);
  return `\`${name.replace(/`/g, '``')}\``;
}

/** A table name, optionally in a database. `database` undefined: the connection's database. */
export interface TableName {
  readonly database: string | undefined;
  readonly name: string;
}

/** `` `db`.`name` `` or `` `name` ``. */
export function qualified(t: TableName): string {
  return t.database === undefined ? quoteIdent(t.name) : `${quoteIdent(t.database)}.${quoteIdent(t.name)}`;
}

/** `db.name` for messages (unquoted, readable). */
export function displayName(t: TableName): string {
  return t.database === undefined ? t.name : `${t.database}.${t.name}`;
}

export const columnList = (names: readonly string[]): string => names.map(quoteIdent).join(', ');

/**
 * Parse a `table` option: `'events'`, `'analytics.events'` or `{ database: 'analytics', name: 'events' }`
 * (the object form takes names with dots). Returns an error text instead of throwing.
 */
export function parseTableName(value: unknown, option: string): TableName | string {
  if (typeof value === 'string') {
    const parts = value.split('.');
    if (parts.some((p) => p.trim() === '') || parts.length > 2) {
      return (
        `"${option}" must be a table name or database.table, got ${JSON.stringify(value)}; ` +
        `for names that contain dots use the object form { database: 'my.db', name: 'my.table' }`
      );
    }
    return parts.length === 2
      ? { database: parts[0]!, name: parts[1]! }
      : { database: undefined, name: parts[0]! };
  }
  if (value !== null && typeof value === 'object') {
    const o = value as { database?: unknown; name?: unknown };
    if (typeof o.name !== 'string' || o.name === '') {
      return `"${option}.name" must be a non-empty string, got ${JSON.stringify(o.name)}`;
    }
    if (o.database !== undefined && (typeof o.database !== 'string' || o.database === '')) {
      return `"${option}.database" must be a non-empty string when given, got ${JSON.stringify(o.database)}`;
    }
    return { database: o.database as string | undefined, name: o.name };
  }
  return `"${option}" must be a table name like 'events' or 'analytics.events', got ${JSON.stringify(value)}`;
}
