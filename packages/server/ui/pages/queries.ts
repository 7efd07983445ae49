/**
 * The queries list: every query with its health at a glance, live. It loads
 * GET /api/v1/queries once; then each query.* event carries the query's new summary,
 * which replaces the row (rendered at most 4 times a second).
 */
import { getJson } from '../lib/api.ts';
import { KeyedRows, h, replace, table } from '../lib/dom.ts';
import { ago, ms, num, seconds } from '../lib/format.ts';
import type { Page, PageContext } from '../lib/page.ts';
import { throttle } from '../lib/schedule.ts';
import { stats } from '../lib/stats.ts';
import { queryHref, type QuerySummary } from '../lib/types.ts';

export function healthCell(q: QuerySummary): { text: string; cls: string; title: string } {
  const text =
    q.health === 'stopped' && q.endReason === 'finished'
      ? 'finished'
      : q.health === 'active'
        ? 'active'
        : q.health;
  return { text, cls: `badge health-${q.health}`, title: q.status.message };
}

/** now − watermark, for running queries whose watermark has moved. */
export function watermarkLagSeconds(q: QuerySummary, now = Date.now()): number | null {
  if (q.health !== 'active' || q.watermark === null) return null;
  return (now - Date.parse(q.watermark)) / 1000;
}

/** Whether processing keeps up with input (by the last batch's rates). */
export function behind(q: QuerySummary): boolean {
  return (
    q.health === 'active' &&
    q.inputRowsPerSecond > 0 &&
    q.processedRowsPerSecond < q.inputRowsPerSecond * 0.95
  );
}

function order(a: QuerySummary, b: QuerySummary): number {
  return (
    Number(b.health === 'active') - Number(a.health === 'active') ||
    Date.parse(b.startedAt) - Date.parse(a.startedAt) ||
    a.name.localeCompare(b.name)
  );
}

export function queriesPage(ctx: PageContext): Page {
  ctx.setTitle('Queries');
  const queries = new Map<string, QuerySummary>();
  let loaded = false;
  let error: string | null = null;

  // Two queries may share a name (a new checkpoint): link those by id.
  const uniqueName = (q: QuerySummary) => {
    if (q.name === '') return false;
    for (const o of queries.values()) if (o.name === q.name && o.id !== q.id) return false;
    return true;
  };

  const summary = h('p', { class: 'summary', id: 'queries-summary' });
  const status = h('p', { class: 'empty' });
  const t = table(
    'Queries',
    [
      'Query',
      'Health',
      'Status',
      { text: 'Last batch', num: true },
      { text: 'Input rows/s', num: true, title: 'Rows per second arriving (last batch)' },
      {
        text: 'Processed rows/s',
        num: true,
        title: 'Rows per second processed (last batch); ⚠ = slower than input',
      },
      { text: 'Batch duration', num: true },
      { text: 'Watermark lag', num: true, title: 'now − watermark (running queries)' },
      { text: 'State rows', num: true },
      { text: 'Source lag', num: true, title: 'latest − processed offset, in the source’s units' },
      { text: 'Rows in', num: true, title: 'Input rows since the service saw the query start' },
    ],
    { hideCaption: true },
  );
  t.table.id = 'queries';
  const rows = new KeyedRows<QuerySummary>(
    t.tbody,
    (q) => q.id,
    (q) => {
      const lag = watermarkLagSeconds(q);
      return [
        { text: q.name, href: queryHref(uniqueName(q) ? q.name : q.id), title: `id ${q.id}` },
        healthCell(q),
        q.failure
          ? { text: `${q.failure.code}: ${q.failure.message}`, cls: 'failure-text', title: q.failure.message }
          : q.status.message,
        q.lastBatchId === null
          ? '—'
          : { text: `#${q.lastBatchId}`, title: `at ${q.lastProgressAt} (${ago(q.lastProgressAt)})` },
        num(q.inputRowsPerSecond),
        behind(q)
          ? {
              text: `⚠ ${num(q.processedRowsPerSecond)}`,
              cls: 'warn',
              title: 'processing is slower than input',
            }
          : num(q.processedRowsPerSecond),
        ms(q.batchDurationMs),
        lag === null ? '—' : seconds(Math.max(0, lag)),
        num(q.stateRowsTotal),
        num(q.sourceLag),
        num(q.totalInputRows),
      ];
    },
    { numeric: t.numeric },
  );

  ctx.main.append(
    h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, 'Queries'), summary),
    h('div', { class: 'table-wrap' }, t.table),
    status,
  );

  const render = throttle(() => {
    const list = [...queries.values()].sort(order);
    rows.set(list);
    const n = { active: 0, failed: 0, stopped: 0 };
    for (const q of list) n[q.health]++;
    replace(
      summary,
      `${list.length} ${list.length === 1 ? 'query' : 'queries'}: `,
      h('span', { class: 'badge health-active' }, `${n.active} active`),
      ' ',
      h('span', { class: 'badge health-failed' }, `${n.failed} failed`),
      ' ',
      h('span', { class: 'badge health-stopped' }, `${n.stopped} stopped`),
    );
    status.textContent = error
      ? `Could not load the queries: ${error}`
      : loaded && list.length === 0
        ? 'No queries yet. Queries show up here as soon as the pipeline starts them.'
        : '';
    status.hidden = status.textContent === '';
    if (loaded) {
      stats.mark('queries:ready');
      t.table.dataset.ready = 'true';
    }
  });

  const load = async () => {
    try {
      const r = await getJson<{ queries: QuerySummary[] }>('/api/v1/queries');
      queries.clear();
      for (const q of r.queries) queries.set(q.id, q);
      error = null;
    } catch (e) {
      error = (e as Error).message;
    }
    loaded = true;
    render.request();
    render.flush();
  };

  const off = ctx.events.on(
    ['query.started', 'query.progress', 'query.terminated'],
    (d: { query: QuerySummary }) => {
      queries.set(d.query.id, d.query);
      render.request();
    },
  );
  const offResync = ctx.events.on('resync', () => void load());
  // Ages and watermark lags move with the clock.
  const tick = window.setInterval(() => render.request(), 1_000);
  void load();

  return {
    destroy() {
      off();
      offResync();
      window.clearInterval(tick);
      render.cancel();
    },
  };
}
