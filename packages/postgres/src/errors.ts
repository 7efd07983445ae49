/**
 * Which failures a retry can cure, and what the user should do about the others.
 *
 * Retryable (the whole batch transaction is re-run after a backoff; safe because
 * the batch id is checked inside it):
 *   network errors          ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE, EHOSTUNREACH, …
 *   driver connection loss  "Connection terminated unexpectedly", connect timeouts
 *   SQLSTATE 08xxx          connection exceptions
 *   57P01 57P02 57P03       admin shutdown, crash shutdown, server starting up
 *   40001 40P01             serialization failure, deadlock
 *   53300 55P03             too many connections, lock not available
 * Everything else (22xxx bad data, 23xxx constraint, 42xxx schema/privilege,
 * 28xxx authentication, 3D000 unknown database, …) fails the batch at once.
 */

const RETRYABLE_NET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
]);
const RETRYABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '40001', '40P01', '53300', '55P03']);
const RETRYABLE_MESSAGES = [
  /connection terminated/i,
  /connection error/i,
  /not queryable/i,
  /timeout expired/i,
  /timeout exceeded when trying to connect/i,
  /connection.*(closed|ended)/i,
  /server closed the connection/i,
];

/** The fields of a pg DatabaseError (or a Node system error) the sink looks at. */
export interface PgErrorLike {
  readonly message: string;
  readonly code?: string;
  readonly detail?: string;
  readonly hint?: string;
  readonly column?: string;
  readonly table?: string;
  readonly constraint?: string;
  readonly dataType?: string;
  readonly severity?: string;
}

export function asPgError(e: unknown): PgErrorLike {
  if (e instanceof Error) return e as PgErrorLike;
  return { message: String(e) };
}

/** SQLSTATEs are five characters; Node's codes are E-words. */
export function sqlState(e: PgErrorLike): string | undefined {
  return typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
}

export function isRetryable(err: unknown): boolean {
  const e = asPgError(err);
  const state = sqlState(e);
  if (state !== undefined) return state.startsWith('08') || RETRYABLE_SQLSTATES.has(state);
  if (typeof e.code === 'string' && RETRYABLE_NET_CODES.has(e.code)) return true;
  // AggregateError (a host with several addresses, all refused) carries the codes inside.
  if (err instanceof AggregateError) return err.errors.some(isRetryable);
  return RETRYABLE_MESSAGES.some((re) => re.test(e.message));
}

/** `(SQLSTATE 23505, column "id", constraint "t_pkey")` and the server's detail and hint. */
export function describePgError(e: PgErrorLike): string {
  const bits: string[] = [];
  const state = sqlState(e);
  if (state) bits.push(`SQLSTATE ${state}`);
  else if (e.code) bits.push(e.code);
  if (e.table) bits.push(`table "${e.table}"`);
  if (e.column) bits.push(`column "${e.column}"`);
  if (e.constraint) bits.push(`constraint "${e.constraint}"`);
  let text = e.message;
  if (!text && e instanceof AggregateError) text = e.errors.map((x) => asPgError(x).message).join('; ');
  if (!text) text = 'unknown error';
  if (bits.length) text += ` (${bits.join(', ')})`;
  if (e.detail) text += `; detail: ${e.detail}`;
  if (e.hint) text += `; hint: ${e.hint}`;
  return text;
}

/** What to do about a non-retryable failure, by SQLSTATE class. */
export function adviceFor(e: PgErrorLike, table: string, columns: string): string {
  const state = sqlState(e) ?? '';
  if (state === '42501')
    return `grant the connecting user INSERT, UPDATE, DELETE and SELECT on ${table} and on the progress table (and CREATE on the schema for createTable)`;
  if (state === '42P01') return `create the table ${table}, or set createTable: true`;
  if (state === '42703' || state === '42804' || state === '42846')
    return `make the table's columns match the query's output (${columns}), or write to a new table with createTable: true`;
  if (state === '42P10')
    return `upsert needs a primary key or unique index on exactly the keyColumns: CREATE UNIQUE INDEX ON ${table} (…keyColumns)`;
  if (state === '22021' || state === '22P05')
    return `a string contains a NUL character (\\u0000), which PostgreSQL text and jsonb cannot store; remove it in the query`;
  if (state.startsWith('22'))
    return `a value does not fit its column in ${table}; compare the table's column types with the query's output (${columns})`;
  if (state === '23502')
    return `the query produced a null for a NOT NULL column of ${table}; filter or fill nulls in the query, or drop the constraint`;
  if (state === '23505')
    return `a row duplicates a key of a unique constraint on ${table}; use mode 'upsert' with keyColumns naming that key, or write to a table without it`;
  if (state.startsWith('23'))
    return `a constraint of ${table} rejected a row; fix the data in the query or the constraint`;
  if (state.startsWith('28'))
    return 'check the user name and password of the connection (and pg_hba.conf on the server)';
  if (state === '3D000') return 'check the database name of the connection; create the database first';
  if (state.startsWith('42')) return `check ${table} and the user's privileges on it`;
  if (state === '25P02' || state === '25006') return 'check the server log: the transaction could not go on';
  return 'see the PostgreSQL message above';
}
