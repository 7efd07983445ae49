/**
 * `millrace run <pipeline.ts> [-- args…]`: start the service, run the pipeline
 * file's default function, serve the API until done or stopped.
 *
 *   start HTTP server ──▶ import pipeline ──▶ await fn(ctx) ──▶ serve…
 *        (exit 4)          (exit 3)              (exit 3)          │
 *   ends by itself when the function returned, no query is active, and every query
 *   finished by itself (once/availableNow) — unless --serve. A failed query keeps the
 *   service up (to be seen in the API) unless --exit-on-failure.
 *
 *   SIGINT/SIGTERM #1 ─▶ stop queries, each finishing its current batch, close, exit
 *   SIGINT/SIGTERM #2 ─▶ abandon the batches in flight (they re-run on the next start)
 *   SIGINT/SIGTERM #3 ─▶ exit 130 at once
 *
 * Exit code: 1 if a query's last run failed, 0 otherwise (3 / 4 as above).
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { MillraceError } from 'millrace';
import { createPipelineContext, type PipelineFunction } from '../pipeline/context.ts';
import { MillraceService } from '../service.ts';
import { startHttpServer, type HttpServer } from '../http/server.ts';
import { webUi } from '../ui/webUi.ts';
import type { LogLevel } from '../logging/logger.ts';
import { messageOf } from '../util/errors.ts';
import { CliError, EXIT } from './args.ts';
import { ProgressDisplay, StderrMux, type ProgressMode } from './progressDisplay.ts';

export interface RunOptions {
  readonly file: string;
  readonly args: readonly string[];
  readonly host: string;
  readonly port: number;
  readonly token: string | undefined;
  /** `--read-token` / `--no-read-token`; undefined: startHttpServer's default (on beyond loopback). */
  readonly requireTokenForReads?: boolean;
  /** `--state-dir`: the service's durable alert and dashboard state; undefined: memory only (`--no-state`). */
  readonly stateDir?: string;
  readonly logLevel: LogLevel;
  readonly historySize: number;
  readonly progress: ProgressMode;
  readonly serve: boolean;
  readonly exitOnFailure: boolean;
  /** Worker threads per query (`--workers`); undefined: each query on the main thread. */
  readonly workers?: number;
  /** State partitions of new checkpoints (`--partitions`); undefined: the engine's default. */
  readonly partitions?: number;
}

async function loadPipeline(file: string): Promise<PipelineFunction> {
  const abs = path.resolve(file);
  if (!existsSync(abs)) {
    throw new CliError(
      `millrace run: ${abs} does not exist; give the path of a pipeline file (.ts or .js)`,
      EXIT.pipeline,
    );
  }
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(abs).href)) as { default?: unknown };
  } catch (e) {
    const err = e as Error;
    throw new CliError(`millrace run: cannot load ${abs}: ${err.stack ?? err.message}`, EXIT.pipeline);
  }
  const fn = mod.default;
  if (typeof fn !== 'function') {
    throw new CliError(
      `millrace run: ${abs} has no default export function; write \`export default definePipeline(async (ctx) => { … })\``,
      EXIT.pipeline,
    );
  }
  return fn as PipelineFunction;
}

