/**
 * Where the sink connects, and how to talk about it without leaking secrets.
 *
 * The sink never prints a password: describe(), errors and logs show
 * `postgres://user:***@host:5432/db`. Besides redacting the connection string
 * itself, every text the sink emits goes through `Secrets.scrub`, which
 * replaces any occurrence of the known password (raw, URL-encoded and
 * URL-decoded), so a driver message that echoes a URL cannot leak it either.
 */
import * as os from 'node:os';
import pg from 'pg';

/** How the sink reaches PostgreSQL: exactly one of these. */
export type ConnectionTarget =
  | { readonly kind: 'url'; readonly connectionString: string }
  | { readonly kind: 'config'; readonly config: pg.ClientConfig }
  | { readonly kind: 'pool'; readonly pool: pg.Pool };

const REDACTED = '***';

/** The known secrets of a target, to scrub from any text before it is shown. */
export class Secrets {
  private readonly values: string[];

  constructor(target: ConnectionTarget) {
    const found = new Set<string>();
    const add = (v: unknown) => {
      if (typeof v !== 'string' || v.length === 0) return;
      found.add(v);
      try {
        found.add(decodeURIComponent(v));
      } catch {
        // not percent-encoded: the raw form is enough
      }
      found.add(encodeURIComponent(v));
    };
    const fromUrl = (cs: string | undefined) => {
      if (!cs) return;
      try {
        const u = new URL(cs);
        add(u.password);
        add(u.searchParams.get('password') ?? undefined);
      } catch {
        // Not a URL the WHATWG parser takes: fall back to the patterns below.
      }
      for (const m of cs.matchAll(/password\s*=\s*('[^']*'|[^&\s]*)/gi)) add(m[1]!.replace(/^'|'$/g, ''));
      const auth = /^[a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:([^/?#]*)@/i.exec(cs);
      if (auth) add(auth[1]);
    };
    if (target.kind === 'url') fromUrl(target.connectionString);
    if (target.kind === 'config') {
      add(target.config.password);
      fromUrl(target.config.connectionString);
    }
    if (target.kind === 'pool') {
      const o = (target.pool as unknown as { options?: pg.PoolConfig }).options;
      add(o?.password);
      fromUrl(o?.connectionString);
    }
    // Longest first, so a secret that contains another is replaced whole. Very short passwords are
    // left to the structural redaction of URLs: replacing every "pw" in a message would garble it.
    this.values = [...found].filter((v) => v.length >= 4).sort((a, b) => b.length - a.length);
  }

  /** `text` with every known secret replaced by `***`. */
  scrub(text: string): string {
    let out = text;
    for (const v of this.values) out = out.split(v).join(REDACTED);
    return out;
  }
}

/**
 * `postgres://user:***@host:5432/db?sslmode=require` — the password in the
 * authority part and any `password=` parameter are replaced by `***`.
 */
export function redactConnectionString(cs: string): string {
  let out = cs.replace(/(password\s*=\s*)('[^']*'|[^&\s]*)/gi, `$1${REDACTED}`);
  // user:password@ in the authority part (up to the last '@' before the path; a raw '@' or ':' in the
  // password is tolerated, a raw '/' is not valid in a URL anyway).
  out = out.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:)([^/?#]*)@/i, `$1${REDACTED}@`);
  return out;
}

/** A connection config shown as a URL without its password. */
function configToDisplay(c: pg.ClientConfig | pg.PoolConfig | undefined): string {
  if (c?.connectionString) return redactConnectionString(c.connectionString);
  const env = process.env;
  const user = c?.user ?? env.PGUSER ?? '';
  const host = c?.host ?? env.PGHOST ?? 'localhost';
  const port = c?.port ?? env.PGPORT ?? 5432;
  const db = c?.database ?? env.PGDATABASE ?? user;
  const hasPassword = c?.password !== undefined || env.PGPASSWORD !== undefined;
  const auth = user ? `${user}${hasPassword ? `:${REDACTED}` : ''}@` : '';
  return `postgres://${auth}${host}:${port}/${db}`;
}

/** The target, for describe() and messages: a redacted URL (or `pool(…)`). */
export function displayTarget(target: ConnectionTarget): string {
  switch (target.kind) {
    case 'url':
      return redactConnectionString(target.connectionString);
    case 'config':
      return configToDisplay(target.config);
    case 'pool': {
      const o = (target.pool as unknown as { options?: pg.PoolConfig }).options;
      return `pool(${configToDisplay(o)})`;
    }
  }
}

/** `host:port/database` — the server to check when it cannot be reached. */
export function serverOf(target: ConnectionTarget): string {
  const display = displayTarget(target).replace(/^pool\((.*)\)$/, '$1');
  try {
    const u = new URL(display);
    const host = u.hostname || u.searchParams.get('host') || process.env.PGHOST || 'localhost';
    const port = u.port || process.env.PGPORT || '5432';
    const db = u.pathname.replace(/^\//, '') || process.env.PGDATABASE || '(default database)';
    return `${host}:${port}/${decodeURIComponent(db)}`;
  } catch {
    return display;
  }
}

export interface PoolSettings {
  readonly applicationName: string;
  readonly connectTimeoutMs: number;
}

/**
 * The pool the sink writes through. A target `pool` is the user's and is
 * used as is; otherwise the sink owns a pool of one connection: batches are
 * written one at a time, and a broken connection is dropped and replaced on
 * the next attempt.
 */
export function makePool(target: ConnectionTarget, s: PoolSettings): { pool: pg.Pool; owned: boolean } {
  if (target.kind === 'pool') return { pool: target.pool, owned: false };
  const base: pg.PoolConfig = withDefaultUser(
    target.kind === 'url' ? { connectionString: target.connectionString } : { ...target.config },
  );
  const pool = new pg.Pool({
    application_name: s.applicationName,
    ...base,
    max: 1,
    connectionTimeoutMillis: base.connectionTimeoutMillis ?? s.connectTimeoutMs,
    keepAlive: base.keepAlive ?? true,
    // Keep the connection between batches; after an idle minute it is closed. An idle pool never
    // keeps the process alive.
    idleTimeoutMillis: base.idleTimeoutMillis ?? 60_000,
    allowExitOnIdle: true,
  });
  return { pool, owned: true };
}

/**
 * The operating-system user, as libpq defaults to when no user name is given. node-postgres falls
 * back to $USER only, so `postgres://host/db` fails with "no PostgreSQL user name specified" where
 * $USER is unset (cron, systemd, containers); undefined when the OS cannot say either.
 */
export function operatingSystemUser(): string | undefined {
  const fromEnv = process.platform === 'win32' ? process.env.USERNAME : process.env.USER;
  if (fromEnv) return fromEnv;
  try {
    return os.userInfo().username || undefined;
  } catch {
    return undefined; // no passwd entry for this uid: leave the driver's own error
  }
}

/**
 * The config with a user name filled in when none is given anywhere (URL, `?user=`, config,
 * PGUSER): the operating-system user, as psql does. A user in the URL wins over a config field
 * in node-postgres, so a URL without one gets it written into the URL.
 */
export function withDefaultUser<C extends pg.ClientConfig>(config: C): C {
  if (config.user !== undefined || process.env.PGUSER) return config;
  const cs = config.connectionString;
  if (cs !== undefined) {
    if (!/^postgres(ql)?:\/\//i.test(cs)) return config; // socket:… and key=value forms: left to the driver
    let url: URL;
    try {
      url = new URL(cs);
    } catch {
      return config; // the driver reports it; the options check already did for the sink
    }
    if (url.username !== '' || url.searchParams.has('user')) return config;
    const user = operatingSystemUser();
    if (user === undefined) return config;
    url.username = encodeURIComponent(user);
    return { ...config, connectionString: url.toString() };
  }
  const user = operatingSystemUser();
  return user === undefined ? config : { ...config, user };
}
