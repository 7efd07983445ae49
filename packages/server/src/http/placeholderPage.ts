/**
 * The page at / until the web UI exists: the queries and dashboards as plain HTML,
 * with links to the API. No script, no external resources.
 */
import type { DashboardInfo } from '../dashboards/DashboardSink.ts';
import type { QuerySummary } from '../queries/views.ts';

function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function placeholderPage(
  queries: readonly QuerySummary[],
  dashboards: readonly DashboardInfo[],
): string {
  const rows = queries
    .map(
      (q) =>
        `<tr><td><a href="/api/v1/queries/${encodeURIComponent(q.id)}">${esc(q.name)}</a></td>` +
        `<td class="${esc(q.health)}">${esc(q.health)}</td><td>${esc(q.status.message)}</td>` +
        `<td>${esc(q.lastBatchId ?? '')}</td><td>${q.inputRowsPerSecond.toFixed(1)}</td>` +
        `<td>${q.processedRowsPerSecond.toFixed(1)}</td><td>${esc(q.batchDurationMs ?? '')}</td>` +
        `<td>${esc(q.watermark ?? '')}</td><td>${esc(q.failure?.message ?? '')}</td></tr>`,
    )
    .join('\n');
  const dash = dashboards
    .map(
      (d) =>
        `<li><a href="/api/v1/dashboards/${encodeURIComponent(d.name)}">${esc(d.title)}</a> (${esc(d.kind)}, ${d.size} rows)</li>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Millrace</title>
<meta http-equiv="refresh" content="5">
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}.failed{color:#b00}.active{color:#070}</style>
</head><body>
<h1>Millrace</h1>
<p>The web UI is not built yet. API: <a href="/api/v1">/api/v1</a> · <a href="/api/v1/openapi.json">OpenAPI</a> · <a href="/metrics">/metrics</a> · events: <code>/api/v1/events</code></p>
<h2>Queries</h2>
<table><thead><tr><th>name</th><th>health</th><th>status</th><th>batch</th><th>input rows/s</th><th>processed rows/s</th><th>batch ms</th><th>watermark</th><th>failure</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="9">no queries yet</td></tr>'}
</tbody></table>
<h2>Dashboards</h2>
<ul>${dash || '<li>none</li>'}</ul>
</body></html>
`;
}
