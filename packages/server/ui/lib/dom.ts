/**
 * A few DOM helpers instead of a framework: `h()` builds elements, `KeyedRows`
 * updates a table body in place (rows reused by key, cells touched only when their
 * text changed), so live updates do not rebuild tables nor lose focus or selection.
 * Text always goes through textContent: nothing from the API is parsed as HTML.
 */

export type Child = Node | string | number | null | undefined | false | readonly Child[];
type AttrValue = string | number | boolean | null | undefined;
export type Attrs = Record<string, AttrValue | ((e: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
      else if (v === true) el.setAttribute(k, '');
      else if (v !== false && v !== null && v !== undefined) el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: readonly Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replace an element's children. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** Set text only when it changed (no layout work for unchanged values). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** One table cell: text, optionally a link, a class (badges), a tooltip. */
export type Cell =
  | string
  | {
      readonly text: string;
      readonly href?: string;
      readonly cls?: string;
      readonly title?: string;
      /** Wrap the text in <code>. */
      readonly code?: boolean;
    }
  | {
      /** A control (e.g. a button): made again only when `sig` changes, so focus survives updates. */
      readonly sig: string;
      readonly make: () => Node;
    };

function cellSignature(c: Cell): string {
  if (typeof c === 'string') return c;
  if ('make' in c) return `\u0001${c.sig}`;
  return `${c.text}\u0000${c.href ?? ''}\u0000${c.cls ?? ''}\u0000${c.title ?? ''}`;
}

function paintCell(td: HTMLTableCellElement, c: Cell): void {
  const sig = cellSignature(c);
  if ((td as { _sig?: string })._sig === sig) return;
  (td as { _sig?: string })._sig = sig;
  if (typeof c === 'string') {
    td.textContent = c;
    return;
  }
  td.replaceChildren();
  if ('make' in c) {
    td.appendChild(c.make());
    return;
  }
  let inner: HTMLElement | Text = document.createTextNode(c.text);
  if (c.code) inner = h('code', null, inner);
  if (c.href) inner = h('a', { href: c.href }, inner);
  if (c.cls) inner = h('span', { class: c.cls }, inner);
  td.appendChild(inner);
  if (c.title) td.title = c.title;
  else td.removeAttribute('title');
}

/**
 * A table body whose rows are kept by key: `set(items)` reuses, reorders, adds and
 * removes <tr>s; each row's cells are repainted only where their content changed.
 */
export class KeyedRows<T> {
  private readonly rows = new Map<string, HTMLTableRowElement>();

  constructor(
    readonly tbody: HTMLTableSectionElement,
    private readonly key: (item: T) => string,
    private readonly cells: (item: T) => readonly Cell[],
    private readonly options: {
      /** Columns whose cells are right-aligned numbers (from table()). */
      readonly numeric?: readonly boolean[];
      /** Called for rows whose cells changed (e.g. to flash them). */
      readonly onChanged?: (tr: HTMLTableRowElement, item: T, added: boolean) => void;
    } = {},
  ) {}

  set(items: readonly T[]): void {
    const keep = new Set<string>();
    let i = 0;
    for (const item of items) {
      const k = this.key(item);
      if (keep.has(k)) continue; // a duplicate key: the first wins
      keep.add(k);
      let tr = this.rows.get(k);
      const added = tr === undefined;
      if (!tr) {
        tr = document.createElement('tr');
        this.rows.set(k, tr);
      }
      const cs = this.cells(item);
      let changed = false;
      while (tr.cells.length < cs.length) {
        // The first cell of a row heads it (accessible tables).
        const n = tr.cells.length;
        const cell = document.createElement(n === 0 ? 'th' : 'td');
        if (n === 0) cell.setAttribute('scope', 'row');
        if (this.options.numeric?.[n]) cell.className = 'num';
        tr.appendChild(cell);
      }
      while (tr.cells.length > cs.length) tr.lastElementChild!.remove();
      cs.forEach((c, j) => {
        const td = tr.cells[j]!;
        const before = (td as { _sig?: string })._sig;
        paintCell(td, c);
        if ((td as { _sig?: string })._sig !== before) changed = true;
      });
      const at = this.tbody.children[i];
      if (at !== tr) this.tbody.insertBefore(tr, at ?? null);
      if (changed) this.options.onChanged?.(tr, item, added);
      i++;
    }
    for (const [k, tr] of this.rows) {
      if (!keep.has(k)) {
        tr.remove();
        this.rows.delete(k);
      }
    }
  }

  get size(): number {
    return this.rows.size;
  }
}

/** A table with a caption and a header row; the body is returned for KeyedRows. */
export function table(
  caption: string,
  headers: readonly (string | { text: string; title?: string; num?: boolean })[],
  options: { hideCaption?: boolean; cls?: string } = {},
): { table: HTMLTableElement; tbody: HTMLTableSectionElement; numeric: boolean[] } {
  const tbody = h('tbody');
  const numeric = headers.map((x) => typeof x !== 'string' && x.num === true);
  const t = h(
    'table',
    { class: options.cls ?? 'grid' },
    h('caption', { class: options.hideCaption ? 'visually-hidden' : null }, caption),
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        headers.map((x) =>
          typeof x === 'string'
            ? h('th', { scope: 'col' }, x)
            : h('th', { scope: 'col', title: x.title ?? null, class: x.num ? 'num' : null }, x.text),
        ),
      ),
    ),
    tbody,
  );
  return { table: t, tbody, numeric };
}

/** A definition list from pairs (values as text or nodes). */
export function dl(pairs: readonly (readonly [string, Child])[], cls = 'facts'): HTMLDListElement {
  return h(
    'dl',
    { class: cls },
    pairs.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))),
  );
}
