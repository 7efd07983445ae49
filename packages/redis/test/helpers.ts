/**
 * Shared by the Redis tests (not a test file): the server, unique key names, an admin client, an
 * ACL user with a password (for the secrets checks), stopping and starting the real server for
 * outage tests, and a SinkContext for driving sinks directly.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { type OutputMode, type Schema, type SinkContext, silentLogger, systemClock } from 'millrace';

export { TcpProxy } from '../../postgres/test/helpers.ts';

export const REDIS_HOST = process.env.MILLRACE_TEST_REDIS_HOST ?? '127.0.0.1';
export const REDIS_PORT = Number(process.env.MILLRACE_TEST_REDIS_PORT ?? 6379);
export const REDIS_URL = `redis://${REDIS_HOST}:${REDIS_PORT}`;

/** `<prefix>_<pid>_<random>`: unique per call. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

const clients: Redis[] = [];
const patterns: string[] = [];
const users: string[] = [];

/** A client for the tests' own commands (closed by cleanup()). */
export function adminClient(): Redis {
  const c = new Redis({ host: REDIS_HOST, port: REDIS_PORT, maxRetriesPerRequest: 20, lazyConnect: false });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

/** Delete every key matching `pattern` (SCAN MATCH) in cleanup(). */
export function deleteLater(pattern: string): void {
  patterns.push(pattern);
}

export async function deleteKeys(c: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await c.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await c.del(...keys);
  } while (cursor !== '0');
}

/** An ACL user with a password and every right (deleted by cleanup()). */
export async function userWithPassword(c: Redis, password: string): Promise<string> {
  const user = uniqueName('mr');
  await c.call('ACL', 'SETUSER', user, 'on', `>${password}`, '~*', '&*', '+@all');
  users.push(user);
  return user;
}

export async function cleanup(): Promise<void> {
  const c = adminClient();
  for (const p of patterns.splice(0)) await deleteKeys(c, p);
  for (const u of users.splice(0)) await c.call('ACL', 'DELUSER', u);
  for (const x of clients.splice(0)) x.disconnect();
}

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

export function recordingLogger() {
  const records: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      void records.push({ level, msg, fields });
  return { records, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

// -- the real server ---------------------------------------------------------------

const cli = (...args: string[]) =>
  spawnSync('redis-cli', ['-h', REDIS_HOST, '-p', String(REDIS_PORT), ...args], { encoding: 'utf8' });

/**
 * Shut the machine's Redis down, saving its data first (SHUTDOWN SAVE writes dump.rdb even with
 * `--save ""`; the restart loads it), so that an outage test loses nothing but availability.
 */
export async function stopServer(): Promise<void> {
  cli('SHUTDOWN', 'SAVE');
  for (let i = 0; i < 100 && cli('PING').stdout.trim() === 'PONG'; i++)
    await new Promise((r) => setTimeout(r, 100));
}

/** Start it again with the machine's start command and wait until it answers. */
export async function startServer(): Promise<void> {
  if (cli('PING').stdout.trim() === 'PONG') return;
  execFileSync('redis-server', [
    '--daemonize',
    'yes',
    '--bind',
    '127.0.0.1',
    '-::1',
    '--port',
    String(REDIS_PORT),
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    '/var/lib/redis',
    '--logfile',
    '/var/log/redis/ci.log',
  ]);
  for (let i = 0; i < 300; i++) {
    if (cli('PING').stdout.trim() === 'PONG') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('Redis did not come back within 30 s');
}
