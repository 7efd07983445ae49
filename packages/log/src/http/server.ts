/**
 * startIngestServer: the ingest plugin on its own fastify server.
 *
 *   const server = await startIngestServer({ dir: './data/log', port: 8090 });
 *   // curl -X POST localhost:8090/topics/clicks -H 'content-type: application/json' -d '{"user":"a"}'
 *   await server.close();
 */
import fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { check, externalError, optionError, quote } from '../errors.ts';
import { Log, openLog, type LogOptions } from '../log/Log.ts';
import { ingestPlugin, type IngestOptions } from './ingestPlugin.ts';

export interface IngestServerOptions extends Omit<IngestOptions, 'log'> {
  /** An open Log (the server does not close it), or… */
  readonly log?: Log;
  /** …the log's directory (the server opens it, with `logOptions`, and closes it). */
  readonly dir?: string;
  readonly logOptions?: Omit<LogOptions, 'dir'>;
  /** Default 127.0.0.1 (this machine only); '0.0.0.0' to accept other hosts. */
  readonly host?: string;
  /** TCP port; 0 = any free port (read it from `server.port`). */
  readonly port: number;
  /**
   * Time to receive a whole request, headers and body, before Node answers 408 and closes the
   * connection (default 120,000 ms; the plugin's bodyTimeoutMs usually cuts a stalled body first).
   * Headers must arrive within min(60 s, this).
   */
  readonly requestTimeoutMs?: number;
  /** fastify's logger option (default off). */
  readonly logger?: FastifyServerOptions['logger'];
}

export interface IngestServer {
  /** e.g. http://127.0.0.1:8090 */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly log: Log;
  readonly app: FastifyInstance;
  /** Stop accepting requests, answer those in flight, then close the log if the server opened it. */
  close(): Promise<void>;
}

export async function startIngestServer(options: IngestServerOptions): Promise<IngestServer> {
  const where = 'startIngestServer';
  const o = check.object(where, options, '{ log | dir, port, host?, … }') as unknown as IngestServerOptions;
  const {
    log: given,
    dir,
    logOptions,
    host = '127.0.0.1',
    port,
    logger = false,
    requestTimeoutMs = 120_000,
    ...ingest
  } = o;
  if ((given === undefined) === (dir === undefined)) {
    throw optionError(where, 'give exactly one of "log" (an open Log) or "dir" (the log directory)');
  }
  if (logOptions !== undefined && dir === undefined) {
    throw optionError(where, '"logOptions" applies only with "dir"; the Log passed as "log" is already open');
  }
  check.integer(where, 'port', port, 0, 65535);
  check.string(where, 'host', host);
  check.integer(where, 'requestTimeoutMs', requestTimeoutMs, 1);
  if (given !== undefined && !(given instanceof Log)) {
    throw optionError(where, `"log" must be a Log from openLog(), got ${quote(given)}`);
  }
  const log = given ?? (await openLog({ ...logOptions, dir: dir! }));
  // maxParamLength: topic names may have 249 characters (fastify's default allows 100).
  // requestTimeout: fastify's default (0) would switch off Node's own limit on slow requests.
  const app = fastify({
    logger,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 512 },
    requestTimeout: requestTimeoutMs,
  });
  app.server.headersTimeout = Math.min(60_000, requestTimeoutMs);
  // nosniff on every answer, 404s included (the plugin's own hook covers only its routes).
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    return payload;
  });
  try {
    await app.register(ingestPlugin, { ...ingest, log });
    await app.listen({ host, port });
  } catch (e) {
    await app.close().catch(() => undefined);
    if (given === undefined) await log.close();
    const code = (e as NodeJS.ErrnoException).code;
    throw externalError(
      'INGEST_LISTEN_FAILED',
      `startIngestServer: cannot listen on ${host}:${port}: ${(e as Error).message}` +
        (code === 'EADDRINUSE'
          ? '; another process uses the port — choose another "port" (0 = any free port)'
          : ''),
      { cause: e, retryable: code === 'EADDRINUSE' },
    );
  }
  const addr = app.server.address();
  const actualPort = typeof addr === 'object' && addr ? addr.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${actualPort}`,
    host,
    port: actualPort,
    log,
    app,
    close() {
      closing ??= (async () => {
        await app.close();
        if (given === undefined) await log.close();
      })();
      return closing;
    },
  };
}
