/**
 * Result values in dashboard tables: scalars as text (format.ts `cellValue`, by the column's
 * type), nested values as small structures instead of cut JSON — an array of scalars as chips, an
 * array of structs (e.g. the top products of a window) as a nested table, a struct as a nested
 * table of one row.
 */
import { type Cell, h } from './dom.ts';
import { cellValue, elementType, fieldTypes } from './format.ts';

/** Items and columns shown in one nested value (the full value stays in the API). */
const MAX_ITEMS = 10;
const MAX_FIELDS = 8;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A table cell for a result value of column `column` whose type is `type` (if known). */
export function resultCell(column: string, v: unknown, type?: string): Cell {
  if (Array.isArray(v) || isRecord(v)) {
    return { sig: JSON.stringify(v), make: () => nested(column, v, type) };
  }
  return cellValue(column, v, type);
}

function nested(column: string, v: unknown, type: string | undefined): Node {
  if (isRecord(v)) return nestedTable([v], fieldTypes(type));
  const items = v as unknown[];
  const element = elementType(type);
  const more =
    items.length > MAX_ITEMS ? h('span', { class: 'muted' }, ` +${items.length - MAX_ITEMS} more`) : null;
  if (items.length === 0) return h('span', { class: 'muted' }, 'none');
  if (items.every(isRecord)) {
    return h('div', { class: 'nested' }, nestedTable(items.slice(0, MAX_ITEMS), fieldTypes(element)), more);
  }
  return h(
    'span',
    { class: 'chips' },
    ...items.slice(0, MAX_ITEMS).map((x) => h('span', { class: 'chip' }, text(column, x, element))),
    more,
  );
}

function nestedTable(rows: Record<string, unknown>[], types: Map<string, string>): HTMLTableElement {
  const cols: string[] = [];
  for (const r of rows)
    for (const k of Object.keys(r)) if (!cols.includes(k) && cols.length < MAX_FIELDS) cols.push(k);
  return h(
    'table',
    { class: 'nested-table' },
    h('thead', null, h('tr', null, ...cols.map((c) => h('th', { scope: 'col' }, c)))),
    h(
      'tbody',
      null,
      ...rows.map((r) =>
        h(
          'tr',
          null,
          ...cols.map((c) =>
            h('td', { class: typeof r[c] === 'number' ? 'num' : '' }, text(c, r[c], types.get(c))),
          ),
        ),
      ),
    ),
  );
}

/** Nested values inside nested values stay compact JSON. */
function text(column: string, v: unknown, type: string | undefined): string {
  return cellValue(column, v, type);
}
