/**
 * The pipeline's HTTP input, on its own port (default 8090):
 *
 *   POST /topics/:topic   the embedded log's HTTP ingest (agents: --ingest <url>); log mode only
 *   GET  /topics, /topics/:topic, /health
 *   POST /collectd        collectd's write_http JSON → samples → the metrics topic
 *
 * Separate from the service's API port so that agents and collectd daemons on other machines
 * can be let in (--ingest-host 0.0.0.0) without exposing the API that stops queries.
 */
import fastify from 'fastify';
import { MillraceError } from 'millrace';
import { ingestPlugin, type Log } from '@millrace/log';
import { collectdPlugin, type CollectdResult } from './collectd.ts';
import type { MetricsPublisher } from './publishers.ts';

export interface EndpointsOptions {
  /** Mount the log's ingest routes (omit with Kafka). */
  readonly log?: Log;
  /** Where collectd's samples go. */
  readonly publisher: MetricsPublisher;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** 0 = any free port. */
  readonly port: number;
  readonly onCollectd?: (r: CollectdResult) => void;
}

export interface Endpoints {
  /** e.g. http://127.0.0.1:8090 */
  readonly url: string;
  close(): Promise<void>;
}

export async function startEndpoints(o: EndpointsOptions): Promise<Endpoints> {
  const host = o.host ?? '127.0.0.1';
  // maxParamLength: topic names may have up to 249 characters (see the log's README).
  const app = fastify({ forceCloseConnections: 'idle', routerOptions: { maxParamLength: 512 } });
  if (o.log) await app.register(ingestPlugin, { log: o.log });
  await app.register(collectdPlugin, {
    publisher: o.publisher,
    ...(o.onCollectd ? { onResult: o.onCollectd } : {}),
  });
  try {
    await app.listen({ host, port: o.port });
  } catch (e) {
    await app.close().catch(() => undefined);
    const inUse = (e as NodeJS.ErrnoException).code === 'EADDRINUSE';
    throw new MillraceError(
      'INGEST_LISTEN_FAILED',
      `cannot listen on ${host}:${o.port} for ingest and collectd: ${(e as Error).message}` +
        (inUse ? '; choose another --ingest-port (0 = any free port)' : ''),
      { domain: 'external', retryable: inUse, cause: e },
    );
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () => app.close(),
  };
}
