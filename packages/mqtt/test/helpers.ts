/**
 * Test helpers against the machine's Mosquitto (127.0.0.1:1883, anonymous):
 * unique topics and client ids per run, a QoS 1 publisher, a collecting
 * subscriber, temp dirs, and stopping / starting the broker for outage tests
 * (SIGTERM — Mosquitto then saves its persistent sessions — and
 * `mosquitto -d -c /etc/mosquitto/mosquitto.conf`; always started again).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as mqtt from 'mqtt';

export const URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const run = promisify(execFile);

const RUN = `${process.pid.toString(36)}${Date.now().toString(36).slice(-5)}`;
let seq = 0;

/** `millrace-test/<prefix>/<run>/<n>`: a topic (or topic root) of its own. */
export function uniqueTopic(prefix: string): string {
  return `millrace-test/${prefix}/${RUN}/${seq++}`;
}

/** A client id no other test uses (the broker keeps sessions by it). */
export function uniqueClientId(prefix: string): string {
  return `millrace-test-${prefix}-${RUN}-${seq++}`;
}

const dirs: string[] = [];
export function tempDir(prefix = 'mqtt'): string {
  const d = mkdtempSync(path.join(os.tmpdir(), `millrace-${prefix}-`));
  dirs.push(d);
  return d;
}

/** Publish payloads at QoS 1, in order; resolves once the broker acknowledged all. */
export async function publish(topic: string, payloads: readonly (string | Buffer)[]): Promise<void> {
  const c = await mqtt.connectAsync(URL, { clientId: uniqueClientId('pub'), reconnectPeriod: 0 });
  try {
    await Promise.all(payloads.map((p) => c.publishAsync(topic, p, { qos: 1 })));
  } finally {
    await c.endAsync();
  }
}

/** Subscribe (QoS 1) and collect messages until `close()`. */
export async function collect(
  filter: string,
  options: mqtt.IClientOptions = {},
): Promise<{ messages: mqtt.IPublishPacket[]; close(): Promise<void> }> {
  const c = await mqtt.connectAsync(URL, {
    clientId: uniqueClientId('sub'),
    reconnectPeriod: 100,
    ...options,
  });
  const messages: mqtt.IPublishPacket[] = [];
  c.on('message', (_t, _p, packet) => messages.push(packet));
  await c.subscribeAsync(filter, { qos: 1 });
  return { messages, close: () => c.endAsync() };
}

/** End a persistent session so the broker forgets it (clean start, then disconnect). */
export async function dropSession(clientId: string): Promise<void> {
  const c = await mqtt.connectAsync(URL, { clientId, clean: true, reconnectPeriod: 0 });
  await c.endAsync();
}

/**
 * Create the persistent session (QoS 1 subscription) of `clientId` before anything is published,
 * as a deployment does once: MQTT keeps messages only for subscriptions that exist.
 */
export async function prepareSession(clientId: string, filter: string): Promise<void> {
  const c = await mqtt.connectAsync(URL, {
    clientId,
    clean: false,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: 3600 },
    reconnectPeriod: 0,
  });
  await c.subscribeAsync(filter, { qos: 1 });
  await c.endAsync();
}

function brokerPid(): number | undefined {
  try {
    return Number(readFileSync('/run/mosquitto/mosquitto.pid', 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

async function reachable(): Promise<boolean> {
  try {
    const c = await mqtt.connectAsync(URL, {
      clientId: uniqueClientId('probe'),
      reconnectPeriod: 0,
      connectTimeout: 500,
    });
    await c.endAsync();
    return true;
  } catch {
    return false;
  }
}

/** Stop Mosquitto (SIGTERM: it saves persistent sessions), and wait until it is gone. */
export async function stopBroker(): Promise<void> {
  const pid = brokerPid();
  if (pid === undefined) throw new Error('cannot find the Mosquitto pid in /run/mosquitto/mosquitto.pid');
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Mosquitto (pid ${pid}) did not stop within 5 s`);
}

/** Start Mosquitto again with the machine's configuration; waits until it accepts connections. */
export async function startBroker(): Promise<void> {
  if (await reachable()) return;
  await run('mosquitto', ['-d', '-c', '/etc/mosquitto/mosquitto.conf']);
  for (let i = 0; i < 100; i++) {
    if (await reachable()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('Mosquitto did not come back within 10 s');
}

export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}
