/**
 * Which failures a retry can cure, and what the user should do about the others.
 *
 * Retryable (the whole batch transaction is re-run after a backoff; safe because the batch id is
 * checked inside it):
 *   network errors            ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE, EHOSTUNREACH, …
 *   driver: connection lost   ER_SOCKET_UNEXPECTED_CLOSE, ER_CONNECTION_ALREADY_CLOSED,
 *                             ER_CONNECTION_TIMEOUT, ER_GET_CONNECTION_TIMEOUT, … (any `fatal` error
 *                             but a refused login or an unknown database)
 *   server                    1040 too many connections, 1053 shutdown in progress,
 *                             1205 lock wait timeout, 1213 deadlock, 1927 connection killed,
 *                             2002/2003/2006/2013 (server gone away / lost), SQLSTATE 08xxx
 * Everything else (bad data 22xxx, constraint 23xxx, schema/privilege 42xxx, access denied 1045,
 * unknown database 1049, …) fails the batch at once.
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
const RETRYABLE_ERRNOS = new Set([1040, 1053, 1205, 1213, 1927, 2002, 2003, 2006, 2013, 4031]);
/** Fatal (connection-ending) errors that a retry cannot cure: the login or the database is wrong. */
const NOT_RETRYABLE_ERRNOS = new Set([1044, 1045, 1049, 1251, 1698]);

/** The fields of a mariadb SqlError (or a Node system error) the connectors look at. */
export interface DbErrorLike {
  readonly message: string;
  readonly code?: string;
  readonly errno?: number;
  readonly sqlState?: string;
  readonly fatal?: boolean;
  /** The server's (or driver's) message without the SQL text. */
  readonly sqlMessage?: string;
}

export function asDbError(e: unknown): DbErrorLike {
  if (e instanceof Error) return e as DbErrorLike;
  return { message: String(e) };
}

export function isRetryable(err: unknown): boolean {
  const e = asDbError(err);
  if (typeof e.errno === 'number') {
    if (NOT_RETRYABLE_ERRNOS.has(e.errno)) return false;
    if (RETRYABLE_ERRNOS.has(e.errno)) return true;
  }
  if (typeof e.sqlState === 'string' && e.sqlState.startsWith('08')) return true;
  if (typeof e.code === 'string' && RETRYABLE_NET_CODES.has(e.code)) return true;
  if (err instanceof AggregateError) return err.errors.some(isRetryable);
  // Driver errors (errno 45xxx) that end the connection: socket closed, timeouts.
  if (e.fatal === true) return true;
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (cause && cause !== err) return isRetryable(cause);
  return /connection (closed|lost|timeout)|socket (closed|has unexpectedly been closed)/i.test(e.message);
}

/**
 * `Duplicate entry 'a' for key 'PRIMARY' (ER_DUP_ENTRY 1062, SQLSTATE 23000)`. Uses the server's
 * message, never the driver's full message (which carries the SQL text).
 */
export function describeDbError(e: DbErrorLike): string {
  let text = e.sqlMessage ?? e.message;
  if (!text && e instanceof AggregateError) text = e.errors.map((x) => asDbError(x).message).join('; ');
  if (!text) text = 'unknown error';
  const bits: string[] = [];
  if (e.code && e.code !== 'UNKNOWN') bits.push(e.errno ? `${e.code} ${e.errno}` : e.code);
  if (e.sqlState && e.sqlState !== 'HY000') bits.push(`SQLSTATE ${e.sqlState}`);
  return bits.length ? `${text} (${bits.join(', ')})` : text;
}

/** Is it the user's to fix (data, schema, privileges, login)? */
export function isUserFault(e: DbErrorLike): boolean {
  const s = e.sqlState ?? '';
  return /^(22|23|42|28|3D)/.test(s) || NOT_RETRYABLE_ERRNOS.has(e.errno ?? 0);
}

/** What to do about a non-retryable failure. */
export function adviceFor(e: DbErrorLike, table: string, columns: string): string {
  const s = e.sqlState ?? '';
  const n = e.errno ?? 0;
  if (n === 1142 || n === 1143 || n === 1044)
    return `grant the connecting user INSERT, UPDATE, DELETE and SELECT on ${table} and on the progress table (and CREATE for createTable)`;
  if (n === 1045 || n === 1698) return 'check the user name and password of the connection';
  if (n === 1049) return 'check the database name of the connection; create the database first';
  if (n === 1146) return `create the table ${table}, or set createTable: true`;
  if (n === 1054 || n === 1366 || n === 1292)
    return `make the table's columns match the query's output (${columns}), or write to a new table with createTable: true`;
  if (n === 1062)
    return `a row duplicates a key of a unique index on ${table}; use mode 'upsert' with keyColumns naming that key, or write to a table without it`;
  if (n === 1048)
    return `the query produced a null for a NOT NULL column of ${table}; filter or fill nulls in the query, or drop the constraint`;
  if (n === 1406 || n === 1264)
    return `a value is too long or out of range for its column in ${table}; widen the column or trim the value in the query`;
  if (s.startsWith('22'))
    return `a value does not fit its column in ${table}; compare the table's column types with the query's output (${columns})`;
  if (s.startsWith('23'))
    return `a constraint of ${table} rejected a row; fix the data in the query or the constraint`;
  if (s.startsWith('42')) return `check ${table} and the user's privileges on it`;
  return 'see the MariaDB message above';
}
