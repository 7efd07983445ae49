/**
 * Shared by the NATS tests (not a test file): the server, unique stream names, an admin connection
 * (create, fill, read back, delete streams), a user with a password is not needed — the server has
 * no auth, so secrets are checked with a token the open server ignores — and stopping/starting the
 * real server for outage tests.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';

export { TcpProxy } from '../../postgres/test/helpers.ts';

export const NATS_URL = process.env.MILLRACE_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`.toUpperCase();
}

let admin: NatsConnection | undefined;
const streams: string[] = [];

export async function adminConnection(): Promise<NatsConnection> {
  admin ??= await connect({ servers: NATS_URL, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  return admin;
}

/** A new stream capturing `<name>.>` (deleted by cleanup()). */
export async function createStream(name: string, extra: Record<string, unknown> = {}): Promise<void> {
  const jsm = await jetstreamManager(await adminConnection());
  await jsm.streams.add({ name, subjects: [`${name}.>`], ...extra });
  streams.push(name);
}

let published = 0;

/**
 * Publish and wait for the acks. Right after nats-server restarts, JetStream may not answer yet:
 * a publish that times out is retried with the same message id, so the stream keeps one copy.
 */
export async function publish(subject: string, payloads: readonly string[]): Promise<number[]> {
  const js = jetstream(await adminConnection());
  const one = async (payload: string, msgID: string) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await js.publish(subject, payload, { msgID });
      } catch (e) {
        if (attempt >= 10) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  const acks = await Promise.all(payloads.map((p) => one(p, `test-${process.pid}-${published++}`)));
  return acks.map((a) => a.seq);
}

/** Every message of a stream (by sequence), with its subject, data and headers. */
export async function readAll(
  stream: string,
): Promise<{ seq: number; subject: string; data: string; headers: Record<string, string> }[]> {
  const nc = await adminConnection();
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const out: { seq: number; subject: string; data: string; headers: Record<string, string> }[] = [];
  if (info.state.messages === 0) return out;
  const c = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  while (out.length < info.state.messages) {
    const msgs = await c.fetch({ max_messages: 1000, expires: 2000 });
    let n = 0;
    for await (const m of msgs) {
      n++;
      const headers: Record<string, string> = {};
      if (m.headers) for (const [k, v] of m.headers) headers[k] = v[0] ?? '';
      out.push({ seq: m.seq, subject: m.subject, data: new TextDecoder().decode(m.data), headers });
      if (out.length >= info.state.messages) break;
    }
    if (n === 0) break;
  }
  return out;
}

export async function cleanup(): Promise<void> {
  if (admin) {
    const jsm = await jetstreamManager(admin);
    for (const s of streams.splice(0)) await jsm.streams.delete(s).catch(() => undefined);
    await admin.close();
    admin = undefined;
  }
}

// -- the real server ---------------------------------------------------------------

const up = () => spawnSync('bash', ['-c', 'exec 3<>/dev/tcp/127.0.0.1/4222'], { timeout: 2000 }).status === 0;

export async function stopServer(): Promise<void> {
  spawnSync('start-stop-daemon', ['--stop', '--oknodo', '--exec', '/usr/sbin/nats-server', '--retry', '10']);
  for (let i = 0; i < 100 && up(); i++) await new Promise((r) => setTimeout(r, 100));
}

export async function startServer(): Promise<void> {
  if (up()) return;
  execFileSync('start-stop-daemon', [
    '--start',
    '--oknodo',
    '--background',
    '--exec',
    '/usr/sbin/nats-server',
    '--',
    '-a',
    '127.0.0.1',
    '-p',
    '4222',
    '-js',
    '-sd',
    '/var/lib/nats-server',
    '-l',
    '/var/log/nats-server.log',
  ]);
  for (let i = 0; i < 300; i++) {
    if (up()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('nats-server did not come back within 30 s');
}
