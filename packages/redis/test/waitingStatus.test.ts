/**
 * While Redis is away, the query status says the stream source waits for it, and the wait clears
 * once a retry succeeds. The outage is a TCP relay in front of the machine's Redis that the test
 * closes and opens again on the same port (the server keeps running for other tests).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { Trigger, createSession, memorySink, silentLogger } from 'millrace';
import { tcpRelay } from 'millrace/testing';
import { type RedisStreamRow, redisStreamSource } from '../src/index.ts';
import { REDIS_HOST, REDIS_PORT, adminClient, deleteLater, uniqueName } from './helpers.ts';

const admin = adminClient();
const checkpoint = mkdtempSync(path.join(tmpdir(), 'millrace-redis-waiting-'));
afterAll(() => {
  admin.disconnect();
  rmSync(checkpoint, { recursive: true, force: true });
});

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('status says "Waiting for Redis at …" while the server is unreachable, and clears after a retry succeeds', async () => {
  const proxy = await tcpRelay(REDIS_HOST, REDIS_PORT);
  const stream = uniqueName('waiting');
  deleteLater(stream);
  await admin.xadd(stream, '*', 'n', '1');
  const sink = memorySink<RedisStreamRow>();
  const q = await createSession({ log: silentLogger })
    .readStream(
      redisStreamSource({
        name: 'in',
        url: `redis://127.0.0.1:${proxy.port}`,
        streams: stream,
        maxRetries: 1000,
        initialBackoffMs: 20,
        maxBackoffMs: 100,
        connectTimeoutMs: 500,
      }),
    )
    .writeStream({ sink, checkpointLocation: checkpoint, trigger: Trigger.processingTime(20) })
    .start();
  let cut = false;
  try {
    await until(() => sink.allRows().length === 1, 'the first entry');
    expect(q.status.waitingFor).toBeUndefined();

    await proxy.cut();
    cut = true;
    await until(() => q.status.waitingFor !== undefined, 'the status to say it waits');
    const waiting = q.status.waitingFor![0]!;
    expect(waiting.connector).toBe('source "in"');
    expect(waiting.what).toMatch(new RegExp(`^Redis at [^ ]*127\\.0\\.0\\.1:${proxy.port}: .+`));
    expect(q.status.message).toBe(`Waiting for ${waiting.what}`);
    expect(q.isActive).toBe(true);

    await proxy.restore();
    cut = false;
    await until(() => q.status.waitingFor === undefined, 'the wait to clear');
    await admin.xadd(stream, '*', 'n', '2');
    await until(() => sink.allRows().length === 2, 'the entry added after the outage');
    expect(sink.allRows().map((r) => r.fields)).toEqual([{ n: '1' }, { n: '2' }]);
  } finally {
    if (cut) await proxy.restore().catch(() => {});
    await q.stop();
    await proxy.cut();
  }
}, 40_000);
