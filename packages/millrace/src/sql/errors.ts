/**
 * SQL errors: a MillraceError whose message points at the offending text — line and column
 * (1-based), the line itself and a caret under the span — so a user sees where, not only what.
 *
 *   SQL_ANALYSIS: line 1, column 8: no column named "prise"; did you mean "price"?
 *     SELECT prise FROM bids
 *            ^^^^^
 */
import { MillraceError, userError } from '../errors/index.ts';

/** A range of the SQL text, as offsets [start, end). */
export interface Span {
  readonly start: number;
  readonly end: number;
}

/** What fails to parse (SQL_PARSE), refers to something unknown or ill-typed (SQL_ANALYSIS), or is valid SQL we do not run yet (SQL_UNSUPPORTED). */
export type SqlErrorCode = 'SQL_PARSE' | 'SQL_ANALYSIS' | 'SQL_UNSUPPORTED';

/** 1-based line and column of an offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

export function sqlError(code: SqlErrorCode, text: string, span: Span, message: string): MillraceError {
  const { line, column } = lineColumn(text, span.start);
  const lineStart = text.lastIndexOf('\n', span.start - 1) + 1;
  const lineEndAt = text.indexOf('\n', span.start);
  const lineEnd = lineEndAt === -1 ? text.length : lineEndAt;
  const lineText = text.slice(lineStart, lineEnd);
  const width = Math.max(1, Math.min(span.end, lineEnd) - span.start);
  const caret = ' '.repeat(span.start - lineStart) + '^'.repeat(width);
  const near = text.slice(span.start, Math.max(span.end, span.start)) || '<end of input>';
  return userError(code, `line ${line}, column ${column}: ${message}\n  ${lineText}\n  ${caret}`, {
    line,
    column,
    near,
  });
}

/**
 * An engine error raised while building a plan node from SQL (a type error, a join the engine
 * refuses), re-raised as SQL_ANALYSIS at the clause it came from; its own code stays in the context.
 */
export function atSpan(text: string, span: Span, what: string | null, err: unknown): MillraceError {
  if (err instanceof MillraceError && err.code.startsWith('SQL_')) return err;
  if (!(err instanceof MillraceError) || err.domain !== 'user') throw err;
  const e = sqlError('SQL_ANALYSIS', text, span, what === null ? err.message : `${what}: ${err.message}`);
  return e.withContext({ engineCode: err.code });
}
