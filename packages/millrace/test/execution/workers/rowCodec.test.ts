/** Rows crossing threads as columns (execution/workers/rowCodec.ts): what goes in comes out. */
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { schema, t } from '../../../src/index.ts';
import { rowCodec } from '../../../src/execution/workers/rowCodec.ts';
import type { Row } from '../../../src/schema/index.ts';

/** Through a real MessagePort, with the transfer list (a transferred buffer is not copied). */
async function roundTrip(
  rows: Row[],
  s: Parameters<typeof rowCodec>[0],
  options: Parameters<typeof rowCodec>[1] = {},
): Promise<Row[]> {
  const codec = rowCodec(s, options);
  const { message, transfer } = codec.encode(rows);
  const { port1, port2 } = new MessageChannel();
  const got = new Promise<unknown>((resolve) => port2.once('message', resolve));
  port1.postMessage(message, transfer);
  const out = codec.decode((await got) as typeof message);
  port1.close();
  return out;
}

describe('rowCodec', () => {
  it('numbers, strings, nulls, undefined, NaN, -0, structs and arrays come back as they were', async () => {
    const s = schema({
      id: t.long,
      price: t.double.orNull(),
      name: t.string.orNull(),
      at: t.timestamp,
      tags: t.array(t.string),
      w: t.struct({ start: t.timestamp, end: t.timestamp }),
    });
    const rows: Row[] = [
      { id: 1, price: 2.5, name: 'a', at: 1000, tags: ['x'], w: { start: 0, end: 10 } },
      { id: 2, price: null, name: null, at: 2000, tags: [], w: { start: 10, end: 20 } },
      { id: 3, price: NaN, name: 'a', at: 3000, tags: ['y', 'z'], w: { start: 0, end: 10 } },
      { id: -0, price: undefined, name: 'ünïcode', at: 4000, tags: ['x'], w: { start: 0, end: 10 } },
    ];
    const out = await roundTrip(rows, s);
    expect(out).toEqual(rows);
    expect(Object.is(out[3]!.id, -0)).toBe(true);
    expect(Object.keys(out[0]!)).toEqual(['id', 'price', 'name', 'at', 'tags', 'w']);
  });

  it('rows of numbers and strings only (generated loops), with and without nulls', async () => {
    const s = schema({ bidder: t.long, channel: t.string.orNull(), at: t.timestamp.orNull() });
    const plain: Row[] = Array.from({ length: 1000 }, (_, i) => ({
      bidder: i,
      channel: `c${i % 7}`,
      at: i * 1000,
    }));
    expect(await roundTrip(plain, s)).toEqual(plain);
    const nulls: Row[] = [
      { bidder: 1, channel: null, at: 5 },
      { bidder: 2, channel: 'x', at: null },
      { bidder: 3, channel: undefined, at: undefined },
    ];
    expect(await roundTrip(nulls, s)).toEqual(nulls);
  });

  it('untyped columns: partial groups (arrays of one length) by element, mixed values as they are', async () => {
    const s = schema({ k: t.string, e: t.long, g: t.json });
    const rows: Row[] = [
      { k: 'a|1', e: 10, g: [1, 'x', 3, null] },
      { k: 'b|2', e: Infinity, g: [2, 'y', 4.5, 7] },
    ];
    expect(await roundTrip(rows, s)).toEqual(rows);
    const mixed: Row[] = [
      { k: 'a', e: 1, g: [1, 2] },
      { k: 'b', e: 2, g: [1] },
      { k: 'c', e: 3, g: { set: new Set([1, 2]) } },
    ];
    expect(await roundTrip(mixed, s)).toEqual(mixed);
  });

  it('subset: only the columns of the schema cross (what the operator of an exchange reads)', async () => {
    const s = schema({ bidder: t.long, at: t.timestamp });
    const rows: Row[] = [
      { auction: 1, bidder: 7, url: 'https://a/very/long/url', at: 1000 },
      { auction: 2, bidder: 8, url: 'https://b', at: 2000 },
    ];
    expect(await roundTrip(rows, s, { subset: true })).toEqual([
      { bidder: 7, at: 1000 },
      { bidder: 8, at: 2000 },
    ]);
  });

  it('a value of another type than declared, or a row with other fields, is sent as it is', async () => {
    const s = schema({ id: t.long, name: t.string });
    const odd: Row[] = [
      { id: 1, name: 'a' },
      { id: 'two', name: 3 },
    ];
    expect(await roundTrip(odd, s)).toEqual(odd);
    const extra: Row[] = [{ id: 1, name: 'a', more: true }];
    expect(await roundTrip(extra, s)).toEqual(extra);
  });
});
