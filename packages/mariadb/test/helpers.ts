/**
 * Shared by the MariaDB tests (not a test file): the server URL, unique names, an admin pool, a
 * SinkContext for driving the sink directly, a user with a password (for the secrets checks), and
 * stopping/starting the real server for outage tests.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type OutputMode, type Schema, type SinkContext, silentLogger, systemClock } from 'millrace';
import { type Pool, createPool } from 'mariadb';
import { expect } from 'vitest';

export { TcpProxy } from '../../postgres/test/helpers.ts';

export const DB_HOST = process.env.MILLRACE_TEST_MARIADB_HOST ?? '127.0.0.1';
export const DB_PORT = Number(process.env.MILLRACE_TEST_MARIADB_PORT ?? 3306);
export const DB_URL = `mariadb://root@${DB_HOST}:${DB_PORT}/test`;

/** A lower-case name unique to this test run (tables, sinks, query ids). */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

const pools: Pool[] = [];
const tables: string[] = [];
const sinks: string[] = [];
const users: string[] = [];

/** A pool for the test's own queries (ended by `cleanup()`); BIGINT read as numbers, dates as strings. */
export function adminPool(): Pool {
  const p = createPool({
    host: DB_HOST,
    port: DB_PORT,
    user: 'root',
    database: 'test',
    connectionLimit: 3,
    bigIntAsNumber: true,
    autoJsonMap: false,
    decimalAsNumber: true,
    dateStrings: true,
    timezone: '+00:00',
  });
  pools.push(p);
  return p;
}

/** Remember a table to drop in cleanup(), and its sink's progress rows (default: the default sink name). */
export function dropLater(table: string, sinkName = `mariadb-${table}`): void {
  tables.push(table);
  sinks.push(sinkName);
}

/** A MariaDB user with a password and every privilege on `test` (dropped by cleanup()). */
export async function userWithPassword(admin: Pool, password: string): Promise<string> {
  const user = uniqueName('mr').slice(0, 32);
  await admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
  await admin.query(`CREATE USER '${user}'@'localhost' IDENTIFIED BY '${password}'`);
  await admin.query(`GRANT ALL ON test.* TO '${user}'@'%'`);
  await admin.query(`GRANT ALL ON test.* TO '${user}'@'localhost'`);
  users.push(user);
  return user;
}

export async function cleanup(): Promise<void> {
  if (tables.length || users.length) {
    const p = adminPool();
    for (const t of tables.splice(0)) await p.query(`DROP TABLE IF EXISTS \`${t}\``);
    for (const u of users.splice(0)) {
      await p.query(`DROP USER IF EXISTS '${u}'@'%'`);
      await p.query(`DROP USER IF EXISTS '${u}'@'localhost'`);
    }
    const s = sinks.splice(0);
    const exists = await p.query(
      `SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'test' AND TABLE_NAME = 'millrace_sink_batches'`,
    );
    if (exists.length && s.length) await p.query('DELETE FROM millrace_sink_batches WHERE sink IN (?)', [s]);
  }
  await Promise.all(pools.splice(0).map((p) => p.end()));
}

/** A SinkContext for calling open()/addBatch() directly. */
export function sinkContext(
  schema: Schema<any>,
  outputMode: OutputMode,
  queryId = uniqueName('query'),
  log = silentLogger,
): SinkContext {
  return {
    queryId,
    queryName: queryId,
    stateDir: '/nonexistent-sink-state-dir',
    clock: systemClock,
    log,
    schema: schema as Schema,
    outputMode,
  };
}

/** A logger that keeps its records. */
export function recordingLogger() {
  const records: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      void records.push({ level, msg, fields });
  return { records, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** The batch id the sink recorded in its progress table (-1: none yet). */
export async function recordedBatch(admin: Pool, sinkName: string): Promise<number> {
  const exists = await admin.query(
    `SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'test' AND TABLE_NAME = 'millrace_sink_batches'`,
  );
  if (!exists.length) return -1;
  const r = await admin.query('SELECT batch_id AS b FROM millrace_sink_batches WHERE sink = ?', [sinkName]);
  if (r.length > 1)
    throw new Error(`${r.length} progress rows for sink ${sinkName}; expected one per (query, sink)`);
  return r[0] ? Number(r[0].b) : -1;
}

// -- the real server ---------------------------------------------------------------

const ping = () =>
  spawnSync('mariadb-admin', ['-uroot', '-h', DB_HOST, '-P', String(DB_PORT), 'ping'], { encoding: 'utf8' });

/** Stop the machine's MariaDB server (the outage tests); `startServer()` must follow, in a finally. */
export async function stopServer(): Promise<void> {
  execFileSync('mariadb-admin', ['-uroot', '-h', DB_HOST, '-P', String(DB_PORT), 'shutdown']);
  for (let i = 0; i < 100 && ping().status === 0; i++) await new Promise((r) => setTimeout(r, 100));
}

/** Start it again (the machine's start command) and wait until it answers. */
export async function startServer(): Promise<void> {
  execFileSync('start-stop-daemon', ['--start', '--oknodo', '--background', '--exec', '/usr/sbin/mariadbd']);
  for (let i = 0; i < 300; i++) {
    if (ping().status === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    'MariaDB did not come back within 30 s after start-stop-daemon --start --exec /usr/sbin/mariadbd',
  );
}

/**
 * After a kill: the batch MariaDB recorded lies between the checkpoint's last commit and its last
 * planned batch (the sink commits before commits/N, never beyond offsets/N). Returns where the kill
 * landed, for the test's tally.
 */
export function sinkPhaseAfterKill(
  recorded: number,
  cp: {
    readonly lastCommitted: number | null;
    readonly uncommitted: number | null;
    readonly offsets: readonly number[];
  },
  started: boolean,
  where: string,
): string {
  const lastOffsets = cp.offsets.at(-1) ?? -1;
  expect(
    recorded,
    `${where}: MariaDB has batch ${recorded}, the checkpoint's last commit is ${cp.lastCommitted}`,
  ).toBeGreaterThanOrEqual(cp.lastCommitted ?? -1);
  expect(
    recorded,
    `${where}: MariaDB has batch ${recorded} beyond the last planned batch ${lastOffsets}`,
  ).toBeLessThanOrEqual(lastOffsets);
  if (!started) return 'startup';
  if (cp.uncommitted === null) return 'between batches';
  return recorded === cp.uncommitted
    ? 'MariaDB committed N, no commits/N'
    : 'batch N in flight, not in MariaDB';
}
