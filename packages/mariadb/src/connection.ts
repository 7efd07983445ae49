/**
 * Where the sink connects, and how to talk about it without leaking secrets.
 *
 *   connectionString 'mariadb://user:pw@host:3306/db?ssl=true'  ─┐
 *   connection { host, port, user, password, database, ssl, … } ─┴─► ConnectionConfig ─► mariadb.createConnection
 *
 * The URL is parsed here, not by the driver: the driver's own parse error quotes the whole string,
 * password included. describe(), errors and logs show `mariadb://user:***@host:3306/db`, and every
 * text the connectors emit goes through `Secrets.scrub`, which replaces any occurrence of the
 * known password (raw and URL-encoded), so a driver message that echoes it cannot leak it either.
 */
import { type Connection, type ConnectionConfig, createConnection } from 'mariadb';

const REDACTED = '***';

/** `mariadb://user:***@host:3306/db?ssl=true` — the password in the authority part and any `password=` parameter hidden. */
export function redactConnectionString(cs: string): string {
  let out = cs.replace(/(password\s*=\s*)('[^']*'|[^&\s]*)/gi, `$1${REDACTED}`);
  out = out.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:)([^/?#]*)@/i, `$1${REDACTED}@`);
  return out;
}

/**
 * `mariadb://` or `mysql://` URL → driver config. Query parameters: `ssl=true` (TLS, verifying the
 * server certificate), `ssl=insecure` (TLS without verification: tests only), any other driver
 * option as its string/number/boolean value (`connectTimeout=5000`, `charset=utf8mb4`).
 * Returns an error text (never quoting the password) instead of throwing.
 */
export function parseConnectionString(cs: string): ConnectionConfig | string {
  const shown = redactConnectionString(cs);
  if (!/^(mariadb|mysql):\/\//i.test(cs)) {
    return `"connectionString" ${shown} is not a MariaDB/MySQL URL; it must start with mariadb:// or mysql://`;
  }
  let url: URL;
  try {
    url = new URL(cs);
  } catch {
    return `"connectionString" ${shown} is not a valid URL; percent-encode special characters in the user name and password (e.g. @ as %40)`;
  }
  const config: Record<string, unknown> = {
    host: url.hostname || 'localhost',
    port: url.port ? Number(url.port) : 3306,
  };
  if (url.username) config.user = decodeURIComponent(url.username);
  if (url.password) config.password = decodeURIComponent(url.password);
  const db = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (db) config.database = db;
  for (const [k, v] of url.searchParams) {
    if (k === 'ssl') {
      if (v === 'true' || v === 'required') config.ssl = {};
      else if (v === 'insecure') config.ssl = { rejectUnauthorized: false };
      else if (v !== 'false')
        return `"connectionString" parameter ssl must be true, insecure or false, got "${v}"`;
    } else if (k === 'password') config.password = v;
    else config[k] = v === 'true' ? true : v === 'false' ? false : /^\d+$/.test(v) ? Number(v) : v;
  }
  return config as ConnectionConfig;
}

/** The known secrets of a config, to scrub from any text before it is shown. */
export class Secrets {
  private readonly values: string[];

  constructor(config: ConnectionConfig, extra: readonly (string | undefined)[] = []) {
    const found = new Set<string>();
    const add = (v: unknown) => {
      if (typeof v !== 'string' || v.length === 0) return;
      found.add(v);
      found.add(encodeURIComponent(v));
    };
    add(config.password);
    for (const e of extra) add(e);
    // Longest first, so a secret containing another is replaced whole; very short ones would garble text.
    this.values = [...found].filter((v) => v.length >= 4).sort((a, b) => b.length - a.length);
  }

  scrub(text: string): string {
    let out = text;
    for (const v of this.values) out = out.split(v).join(REDACTED);
    return out;
  }
}

/** A config shown as a URL without its password. */
export function displayConfig(c: ConnectionConfig): string {
  const auth = c.user ? `${c.user}${c.password !== undefined ? `:${REDACTED}` : ''}@` : '';
  const where = c.socketPath ? `localhost${c.socketPath}` : `${c.host ?? 'localhost'}:${c.port ?? 3306}`;
  return `mariadb://${auth}${where}/${c.database ?? ''}${c.ssl ? '?ssl=true' : ''}`;
}

/** `host:port/database` — the server to check when it cannot be reached. */
export function serverOf(c: ConnectionConfig): string {
  const where = c.socketPath ?? `${c.host ?? 'localhost'}:${c.port ?? 3306}`;
  return `${where}/${c.database ?? '(no database)'}`;
}

export interface ConnectSettings {
  readonly connectTimeoutMs: number;
}

/**
 * One connection for the sink's batches (one at a time). UTC session time zone, so TIMESTAMP
 * columns store the instant given; affected rows counted as changed rows (foundRows false), so an
 * upsert's counts tell inserted (1) from updated (2) rows; BIGINT read as numbers where safe.
 */
export async function connect(config: ConnectionConfig, s: ConnectSettings): Promise<Connection> {
  const conn = await createConnection({
    connectTimeout: s.connectTimeoutMs,
    keepAliveDelay: 10_000,
    ...config,
    foundRows: false,
    bigIntAsNumber: false,
    insertIdAsNumber: true,
    decimalAsNumber: false,
    dateStrings: true,
    timezone: '+00:00',
  });
  // A connection that dies while idle emits 'error'; without a listener that would crash the process.
  conn.on('error', () => {});
  return conn;
}
