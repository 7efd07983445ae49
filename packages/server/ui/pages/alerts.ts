/**
 * Alerts: what fires or is pending now, the rules (turn them on and off), and the
 * history of fired / resolved events, live.
 *
 *   load:  GET /alerts/active, /alerts/rules, /alerts/history?limit=50
 *   live:  alert.fired / alert.resolved ──▶ prepend to the history (when showing the newest)
 *          those, query.progress and dashboard.rows ──▶ re-read rules and active (≤ 1/s):
 *          pending alerts change with batches but have no event of their own
 */
import { getJson, post, type ApiError } from '../lib/api.ts';
import { KeyedRows, h, table } from '../lib/dom.ts';
import { json, labels, ms, time } from '../lib/format.ts';
import type { Page, PageContext } from '../lib/page.ts';
import { limited, throttle } from '../lib/schedule.ts';
import { stats } from '../lib/stats.ts';
import { toast } from '../lib/toast.ts';
import { queryHref, type AlertEvent, type AlertInstanceView, type AlertRuleView } from '../lib/types.ts';

const PAGE = 50;

export function alertsPage(ctx: PageContext): Page {
  ctx.setTitle('Alerts');
  let rules: AlertRuleView[] = [];
  let active: AlertInstanceView[] = [];
  let history: AlertEvent[] = []; // newest first
  let live = true; // the history shows the newest events
  let hasOlder = false;
  let ruleFilter = '';
  let loaded = false;

  const activeT = table(
    'Active alerts',
    ['Rule', 'State', 'Severity', 'Labels', 'Since', 'Fired at', 'Value'],
    { hideCaption: true },
  );
  activeT.table.id = 'active-alerts';
  const activeRows = new KeyedRows<AlertInstanceView>(
    activeT.tbody,
    (a) => `${a.rule}\u0000${JSON.stringify(a.labels)}`,
    (a) => [
      a.rule,
      { text: a.state, cls: `badge alert-${a.state}` },
      { text: a.severity, cls: `badge sev-${a.severity}` },
      labels(a.labels),
      time(a.since),
      a.firedAt ? time(a.firedAt) : '—',
      { text: json(a.value, 100), title: json(a.value, 2000), code: true },
    ],
  );
  const activeEmpty = h('p', { class: 'muted' }, 'Nothing is firing or pending.');

  const rulesT = table(
    'Rules',
    [
      'Rule',
      'On',
      'Over',
      'Condition',
      'For',
      'Cooldown',
      'Severity',
      'Labels',
      { text: 'Firing', num: true },
      { text: 'Pending', num: true },
      'Last evaluated',
      'Errors',
    ],
    { hideCaption: true },
  );
  rulesT.table.id = 'alert-rules';
  const ruleRows = new KeyedRows<AlertRuleView>(
    rulesT.tbody,
    (r) => r.name,
    (r) => [
      { text: r.name, title: r.summary ?? '' },
      {
        sig: `${r.enabled}`,
        make: () => {
          const b = h(
            'button',
            {
              type: 'button',
              class: `toggle ${r.enabled ? 'on' : 'off'}`,
              'aria-pressed': r.enabled ? 'true' : 'false',
              'aria-label': `Rule ${r.name} enabled`,
              'data-rule': r.name,
            },
            r.enabled ? 'On' : 'Off',
          );
          b.addEventListener('click', () => void toggle(r.name, !r.enabled, b));
          return b;
        },
      },
      r.query ? { text: r.query, href: queryHref(r.query) } : r.sink ? `sink ${r.sink}` : '—',
      { text: r.condition, code: true },
      r.forMs ? `${ms(r.forMs)} (${r.clock})` : 'at once',
      r.cooldownMs ? ms(r.cooldownMs) : '—',
      { text: r.severity, cls: `badge sev-${r.severity}` },
      r.labels.join(', ') || '—',
      String(r.firing),
      String(r.pending),
      r.lastEvaluatedAt ? time(r.lastEvaluatedAt) : 'never',
      r.evaluationErrors ? { text: `${r.evaluationErrors}: ${r.lastError ?? ''}`, cls: 'warn' } : '0',
    ],
    { numeric: rulesT.numeric },
  );
  const rulesEmpty = h(
    'p',
    { class: 'muted' },
    'No alert rules. Add one in the pipeline with ctx.alerts.rule({ … }).',
  );

  const histT = table(
    'Alert history',
    ['Time', 'Rule', 'Status', 'Severity', 'Labels', 'Summary', { text: 'Batch', num: true }, 'Query'],
    { hideCaption: true },
  );
  histT.table.id = 'alert-history';
  const histRows = new KeyedRows<AlertEvent>(
    histT.tbody,
    (e) => String(e.id),
    (e) => [
      time(e.time),
      e.rule,
      { text: e.status, cls: `badge alert-${e.status}` },
      { text: e.severity, cls: `badge sev-${e.severity}` },
      labels(e.labels),
      e.summary,
      `#${e.batchId}`,
      e.query ? { text: e.query, href: queryHref(e.query) } : (e.sink ?? '—'),
    ],
    { numeric: histT.numeric },
  );
  const histEmpty = h('p', { class: 'muted' }, 'No alert has fired yet.');
  const filter = h('select', { id: 'history-rule' }, h('option', { value: '' }, 'all rules'));
  const newestBtn = h('button', { type: 'button' }, 'Newest');
  const olderBtn = h('button', { type: 'button', id: 'history-older' }, 'Older →');

  ctx.main.append(
    h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, 'Alerts')),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'active-h' },
      h('h2', { id: 'active-h' }, 'Firing and pending'),
      h('div', { class: 'table-wrap' }, activeT.table),
      activeEmpty,
    ),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'rules-h' },
      h('h2', { id: 'rules-h' }, 'Rules'),
      h('div', { class: 'table-wrap' }, rulesT.table),
      rulesEmpty,
    ),
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'history-h' },
      h('h2', { id: 'history-h' }, 'History'),
      h(
        'div',
        { class: 'toolbar' },
        h('label', { for: 'history-rule' }, 'Rule '),
        filter,
        ' ',
        newestBtn,
        olderBtn,
      ),
      h('div', { class: 'table-wrap' }, histT.table),
      histEmpty,
    ),
  );

  const render = throttle(() => {
    const order = { firing: 0, pending: 1 };
    activeRows.set(
      [...active].sort((a, b) => order[a.state] - order[b.state] || a.rule.localeCompare(b.rule)),
    );
    activeT.table.hidden = active.length === 0;
    activeEmpty.hidden = active.length > 0;
    ruleRows.set(rules);
    rulesT.table.hidden = rules.length === 0;
    rulesEmpty.hidden = rules.length > 0;
    histRows.set(history);
    histT.table.hidden = history.length === 0;
    histEmpty.hidden = history.length > 0;
    newestBtn.disabled = live;
    olderBtn.disabled = !hasOlder;
    const names = ['', ...rules.map((r) => r.name)];
    if ([...filter.options].map((o) => o.value).join('\u0000') !== names.join('\u0000')) {
      filter.replaceChildren(
        ...names.map((n) => h('option', { value: n, selected: n === ruleFilter }, n || 'all rules')),
      );
    }
    if (loaded) {
      stats.mark('alerts:ready');
      (ctx.main.firstElementChild as HTMLElement | null)?.setAttribute('data-ready', 'true');
    }
  });

  const loadState = async () => {
    const [r, a] = await Promise.all([
      getJson<{ rules: AlertRuleView[] }>('/api/v1/alerts/rules'),
      getJson<{ alerts: AlertInstanceView[] }>('/api/v1/alerts/active'),
    ]);
    rules = r.rules;
    active = a.alerts;
    render.request();
  };
  const refreshState = limited(loadState, 1_000);

  const historyUrl = (q: string) =>
    `/api/v1/alerts/history?${q}${ruleFilter ? `&rule=${encodeURIComponent(ruleFilter)}` : ''}`;

  const loadNewest = async () => {
    const p = await getJson<{ events: AlertEvent[]; hasMore: boolean }>(historyUrl(`limit=${PAGE}`));
    history = p.events.reverse();
    live = true;
    // Without `since`, hasMore says nothing about older events: ask for one before the oldest.
    hasOlder = history.length === PAGE;
    render.request();
  };

  const loadAll = async () => {
    try {
      await Promise.all([loadState(), loadNewest()]);
    } catch (e) {
      toast(`Could not load the alerts: ${(e as Error).message}`, 'error');
    }
    loaded = true;
    render.request();
    render.flush();
  };

  const toggle = async (name: string, enable: boolean, b: HTMLButtonElement) => {
    b.disabled = true;
    try {
      const r = await post<AlertRuleView>(
        `/api/v1/alerts/rules/${encodeURIComponent(name)}/${enable ? 'enable' : 'disable'}`,
      );
      rules = rules.map((x) => (x.name === name ? r.body : x));
      toast(`Rule ${name} turned ${enable ? 'on' : 'off'}.`);
    } catch (e) {
      const err = e as ApiError;
      toast(`Could not turn rule ${name} ${enable ? 'on' : 'off'}: ${err.code}: ${err.message}`, 'error');
      b.disabled = false;
    }
    render.request();
    refreshState.request();
  };

  olderBtn.addEventListener('click', async () => {
    const oldest = history[history.length - 1];
    if (!oldest) return;
    try {
      const p = await getJson<{ events: AlertEvent[] }>(
        historyUrl(`since=${oldest.id - PAGE - 1}&limit=${PAGE}`),
      );
      const older = p.events.filter((e) => e.id < oldest.id).reverse();
      if (older.length === 0) hasOlder = false;
      else {
        history = older;
        live = false;
        hasOlder = older[older.length - 1]!.id > 1;
      }
    } catch (e) {
      toast(`Could not load older alerts: ${(e as Error).message}`, 'error');
    }
    render.request();
  });
  newestBtn.addEventListener('click', () => void loadNewest());
  filter.addEventListener('change', () => {
    ruleFilter = filter.value;
    void loadNewest();
  });

  const offAlert = ctx.events.on(['alert.fired', 'alert.resolved'], (d: { alert: AlertEvent }) => {
    if (
      live &&
      (ruleFilter === '' || d.alert.rule === ruleFilter) &&
      !history.some((e) => e.id === d.alert.id)
    ) {
      history.unshift(d.alert);
      if (history.length > PAGE) {
        history.length = PAGE;
        hasOlder = true;
      }
    }
    render.request();
    refreshState.request();
  });
  const offBatches = ctx.events.on(['query.progress', 'dashboard.rows'], () => refreshState.request());
  const offResync = ctx.events.on('resync', () => void loadAll());
  const tick = window.setInterval(() => render.request(), 5_000);
  void loadAll();

  return {
    destroy() {
      offAlert();
      offBatches();
      offResync();
      window.clearInterval(tick);
      render.cancel();
      refreshState.cancel();
    },
  };
}
