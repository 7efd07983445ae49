/**
 * The Millrace web UI: the page frame (header, navigation, live status), a small
 * router over the History API, and one shared event stream.
 *
 *   /                    queries list          pages/queries.ts
 *   /queries/:query      one query             pages/query.ts
 *   /dashboards[/:name]  dashboards            pages/dashboards.ts
 *   /alerts              alerts                pages/alerts.ts
 *
 * The server serves the same page for each of these paths; links between them are
 * handled here without reloading (the event stream stays connected).
 */
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { getJson } from './lib/api.ts';
import { h, setText } from './lib/dom.ts';
import { LiveEvents, type LiveStatus } from './lib/events.ts';
import type { Page, PageFactory } from './lib/page.ts';
import { limited } from './lib/schedule.ts';
import { toastRegion } from './lib/toast.ts';
import type { AlertInstanceView, DashboardInfo, QuerySummary } from './lib/types.ts';
import { alertsPage } from './pages/alerts.ts';
import { dashboardsPage } from './pages/dashboards.ts';
import { queriesPage } from './pages/queries.ts';
import { queryPage } from './pages/query.ts';

const ROUTES: readonly (readonly [RegExp, PageFactory, string])[] = [
  [/^\/$/, (ctx) => queriesPage(ctx), '/'],
  [/^\/queries\/([^/]+)$/, queryPage, '/'],
  [/^\/dashboards$/, dashboardsPage, '/dashboards'],
  [/^\/dashboards\/([^/]+)$/, dashboardsPage, '/dashboards'],
  [/^\/alerts$/, (ctx) => alertsPage(ctx), '/alerts'],
];

function match(path: string): { factory: PageFactory; params: string[]; nav: string } | null {
  for (const [re, factory, nav] of ROUTES) {
    const m = re.exec(path);
    if (m) {
      let params: string[];
      try {
        params = m.slice(1).map((p) => decodeURIComponent(p));
      } catch {
        return null;
      }
      return { factory, params, nav };
    }
  }
  return null;
}

const events = new LiveEvents();

// -- frame -----------------------------------------------------------------------------------------

const counts = {
  queries: h('span', { class: 'count', id: 'nav-queries' }),
  dashboards: h('span', { class: 'count', id: 'nav-dashboards' }),
  alerts: h('span', { class: 'count', id: 'nav-alerts' }),
};
const navLink = (href: string, label: string, count: HTMLElement) =>
  h('li', null, h('a', { href, 'data-nav': href }, label, ' ', count));
const liveDot = h('span', { class: 'dot', 'aria-hidden': 'true' });
const liveText = h('span', null, 'connecting…');
const main = h('main', { id: 'main', tabindex: -1 });

const app = document.getElementById('app')!;
app.replaceChildren(
  h('a', { class: 'skip', href: '#main' }, 'Skip to content'),
  h(
    'header',
    { class: 'top' },
    h('a', { class: 'brand', href: '/' }, 'Millrace'),
    h(
      'nav',
      { 'aria-label': 'Main' },
      h(
        'ul',
        null,
        navLink('/', 'Queries', counts.queries),
        navLink('/dashboards', 'Dashboards', counts.dashboards),
        navLink('/alerts', 'Alerts', counts.alerts),
      ),
    ),
    h(
      'p',
      { class: 'live', id: 'live-status', title: 'Live updates from /api/v1/events' },
      liveDot,
      liveText,
    ),
    h(
      'nav',
      { class: 'api-links', 'aria-label': 'API' },
      h('a', { href: '/api/v1' }, 'API'),
      h('a', { href: '/api/v1/openapi.json' }, 'OpenAPI'),
      h('a', { href: '/metrics' }, 'Metrics'),
    ),
  ),
  toastRegion(),
  main,
);

events.onStatus((s: LiveStatus) => {
  liveDot.className = `dot ${s}`;
  setText(liveText, s === 'live' ? 'live' : s === 'connecting' ? 'connecting…' : 'reconnecting…');
});

// Navigation badges: queries active/total, dashboards, alerts firing.
const refreshCounts = limited(async () => {
  const [q, d, a] = await Promise.all([
    getJson<{ queries: QuerySummary[] }>('/api/v1/queries'),
    getJson<{ dashboards: DashboardInfo[] }>('/api/v1/dashboards'),
    getJson<{ alerts: AlertInstanceView[] }>('/api/v1/alerts/active'),
  ]);
  const failed = q.queries.filter((x) => x.health === 'failed').length;
  setText(counts.queries, `${q.queries.filter((x) => x.health === 'active').length}/${q.queries.length}`);
  counts.queries.classList.toggle('bad', failed > 0);
  counts.queries.title = failed ? `${failed} failed` : '';
  setText(counts.dashboards, String(d.dashboards.length));
  const firing = a.alerts.filter((x) => x.state === 'firing').length;
  setText(counts.alerts, firing ? `${firing} firing` : '');
  counts.alerts.classList.toggle('bad', firing > 0);
}, 1_000);
events.on(
  ['query.started', 'query.terminated', 'dashboard.registered', 'alert.fired', 'alert.resolved', 'resync'],
  () => refreshCounts.request(),
);

// -- router ----------------------------------------------------------------------------------------

let current: Page | null = null;

function show(path: string, focus: boolean): void {
  current?.destroy();
  current = null;
  main.replaceChildren();
  const m = match(path);
  for (const a of document.querySelectorAll<HTMLAnchorElement>('a[data-nav]')) {
    if (m && a.dataset.nav === m.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!m) {
    document.title = 'Not found · Millrace';
    main.append(
      h('h1', { tabindex: -1 }, 'Not found'),
      h('p', null, h('a', { href: '/' }, 'Back to the queries')),
    );
  } else {
    current = m.factory({ events, main, setTitle: (t) => (document.title = `${t} · Millrace`) }, m.params);
  }
  if (focus) main.querySelector<HTMLElement>('h1')?.focus({ preventScroll: true });
}

document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = (e.target as Element).closest?.('a');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !match(url.pathname)) return;
  e.preventDefault();
  if (url.pathname !== location.pathname) history.pushState(null, '', url.pathname);
  show(url.pathname, true);
  window.scrollTo(0, 0);
});
window.addEventListener('popstate', () => show(location.pathname, true));

events.connect();
show(location.pathname, false);
refreshCounts.request();
