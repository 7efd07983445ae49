/**
 * HTTP ingest into the embedded log, as a fastify plugin (the Millrace
 * server mounts it; startIngestServer runs it alone).
 *
 *   POST /topics/:topic   application/json (object | array of objects)
 *                         application/x-ndjson (one object per line)
 *     ?key=<field> or header X-Key-Field   record key from that field
 *     ?partition=<n>                        all events to partition n
 *     Idempotency-Key: <k>                  a retry with the same key and
 *                                           body writes nothing again
 *     → 200 { topic, count, offsets: { "<partition>": [first, last] }, duplicate }
 *       sent only once the append is durable (fsync 'always'; with
 *       'interval'/'never': committed, not yet fsynced)
 *   GET /topics           GET /topics/:topic           GET /health
 *
 * All events of a request are one append (one LMDB transaction): all are
 * stored or none. Request lifecycle and where it can be refused:
 *
 *   onRequest ── 429 too many requests / bytes in flight (maxPendingRequests,
 *       │        maxPendingBytes), or this client has maxPendingRequestsPerClient
 *       │        in flight already, or the topic has a partition above its
 *       │        retention hard limit (retention has not caught up yet)
 *   body ─────── 413 over maxBodyBytes · 415 other content types ·
 *       │        408 + connection closed when the body has not fully arrived
 *       │        within bodyTimeoutMs (a slow or stalled upload frees its slot)
 *   handler ──── 400 bad JSON (line / index / position + parser message),
 *       │        invalid UTF-8 (byte offset), nested deeper than maxJsonDepth,
 *       │        413 over maxEventsPerRequest · 404 unknown topic when the
 *       │        log does not create topics · 422 idempotency key reused
 *   append ───── 200 after durable · 503 log closed or failing
 *
 * Why a per-client limit and a body timeout: a request holds a pending slot
 * from its headers until it is answered. Without them, ~1,000 connections
 * that send headers and part of a body hold every slot forever and every
 * other client gets 429. With them, one client (by address: req.ip, which
 * honours fastify's trustProxy) holds at most maxPendingRequestsPerClient
 * slots, and a stalled upload is cut off after bodyTimeoutMs.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MillraceError } from 'millrace';
import { check, optionError, quote } from '../errors.ts';
import { Log, type AppendRecord } from '../log/Log.ts';
import { BodyError, decodeUtf8, keyOf, parseJsonBody, parseNdjsonBody, type IngestEvent } from './body.ts';

export interface IngestOptions {
  readonly log: Log;
  /** Largest request body, bytes (default 16 MiB). */
  readonly maxBodyBytes?: number;
  /** Most events in one request (default 100,000). */
  readonly maxEventsPerRequest?: number;
  /** Requests admitted and not yet answered; more get 429 (default 1024). */
  readonly maxPendingRequests?: number;
  /** Body bytes of admitted, unanswered requests; more get 429 (default 256 MiB). */
  readonly maxPendingBytes?: number;
  /** Requests one client (remote address) may have admitted and unanswered; more get 429 (default 64). */
  readonly maxPendingRequestsPerClient?: number;
  /** Time from a request's headers to the last byte of its body; slower uploads get 408 and are closed (default 30,000 ms). */
  readonly bodyTimeoutMs?: number;
  /** Deepest nesting of objects and arrays in one event (default 1000, as Jackson's default). */
  readonly maxJsonDepth?: number;
  /** Retry-After on 429, seconds (default 1). */
  readonly retryAfterSeconds?: number;
}

const OPTIONS = [
  'log',
  'maxBodyBytes',
  'maxEventsPerRequest',
  'maxPendingRequests',
  'maxPendingBytes',
  'maxPendingRequestsPerClient',
  'bodyTimeoutMs',
  'maxJsonDepth',
  'retryAfterSeconds',
  // fastify's own register() options reach the plugin too
  'prefix',
  'logLevel',
  'logSerializers',
];
const JSON_TYPE = 'application/json';
const NDJSON_TYPES = [
  'application/x-ndjson',
  'application/ndjson',
  'application/jsonl',
  'application/json-lines',
];

interface Body {
  readonly kind: 'json' | 'ndjson';
  readonly bytes: Buffer;
}

interface Resolved {
  readonly log: Log;
  readonly maxBodyBytes: number;
  readonly maxEvents: number;
  readonly maxPendingRequests: number;
  readonly maxPendingBytes: number;
  readonly maxPerClient: number;
  readonly bodyTimeoutMs: number;
  readonly maxJsonDepth: number;
  readonly retryAfter: number;
}

