/**
 * Connecting to an MQTT broker: address, credentials and TLS shared by the
 * source and the sink, with the password kept out of everything shown
 * (describe(), progress, logs, errors: `redact`).
 *
 *   url       mqtt://host:1883   (mqtts:// = TLS, port 8883)
 *   username / password   (never put the password in the URL you log)
 *   tls       Node TLS options: ca, cert, key, passphrase, servername, rejectUnauthorized
 */
import type { IClientOptions } from 'mqtt';
import { check, externalError, optionError, quote, redact, userError } from './errors.ts';

export interface MqttTlsOptions {
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly passphrase?: string;
  readonly servername?: string;
  /** Default true; false only for tests against a self-signed broker. */
  readonly rejectUnauthorized?: boolean;
}

export interface MqttConnectionOptions {
  /** Default `mqtt://localhost:1883`. */
  readonly url?: string;
  readonly username?: string;
  readonly password?: string;
  readonly tls?: MqttTlsOptions;
  /** MQTT 5 (default) or 3.1.1 (4). */
  readonly protocolVersion?: 4 | 5;
  /** Keep-alive, seconds (default 10): how fast a silent broker is noticed. */
  readonly keepaliveSeconds?: number;
  /** Give up a connection attempt after this long (default 10 s). */
  readonly connectTimeoutMs?: number;
}

export const CONNECTION_OPTIONS = [
  'url',
  'username',
  'password',
  'tls',
  'protocolVersion',
  'keepaliveSeconds',
  'connectTimeoutMs',
];

export interface ResolvedConnection {
  readonly url: string;
  readonly options: IClientOptions;
  readonly secrets: readonly string[];
  /** The URL without credentials. */
  readonly shown: string;
  readonly protocolVersion: 4 | 5;
}

export function resolveConnection(where: string, o: MqttConnectionOptions): ResolvedConnection {
  const raw = o.url === undefined ? 'mqtt://localhost:1883' : check.string(where, 'url', o.url);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw optionError(
      where,
      '"url" must be a URL like mqtt://host:1883 or mqtts://host:8883, got an unreadable URL',
    );
  }
  if (!['mqtt:', 'mqtts:', 'ws:', 'wss:'].includes(url.protocol)) {
    throw optionError(
      where,
      `"url" must start with mqtt://, mqtts:// (TLS), ws:// or wss://, got ${quote(url.protocol)}`,
    );
  }
  const secrets: string[] = [];
  let username = url.username ? decodeURIComponent(url.username) : undefined;
  let password = url.password ? decodeURIComponent(url.password) : undefined;
  if (o.username !== undefined) username = check.string(where, 'username', o.username);
  if (o.password !== undefined) {
    if (typeof o.password !== 'string') throw optionError(where, '"password" must be a string');
    password = o.password;
  }
  if (password) secrets.push(password);
  url.username = '';
  url.password = '';
  const protocolVersion = o.protocolVersion ?? 5;
  if (protocolVersion !== 4 && protocolVersion !== 5) {
    throw optionError(
      where,
      `"protocolVersion" must be 5 (MQTT 5) or 4 (MQTT 3.1.1), got ${quote(protocolVersion)}`,
    );
  }
  const options: IClientOptions = {
    protocolVersion,
    keepalive:
      o.keepaliveSeconds === undefined
        ? 10
        : check.integer(where, 'keepaliveSeconds', o.keepaliveSeconds, 0, 65_535),
    connectTimeout:
      o.connectTimeoutMs === undefined
        ? 10_000
        : check.integer(where, 'connectTimeoutMs', o.connectTimeoutMs, 1),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
  };
  if (o.tls !== undefined) {
    const tls = check.object(
      `${where} tls`,
      o.tls,
      '{ ca?, cert?, key?, passphrase?, servername?, rejectUnauthorized? }',
    );
    check.known(`${where} tls`, tls, ['ca', 'cert', 'key', 'passphrase', 'servername', 'rejectUnauthorized']);
    if (url.protocol !== 'mqtts:' && url.protocol !== 'wss:') {
      throw optionError(
        where,
        '"tls" needs an mqtts:// (or wss://) URL; change the URL scheme or leave tls out',
      );
    }
    Object.assign(options, tls);
    if (typeof tls.passphrase === 'string' && tls.passphrase) secrets.push(tls.passphrase);
  }
  const shown = `${url.protocol}//${username ? `${encodeURIComponent(username)}:***@` : ''}${url.host}${url.pathname === '/' ? '' : url.pathname}`;
  return { url: url.href, options, secrets, shown, protocolVersion };
}

/** A connection failure as a MillraceError that says what to check, without the password. */
export function connectionError(e: unknown, c: ResolvedConnection, what: string) {
  const msg = redact(String((e as Error)?.message ?? e), c.secrets);
  const code = (e as { code?: number }).code;
  if (
    code === 4 ||
    code === 5 ||
    code === 134 ||
    code === 135 ||
    /Not authorized|Bad username or password/i.test(msg)
  ) {
    return userError(
      'MQTT_AUTH',
      `${what}: the MQTT broker at ${c.shown} refused the connection (${msg}); check username, password and the broker's ACLs`,
      { broker: c.shown },
    );
  }
  return externalError(
    'MQTT_UNAVAILABLE',
    `${what}: cannot reach the MQTT broker at ${c.shown} (${msg}); check that it runs and the address, port and TLS settings`,
    { context: { broker: c.shown } },
  );
}

/** Exponential backoff: initial, ×2, … up to max. */
export function backoff(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
}
