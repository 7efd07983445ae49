/** MillraceError helpers for the service (the engine's one error type, classified). */
import { MillraceError, type ErrorContext } from 'millrace';

/** Bad configuration or bad use: the user must change something. */
export function userError(code: string, message: string, context?: ErrorContext): MillraceError {
  return new MillraceError(code, message, { domain: 'user', context });
}

/** A disk, network or remote service failed. */
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

/** The message of anything thrown. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