function resolve(options: IngestOptions): Resolved {
  const where = 'ingest';
  const o = check.object(where, options, '{ log, maxBodyBytes?, … }') as unknown as IngestOptions;
  check.known(where, o as unknown as Record<string, unknown>, OPTIONS);
  if (!(o.log instanceof Log))
    throw optionError(where, `"log" must be a Log from openLog(), got ${quote(o.log)}`);
  const int = (name: keyof IngestOptions, dflt: number) =>
    o[name] === undefined ? dflt : check.integer(where, name, o[name], 1);
  return {
    log: o.log,
    maxBodyBytes: int('maxBodyBytes', 16 * 1024 * 1024),
    maxEvents: int('maxEventsPerRequest', 100_000),
    maxPendingRequests: int('maxPendingRequests', 1024),
    maxPendingBytes: int('maxPendingBytes', 256 * 1024 * 1024),
    maxPerClient: int('maxPendingRequestsPerClient', 64),
    bodyTimeoutMs: int('bodyTimeoutMs', 30_000),
    maxJsonDepth: int('maxJsonDepth', 1000),
    retryAfter: int('retryAfterSeconds', 1),
  };
}

function mib(n: number): string {
  return n >= 1024 * 1024 ? `${+(n / 1024 / 1024).toFixed(1)} MiB` : `${n} bytes`;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

function fail(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send({ statusCode: status, error: REASONS[status] ?? 'Error', code, message });
}

/** The status for an error of the log. */
function statusOf(e: MillraceError): number {
  switch (e.code) {
    case 'TOPIC_NOT_FOUND':
      return 404;
    case 'INVALID_TOPIC_NAME':
    case 'INVALID_RECORD':
    case 'INVALID_PARTITION':
    case 'INVALID_IDEMPOTENCY_KEY':
      return 400;
    case 'IDEMPOTENCY_KEY_REUSED':
      return 422;
    case 'LOG_CLOSED':
    case 'LOG_IO_FAILED':
      return 503;
    default:
      return 500;
  }
}

/** Mount with `app.register(ingestPlugin, { log, prefix?: '/ingest' })`. */
export async function ingestPlugin(app: FastifyInstance, options: IngestOptions): Promise<void> {
  const o = resolve(options);
  const log = o.log;
  let pendingRequests = 0;
  let pendingBytes = 0;
  /** Admitted, unanswered requests per client address (entries at 0 are deleted). */
  const perClient = new Map<string, number>();
  const admitted = new WeakMap<FastifyRequest, { bytes: number; client: string; timer?: NodeJS.Timeout }>();
  /** Admitted requests whose body is still arriving (answered 408 at once when the server closes). */
  const receiving = new Map<FastifyRequest, FastifyReply>();
  const release = (req: FastifyRequest) => {
    const a = admitted.get(req);
    if (a === undefined) return;
    admitted.delete(req);
    receiving.delete(req);
    if (a.timer) clearTimeout(a.timer);
    pendingRequests--;
    pendingBytes -= a.bytes;
    const n = (perClient.get(a.client) ?? 1) - 1;
    if (n <= 0) perClient.delete(a.client);
    else perClient.set(a.client, n);
  };

  // Only our two content types; anything else is answered 415 by fastify (mapped below).
  // Bodies arrive as bytes: decodeUtf8 refuses invalid UTF-8 instead of replacing it with U+FFFD.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_TYPE, { parseAs: 'buffer', bodyLimit: o.maxBodyBytes }, (_req, body, done) =>
    done(null, { kind: 'json', bytes: body as Buffer } satisfies Body),
  );
  app.addContentTypeParser(
    NDJSON_TYPES,
    { parseAs: 'buffer', bodyLimit: o.maxBodyBytes },
    (_req, body, done) => done(null, { kind: 'ndjson', bytes: body as Buffer } satisfies Body),
  );

  // nosniff on every answer of this plugin: JSON must never be sniffed into HTML by a browser.
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    return payload;
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof MillraceError) return fail(reply, statusOf(err), err.code, err.message);
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413) {
      return fail(
        reply,
        413,
        'INGEST_BODY_TOO_LARGE',
        `the request body is larger than the limit of ${mib(o.maxBodyBytes)} (maxBodyBytes); split the events over several requests`,
      );
    }
    if (
      err.statusCode === 415 ||
      err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ||
      err.code === 'FST_ERR_CTP_EMPTY_TYPE'
    ) {
      return fail(reply, 415, 'INGEST_UNSUPPORTED_TYPE', unsupported(req.headers['content-type']));
    }
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      return fail(reply, err.statusCode, err.code ?? 'INGEST_BAD_REQUEST', err.message);
    }
    reply.log.error(err);
    return fail(reply, 500, 'INTERNAL', `the ingest server failed: ${err.message}`);
  });

  app.addHook('onRequest', async (req, reply) => {
    if (req.method !== 'POST') return;
    const client = req.ip;
    const mine = perClient.get(client) ?? 0;
    if (mine >= o.maxPerClient) {
      return overloaded(
        reply,
        `this client (${client}) has ${mine} requests in flight, the limit per client is ${o.maxPerClient} (maxPendingRequestsPerClient); ` +
          'wait for answers before sending more',
        'INGEST_CLIENT_OVERLOADED',
        'too many requests from this client',
      );
    }
    if (pendingRequests >= o.maxPendingRequests) {
      return overloaded(
        reply,
        `${pendingRequests} requests are in flight, the limit is ${o.maxPendingRequests} (maxPendingRequests)`,
      );
    }
    const len = Number(req.headers['content-length'] ?? 0) || 0;
    if (pendingBytes > 0 && pendingBytes + len > o.maxPendingBytes) {
      return overloaded(
        reply,
        `${mib(pendingBytes)} of requests are in flight, and this one (${mib(len)}) would pass the limit of ${mib(o.maxPendingBytes)} (maxPendingBytes)`,
      );
    }
    const topic = (req.params as { topic?: string }).topic;
    if (topic !== undefined && !log.isClosed) {
      const over = log.overRetentionLimit(topic);
      if (over.length > 0) {
        const t = log.topic(topic)!;
        const p = over[0]!;
        return overloaded(
          reply,
          `topic "${topic}" partition ${p.partition} holds ${mib(p.bytes)}, above its hard limit (retentionBytes ${mib(t.retentionBytes!)} × the log's retentionHardLimitRatio); ` +
            `retention is deleting old records`,
          'INGEST_RETENTION_BEHIND',
        );
      }
    }
    const entry: { bytes: number; client: string; timer?: NodeJS.Timeout } = { bytes: len, client };
    entry.timer = setTimeout(() => bodyTimedOut(req, reply), o.bodyTimeoutMs);
    entry.timer.unref();
    admitted.set(req, entry);
    receiving.set(req, reply);
    perClient.set(client, mine + 1);
    pendingRequests++;
    pendingBytes += len;
  });
  // The body has arrived (parsed or refused): the upload can no longer stall.
  app.addHook('preValidation', async (req) => {
    receiving.delete(req);
    const a = admitted.get(req);
    if (a?.timer) {
      clearTimeout(a.timer);
      a.timer = undefined;
    }
  });
  // Closing: a body still arriving would hold close() up to bodyTimeoutMs. It has not reached the
  // log, so answer it 408 now (the client retries elsewhere or later); answered requests finish.
  app.addHook('preClose', async () => {
    for (const [req, reply] of [...receiving]) bodyTimedOut(req, reply, 'the server is shutting down');
  });
  app.addHook('onResponse', async (req) => release(req));
  app.addHook('onRequestAbort', async (req) => release(req));

  /**
   * A body that has not fully arrived in time: answer 408 ourselves (fastify is still waiting for
   * the body, so the reply is hijacked) and close the connection, which frees the slot.
   */
  function bodyTimedOut(req: FastifyRequest, reply: FastifyReply, why?: string): void {
    if (!admitted.has(req)) return;
    release(req);
    const res = reply.raw;
    reply.hijack();
    const status = 408;
    if (!res.headersSent) {
      const body = JSON.stringify({
        statusCode: status,
        error: REASONS[status],
        code: 'INGEST_BODY_TIMEOUT',
        message:
          why !== undefined
            ? `${why} and the request body has not fully arrived; nothing of it was stored — send it again`
            : `the request body did not arrive within ${o.bodyTimeoutMs} ms (bodyTimeoutMs); ` +
              'the connection is closed — send the whole body promptly, or split large uploads',
      });
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'x-content-type-options': 'nosniff',
        connection: 'close',
      });
      res.end(body, () => req.raw.socket?.destroy());
    } else {
      req.raw.socket?.destroy();
    }
  }

  function overloaded(
    reply: FastifyReply,
    why: string,
    code = 'INGEST_OVERLOADED',
    what = 'the log is behind',
  ): FastifyReply {
    reply.header('Retry-After', String(o.retryAfter));
    return fail(reply, 429, code, `${what}: ${why}; retry after ${o.retryAfter} s (the Retry-After header)`);
  }

  app.post<{ Params: { topic: string }; Querystring: { key?: string; partition?: string } }>(
    '/topics/:topic',
    async (req, reply) => {
      const body = req.body as Body | undefined;
      if (!body) return fail(reply, 415, 'INGEST_UNSUPPORTED_TYPE', unsupported(req.headers['content-type']));
      const topic = req.params.topic;
      let events: IngestEvent[];
      let records: AppendRecord[];
      const keyField = req.query.key ?? header(req, 'x-key-field');
      let partition: number | undefined;
      try {
        if (req.query.partition !== undefined) {
          partition = Number(req.query.partition);
          if (!/^\d+$/.test(req.query.partition)) {
            throw new BodyError(
              400,
              'INGEST_BAD_PARTITION',
              `?partition must be a partition number, got ${quote(req.query.partition)}`,
            );
          }
        }
        const text = decodeUtf8(body.bytes);
        events =
          body.kind === 'json'
            ? parseJsonBody(text, o.maxEvents, o.maxJsonDepth)
            : parseNdjsonBody(text, o.maxEvents, o.maxJsonDepth);
        records = events.map((e, i) => ({
          value: e.text,
          key: keyField ? keyOf(e, keyField, i) : null,
          ...(partition !== undefined ? { partition } : {}),
        }));
      } catch (e) {
        if (e instanceof BodyError) return fail(reply, e.status, e.code, e.message);
        throw e;
      }
      // Account for the body if it came without a Content-Length (chunked).
      const a = admitted.get(req);
      if (a !== undefined && a.bytes === 0) {
        a.bytes = body.bytes.length;
        pendingBytes += body.bytes.length;
      }
      const idempotencyKey = header(req, 'idempotency-key');
      const result = await log.append(topic, records, {
        ...(idempotencyKey !== undefined
          ? {
              idempotencyKey,
              idempotencyFingerprint: createHash('sha256')
                .update(`${body.kind}\n${keyField ?? ''}\n${partition ?? ''}\n`)
                .update(body.bytes)
                .digest('base64url'),
            }
          : {}),
      });
      if (result.duplicate) reply.header('Idempotent-Replayed', 'true');
      return { topic, count: result.count, offsets: result.ranges, duplicate: result.duplicate };
    },
  );

  app.get('/topics', async () => ({
    topics: log.topics().map((t) => ({
      name: t.name,
      partitions: t.partitions,
      retentionBytes: t.retentionBytes,
      retentionMs: t.retentionMs,
    })),
  }));

  app.get<{ Params: { topic: string } }>('/topics/:topic', async (req, reply) => {
    const t = log.topic(req.params.topic);
    if (!t) {
      return fail(
        reply,
        404,
        'TOPIC_NOT_FOUND',
        `topic "${req.params.topic}" does not exist; GET /topics lists the topics`,
      );
    }
    const parts = log.partitions(t.name);
    return {
      name: t.name,
      retentionBytes: t.retentionBytes,
      retentionMs: t.retentionMs,
      records: parts.reduce((a, p) => a + p.high - p.low, 0),
      bytes: parts.reduce((a, p) => a + p.bytes, 0),
      partitions: parts.map((p) => ({
        partition: p.partition,
        low: p.low,
        high: p.high,
        records: p.high - p.low,
        bytes: p.bytes,
      })),
    };
  });

  app.get('/health', async (_req, reply) => {
    const body = {
      status: log.isClosed ? 'closed' : 'ok',
      fsync: log.fsync,
      pendingRequests,
      pendingBytes,
      pendingAppends: log.pendingAppends,
    };
    if (log.isClosed) return reply.code(503).send(body);
    return body;
  });
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function unsupported(contentType: string | undefined): string {
  return (
    `${contentType ? `Content-Type ${quote(contentType)} is not supported` : 'the request has no Content-Type'}; ` +
    `send application/json (one object or an array of objects) or application/x-ndjson (one JSON object per line)`
  );
}
