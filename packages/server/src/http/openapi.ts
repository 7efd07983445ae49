/**
 * The OpenAPI 3.1 document, generated from the routes as registered (their
 * fastify schemas plus `config.openapi`), so it always matches the server.
 * Named schemas (schemas.ts `named()`) are hoisted into components.schemas.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import { ErrorResponse, schemaName } from './schemas.ts';

export interface RouteDoc {
  /** The name a generated client gives the call (`listQueries`, `getQuery`): unique, camelCase. */
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tags?: readonly string[];
  /** Needs the bearer token when the server requires one (non-loopback bind or --token). */
  readonly mutating?: boolean;
  /** Responses not described by a JSON schema (text, HTML, event streams). */
  readonly responses?: Record<string, { description: string; contentType: string; schema?: object }>;
  /** For an event stream: the schema of each event type's `data` (as `x-events` in the document). */
  readonly events?: Record<string, object>;
}

export interface RouteRecord {
  readonly method: string;
  readonly url: string;
  readonly schema: {
    params?: object;
    querystring?: object;
    body?: object;
    response?: Record<string, object>;
  };
  /**
   * From the route's `config.openapi`: `false` = deliberately not part of the API (UI pages,
   * assets); undefined = forgotten (the OpenAPI test fails on those).
   */
  readonly doc: RouteDoc | false | undefined;
}

const ROUTES = new WeakMap<FastifyInstance, RouteRecord[]>();

/** Record routes as they are added (call before registering any route). */
export function recordRoutes(app: FastifyInstance): void {
  const list: RouteRecord[] = [];
  ROUTES.set(app, list);
  app.addHook('onRoute', (r: RouteOptions) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    const doc = (r.config as { openapi?: RouteDoc | false } | undefined)?.openapi;
    for (const m of methods) {
      if (m === 'HEAD') continue;
      list.push({ method: m, url: r.url, schema: (r.schema ?? {}) as RouteRecord['schema'], doc });
    }
  });
}

/** Every route of `app` (HEAD routes fastify adds for GET left out). */
export function registeredRoutes(app: FastifyInstance): readonly RouteRecord[] {
  return ROUTES.get(app) ?? [];
}

/** `/a/:b/c` → `/a/{b}/c`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/**
 * Paths that serve data (the API and /metrics): they need the bearer token when the server requires
 * it for reads (`requireTokenForReads`), and always for changes. The page shell stays open.
 */
export function isDataPath(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return path === '/metrics' || path === '/api' || path.startsWith('/api/');
}

const STATUS_TEXT: Record<string, string> = {
  '200': 'OK',
  '202': 'Accepted',
  '400': 'Bad request (invalid parameter)',
  '401': 'Bearer token missing or wrong (when the server requires one)',
  '403': 'Forbidden (cross-origin change or unexpected Host header)',
  '404': 'Not found',
  '409': 'Conflict: the query or rule is not in a state that allows this',
  '500': 'Internal error',
  '502': 'An external system failed',
};

export function buildOpenApi(app: FastifyInstance, info: { version: string }): Record<string, unknown> {
  const components: Record<string, unknown> = {};
  // Replace named schemas (by identity) with $refs, collecting them once.
  const ref = (schema: unknown, top = false): unknown => {
    if (schema === null || typeof schema !== 'object') return schema;
    const name = top ? undefined : schemaName(schema);
    if (name) {
      if (!(name in components)) {
        components[name] = {};
        components[name] = ref(schema, true);
      }
      return { $ref: `#/components/schemas/${name}` };
    }
    if (Array.isArray(schema)) return schema.map((s) => ref(s));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(schema)) out[k] = ref(v);
    return out;
  };

  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of registeredRoutes(app)) {
    if (!r.doc) continue;
    const doc = r.doc;
    const params: unknown[] = [];
    const addParams = (where: 'path' | 'query', s: object | undefined) => {
      const o = s as { properties?: Record<string, object>; required?: string[] } | undefined;
      for (const [name, schema] of Object.entries(o?.properties ?? {})) {
        const { description, ...rest } = schema as { description?: string };
        params.push({
          name,
          in: where,
          required: where === 'path' || (o?.required ?? []).includes(name),
          ...(description ? { description } : {}),
          schema: ref(rest),
        });
      }
    };
    addParams('path', r.schema.params);
    addParams('query', r.schema.querystring);
    const responses: Record<string, unknown> = {};
    for (const [code, schema] of Object.entries(r.schema.response ?? {})) {
      responses[code] = {
        description: STATUS_TEXT[code] ?? code,
        content: { 'application/json': { schema: ref(schema) } },
      };
    }
    for (const [code, d] of Object.entries(doc.responses ?? {})) {
      responses[code] = {
        description: d.description,
        content: { [d.contentType]: { schema: ref(d.schema ?? { type: 'string' }) } },
      };
    }
    // Every request may meet the Host check (403); data paths, the token check (401).
    for (const code of isDataPath(r.url) ? ['401', '403'] : ['403']) {
      responses[code] ??= {
        description: STATUS_TEXT[code],
        content: { 'application/json': { schema: ref(ErrorResponse) } },
      };
    }
    const op: Record<string, unknown> = {
      operationId: doc.operationId,
      summary: doc.summary,
      ...(doc.description ? { description: doc.description } : {}),
      tags: [...(doc.tags ?? [])],
      ...(params.length ? { parameters: params } : {}),
      ...(r.schema.body
        ? {
            requestBody: { required: false, content: { 'application/json': { schema: ref(r.schema.body) } } },
          }
        : {}),
      responses,
      // The token is needed only when the server has one (changes) or requires it for reads: either
      // the bearer scheme or nothing. The page shell is open.
      security: isDataPath(r.url) ? [{ bearer: [] }, {}] : [],
      // Each event type's schema in full (not a component reference: tools do not follow x- fields).
      ...(doc.events
        ? { 'x-events': Object.fromEntries(Object.entries(doc.events).map(([k, v]) => [k, ref(v, true)])) }
        : {}),
    };
    (paths[openApiPath(r.url)] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Millrace service API',
      version: info.version,
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      description:
        'Queries, progress, dashboards and alerts of a Millrace service. Live updates: GET /api/v1/events ' +
        '(server-sent events). Changes (POST) need `Authorization: Bearer <token>` when the server runs with a ' +
        'token (always when bound to a non-loopback address).',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: components,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
  };
}
