/**
 * The web UI's routes: the page shell at /, /queries/:query, /dashboards[/:name] and
 * /alerts (one HTML page; the browser code routes between them), and the bundled
 * script and styles under /ui/. Register with
 * `createHttpApp(service, { ui: webUi() })` or `startHttpServer(service, { ui: webUi() })`.
 *
 * The browser code only reads the public API (/api/v1, /api/v1/events) and posts the
 * same changes the CLI does, so it sees exactly what the API shows (redacted) and
 * needs the bearer token for changes when the server has one (it asks for it).
 *
 * The pages send a strict Content-Security-Policy: scripts and styles from this
 * origin only, connections to this origin only, no framing.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { MillraceService } from '../service.ts';
import { messageOf } from '../util/errors.ts';
import { SERVER_VERSION } from '../defaults.ts';
import { buildUiBundle, uiBundle, type UiBundle } from './bundle.ts';

export interface WebUiOptions {
  /**
   * Rebuild the bundle on every request, unminified with an inline source map (for
   * working on the UI's code: reload the page to see a change). Default false.
   */
  readonly dev?: boolean;
}

/** The paths that serve the page (the browser code decides what to show). */
export const UI_PAGES = ['/', '/queries/:query', '/dashboards', '/dashboards/:name', '/alerts'] as const;

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const ICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Cpath d='M1 11c2-3 4-3 7 0s5 3 7 0v4H1z' fill='%232563eb'/%3E%3C/svg%3E";

function esc(v: string): string {
  return v.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function shell(b: UiBundle): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="millrace ${esc(SERVER_VERSION)}">
<title>Millrace</title>
<link rel="icon" href="${ICON}">
<link rel="stylesheet" href="/ui/app.css?v=${b.hash}">
<script type="module" src="/ui/app.js?v=${b.hash}"></script>
</head>
<body>
<div id="app"><noscript><p>The Millrace UI needs JavaScript. The data is also in the API:
<a href="/api/v1">/api/v1</a> (<a href="/api/v1/openapi.json">OpenAPI</a>) and <a href="/metrics">/metrics</a>.</p></noscript></div>
</body>
</html>
`;
}

function failurePage(message: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Millrace — UI unavailable</title></head>
<body><h1>The web UI is unavailable</h1><p>${esc(message)}</p>
<p>The API works: <a href="/api/v1">/api/v1</a> · <a href="/api/v1/openapi.json">OpenAPI</a> · <a href="/metrics">/metrics</a></p>
</body></html>
`;
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY');
}

/** The `ui` hook of createHttpApp / startHttpServer that serves the web UI. */
export function webUi(options: WebUiOptions = {}) {
  return async (app: FastifyInstance, service: MillraceService): Promise<void> => {
    let logged = false;
    const bundle = async (): Promise<UiBundle> => {
      const b = await (options.dev ? buildUiBundle({ dev: true }) : uiBundle());
      if (!logged) {
        logged = true;
        service.log.info('web UI bundled', {
          buildMs: Math.round(b.buildMs),
          jsBytes: b.js.length,
          cssBytes: b.css.length,
        });
      }
      return b;
    };
    // Start bundling now so that the first page view does not wait for it (errors show there).
    if (!options.dev) bundle().catch(() => undefined);

    const noDoc = { openapi: false } as const;

    for (const url of UI_PAGES) {
      app.get(url, { config: noDoc }, async (_req, reply) => {
        let b: UiBundle;
        try {
          b = await bundle();
        } catch (e) {
          const message = service.redactor.text(messageOf(e));
          service.log.error('web UI unavailable', { error: message });
          return secure(reply).status(500).type('text/html; charset=utf-8').send(failurePage(message));
        }
        return secure(reply)
          .header('cache-control', 'no-cache')
          .type('text/html; charset=utf-8')
          .send(shell(b));
      });
    }

    const asset = (kind: 'js' | 'css') => async (req: FastifyRequest, reply: FastifyReply) => {
      const b = await bundle();
      const v = (req.query as { v?: unknown } | undefined)?.v;
      // A URL with the current hash never changes; anything else must be revalidated.
      const cache = v === b.hash && !options.dev ? 'public, max-age=31536000, immutable' : 'no-cache';
      const etag = `"${b.hash}"`;
      secure(reply).header('cache-control', cache).header('etag', etag);
      if (req.headers['if-none-match'] === etag) {
        return reply.status(304).send();
      }
      return reply
        .type(kind === 'js' ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8')
        .send(kind === 'js' ? b.js : b.css);
    };
    app.get('/ui/app.js', { config: noDoc }, asset('js'));
    app.get('/ui/app.css', { config: noDoc }, asset('css'));
  };
}
