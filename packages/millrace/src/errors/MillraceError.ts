/**
 * The one error type of Millrace. Every failure that crosses an operator or
 * connector boundary is (or is wrapped into) a MillraceError, so callers can
 * branch on `code`/`domain`/`retryable` instead of parsing messages.
 *
 * Messages quote the bad value and say what to do; `context` says where.
 */
export type ErrorDomain = 'user' | 'external' | 'internal';

export interface ErrorContext {
  query?: string;
  batch?: number;
  operator?: string;
  source?: string;
  sink?: string;
  file?: string;
  line?: number;
  [key: string]: unknown;
}

export interface MillraceErrorOptions {
  domain: ErrorDomain;
  retryable?: boolean;
  context?: ErrorContext;
  cause?: unknown;
}

export class MillraceError extends Error {
  readonly code: string;
  readonly domain: ErrorDomain;
  readonly retryable: boolean;
  readonly context: ErrorContext;

  constructor(code: string, message: string, options: MillraceErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MillraceError';
    this.code = code;
    this.domain = options.domain;
    this.retryable = options.retryable ?? false;
    this.context = options.context ?? {};
  }

  /** A copy with more context (the innermost context wins on conflicts). */
  withContext(context: ErrorContext): MillraceError {
    const e = new MillraceError(this.code, this.message, {
      domain: this.domain,
      retryable: this.retryable,
      context: { ...context, ...this.context },
      cause: this.cause,
    });
    e.stack = this.stack;
    return e;
  }

  override toString(): string {
    const where = Object.entries(this.context)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' ');
    return `MillraceError [${this.code}] ${this.message}${where ? ` (${where})` : ''}`;
  }
}

/** Raised for bad configuration, bad plans and bad API use: the user must change something. */
export function userError(code: string, message: string, context?: ErrorContext): MillraceError {
  return new MillraceError(code, message, { domain: 'user', context });
}

/** Raised when an external system (disk, network, service) fails; often worth a retry. */
export function externalError(
  code: string,
  message: string,
  options: { cause?: unknown; context?: ErrorContext; retryable?: boolean } = {},
): MillraceError {
  return new MillraceError(code, message, {
    domain: 'external',
    retryable: options.retryable ?? true,
    context: options.context,
    cause: options.cause,
  });
}

/** Raised when Millrace itself is wrong: an invariant broke. */
export function internalError(message: string, context?: ErrorContext, cause?: unknown): MillraceError {
  return new MillraceError('INTERNAL', message, { domain: 'internal', context, cause });
}

/**
 * Wrap anything thrown at a boundary (operator, source, sink, user function)
 * into a MillraceError carrying that boundary's context.
 */
export function wrapError(err: unknown, code: string, what: string, context: ErrorContext): MillraceError {
  if (err instanceof MillraceError) return err.withContext(context);
  const msg = err instanceof Error ? err.message : String(err);
  return new MillraceError(code, `${what}: ${msg}`, { domain: 'user', context, cause: err });
}
