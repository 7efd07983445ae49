/**
 * Structured JSON logs (pino), one line per event, every field and message
 * through the service's Redactor. The returned object is also an engine
 * `Logger`, so `createSession({ log })` sends the engine's own lines (query
 * started / stopped / failed, recovery) through the same pipe.
 *
 *   {"level":"info","time":"2026-…Z","pid":42,"msg":"server listening","url":"http://127.0.0.1:4040"}
 *
 * The logger also carries the service's hooks (see `serviceHooksOf`): a
 * dashboard sink opened by a query of such a session finds its service there.
 */
import { pino, type Logger as PinoLogger } from 'pino';
import type { Logger } from 'millrace';
import type { Redactor } from '../redact.ts';

import type { LogLevel } from '../defaults.ts';

export { LOG_LEVELS, type LogLevel } from '../defaults.ts';

/** Where log lines go: anything with a `write(line)` (default: stderr). */
export interface LogDestination {
  write(line: string): void;
}

export interface ServiceLogger extends Logger {
  readonly level: LogLevel;
  /** A logger that adds `fields` to every line. */
  child(fields: Record<string, unknown>): ServiceLogger;
}

export interface CreateLoggerOptions {
  readonly level?: LogLevel;
  readonly redactor: Redactor;
  readonly destination?: LogDestination;
}

const stderr: LogDestination = { write: (line) => void process.stderr.write(line) };

export function createLogger(options: CreateLoggerOptions): ServiceLogger {
  const level = options.level ?? 'info';
  const p = pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? stderr,
  );
  return wrap(p, options.redactor, level);
}

function wrap(p: PinoLogger, redactor: Redactor, level: LogLevel): ServiceLogger {
  const at =
    (lvl: 'debug' | 'info' | 'warn' | 'error') =>
    (msg: string, fields?: Record<string, unknown>): void => {
      if (!p.isLevelEnabled(lvl)) return;
      p[lvl](fields ? redactor.redact(fields) : {}, redactor.text(msg));
    };
  return {
    level,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (fields) => wrap(p.child(redactor.redact(fields)), redactor, level),
  };
}

/** What a dashboard sink (or another service-aware connector) can tell its service. */
export interface ServiceHooks {
  dashboardOpened(sink: unknown, query: { readonly queryId: string; readonly queryName: string }): void;
}

const HOOKS = Symbol.for('millrace.server.hooks');

/** A logger that also carries `hooks` (the object given to createSession). */
export function withServiceHooks<L extends Logger>(log: L, hooks: ServiceHooks): L {
  const out = Object.create(log) as L;
  Object.defineProperty(out, HOOKS, { value: hooks, enumerable: false });
  for (const k of ['debug', 'info', 'warn', 'error'] as const) (out as Logger)[k] = log[k].bind(log);
  return out;
}

/** The service hooks carried by a connector's `ctx.log`, if its session belongs to a service. */
export function serviceHooksOf(log: unknown): ServiceHooks | undefined {
  return log && typeof log === 'object'
    ? ((log as Record<symbol, unknown>)[HOOKS] as ServiceHooks)
    : undefined;
}
