/**
 * Start the HTTP API on a port. Default 127.0.0.1:4040. Binding any other
 * address needs a bearer token (refused otherwise): the API can stop queries.
 */
import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { MillraceService } from '../service.ts';
import { externalError, userError } from '../util/errors.ts';
import { createHttpApp, type HttpAppOptions } from './app.ts';

export interface HttpServerOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 4040; 0 picks a free port. */
  readonly port?: number;
  /** Bearer token for changes (required for a non-loopback host). */
  readonly token?: string;
  /**
   * Reads (results, plans, metrics, events) need the token too. Default: true when bound beyond
   * loopback (anyone who reaches the port could read every result), false on loopback.
   */
  readonly requireTokenForReads?: boolean;
  /** Time to receive a whole request before 408 + close (default 60,000 ms). */
  readonly requestTimeoutMs?: number;
  /** Registers the web UI's routes (see HttpAppOptions.ui). */
  readonly ui?: HttpAppOptions['ui'];
}

export interface HttpServer {
  readonly app: FastifyInstance;
  /** e.g. http://127.0.0.1:4040 */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

import { DEFAULT_HOST, DEFAULT_PORT } from '../defaults.ts';

export { DEFAULT_HOST, DEFAULT_PORT };

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

export async function startHttpServer(
  service: MillraceService,
  options: HttpServerOptions = {},
): Promise<HttpServer> {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? DEFAULT_PORT;
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    throw userError(
      'INVALID_OPTIONS',
      `port must be an integer from 0 to 65535, got ${String(options.port)}`,
    );
  }
  const token = options.token === undefined || options.token === '' ? undefined : options.token;
  if (token !== undefined && token.length < 12) {
    throw userError(
      'WEAK_TOKEN',
      'the token must have at least 12 characters; generate one with `openssl rand -hex 24`',
    );
  }
  const local = isLoopback(host);
  if (!local && token === undefined) {
    throw userError(
      'TOKEN_REQUIRED',
      `refusing to listen on ${host} without a token: anyone who reaches it could stop your queries. ` +
        'Give --token <secret> (or MILLRACE_TOKEN), or bind 127.0.0.1',
    );
  }
  const readsNeedToken = options.requireTokenForReads ?? !local;
  if (readsNeedToken && token === undefined) {
    throw userError(
      'TOKEN_REQUIRED',
      'requireTokenForReads needs a token: give --token <secret> (or MILLRACE_TOKEN), or leave reads open on 127.0.0.1',
    );
  }
  if (token !== undefined) service.redactor.learn(token);
  const app = await createHttpApp(service, {
    token,
    requireTokenForReads: readsNeedToken,
    ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    ui: options.ui,
    allowedHosts: local ? ['localhost', '127.0.0.1', '::1', '[::1]', host] : null,
  });
  try {
    await app.listen({ host, port });
  } catch (e) {
    await app.close().catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    throw externalError(
      code === 'EADDRINUSE' ? 'PORT_IN_USE' : 'LISTEN_FAILED',
      code === 'EADDRINUSE'
        ? `port ${port} on ${host} is in use; stop what uses it or choose another with --port`
        : `cannot listen on ${host}:${port}: ${(e as Error).message}`,
      { cause: e, retryable: false },
    );
  }
  const address = app.server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const url = `http://${shown}:${actualPort}`;
  service.log.info('server listening', {
    url,
    authRequiredForChanges: token !== undefined,
    authRequiredForReads: readsNeedToken,
  });
  // Say plainly what anyone who reaches the port can do.
  const reach = local ? 'this machine' : `anyone who reaches ${host}:${actualPort}`;
  if (readsNeedToken) {
    service.log.info(`reads (results, plans, metrics, events) need the token; changes need the token`, {
      url,
    });
  } else {
    service.log[local ? 'info' : 'warn'](
      `reads (results, plans, metrics, events) are open to ${reach}; ` +
        (token !== undefined ? 'changes need the token' : 'changes are open too') +
        (local ? '' : '; pass requireTokenForReads (--read-token) to close reads'),
      { url },
    );
  }
  return {
    app,
    url,
    port: actualPort,
    close: async () => {
      service.events.close();
      await app.close();
    },
  };
}
