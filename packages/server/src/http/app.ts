/**
 * The HTTP API (fastify): REST under /api/v1, server-sent events, /metrics and a
 * placeholder page at /. Route schemas drive validation, serialization and the
 * OpenAPI document (GET /api/v1/openapi.json).
 *
 * Security: changes (POST) need `Authorization: Bearer <token>` whenever a token is
 * configured (the CLI refuses to bind a non-loopback address without one). With
 * `requireTokenForReads` (the default beyond loopback) reads need it too: every
 * /api/… and /metrics request (the event stream may pass it as `?token=`, since a
 * browser's EventSource cannot send headers); the web UI's page shell and assets
 * hold no data and stay open, and the UI asks for the token. A POST
 * from a browser page of another origin is refused (Origin ≠ Host); on a loopback
 * bind, requests whose Host is not a loopback name are refused (DNS rebinding).
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { MillraceError } from 'millrace';
import type { DashboardSink } from '../dashboards/DashboardSink.ts';
import { SERVICE_EVENT_TYPES } from '../events/EventHub.ts';
import { querySummary, queryDetail } from '../queries/views.ts';
import { isMemorySink, type MillraceService } from '../service.ts';
import { userError } from '../util/errors.ts';
import { toJsonSafe } from '../util/json.ts';
import { buildOpenApi, isDataPath, recordRoutes, type RouteDoc } from './openapi.ts';
import { placeholderPage } from './placeholderPage.ts';
import * as S from './schemas.ts';
import { SERVER_VERSION } from '../defaults.ts';

export { SERVER_VERSION };

export interface HttpAppOptions {
  /** Bearer token for changes; when set, every POST needs it. */
  readonly token?: string;
  /** Reads (API, /metrics, events) need the token too (needs `token`). Default false here; startHttpServer decides. */
  readonly requireTokenForReads?: boolean;
  /**
   * Time to receive a whole request (headers and body); a slower one is answered 408 and closed
   * (default 60,000 ms; fastify's default would switch Node's limit off). Responses — the event
   * stream — are not limited.
   */
  readonly requestTimeoutMs?: number;
  /**
   * Host names accepted in the Host header (DNS-rebinding guard). Default: loopback
   * names only. Give null to accept any (a non-loopback bind does this).
   */
  readonly allowedHosts?: readonly string[] | null;
  /**
   * Registers the web UI's routes (pages, assets) instead of the placeholder page at `/`.
   * Give routes that are not API `config: { openapi: false }`; API routes need a
   * `config.openapi` description (the OpenAPI test checks every route).
   */
  readonly ui?: (app: FastifyInstance, service: MillraceService) => void | Promise<void>;
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1', '[::1]'];

/** A MillraceError, also from another copy of the engine. */
function isMillraceError(e: unknown): e is MillraceError {
  if (e instanceof MillraceError) return true;
  const x = e as { name?: unknown; code?: unknown; domain?: unknown } | null;
  return (
    x !== null &&
    typeof x === 'object' &&
    x.name === 'MillraceError' &&
    typeof x.code === 'string' &&
    typeof x.domain === 'string'
  );
}

function statusOf(e: MillraceError): number {
  if (e.code.endsWith('_NOT_FOUND')) return 404;
  if (e.code === 'BAD_REQUEST') return 400;
  if (e.code === 'UNAUTHORIZED') return 401;
  if (e.code === 'FORBIDDEN') return 403;
  if (e.domain === 'user') return 409;
  if (e.domain === 'external') return 502;
  return 500;
}

const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [String(c), S.ErrorResponse]));

function sameToken(given: string, expected: string): boolean {
  // Compare digests so the comparison time says nothing about the token's length.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function hostName(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const i = host.lastIndexOf(':');
  return i > 0 && host.indexOf(':') === i ? host.slice(0, i) : host;
}

