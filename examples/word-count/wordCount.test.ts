import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { startWordCount } from './wordCount.ts';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The last table the console sink printed, as { word: count }. */
function lastTable(out: string[]): Record<string, number> {
  const text = out.at(-1) ?? '';
  const counts: Record<string, number> = {};
  for (const m of text.matchAll(/^\|\s*([^|\s]+)\s*\|\s*(\d+)\s*\|$/gm)) {
    if (m[1] !== 'word') counts[m[1]!] = Number(m[2]);
  }
  return counts;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('counts words sent to a socket, and keeps counting after a restart', async () => {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  cleanups.push(() => sockets.forEach((s) => s.destroy()));
  const port = (server.address() as net.AddressInfo).port;
  const checkpointLocation = mkdtempSync(path.join(os.tmpdir(), 'millrace-wordcount-'));
  cleanups.push(() => rmSync(checkpointLocation, { recursive: true, force: true }));

  const out: string[] = [];
  let query = await startWordCount({ host: '127.0.0.1', port, checkpointLocation, out: (t) => out.push(t) });
  cleanups.push(() => query.stop());
  await until(() => sockets.size === 1, 'the query to connect');
  const send = (text: string) => [...sockets].at(-1)!.write(text);

  send('the quick brown fox\nThe lazy dog\n');
  await until(() => lastTable(out).the === 2, 'the first counts');
  expect(lastTable(out)).toEqual({ the: 2, quick: 1, brown: 1, fox: 1, lazy: 1, dog: 1 });

  await query.stop();
  query = await startWordCount({ host: '127.0.0.1', port, checkpointLocation, out: (t) => out.push(t) });
  await until(() => sockets.size === 2, 'the restarted query to connect');
  send('the end\n');
  await until(() => lastTable(out).the === 3, 'counts after the restart');
  expect(lastTable(out)).toEqual({ the: 3, quick: 1, brown: 1, fox: 1, lazy: 1, dog: 1, end: 1 });
});
