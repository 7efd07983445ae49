/**
 * One query: charts over its recent batches, the batch table, sources, sink, state
 * operators (and their state partitions, see partitions.ts), the plan, why it failed,
 * and stop / restart.
 *
 *   load:  GET /queries/{q}  +  GET /queries/{q}/progress?limit=<window>   (≤ 1,000 batches)
 *   live:  query.progress ──▶ append the entry (charts, table) ──▶ render ≤ 4/s
 *                        └──▶ re-read the detail (sources, state, sink) at most every 2 s
 *          query.started / query.terminated ──▶ re-read the detail now
 *   older batches: the table pages through the server's ring (20 a page), never all of it
 */
import { ApiError, getJson, post } from '../lib/api.ts';
import { TimeChart, PALETTE } from '../lib/charts.ts';
import { KeyedRows, dl, h, replace, setText, table, type Child } from '../lib/dom.ts';
import { ago, bytes, compact, json, ms, num, seconds, time } from '../lib/format.ts';
import type { Page, PageContext } from '../lib/page.ts';
import { limited, throttle } from '../lib/schedule.ts';
import { stats } from '../lib/stats.ts';
import { toast } from '../lib/toast.ts';
import {
  dashboardHref,
  type HistoryEntry,
  type HistoryPage,
  type QueryDetail,
  type QueryProgressEvent,
  type QuerySummary,
} from '../lib/types.ts';
import { StatePartitionsView } from './partitions.ts';
import { healthCell, watermarkLagSeconds } from './queries.ts';

const WINDOWS = [60, 300, 1000] as const;
const PAGE = 20;
const WINDOW_KEY = 'millrace.chartWindow';

function chartWindow(): number {
  const v = Number(localStorage.getItem(WINDOW_KEY));
  return (WINDOWS as readonly number[]).includes(v) ? v : 300;
}

const enc = encodeURIComponent;