export async function run(o: RunOptions): Promise<number> {
  const mux = new StderrMux();
  const service = new MillraceService({
    logLevel: o.logLevel,
    historySize: o.historySize,
    ...(o.stateDir !== undefined ? { stateDir: o.stateDir } : {}),
    logDestination: { write: (line) => mux.write(line) },
  });
  const log = service.log;

  let server: HttpServer;
  try {
    server = await startHttpServer(service, {
      host: o.host,
      port: o.port,
      token: o.token,
      ui: webUi(),
      ...(o.requireTokenForReads !== undefined ? { requireTokenForReads: o.requireTokenForReads } : {}),
    });
  } catch (e) {
    await service.close({ flushMs: 0 });
    throw new CliError(`millrace run: ${messageOf(e)}`, EXIT.server);
  }

  const session = service.createSession();
  const controller = new AbortController();
  let signals = 0;
  let shutdownPromise: Promise<void> | undefined;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  let pipelineReturned = false;

  const display =
    o.progress === 'off'
      ? null
      : new ProgressDisplay(service.queries, mux, o.progress === 'auto' ? 'auto' : o.progress);
  display?.start();

  const shutdown = (reason: string): Promise<void> => {
    shutdownPromise ??= (async () => {
      log.info('shutting down', { reason });
      controller.abort();
      await service.stopAll();
      display?.stop();
      await service.close({ flushMs: 2_000 });
      await server.close();
      finish();
    })();
    return shutdownPromise;
  };

  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      log.info(
        'signal received: stopping queries after their current batch (send it again to abandon the batch)',
        {
          signal: sig,
        },
      );
      void shutdown(sig);
    } else if (signals === 2) {
      log.warn('second signal: abandoning the batches in flight (they re-run on the next start)', {
        signal: sig,
      });
      void service.stopAll({ abandonCurrentBatch: true });
    } else {
      log.error('third signal: exiting now', { signal: sig });
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A pipeline that leaves a query's awaitTermination() unhandled must not crash the service.
  const onUnhandled = (e: unknown) =>
    log.error('unhandled rejection in the pipeline (ignored; handle it in the pipeline)', {
      error: e instanceof MillraceError ? `${e.code}: ${e.message}` : messageOf(e),
    });
  process.on('unhandledRejection', onUnhandled);

  const checkDone = () => {
    if (shutdownPromise || !pipelineReturned) return;
    const entries = service.queries.list();
    if (service.activeQueries().length > 0) return;
    if (o.exitOnFailure && entries.some((e) => e.health === 'failed')) {
      void shutdown('a query failed (--exit-on-failure)');
      return;
    }
    if (o.serve) return;
    if (entries.length === 0) {
      log.warn('the pipeline started no query; nothing to serve (use --serve to keep the server up)');
      void shutdown('no queries');
    } else if (entries.every((e) => e.endReason === 'finished')) {
      void shutdown('every query finished');
    }
  };
  session.streams.addListener({
    onQueryTerminated: (e) => {
      // After the registry's own listener has recorded it.
      setImmediate(() => {
        if (e.exception && o.exitOnFailure && !shutdownPromise)
          void shutdown('a query failed (--exit-on-failure)');
        else checkDone();
      });
    },
  });

  try {
    const fn = await loadPipeline(o.file);
    // Joined, so that "--password x" is redacted as one text.
    log.info('running pipeline', { file: path.resolve(o.file), args: o.args.join(' ') });
    const ctx = createPipelineContext(service, {
      session,
      args: o.args,
      signal: controller.signal,
      parallelism: { file: path.resolve(o.file), workers: o.workers, partitions: o.partitions },
    });
    // A function that never returns must not keep a shut-down service alive.
    await Promise.race([fn(ctx), finished]);
    pipelineReturned = true;
    checkDone();
  } catch (e) {
    const message =
      e instanceof CliError
        ? e.message
        : `millrace run: the pipeline failed: ${e instanceof MillraceError ? `${e.code}: ` : ''}${messageOf(e)}`;
    log.error('pipeline failed', { error: message });
    await shutdown('the pipeline failed');
    cleanup();
    throw new CliError(service.redactor.text(message), EXIT.pipeline);
  }

  await finished;
  cleanup();
  const failed = service.queries.list().filter((e) => e.health === 'failed');
  if (failed.length > 0) {
    log.error('exiting with failures', { failed: failed.map((e) => e.name) });
    return EXIT.failure;
  }
  log.info('exiting', { queries: service.queries.list().length });
  return EXIT.ok;

  function cleanup() {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('unhandledRejection', onUnhandled);
  }
}
