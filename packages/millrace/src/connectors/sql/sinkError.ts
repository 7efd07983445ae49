import { MillraceError } from '../../errors/index.ts';

/** A classified error of a SQL sink, with the sink (and batch) in its context. */
export function sinkError(
  code: string,
  message: string,
  opts: {
    domain: 'user' | 'external' | 'internal';
    retryable?: boolean;
    sink: string;
    batch?: number;
    cause?: unknown;
  },
): MillraceError {
  return new MillraceError(code, message, {
    domain: opts.domain,
    retryable: opts.retryable ?? false,
    context: { sink: opts.sink, ...(opts.batch === undefined ? {} : { batch: opts.batch }) },
    cause: opts.cause,
  });
}
