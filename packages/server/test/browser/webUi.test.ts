/** How the web UI is served (no browser): pages, the bundle, caching, headers, the OpenAPI document. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createHttpApp, type MillraceService } from '../../src/index.ts';
import { buildUiBundle } from '../../src/ui/bundle.ts';
import { UI_PAGES, webUi } from '../../src/ui/webUi.ts';
import { testService } from '../helpers.ts';

let service: MillraceService;
let logs: string[];
let app: FastifyInstance;

beforeAll(async () => {
  ({ service, logs } = testService({ logLevel: 'info' }));
  app = await createHttpApp(service, { ui: webUi() });
});

afterAll(async () => {
  await app.close();
  await service.close({ flushMs: 0 });
});

describe('web UI routes', () => {
  it('serves the page at every UI path, linking the bundle by its hash, with a strict CSP', async () => {
    for (const url of ['/', '/queries/some%20query', '/dashboards', '/dashboards/bids', '/alerts']) {
      const r = await app.inject({ method: 'GET', url });
      expect(r.statusCode, url).toBe(200);
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(r.headers['cache-control']).toBe('no-cache');
      expect(r.headers['content-security-policy']).toContain("script-src 'self'");
      expect(r.headers['content-security-policy']).toContain("connect-src 'self'");
      expect(r.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.body).toMatch(/<script type="module" src="\/ui\/app\.js\?v=[0-9a-f]{12}"><\/script>/);
      expect(r.body).toMatch(/<link rel="stylesheet" href="\/ui\/app\.css\?v=[0-9a-f]{12}">/);
    }
    expect(logs.some((l) => l.includes('"msg":"web UI bundled"'))).toBe(true);
  });

  it('serves the bundle: immutable under its hash, revalidated otherwise (ETag, 304)', async () => {
    const page = (await app.inject({ method: 'GET', url: '/' })).body;
    const hash = /app\.js\?v=([0-9a-f]{12})/.exec(page)![1]!;
    const js = await app.inject({ method: 'GET', url: `/ui/app.js?v=${hash}` });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.body.length).toBeGreaterThan(20_000); // the UI and uPlot
    expect(js.body).toContain('/api/v1/events');
    const css = await app.inject({ method: 'GET', url: `/ui/app.css?v=${hash}` });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(css.body).toContain('.uplot'); // uPlot's stylesheet is bundled too
    const stale = await app.inject({ method: 'GET', url: '/ui/app.js?v=000000000000' });
    expect(stale.headers['cache-control']).toBe('no-cache');
    const again = await app.inject({
      method: 'GET',
      url: '/ui/app.js',
      headers: { 'if-none-match': js.headers.etag as string },
    });
    expect(again.statusCode).toBe(304);
  });

  it('keeps the UI routes out of the OpenAPI document and leaves the API and 404s alone', async () => {
    const spec = (await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
    for (const p of [...UI_PAGES, '/ui/app.js', '/ui/app.css']) {
      expect(spec.paths[p.replace(/:([a-z]+)/g, '{$1}')]).toBeUndefined();
    }
    expect(spec.paths['/api/v1/queries']).toBeDefined();
    expect((await app.inject({ method: 'GET', url: '/api/v1/queries' })).json()).toEqual({ queries: [] });
    const missing = await app.inject({ method: 'GET', url: '/nothing/here' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('ROUTE_NOT_FOUND');
  });

  it('bundles with esbuild, minified; dev mode is unminified with a source map and never cached', async () => {
    const b = await buildUiBundle();
    expect(b.buildMs).toBeLessThan(5_000); // ~50 ms here; generous for a busy machine
    expect(b.js).not.toContain('\n  '); // minified
    const dev = await createHttpApp(service, { ui: webUi({ dev: true }) });
    try {
      const r = await dev.inject({ method: 'GET', url: '/ui/app.js' });
      expect(r.headers['cache-control']).toBe('no-cache');
      expect(r.body).toContain('sourceMappingURL=data:application/json');
    } finally {
      await dev.close();
    }
  });
});
