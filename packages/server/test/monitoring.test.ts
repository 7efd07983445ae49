/**
 * The monitoring files in docs/monitoring/ work with the service: the Prometheus scrape
 * configuration passes `promtool check config`, every expression of the Grafana dashboard is valid
 * PromQL (`promtool check rules` on them as recording rules) and names only metrics /metrics has.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpApp } from '../src/index.ts';
import { cleanupDirs, tempDir, testService } from './helpers.ts';

afterEach(cleanupDirs);

const DOCS = fileURLToPath(new URL('../../../docs/monitoring/', import.meta.url));

function promtool(...args: string[]) {
  const r = spawnSync('promtool', args, { encoding: 'utf8' });
  if (r.error)
    throw new Error(
      `promtool is not installed (bash scripts/setup-system.sh installs it): ${r.error.message}`,
    );
  return { status: r.status, output: (r.stdout + r.stderr).trim() };
}

interface Panel {
  title: string;
  targets?: { expr: string }[];
}

/** The dashboard's PromQL with Grafana's variables replaced by what Grafana would send. */
function dashboardExpressions(): { title: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(path.join(DOCS, 'grafana-dashboard.json'), 'utf8')) as {
    panels: Panel[];
  };
  return dashboard.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      title: p.title,
      expr: t.expr
        .replaceAll('$__rate_interval', '1m')
        .replaceAll('$__range', '1h')
        .replaceAll('$query', '.*')
        .replaceAll('$job', 'millrace'),
    })),
  );
}

describe('docs/monitoring', () => {
  it('prometheus.yml passes promtool check config', () => {
    expect(promtool('check', 'config', path.join(DOCS, 'prometheus.yml'))).toMatchObject({ status: 0 });
  });

  it('every Grafana panel expression is valid PromQL', () => {
    const exprs = dashboardExpressions();
    expect(exprs.length).toBeGreaterThan(15);
    const rules = path.join(tempDir(), 'rules.yml');
    const yaml = exprs.map((e, i) => `      - record: panel:${i}\n        expr: ${JSON.stringify(e.expr)}`);
    writeFileSync(rules, `groups:\n  - name: dashboard\n    rules:\n${yaml.join('\n')}\n`);
    const r = promtool('check', 'rules', rules);
    expect(r.output).toContain(`SUCCESS: ${exprs.length} rules found`);
    expect(r.status).toBe(0);
  });

  it('the dashboard names only metrics the service exports', async () => {
    const { service } = testService({ defaultMetrics: true });
    const app = await createHttpApp(service);
    try {
      const scrape = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      const families = new Set([...scrape.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
      const used = new Set(
        dashboardExpressions().flatMap((e) =>
          [...e.expr.matchAll(/\b((?:millrace|process|nodejs)_[a-z_]+)/g)].map((m) =>
            m[1]!.replace(/_(bucket|sum|count)$/, ''),
          ),
        ),
      );
      expect(used.size).toBeGreaterThan(10);
      expect([...used].filter((name) => !families.has(name))).toEqual([]);
    } finally {
      await app.close();
      await service.close({ flushMs: 0 });
    }
  });
});
