/**
 * Connecting to RabbitMQ: the broker address, credentials and TLS shared by
 * the source and the sink, with the password kept out of everything shown
 * (describe(), progress, logs, errors: `redact`).
 *
 *   url       amqp://user:password@host:5672/vhost   (amqps:// = TLS, port 5671)
 *   username / password   override the URL's (keep the password out of the URL)
 *   tls       Node TLS options: ca, cert, key, passphrase, servername, rejectUnauthorized
 */
import * as amqp from 'amqplib';
import { check, externalError, optionError, quote, redact, userError } from './errors.ts';

export interface RabbitMqTlsOptions {
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly passphrase?: string;
  readonly servername?: string;
  /** Default true; false only for tests against a self-signed broker. */
  readonly rejectUnauthorized?: boolean;
}

export interface RabbitMqConnectionOptions {
  /** Default `amqp://guest:guest@localhost:5672`. */
  readonly url?: string;
  readonly username?: string;
  readonly password?: string;
  readonly tls?: RabbitMqTlsOptions;
  /** AMQP heartbeat, seconds (default 10): how fast a silent broker is noticed. */
  readonly heartbeatSeconds?: number;
}

export const CONNECTION_OPTIONS = ['url', 'username', 'password', 'tls', 'heartbeatSeconds'];

export interface ResolvedConnection {
  readonly url: string;
  readonly socketOptions: Record<string, unknown>;
  readonly secrets: readonly string[];
  /** The URL without its password. */
  readonly shown: string;
}

export function resolveConnection(where: string, o: RabbitMqConnectionOptions): ResolvedConnection {
  const raw = o.url === undefined ? 'amqp://guest:guest@localhost:5672' : check.string(where, 'url', o.url);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw optionError(
      where,
      `"url" must be an AMQP URL like amqp://user:password@host:5672/vhost, got an unreadable URL`,
    );
  }
  if (url.protocol !== 'amqp:' && url.protocol !== 'amqps:') {
    throw optionError(where, `"url" must start with amqp:// or amqps:// (TLS), got ${quote(url.protocol)}`);
  }
  if (o.username !== undefined)
    url.username = encodeURIComponent(check.string(where, 'username', o.username));
  if (o.password !== undefined) {
    if (typeof o.password !== 'string') throw optionError(where, '"password" must be a string');
    url.password = encodeURIComponent(o.password);
  }
  const heartbeat =
    o.heartbeatSeconds === undefined
      ? 10
      : check.integer(where, 'heartbeatSeconds', o.heartbeatSeconds, 0, 3600);
  if (!url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', String(heartbeat));
  const secrets: string[] = [];
  const password = decodeURIComponent(url.password);
  if (password) secrets.push(password);
  const socketOptions: Record<string, unknown> = {};
  if (o.tls !== undefined) {
    const tls = check.object(
      `${where} tls`,
      o.tls,
      '{ ca?, cert?, key?, passphrase?, servername?, rejectUnauthorized? }',
    );
    check.known(`${where} tls`, tls, ['ca', 'cert', 'key', 'passphrase', 'servername', 'rejectUnauthorized']);
    if (url.protocol !== 'amqps:') {
      throw optionError(where, '"tls" needs an amqps:// URL (TLS); change the URL scheme or leave tls out');
    }
    Object.assign(socketOptions, tls);
    if (typeof tls.passphrase === 'string' && tls.passphrase) secrets.push(tls.passphrase);
  }
  const shownUrl = new URL(url.href);
  if (shownUrl.password) shownUrl.password = '***';
  shownUrl.searchParams.delete('heartbeat');
  return { url: url.href, socketOptions, secrets, shown: shownUrl.href.replace(/\/$/, '') };
}

/** Open a connection; failures become MillraceErrors that say what to check, without the password. */
export async function connect(c: ResolvedConnection, what: string): Promise<amqp.ChannelModel> {
  try {
    return await amqp.connect(c.url, c.socketOptions);
  } catch (e) {
    throw connectionError(e, c, what);
  }
}

export function connectionError(e: unknown, c: ResolvedConnection, what: string) {
  const msg = redact(String((e as Error)?.message ?? e), c.secrets);
  if (/ACCESS_REFUSED|403|authentication|PLAIN login refused/i.test(msg)) {
    return userError(
      'RABBITMQ_AUTH',
      `${what}: RabbitMQ at ${c.shown} refused the credentials (${msg}); check username, password and the vhost's permissions`,
      { broker: c.shown },
    );
  }
  if (/NOT_ALLOWED|vhost/i.test(msg) && /530/.test(msg)) {
    return userError(
      'RABBITMQ_AUTH',
      `${what}: RabbitMQ at ${c.shown} refused access to the vhost (${msg})`,
      {
        broker: c.shown,
      },
    );
  }
  return externalError(
    'RABBITMQ_UNAVAILABLE',
    `${what}: cannot reach RabbitMQ at ${c.shown} (${msg}); check that the broker runs and the address, port and TLS settings`,
    { context: { broker: c.shown } },
  );
}

/** Exponential backoff: initial, ×2, … up to max. */
export function backoff(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
