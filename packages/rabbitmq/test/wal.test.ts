/**
 * MessageWal: the receiver write-ahead log on the embedded log. Appends get
 * dense offsets and survive a reopen; release(upTo) deletes records below
 * upTo and never one at or past it, also when many records share a
 * millisecond.
 */
import { afterAll, expect, it } from 'vitest';
import { silentLogger } from 'millrace';
import { MessageWal } from '@millrace/log';
import { cleanup, tempDir } from './helpers.ts';

afterAll(cleanup);

const entry = (i: number) => ({ value: Buffer.from(String(i)), key: 'k', meta: { i: String(i) } });

async function values(wal: MessageWal, from: number, to: number): Promise<number[]> {
  const out: number[] = [];
  for await (const c of wal.read(from, to, 7)) for (const r of c) out.push(Number(r.headers!.i));
  return out;
}

it('appends with dense offsets, releases only below the cut, and keeps its state across a reopen', async () => {
  const dir = tempDir('wal');
  let wal = await MessageWal.open(dir, silentLogger);
  for (let b = 0; b < 20; b++) {
    await wal.append(Array.from({ length: 10 }, (_, k) => entry(b * 10 + k)));
    await new Promise((r) => setTimeout(r, 2));
  }
  expect([wal.low, wal.high]).toEqual([0, 200]);
  const low = await wal.release(95);
  expect(low).toBeGreaterThan(0);
  expect(low).toBeLessThanOrEqual(95);
  expect(await values(wal, low, 200)).toEqual(Array.from({ length: 200 - low }, (_, i) => low + i));
  await wal.close();

  wal = await MessageWal.open(dir, silentLogger);
  expect([wal.low, wal.high]).toEqual([low, 200]);
  await wal.append([entry(200)]);
  expect(await wal.release(200)).toBeLessThanOrEqual(200);
  expect(await values(wal, 200, 201)).toEqual([200]);
  await wal.release(201);
  expect(wal.high).toBe(201);
  await wal.close();
});
