/**
 * Where the NATS connectors connect, and how to talk about it without leaking secrets.
 *
 *   servers 'nats://host:4222' (or a list)  + user/pass | token | authenticator, tls  ─► one NatsConnection
 *
 * The client reconnects by itself (forever, 250 ms – 2 s apart); the connectors retry their steps
 * on top (retry.ts). describe(), errors and logs show the servers without credentials; every text
 * the connectors emit goes through `Secrets.scrub`.
 */
import { type NatsConnection, connect } from '@nats-io/transport-node';
import type { NodeConnectionOptions } from '@nats-io/transport-node';

const REDACTED = '***';

export interface NatsConnectionOptions {
  /** 'nats://host:4222', 'tls://host:4222', or a list. Default nats://127.0.0.1:4222. */
  readonly servers?: string | readonly string[];
  /** Any other option of the NATS client: user, pass, token, authenticator (nkeys, creds), tls, name, … */
  readonly connection?: Omit<NodeConnectionOptions, 'servers'>;
}

export interface Target {
  readonly servers: string[];
  readonly options: Omit<NodeConnectionOptions, 'servers'>;
}

export function redactServer(s: string): string {
  return s.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@/i, `$1${REDACTED}@`);
}

export function resolveTarget(o: NatsConnectionOptions): Target | string {
  const list =
    o.servers === undefined
      ? ['nats://127.0.0.1:4222']
      : typeof o.servers === 'string'
        ? [o.servers]
        : [...o.servers];
  if (list.length === 0 || list.some((s) => typeof s !== 'string' || s === '')) {
    return `"servers" must be a server URL like 'nats://host:4222' or a list of them, got ${JSON.stringify(o.servers?.toString())}`;
  }
  if (o.connection !== undefined && (o.connection === null || typeof o.connection !== 'object')) {
    return '"connection" must be an object of NATS client options ({ user, pass, token, tls, … })';
  }
  return { servers: list, options: { ...(o.connection ?? {}) } };
}

export class Secrets {
  private readonly values: string[];

  constructor(t: Target) {
    const found = new Set<string>();
    const add = (v: unknown) => {
      if (typeof v === 'string' && v.length >= 4) {
        found.add(v);
        found.add(encodeURIComponent(v));
      }
    };
    add(t.options.pass);
    add(t.options.token);
    for (const s of t.servers) {
      const m = /^[a-z][a-z0-9+.-]*:\/\/([^@/]*)@/i.exec(s);
      if (m) for (const part of m[1]!.split(':')) add(decodeURIComponent(part));
    }
    this.values = [...found].sort((a, b) => b.length - a.length);
  }

  scrub(text: string): string {
    let out = text;
    for (const v of this.values) out = out.split(v).join(REDACTED);
    return out;
  }
}

export function displayTarget(t: Target): string {
  const user = typeof t.options.user === 'string' ? `${t.options.user}@` : '';
  return t.servers
    .map((s) => (user && !s.includes('@') ? s.replace('://', `://${user}`) : redactServer(s)))
    .join(',');
}

export async function connectTo(t: Target, name: string, timeoutMs: number): Promise<NatsConnection> {
  return connect({
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    timeout: timeoutMs,
    name,
    ...t.options,
    servers: t.servers,
  });
}