export function queryPage(ctx: PageContext, params: readonly string[]): Page {
  const ref = params[0] ?? '';
  ctx.setTitle(ref);
  let detail: QueryDetail | null = null;
  let entries: HistoryEntry[] = [];
  let windowSize = chartWindow();
  let notFound: string | null = null;
  let pageNewest: number | null = null; // null: the table follows the newest batches
  let paged: HistoryEntry[] = [];
  let selected: number | null = null;
  let oldestKept: number | null = null; // the oldest batch the server still keeps
  let destroyed = false;
  const dirty = { head: true, charts: true, table: true, detail: true };

  // -- layout ----------------------------------------------------------------------------------

  const title = h('h1', { tabindex: -1 }, ref);
  const badge = h('span', { class: 'badge' });
  const statusText = h('span', { class: 'status-text' });
  const stopBtn = h('button', { type: 'button', class: 'danger', id: 'stop-query' }, 'Stop');
  const restartBtn = h('button', { type: 'button', id: 'restart-query' }, 'Restart');
  const head = h(
    'div',
    { class: 'page-head' },
    h('p', { class: 'crumbs' }, h('a', { href: '/' }, 'Queries'), ' / '),
    h(
      'div',
      { class: 'title-row' },
      title,
      badge,
      statusText,
      h('div', { class: 'actions' }, stopBtn, restartBtn),
    ),
  );
  const errorView = h('section', {
    class: 'error-view',
    id: 'failure',
    hidden: true,
    'aria-labelledby': 'failure-title',
  });
  const kpiValues = new Map<string, HTMLElement>();
  const kpi = (key: string, label: string) => {
    const dd = h('dd', { 'data-kpi': key }, '—');
    kpiValues.set(key, dd);
    return h('div', null, h('dt', null, label), dd);
  };
  const kpis = h(
    'dl',
    { class: 'kpis', id: 'kpis' },
    kpi('batch', 'Last batch'),
    kpi('input', 'Input rows/s'),
    kpi('processed', 'Processed rows/s'),
    kpi('duration', 'Batch duration'),
    kpi('watermark', 'Watermark'),
    kpi('state', 'State rows'),
    kpi('lag', 'Source lag'),
    kpi('totals', 'Rows in / out'),
  );

  const sync = `q-${ref}`;
  const rateChart = new TimeChart({
    title: 'Input vs processing rate',
    note: 'rows per second, per batch',
    series: [
      { label: 'input rows/s', color: PALETTE[0]! },
      { label: 'processed rows/s', color: PALETTE[2]! },
    ],
    axisFormat: compact,
    syncKey: sync,
  });
  const phaseChart = new TimeChart({
    title: 'Batch duration by phase',
    note: 'stacked; the dashed line is the whole batch',
    stacked: true,
    series: [
      { label: 'latestOffset', color: PALETTE[5]! },
      { label: 'walCommit', color: PALETTE[6]! },
      { label: 'getBatch', color: PALETTE[1]! },
      { label: 'addBatch', color: PALETTE[0]! },
      { label: 'commitOffsets', color: PALETTE[4]! },
      { label: 'batch', color: PALETTE[8]!, dash: [4, 3], stack: false },
    ],
    format: ms,
    syncKey: sync,
  });
  const lagChart = new TimeChart({
    title: 'Watermark and event-time lag',
    note: 'batch time − watermark, batch time − newest event',
    series: [
      { label: 'watermark lag', color: PALETTE[4]! },
      { label: 'event-time lag', color: PALETTE[1]! },
    ],
    format: seconds,
    syncKey: sync,
  });
  const stateChart = new TimeChart({
    title: 'State rows',
    note: 'after each batch',
    series: [
      { label: 'total', color: PALETTE[0]! },
      { label: 'updated', color: PALETTE[2]! },
      { label: 'removed', color: PALETTE[3]! },
      { label: 'dropped by watermark', color: PALETTE[6]! },
    ],
    axisFormat: compact,
    syncKey: sync,
  });
  const sourceLagChart = new TimeChart({
    title: 'Source lag',
    note: 'latest − processed offset (sources that report it)',
    series: [{ label: 'lag', color: PALETTE[3]! }],
    axisFormat: compact,
    syncKey: sync,
  });
  const charts = [rateChart, phaseChart, lagChart, stateChart, sourceLagChart];

  const windowSelect = h(
    'select',
    { id: 'chart-window' },
    WINDOWS.map((w) => h('option', { value: w, selected: w === windowSize }, `last ${w} batches`)),
  );
  const chartInfo = h('span', { class: 'muted', id: 'chart-info' });
  const chartsEmpty = h(
    'p',
    { class: 'muted', hidden: true },
    'No batch has completed yet: the charts start with the first one.',
  );

  const batchTable = table(
    'Recent batches',
    [
      'Batch',
      'Time',
      { text: 'Input rows', num: true },
      { text: 'Input rows/s', num: true },
      { text: 'Processed rows/s', num: true },
      { text: 'Output rows', num: true },
      { text: 'Duration', num: true },
      { text: 'addBatch', num: true },
      'Watermark',
      { text: 'State rows', num: true },
      { text: 'Source lag', num: true },
    ],
    { hideCaption: true },
  );
  batchTable.table.id = 'batches';
  const batchRows = new KeyedRows<HistoryEntry>(
    batchTable.tbody,
    (e) => String(e.batchId),
    (e) => [
      {
        text: `#${e.batchId}${e.isNoDataBatch ? ' (no data)' : ''}`,
        href: `#batch-${e.batchId}`,
        title: 'Show the full progress record',
      },
      time(e.timestamp, true),
      num(e.numInputRows),
      num(e.inputRowsPerSecond),
      num(e.processedRowsPerSecond),
      num(e.numOutputRows),
      ms(e.batchDuration),
      ms(e.durationMs.addBatch),
      e.watermark ? time(e.watermark) : '—',
      num(e.stateRowsTotal),
      num(e.sourceLag),
    ],
    { numeric: batchTable.numeric },
  );
  const newestBtn = h('button', { type: 'button', id: 'batches-newest' }, 'Newest');
  const newerBtn = h('button', { type: 'button', id: 'batches-newer' }, '← Newer');
  const olderBtn = h('button', { type: 'button', id: 'batches-older' }, 'Older →');
  const pageInfo = h('span', { class: 'muted', id: 'batches-info', 'aria-live': 'polite' });
  const record = h('div', { id: 'batch-record', hidden: true });

  const sources = table(
    'Sources',
    [
      'Source',
      'Description',
      'Start offset',
      'End offset',
      'Latest offset',
      { text: 'Lag', num: true },
      { text: 'Rows', num: true },
      { text: 'Input rows/s', num: true },
      { text: 'Processed rows/s', num: true },
      { text: 'Malformed', num: true },
    ],
    { hideCaption: true },
  );
  sources.table.id = 'sources';
  const sourceRows = new KeyedRows<QueryDetail['sources'][number]>(
    sources.tbody,
    (s) => s.name,
    (s) => [
      s.name,
      { text: json(s.description, 80), title: s.description },
      { text: json(s.startOffset, 60), title: json(s.startOffset, 2000), code: true },
      { text: json(s.endOffset, 60), title: json(s.endOffset, 2000), code: true },
      { text: json(s.latestOffset, 60), title: json(s.latestOffset, 2000), code: true },
      num(s.lag),
      num(s.numInputRows),
      num(s.inputRowsPerSecond),
      num(s.processedRowsPerSecond),
      num(s.numMalformedRows),
    ],
    { numeric: sources.numeric },
  );
  const sink = h('div', { id: 'sink' });
  const state = table(
    'State operators',
    [
      'Operator',
      { text: 'Rows', num: true },
      { text: 'Updated', num: true },
      { text: 'Removed', num: true },
      { text: 'Dropped by watermark', num: true },
      { text: 'Memory', num: true },
      { text: 'Commit', num: true },
      'Custom metrics',
    ],
    { hideCaption: true },
  );
  state.table.id = 'state-operators';
  const stateRows = new KeyedRows<QueryDetail['stateOperators'][number]>(
    state.tbody,
    (o) => o.operatorName,
    (o) => [
      o.operatorName,
      num(o.numRowsTotal),
      num(o.numRowsUpdated),
      num(o.numRowsRemoved),
      num(o.numRowsDroppedByWatermark ?? null),
      bytes(o.memoryUsedBytes),
      ms(o.commitTimeMs ?? null),
      { text: json(o.customMetrics ?? {}, 80), code: true },
    ],
    { numeric: state.numeric },
  );
  const stateEmpty = h('p', { class: 'muted' }, 'No stateful operators (or no batch yet).');
  const statePartitions = new StatePartitionsView();
  const sourcesEmpty = h('p', { class: 'muted' }, 'No batch has run yet.');
  const plan = h('pre', { class: 'plan', id: 'plan' });
  const about = h('div', { id: 'about' });
  const missing = h('div', { class: 'empty', hidden: true, id: 'not-found' });

  const section = (id: string, heading: string, ...children: Child[]) =>
    h(
      'section',
      { class: 'panel', 'aria-labelledby': `${id}-h` },
      h('h2', { id: `${id}-h` }, heading),
      ...children,
    );

  const content = h(
    'div',
    null,
    errorView,
    kpis,
    section(
      'charts',
      'Over time',
      h(
        'div',
        { class: 'toolbar' },
        h('label', { for: 'chart-window' }, 'Show '),
        windowSelect,
        ' ',
        chartInfo,
      ),
      h(
        'div',
        { class: 'chart-grid', id: 'charts' },
        charts.map((c) => c.el),
      ),
      chartsEmpty,
    ),
    section(
      'batches',
      'Batches',
      h('div', { class: 'toolbar' }, newestBtn, newerBtn, olderBtn, ' ', pageInfo),
      h('div', { class: 'table-wrap' }, batchTable.table),
      record,
    ),
    section('sources', 'Sources', h('div', { class: 'table-wrap' }, sources.table), sourcesEmpty),
    section(
      'state',
      'State operators',
      h('div', { class: 'table-wrap' }, state.table),
      stateEmpty,
      statePartitions.el,
    ),
    h(
      'div',
      { class: 'two-col' },
      section('sink', 'Sink', sink),
      section('about', 'About this query', about),
    ),
    section('plan', 'Plan', h('details', { open: true }, h('summary', null, 'explain()'), plan)),
  );
  ctx.main.append(head, missing, content);
  for (const c of charts) c.attached();

  // -- rendering -------------------------------------------------------------------------------

  const renderHead = (d: QueryDetail) => {
    setText(title, d.name);
    ctx.setTitle(d.name);
    const hc = healthCell(d);
    setText(badge, hc.text);
    badge.className = hc.cls;
    setText(
      statusText,
      d.health === 'active' ? d.status.message : d.endReason ? `ended: ${d.endReason}` : '',
    );
    // A connector waiting for a service (a broker that went away) stands out from "Waiting for data".
    const waiting = d.health === 'active' ? d.status.waitingFor : [];
    statusText.classList.toggle('waiting', waiting.length > 0);
    statusText.title = waiting.map((w) => `${w.connector}: since ${w.since}`).join('\n');
    stopBtn.disabled = d.health !== 'active';
    restartBtn.disabled = !d.restartable;
    restartBtn.title = d.restartable
      ? 'Start again from the checkpoint (stopping it first if it runs)'
      : 'Not restartable: started outside the service or without a checkpointLocation';

    const lag = watermarkLagSeconds(d);
    const set = (k: string, v: string) => setText(kpiValues.get(k)!, v);
    set('batch', d.lastBatchId === null ? '—' : `#${d.lastBatchId} · ${ago(d.lastProgressAt)}`);
    set('input', num(d.inputRowsPerSecond));
    set('processed', num(d.processedRowsPerSecond));
    set('duration', ms(d.batchDurationMs));
    set(
      'watermark',
      d.watermark ? `${time(d.watermark)}${lag === null ? '' : ` (lag ${seconds(Math.max(0, lag))})`}` : '—',
    );
    set('state', `${num(d.stateRowsTotal)}${d.stateMemoryBytes ? ` · ${bytes(d.stateMemoryBytes)}` : ''}`);
    set('lag', num(d.sourceLag));
    set('totals', `${num(d.totalInputRows)} / ${num(d.totalOutputRows)}`);

    errorView.hidden = d.failure === null;
    if (d.failure) {
      const f = d.failure;
      const ctxEntries = Object.entries(f.context ?? {});
      replace(
        errorView,
        h('h2', { id: 'failure-title' }, 'This query failed'),
        h(
          'p',
          { class: 'failure-code' },
          h('code', null, f.code),
          ` · ${f.domain} error · ${f.retryable ? 'retryable' : 'not retryable'}`,
        ),
        h('p', { class: 'failure-message' }, f.message),
        ctxEntries.length
          ? h(
              'table',
              { class: 'context' },
              h('caption', null, 'Context'),
              h(
                'tbody',
                null,
                ctxEntries.map(([k, v]) =>
                  h('tr', null, h('th', { scope: 'row' }, k), h('td', null, h('code', null, json(v, 500)))),
                ),
              ),
            )
          : null,
        h(
          'p',
          { class: 'muted' },
          `Failed at ${time(d.terminatedAt)} after ${d.runs} run${d.runs === 1 ? '' : 's'}. `,
          d.restartable ? 'Fix the cause, then Restart resumes from the last committed batch.' : '',
        ),
      );
    }
  };

  const renderDetail = (d: QueryDetail) => {
    sourceRows.set(d.sources);
    sources.table.hidden = d.sources.length === 0;
    sourcesEmpty.hidden = d.sources.length > 0;
    stateRows.set(d.stateOperators);
    state.table.hidden = d.stateOperators.length === 0;
    stateEmpty.hidden = d.stateOperators.length > 0;
    statePartitions.set(d.stateOperators);
    const s = d.sink;
    replace(
      sink,
      s
        ? dl([
            ['Name', s.name ?? '—'],
            ['Kind', s.kind],
            ['Description', s.description || '—'],
            ['Rows written (last batch)', num(s.numOutputRows)],
            [
              'Rows kept here',
              s.rowsAvailable ? h('a', { href: `/api/v1/queries/${enc(d.id)}/rows` }, 'GET …/rows') : 'no',
            ],
            ...(s.kind === 'dashboard' && s.name
              ? [['Dashboard', h('a', { href: dashboardHref(s.name) }, s.name)] as const]
              : []),
            ...Object.entries(s.metrics).map(([k, v]) => [k, json(v, 100)] as const),
          ])
        : h('p', { class: 'muted' }, 'Unknown until the first batch.'),
    );
    setText(plan, d.explain || '(no plan yet)');
    replace(
      about,
      dl([
        ['Id', h('code', null, d.id)],
        ['Run id', h('code', null, d.runId)],
        ['Trigger', d.trigger ?? '—'],
        ['Runs', String(d.runs)],
        ['Started', time(d.startedAt)],
        ['Ended', d.terminatedAt ? `${time(d.terminatedAt)} (${d.endReason ?? ''})` : '—'],
        ['Checkpoint', d.checkpointLocation ? h('code', null, d.checkpointLocation) : '—'],
        [
          'History kept',
          `${num(d.history.size)} of ${num(d.history.capacity)} batches (full records: last ${d.history.fullRecordsKept})`,
        ],
      ]),
    );
  };

  const renderCharts = () => {
    const x = entries.map((e) => Date.parse(e.timestamp));
    const col = (f: (e: HistoryEntry) => number | null) => entries.map(f);
    rateChart.setData(x, [col((e) => e.inputRowsPerSecond), col((e) => e.processedRowsPerSecond)]);
    phaseChart.setData(x, [
      col((e) => e.durationMs.latestOffset),
      col((e) => e.durationMs.walCommit),
      col((e) => e.durationMs.getBatch),
      col((e) => e.durationMs.addBatch),
      col((e) => e.durationMs.commitOffsets),
      col((e) => e.batchDuration),
    ]);
    const since = (a: string, b: string | null) =>
      b === null ? null : (Date.parse(a) - Date.parse(b)) / 1000;
    lagChart.setData(x, [
      col((e) => since(e.timestamp, e.watermark)),
      col((e) => since(e.timestamp, e.eventTimeMax)),
    ]);
    stateChart.setData(x, [
      col((e) => e.stateRowsTotal),
      col((e) => e.stateRowsUpdated),
      col((e) => e.stateRowsRemoved),
      col((e) => e.stateRowsDroppedByWatermark),
    ]);
    sourceLagChart.setData(x, [col((e) => e.sourceLag)]);
    sourceLagChart.el.hidden = entries.length > 0 && entries.every((e) => e.sourceLag === null);
    const grid = rateChart.el.parentElement!;
    grid.hidden = entries.length === 0;
    chartsEmpty.hidden = entries.length > 0;
    const first = entries[0];
    const last = entries[entries.length - 1];
    setText(
      chartInfo,
      first && last ? `batches #${first.batchId}–#${last.batchId} (${entries.length})` : 'no batches yet',
    );
  };

  const shownBatches = (): HistoryEntry[] => (pageNewest === null ? entries.slice(-PAGE).reverse() : paged);

  const renderTable = () => {
    const rows = shownBatches();
    batchRows.set(rows);
    batchTable.table.hidden = rows.length === 0;
    const kept = detail?.history;
    const newest = entries[entries.length - 1]?.batchId ?? null;
    newestBtn.disabled = pageNewest === null;
    newerBtn.disabled = pageNewest === null || paging;
    const oldestShown = rows[rows.length - 1]?.batchId ?? null;
    olderBtn.disabled = paging || oldestShown === null || (oldestKept !== null && oldestShown <= oldestKept);
    setText(
      pageInfo,
      rows.length === 0
        ? 'no batches yet'
        : `#${rows[0]!.batchId} to #${oldestShown}${pageNewest === null ? ' (live)' : ` of #${newest ?? '?'}`}` +
            (kept ? ` · the server keeps the last ${num(kept.size)} (of ${num(kept.capacity)})` : ''),
    );
  };

  const render = throttle(() => {
    if (destroyed) return;
    if (notFound !== null) {
      missing.hidden = false;
      content.hidden = true;
      replace(missing, h('p', null, notFound), h('p', null, h('a', { href: '/' }, 'Back to the queries')));
      return;
    }
    missing.hidden = true;
    content.hidden = false;
    if (!detail) return;
    if (dirty.head) renderHead(detail);
    if (dirty.detail) renderDetail(detail);
    if (dirty.charts) renderCharts();
    if (dirty.table) renderTable();
    dirty.head = dirty.charts = dirty.table = dirty.detail = false;
    stats.mark('query:ready');
    content.dataset.ready = 'true';
  });
  const markAll = () => {
    dirty.head = dirty.charts = dirty.table = dirty.detail = true;
    render.request();
  };

  // -- data ------------------------------------------------------------------------------------

  const api = () => `/api/v1/queries/${enc(detail?.id ?? ref)}`;

  const loadDetail = async () => {
    try {
      const d = await getJson<QueryDetail>(api());
      if (destroyed) return;
      // Addressed by name, a new query of that name (new checkpoint) replaces the old one.
      if (detail && d.id !== detail.id) entries = [];
      detail = d;
      notFound = null;
      dirty.head = dirty.detail = dirty.table = true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) notFound = e.message;
      else toast(`Could not load the query: ${(e as Error).message}`, 'error');
    }
    render.request();
  };

  const loadHistory = async () => {
    try {
      const p = await getJson<HistoryPage>(`${api()}/progress?limit=${windowSize}`);
      if (destroyed) return;
      entries = p.entries;
      oldestKept = p.oldestBatchId;
      dirty.charts = dirty.table = true;
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404))
        toast(`Could not load the history: ${(e as Error).message}`, 'error');
    }
    render.request();
  };

  const loadAll = async () => {
    await loadDetail();
    if (notFound === null) await loadHistory();
    render.request();
    render.flush();
  };

  const refreshDetail = limited(loadDetail, 2_000);

  const isMine = (q: QuerySummary) => (detail ? q.id === detail.id : q.id === ref || q.name === ref);

  const offProgress = ctx.events.on('query.progress', (d: QueryProgressEvent) => {
    if (!isMine(d.query)) return;
    if (!detail) {
      void loadAll();
      return;
    }
    detail = { ...detail, ...d.query };
    const last = entries[entries.length - 1];
    if (!last || d.entry.batchId > last.batchId) {
      entries.push(d.entry);
      if (entries.length > windowSize) entries.splice(0, entries.length - windowSize);
      dirty.charts = true;
      if (pageNewest === null) dirty.table = true;
    }
    dirty.head = true;
    render.request();
    refreshDetail.request();
  });
  const offLifecycle = ctx.events.on(['query.started', 'query.terminated'], (d: { query: QuerySummary }) => {
    const mine = isMine(d.query);
    const sameName = detail !== null && d.query.name === detail.name && ref === detail.name;
    if (!mine && !(sameName && d.query.id !== detail?.id && d.query.health === 'active')) return;
    if (!mine) {
      detail = null; // another query took this name: show it
      entries = [];
      void loadAll();
      return;
    }
    if (detail) detail = { ...detail, ...d.query };
    dirty.head = true;
    render.request();
    void loadDetail();
  });
  const offResync = ctx.events.on('resync', () => void loadAll());
  const tick = window.setInterval(() => {
    // No event comes between batches: fetch the status now and then (a connector may be waiting
    // for its broker); `limited` keeps it to one request per 2 s.
    const since = detail?.lastProgressAt ?? detail?.startedAt;
    if (detail?.health === 'active' && since && Date.now() - Date.parse(since) > 3_000)
      refreshDetail.request();
    dirty.head = true;
    render.request();
  }, 1_000);

  // -- actions ---------------------------------------------------------------------------------

  const act = async (kind: 'stop' | 'restart', btn: HTMLButtonElement) => {
    if (!detail) return;
    btn.disabled = true;
    btn.setAttribute('aria-busy', 'true');
    try {
      const r = await post<{ stopped?: boolean; query?: QuerySummary } & Partial<QuerySummary>>(
        `/api/v1/queries/${enc(detail.id)}/${kind}`,
        {},
      );
      if (kind === 'stop') {
        toast(r.body.stopped ? `Stopped ${detail.name}.` : `${detail.name} stops after its current batch.`);
        if (r.body.query) detail = { ...detail, ...r.body.query };
      } else {
        toast(`Restarted ${detail.name} from its checkpoint.`);
        detail = { ...detail, ...(r.body as QuerySummary) };
      }
    } catch (e) {
      const err = e as ApiError;
      toast(
        `${kind === 'stop' ? 'Stop' : 'Restart'} failed: ${err.code ? `${err.code}: ` : ''}${err.message}`,
        'error',
      );
    } finally {
      btn.removeAttribute('aria-busy');
      markAll();
      void loadDetail();
    }
  };
  stopBtn.addEventListener('click', () => void act('stop', stopBtn));
  restartBtn.addEventListener('click', () => void act('restart', restartBtn));

  windowSelect.addEventListener('change', () => {
    windowSize = Number(windowSelect.value);
    localStorage.setItem(WINDOW_KEY, String(windowSize));
    void loadHistory();
  });

  let paging = false; // a page is being fetched: the pager waits (clicks do not pile up)
  const fetchPage = async (since: number, newestAllowed: number | null) => {
    if (!detail || paging) return;
    paging = true;
    renderTable();
    try {
      const p = await getJson<HistoryPage>(`${api()}/progress?since=${since}&limit=${PAGE}`);
      oldestKept = p.oldestBatchId;
      const rows = p.entries.filter((e) => newestAllowed === null || e.batchId <= newestAllowed).reverse();
      const liveNewest = entries[entries.length - 1]?.batchId;
      if (rows.length === 0 || (liveNewest !== undefined && rows[0]!.batchId >= liveNewest))
        pageNewest = null;
      else {
        paged = rows;
        pageNewest = rows[0]!.batchId;
      }
    } catch (e) {
      toast(`Could not load batches: ${(e as Error).message}`, 'error');
    }
    paging = false;
    dirty.table = true;
    render.request();
  };
  olderBtn.addEventListener('click', () => {
    const rows = shownBatches();
    const oldest = rows[rows.length - 1]?.batchId;
    if (oldest === undefined) return;
    void fetchPage(oldest - PAGE - 1, oldest - 1);
  });
  newerBtn.addEventListener('click', () => {
    const newest = shownBatches()[0]?.batchId;
    if (newest === undefined) return;
    void fetchPage(newest, null);
  });
  newestBtn.addEventListener('click', () => {
    pageNewest = null;
    dirty.table = true;
    render.request();
  });

  const showRecord = async (batchId: number) => {
    if (!detail) return;
    selected = batchId;
    record.hidden = false;
    const close = h('button', { type: 'button', class: 'small' }, 'Close');
    close.addEventListener('click', () => {
      selected = null;
      record.hidden = true;
    });
    replace(
      record,
      h('h3', null, `Batch #${batchId}: full progress record `, close),
      h('p', { class: 'muted' }, 'Loading…'),
    );
    let body: Child;
    try {
      const p = await getJson<unknown>(`${api()}/progress/${batchId}`);
      body = h('pre', { class: 'record' }, JSON.stringify(p, null, 2));
    } catch (e) {
      body = h(
        'p',
        { class: 'muted' },
        e instanceof ApiError && e.status === 404
          ? `Only the most recent ${detail.history.fullRecordsKept} batches are kept in full; batch #${batchId} is not among them (its summary is in the table).`
          : `Could not load it: ${(e as Error).message}`,
      );
    }
    if (selected !== batchId) return;
    replace(record, h('h3', null, `Batch #${batchId}: full progress record `, close), body);
  };
  batchTable.tbody.addEventListener('click', (e) => {
    const a = (e.target as Element).closest('a[href^="#batch-"]');
    if (!a) return;
    e.preventDefault();
    void showRecord(Number(a.getAttribute('href')!.slice('#batch-'.length)));
  });

  void loadAll();

  return {
    destroy() {
      destroyed = true;
      offProgress();
      offLifecycle();
      offResync();
      window.clearInterval(tick);
      render.cancel();
      refreshDetail.cancel();
      for (const c of charts) c.destroy();
    },
  };
}