export async function createHttpApp(
  service: MillraceService,
  options: HttpAppOptions = {},
): Promise<FastifyInstance> {
  const requestTimeout = options.requestTimeoutMs ?? 60_000;
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    requestTimeout,
    // Node checks the request timeout at this interval (its default, 30 s, would let a short limit slip).
    http: { connectionsCheckingInterval: Math.max(250, Math.min(30_000, Math.floor(requestTimeout / 4))) },
    // Closing must not wait for a client that never finishes its request.
    forceCloseConnections: true,
  });
  app.server.headersTimeout = Math.min(60_000, requestTimeout);
  recordRoutes(app);
  const red = service.redactor;
  const allowedHosts = options.allowedHosts === undefined ? LOOPBACK_NAMES : options.allowedHosts;

  app.setErrorHandler((err: unknown, _req, reply) => {
    const e = err as { validation?: unknown; statusCode?: number; message?: string; code?: string };
    if (isMillraceError(err)) {
      return reply.status(statusOf(err)).send({ error: { code: err.code, message: red.text(err.message) } });
    }
    if (e.validation || (e.statusCode && e.statusCode >= 400 && e.statusCode < 500)) {
      return reply.status(e.statusCode ?? 400).send({
        error: {
          code: e.validation ? 'BAD_REQUEST' : (e.code ?? 'BAD_REQUEST'),
          message: red.text(e.message ?? 'bad request'),
        },
      });
    }
    service.log.error('HTTP handler failed', { error: red.text(e.message ?? String(err)) });
    return reply
      .status(500)
      .send({ error: { code: 'INTERNAL', message: red.text(e.message ?? 'internal error') } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({
      error: {
        code: 'ROUTE_NOT_FOUND',
        message: `no route ${req.method} ${red.text(req.url.split('?')[0] ?? '')}; see GET /api/v1/openapi.json for the routes`,
      },
    }),
  );

  // nosniff on every answer (API JSON, /metrics, 404s, pages): never let a browser sniff JSON into HTML.
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    return payload;
  });

  const readsNeedToken = options.requireTokenForReads === true;
  if (readsNeedToken && options.token === undefined) {
    throw userError('TOKEN_REQUIRED', 'requireTokenForReads needs a token (--token or MILLRACE_TOKEN)');
  }
  /** The token a request carries: the Authorization header, or ?token= on the event stream. */
  const tokenOf = (req: FastifyRequest): string | undefined => {
    const m = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ''));
    if (m) return m[1]!.trim();
    const [path, query] = req.url.split('?');
    if (path === '/api/v1/events' && query !== undefined) {
      const q = new URLSearchParams(query).get('token');
      if (q !== null) return q;
    }
    return undefined;
  };

  app.addHook('onRequest', async (req: FastifyRequest) => {
    if (allowedHosts === null) return;
    const host = hostName(String(req.headers.host ?? ''));
    if (!allowedHosts.includes(host)) {
      throw new MillraceError(
        'FORBIDDEN',
        `Host "${host}" is not served here; use http://127.0.0.1:<port> (this guards against DNS rebinding)`,
        { domain: 'user' },
      );
    }
  });

  if (readsNeedToken) {
    // After the host check (registered first); POSTs are checked again by guardChange.
    app.addHook('preHandler', async (req: FastifyRequest) => {
      if (req.method === 'POST' || !isDataPath(req.url)) return;
      const given = tokenOf(req);
      if (given === undefined || !sameToken(given, options.token!)) {
        throw new MillraceError(
          'UNAUTHORIZED',
          'this server requires its token for reads too: send "Authorization: Bearer <token>" ' +
            '(the --token or MILLRACE_TOKEN it was started with; the event stream also takes ?token=)',
          { domain: 'user' },
        );
      }
    });
  }

  const guardChange = async (req: FastifyRequest) => {
    const origin = req.headers.origin;
    if (origin !== undefined) {
      let same = false;
      try {
        const o = new URL(origin);
        // Normalised the same way, so that "localhost:80" equals "http://localhost".
        same = o.host === new URL(`${o.protocol}//${req.headers.host ?? ''}`).host;
      } catch {
        // an unparsable Origin or Host is cross-origin
      }
      if (!same) {
        throw new MillraceError('FORBIDDEN', `changes from another origin (${origin}) are refused`, {
          domain: 'user',
        });
      }
    }
    if (options.token !== undefined) {
      const m = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ''));
      if (!m || !sameToken(m[1]!.trim(), options.token)) {
        throw new MillraceError(
          'UNAUTHORIZED',
          'this change needs the header "Authorization: Bearer <token>" with the token the server was started with (--token or MILLRACE_TOKEN)',
          { domain: 'user' },
        );
      }
    }
  };

  const doc = (d: RouteDoc) => ({ openapi: d });

  // -- pages and metrics ---------------------------------------------------------------------------

  if (options.ui) {
    await options.ui(app, service);
  } else {
    app.get(
      '/',
      {
        config: doc({
          operationId: 'getHomePage',
          summary: 'A placeholder page listing the queries (until the web UI is registered)',
          tags: ['ui'],
          responses: { '200': { description: 'HTML', contentType: 'text/html' } },
        }),
      },
      async (_req, reply) =>
        reply.type('text/html; charset=utf-8').send(
          placeholderPage(
            service.queries.list().map(querySummary),
            service.dashboards.map((d) => d.info()),
          ),
        ),
    );
  }

  app.get(
    '/metrics',
    {
      config: doc({
        operationId: 'getMetrics',
        summary: 'Prometheus metrics (text exposition format 0.0.4)',
        tags: ['metrics'],
        responses: { '200': { description: 'Metrics', contentType: 'text/plain' } },
      }),
    },
    async (_req, reply) => reply.type(service.metrics.contentType).send(await service.metrics.text()),
  );

  // -- API -----------------------------------------------------------------------------------------

  app.get(
    '/api/v1',
    {
      schema: { response: { 200: S.ServerInfo } },
      config: doc({
        operationId: 'getServerInfo',
        summary: 'Server information and links',
        tags: ['server'],
      }),
    },
    async () => ({
      name: 'millrace',
      version: SERVER_VERSION,
      apiVersion: 'v1',
      startedAt: new Date(Date.now() - service.uptimeMs).toISOString(),
      uptimeSeconds: service.uptimeMs / 1000,
      authRequiredForChanges: options.token !== undefined,
      authRequiredForReads: readsNeedToken,
      historySize: service.queries.historySize,
      links: {
        openapi: '/api/v1/openapi.json',
        queries: '/api/v1/queries',
        dashboards: '/api/v1/dashboards',
        alerts: '/api/v1/alerts/rules',
        events: '/api/v1/events',
        metrics: '/metrics',
      },
    }),
  );

  app.get(
    '/api/v1/openapi.json',
    {
      config: doc({
        operationId: 'getOpenApiDocument',
        summary: 'This API as an OpenAPI 3.1 document',
        tags: ['server'],
        responses: {
          '200': {
            description: 'OpenAPI document',
            contentType: 'application/json',
            schema: { type: 'object' },
          },
        },
      }),
    },
    async () => buildOpenApi(app, { version: SERVER_VERSION }),
  );

  app.get(
    '/api/v1/queries',
    {
      schema: { response: { 200: S.QueryList } },
      config: doc({
        operationId: 'listQueries',
        summary: 'Every known query (active first)',
        tags: ['queries'],
      }),
    },
    async () => ({ queries: service.queries.list().map(querySummary) }),
  );

  app.get<{ Params: { query: string } }>(
    '/api/v1/queries/:query',
    {
      schema: { params: S.queryParam, response: { 200: S.QueryDetail, ...errors(404) } },
      config: doc({
        operationId: 'getQuery',
        summary: 'One query: status, last progress, plan, sources, sink, state',
        tags: ['queries'],
      }),
    },
    async (req) => {
      const e = service.queries.get(req.params.query);
      return queryDetail(e, (x) => service.sinkOf(x));
    },
  );

  app.get<{ Params: { query: string }; Querystring: { since?: number; limit: number } }>(
    '/api/v1/queries/:query/progress',
    {
      schema: {
        params: S.queryParam,
        querystring: {
          type: 'object',
          properties: {
            since: {
              type: 'integer',
              description:
                'Only batches with a larger batchId (oldest first); without it: the newest `limit`',
            },
            limit: S.limitQuery(100, 1000),
          },
          additionalProperties: false,
        },
        response: { 200: S.HistoryPage, ...errors(400, 404) },
      },
      config: doc({
        operationId: 'listQueryProgress',
        summary: 'Progress history, one summary per batch (bounded ring)',
        tags: ['queries'],
      }),
    },
    async (req) => {
      const e = service.queries.get(req.params.query);
      const page = e.history.page({ since: req.query.since, limit: req.query.limit });
      return { query: e.name, capacity: e.history.capacity, ...page };
    },
  );

  app.get<{ Params: { query: string; batchId: number } }>(
    '/api/v1/queries/:query/progress/:batchId',
    {
      schema: {
        params: {
          type: 'object',
          properties: { query: { type: 'string', minLength: 1 }, batchId: { type: 'integer', minimum: 0 } },
          required: ['query', 'batchId'],
          additionalProperties: false,
        },
        response: { 200: S.Progress, ...errors(400, 404) },
      },
      config: doc({
        operationId: 'getQueryProgress',
        summary: 'The full progress record of a recent batch',
        description: 'Only the most recent records are kept in full (default 100 per query).',
        tags: ['queries'],
      }),
    },
    async (req) => {
      const e = service.queries.get(req.params.query);
      const p = service.queries.fullProgress(e, req.params.batchId);
      if (!p) {
        throw userError(
          'PROGRESS_NOT_FOUND',
          `query "${e.name}" has no full progress record of batch ${req.params.batchId}: only the last ${e.recent.capacity} are kept; the summary is in GET …/progress`,
        );
      }
      return p;
    },
  );

  app.post<{
    Params: { query: string };
    Body: { abandonCurrentBatch?: boolean; waitMs?: number } | undefined;
  }>(
    '/api/v1/queries/:query/stop',
    {
      preHandler: guardChange,
      schema: {
        params: S.queryParam,
        body: {
          type: ['object', 'null'],
          properties: {
            abandonCurrentBatch: {
              type: 'boolean',
              description: 'Do not wait for the batch in flight: it re-runs on restart',
            },
            waitMs: {
              type: 'integer',
              minimum: 0,
              maximum: 600000,
              description: 'How long to wait for the stop (default 10000)',
            },
          },
          additionalProperties: false,
        },
        response: { 200: S.StopResult, 202: S.StopResult, ...errors(400, 401, 403, 404, 409) },
      },
      config: doc({
        operationId: 'stopQuery',
        summary: 'Stop a query (finishing its current batch)',
        description: '200 when it stopped within waitMs, 202 while it is still finishing its batch.',
        tags: ['queries'],
        mutating: true,
      }),
    },
    async (req, reply) => {
      const body = req.body ?? {};
      const stopped = await service.queries.stop(req.params.query, {
        abandonCurrentBatch: body.abandonCurrentBatch,
        waitMs: body.waitMs,
      });
      service.log.info('query stop requested', { query: req.params.query, stopped });
      return reply
        .status(stopped ? 200 : 202)
        .send({ stopped, query: querySummary(service.queries.get(req.params.query)) });
    },
  );

  app.post<{ Params: { query: string } }>(
    '/api/v1/queries/:query/restart',
    {
      preHandler: guardChange,
      schema: {
        params: S.queryParam,
        response: { 200: S.QuerySummary, ...errors(401, 403, 404, 409, 500, 502) },
      },
      config: doc({
        operationId: 'restartQuery',
        summary: 'Start a query again from its checkpoint (stopping it first if it runs)',
        description:
          '409 QUERY_NOT_RESTARTABLE when the service does not hold the query plan (not started through ctx.start) or it has no checkpointLocation.',
        tags: ['queries'],
        mutating: true,
      }),
    },
    async (req) => {
      const e = await service.queries.restart(req.params.query);
      service.log.info('query restarted', { query: e.name, runId: e.runId });
      return querySummary(e);
    },
  );

  app.get<{ Params: { query: string }; Querystring: { limit: number } }>(
    '/api/v1/queries/:query/rows',
    {
      schema: {
        params: S.queryParam,
        querystring: {
          type: 'object',
          properties: { limit: S.limitQuery(1000, 100000) },
          additionalProperties: false,
        },
        response: { 200: S.RowsResponse, ...errors(400, 404, 409) },
      },
      config: doc({
        operationId: 'getQueryRows',
        summary: 'Result rows kept by the query sink (memory and dashboard sinks)',
        description:
          'memory sink: its rows (append/update: every batch in order; complete: the last batch), the last `limit`; dashboard sink: its current view.',
        tags: ['queries'],
      }),
    },
    async (req) => {
      const e = service.queries.get(req.params.query);
      const s = service.sinkOf(e);
      if (!s || !s.rowsAvailable || !s.sink) {
        throw userError(
          'ROWS_NOT_AVAILABLE',
          `query "${e.name}" writes to a sink that keeps no rows in this process; use memorySink() or dashboardSink() to see rows here`,
        );
      }
      const limit = req.query.limit;
      let rows: unknown[];
      let total: number;
      if (isMemorySink(s.sink)) {
        const all = s.sink.allRows();
        total = all.length;
        rows = all.slice(Math.max(0, all.length - limit));
      } else {
        const d = s.sink as DashboardSink;
        total = d.size;
        rows = d.snapshot(limit);
      }
      return { query: e.name, sink: s.name!, kind: s.kind, total, rows: red.redact(toJsonSafe(rows)) };
    },
  );

  app.get(
    '/api/v1/dashboards',
    {
      schema: { response: { 200: S.DashboardList } },
      config: doc({
        operationId: 'listDashboards',
        summary: 'Dashboards (tables and time series fed by dashboard sinks)',
        tags: ['dashboards'],
      }),
    },
    async () => ({ dashboards: red.redact(service.dashboards.map((d) => d.info())) }),
  );

  app.get<{ Params: { name: string }; Querystring: { limit?: number } }>(
    '/api/v1/dashboards/:name',
    {
      schema: {
        params: S.nameParam,
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000000 } },
          additionalProperties: false,
        },
        response: { 200: S.DashboardView, ...errors(400, 404) },
      },
      config: doc({
        operationId: 'getDashboard',
        summary: 'A dashboard and its rows (table) or points (time series)',
        tags: ['dashboards'],
      }),
    },
    async (req) => {
      const d = service.dashboard(req.params.name);
      return { dashboard: red.redact(d.info()), rows: red.redact(d.snapshot(req.query.limit)) };
    },
  );

  app.get(
    '/api/v1/alerts/rules',
    {
      schema: { response: { 200: S.AlertRuleList } },
      config: doc({ operationId: 'listAlertRules', summary: 'Alert rules', tags: ['alerts'] }),
    },
    async () => ({ rules: service.alerts.listRules() }),
  );

  app.get<{ Params: { name: string } }>(
    '/api/v1/alerts/rules/:name',
    {
      schema: { params: S.nameParam, response: { 200: S.AlertRule, ...errors(404) } },
      config: doc({ operationId: 'getAlertRule', summary: 'One alert rule', tags: ['alerts'] }),
    },
    async (req) => service.alerts.getRuleView(req.params.name),
  );

  for (const action of ['enable', 'disable'] as const) {
    app.post<{ Params: { name: string } }>(
      `/api/v1/alerts/rules/:name/${action}`,
      {
        preHandler: guardChange,
        schema: { params: S.nameParam, response: { 200: S.AlertRule, ...errors(401, 403, 404) } },
        config: doc({
          operationId: action === 'enable' ? 'enableAlertRule' : 'disableAlertRule',
          summary:
            action === 'enable'
              ? 'Turn an alert rule on'
              : 'Turn an alert rule off (its firing alerts resolve)',
          tags: ['alerts'],
          mutating: true,
        }),
      },
      async (req) => {
        const view = service.alerts.setEnabled(req.params.name, action === 'enable');
        service.log.info(`alert rule ${action}d`, { rule: view.name });
        return view;
      },
    );
  }

  app.get(
    '/api/v1/alerts/active',
    {
      schema: { response: { 200: S.AlertActiveList } },
      config: doc({
        operationId: 'listActiveAlerts',
        summary: 'Alerts pending or firing now',
        tags: ['alerts'],
      }),
    },
    async () => ({ alerts: service.alerts.active() }),
  );

  app.get<{ Querystring: { since?: number; limit: number; rule?: string } }>(
    '/api/v1/alerts/history',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            since: {
              type: 'integer',
              description: 'Only events with a larger id (oldest first); without it: the newest `limit`',
            },
            limit: S.limitQuery(100, 1000),
            rule: { type: 'string' },
          },
          additionalProperties: false,
        },
        response: { 200: S.AlertHistory, ...errors(400) },
      },
      config: doc({
        operationId: 'listAlertHistory',
        summary: 'Firing and resolved events (bounded history)',
        tags: ['alerts'],
      }),
    },
    async (req) =>
      service.alerts.historyPage({ since: req.query.since, limit: req.query.limit, rule: req.query.rule }),
  );

  app.get<{ Querystring: { types?: string; lastEventId?: number } }>(
    '/api/v1/events',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            types: {
              type: 'string',
              description: `Comma-separated event types or prefixes to receive (default all): ${SERVICE_EVENT_TYPES.join(', ')}`,
            },
            lastEventId: {
              type: 'integer',
              minimum: 0,
              description: 'Replay kept events after this id (or send the Last-Event-ID header)',
            },
          },
          additionalProperties: false,
        },
      },
      config: doc({
        operationId: 'streamEvents',
        summary: 'Live events (server-sent events)',
        description:
          'Events: ready, heartbeat, query.started, query.progress, query.terminated, alert.fired, alert.resolved, ' +
          'dashboard.registered, dashboard.rows, dropped (a slow client, before disconnecting), shutdown. See README.md.',
        tags: ['events'],
        responses: { '200': { description: 'An event stream', contentType: 'text/event-stream' } },
        events: S.SSE_EVENTS,
      }),
    },
    async (
      req: FastifyRequest<{ Querystring: { types?: string; lastEventId?: number } }>,
      reply: FastifyReply,
    ) => {
      const header = Number(req.headers['last-event-id']);
      const lastEventId =
        req.query.lastEventId ?? (Number.isInteger(header) && header >= 0 ? header : undefined);
      reply.hijack();
      service.events.connect(reply.raw, {
        types: (req.query.types ?? '').split(',').map((t) => t.trim()),
        lastEventId,
      });
    },
  );

  return app;
}
