/**
 * Where the Redis connectors connect, and how to talk about it without leaking secrets.
 *
 *   url 'redis://user:pw@host:6379/0' | 'rediss://…' (TLS)  ─┐
 *   connection { host, port, username, password, db, tls, … } ─┴─► ioredis client (one per connector)
 *
 * The client is made for explicit retries: no offline queue (a command while disconnected fails at
 * once instead of waiting in a queue), no automatic re-sending of commands after a reconnect, and
 * one attempt per command; the connector's own loop (retry.ts) backs off and tries again, so what
 * runs twice is always a whole, idempotent step. ioredis reconnects in the background meanwhile.
 * describe(), errors and logs show `redis://user:***@host:6379/0`; every text the connectors emit
 * goes through `Secrets.scrub`.
 */
import { Redis, type RedisOptions } from 'ioredis';

const REDACTED = '***';

export interface ConnectionOptions {
  /** `redis://[user:password@]host:6379[/db]`, or `rediss://…` for TLS. One of url, connection. */
  readonly url?: string;
  /** An ioredis options object: host, port, username, password, db, tls, … */
  readonly connection?: RedisOptions;
}

export interface Target {
  readonly url?: string;
  readonly options: RedisOptions;
}

export function redactUrl(url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:)([^/?#]*)@/i, `$1${REDACTED}@`)
    .replace(/(password=)[^&]*/gi, `$1${REDACTED}`);
}

/** Resolve url / connection; returns an error text (never quoting the password) instead of throwing. */
export function resolveTarget(o: ConnectionOptions): Target | string {
  const given = (['url', 'connection'] as const).filter((k) => o[k] !== undefined);
  if (given.length > 1) return 'give only one of url and connection, not both';
  if (o.url !== undefined) {
    if (typeof o.url !== 'string' || !/^rediss?:\/\//i.test(o.url)) {
      return `"url" must be a redis:// or rediss:// URL, got ${typeof o.url === 'string' ? redactUrl(o.url) : JSON.stringify(o.url)}`;
    }
    try {
      new URL(o.url);
    } catch {
      return `"url" ${redactUrl(o.url)} is not a valid URL; percent-encode special characters in the user name and password`;
    }
    return { url: o.url, options: {} };
  }
  if (o.connection !== undefined && (o.connection === null || typeof o.connection !== 'object')) {
    return '"connection" must be an ioredis options object like { host, port, password }';
  }
  return { options: { ...(o.connection ?? { host: '127.0.0.1', port: 6379 }) } };
}

export class Secrets {
  private readonly values: string[];

  constructor(target: Target) {
    const found = new Set<string>();
    const add = (v: unknown) => {
      if (typeof v !== 'string' || v.length === 0) return;
      found.add(v);
      try {
        found.add(decodeURIComponent(v));
      } catch {
        // not percent-encoded
      }
      found.add(encodeURIComponent(v));
    };
    add(target.options.password);
    if (target.url) {
      try {
        add(new URL(target.url).password);
      } catch {
        // validated before
      }
    }
    this.values = [...found].filter((v) => v.length >= 4).sort((a, b) => b.length - a.length);
  }

  scrub(text: string): string {
    let out = text;
    for (const v of this.values) out = out.split(v).join(REDACTED);
    return out;
  }
}

/** `redis://user:***@host:6379/0` for describe() and messages. */
export function displayTarget(t: Target): string {
  if (t.url) return redactUrl(t.url);
  const o = t.options;
  const auth = o.username || o.password ? `${o.username ?? ''}${o.password ? `:${REDACTED}` : ''}@` : '';
  const where = o.path ?? `${o.host ?? '127.0.0.1'}:${o.port ?? 6379}`;
  return `${o.tls ? 'rediss' : 'redis'}://${auth}${where}/${o.db ?? 0}`;
}

/** `host:port` to check when the server cannot be reached. */
export function serverOf(t: Target): string {
  if (t.url) {
    const u = new URL(t.url);
    return `${u.hostname}:${u.port || 6379}`;
  }
  return t.options.path ?? `${t.options.host ?? '127.0.0.1'}:${t.options.port ?? 6379}`;
}

/** A client for one connector, connected lazily (the first command connects). */
export function makeClient(t: Target, name: string, connectTimeoutMs: number): Redis {
  const common: RedisOptions = {
    connectionName: name.replace(/[^\w.:-]/g, '_').slice(0, 100),
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    connectTimeout: connectTimeoutMs,
    // Reconnect in the background, at most every 2 s; the connectors' own loops decide when to give up.
    retryStrategy: (times: number) => Math.min(50 * times, 2_000),
    reconnectOnError: () => false,
  };
  const client = t.url
    ? new Redis(t.url, { ...common, ...t.options })
    : new Redis({ ...t.options, ...common });
  // Connection errors surface through the commands; an 'error' event without a listener would crash.
  client.on('error', () => {});
  return client;
}
