/** Stream–table joins (Spark's stream–static joins): a lookup per row, inner and left outer. */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Trigger,
  createSession,
  fileTable,
  memorySink,
  memoryStream,
  schema,
  staticTable,
  t,
} from '../../src/index.ts';
import { ManualClock, testStream } from '../../src/testing/index.ts';
import { cleanupDirs, tempDir } from '../execution/helpers.ts';

afterEach(cleanupDirs);

const orders = () => memoryStream(schema({ orderId: t.long, productId: t.long.orNull(), qty: t.long }));
const productSchema = schema({ productId: t.long, name: t.string, minQty: t.long });
const products = staticTable({
  name: 'products',
  schema: productSchema,
  rows: [
    { productId: 1, name: 'apple', minQty: 1 },
    { productId: 2, name: 'pear', minQty: 5 },
    { productId: 2, name: 'pear (bulk)', minQty: 10 },
  ],
});

describe('stream–table joins', () => {
  it('inner: one output row per matching table row; no match or a null key gives none', async () => {
    const session = createSession();
    const input = orders();
    const q = session.readStream(input).join(products, { on: 'productId' });
    expect(q.schema.toString()).toBe(
      '[orderId: long, productId: long?, qty: long, name: string, minQty: long]',
    );
    expect(q.explain()).toMatch(/FlatMap LookupJoin\[inner, using \[productId\], table products\]/);
    await testStream(q)
      .addData(input, [
        { orderId: 10, productId: 1, qty: 3 },
        { orderId: 11, productId: 2, qty: 7 },
        { orderId: 12, productId: 3, qty: 1 },
        { orderId: 13, productId: null, qty: 1 },
      ])
      .checkNewRows([
        { orderId: 10, productId: 1, qty: 3, name: 'apple', minQty: 1 },
        { orderId: 11, productId: 2, qty: 7, name: 'pear', minQty: 5 },
        { orderId: 11, productId: 2, qty: 7, name: 'pear (bulk)', minQty: 10 },
      ])
      .run();
  });

  it('left outer with a further condition: rows without a passing match get nulls', async () => {
    const session = createSession();
    const input = orders();
    const q = session.readStream(input).join(products, {
      on: 'productId',
      where: (o, p) => o.qty.ge(p.minQty),
      type: 'leftOuter',
    });
    await testStream(q)
      .addData(input, [
        { orderId: 1, productId: 2, qty: 7 },
        { orderId: 2, productId: 2, qty: 2 },
        { orderId: 3, productId: null, qty: 2 },
      ])
      .checkNewRows([
        { orderId: 1, productId: 2, qty: 7, name: 'pear', minQty: 5 },
        { orderId: 2, productId: 2, qty: 2, name: null, minQty: null },
        { orderId: 3, productId: null, qty: 2, name: null, minQty: null },
      ])
      .run();
  });

  it('a condition function can join differently named columns', async () => {
    const session = createSession();
    const input = memoryStream(schema({ sku: t.long }));
    const q = session.readStream(input).join(products, { on: (o, p) => o.sku.eq(p.productId) });
    await testStream(q)
      .addData(input, { sku: 1 })
      .checkNewRows([{ sku: 1, productId: 1, name: 'apple', minQty: 1 }])
      .run();
  });

  it('a table with refreshInterval is loaded again when the interval has passed (before a batch)', async () => {
    const clock = new ManualClock(0);
    const session = createSession({ clock });
    let version = 1;
    let loads = 0;
    const prices = staticTable({
      name: 'prices',
      schema: schema({ productId: t.long, price: t.long }),
      refreshInterval: '1 minute',
      load: async () => {
        loads++;
        if (version === 3) throw new Error('database is down');
        return [{ productId: 1, price: version * 100 }];
      },
    });
    const input = orders();
    const q = session.readStream(input).join(prices, { on: 'productId' }).select('orderId', 'price');
    await testStream(q, { trigger: Trigger.processingTime(1000) })
      .addData(input, { orderId: 1, productId: 1, qty: 1 })
      .advanceClock(1000, clock)
      .checkNewRows([{ orderId: 1, price: 100 }])
      .assert('loaded once', () => {
        version = 2;
        expect(loads).toBe(1);
      })
      .addData(input, { orderId: 2, productId: 1, qty: 1 })
      .advanceClock(1000, clock)
      .checkNewRows([{ orderId: 2, price: 100 }])
      .addData(input, { orderId: 3, productId: 1, qty: 1 })
      .advanceClock(60_000, clock)
      .checkNewRows([{ orderId: 3, price: 200 }])
      .assert('a failing refresh keeps the rows it had', () => {
        version = 3;
      })
      .addData(input, { orderId: 4, productId: 1, qty: 1 })
      .advanceClock(60_000, clock)
      .checkNewRows([{ orderId: 4, price: 200 }])
      .assert('three loads', () => expect(loads).toBe(3))
      .run();
  });

  it('a table that cannot be loaded at start fails the query with what to check', async () => {
    const session = createSession();
    const broken = staticTable({
      name: 'customers',
      schema: schema({ productId: t.long }),
      load: () => {
        throw new Error('connection refused');
      },
    });
    const input = orders();
    await testStream(session.readStream(input).join(broken, { on: 'productId' }))
      .addData(input, { orderId: 1, productId: 1, qty: 1 })
      .expectFailure({
        code: 'TABLE_LOAD_FAILED',
        message:
          /table "customers" \(StaticTable\[customers, loaded by a function\]\) could not be loaded: connection refused/,
      })
      .run();
  });

  it('fileTable reads a directory of JSON lines, and rejects a malformed line naming file and line', async () => {
    const dir = tempDir('millrace-table-');
    writeFileSync(path.join(dir, 'a.jsonl'), '{"productId": 1, "name": "apple", "minQty": 1}\n');
    writeFileSync(path.join(dir, '_ignored.jsonl'), 'not json\n');
    const session = createSession();
    const input = orders();
    const table = fileTable({ path: dir, format: 'jsonl', schema: productSchema });
    await testStream(session.readStream(input).join(table, { on: 'productId' }).select('orderId', 'name'))
      .addData(input, { orderId: 1, productId: 1, qty: 1 })
      .checkNewRows([{ orderId: 1, name: 'apple' }])
      .run();
    writeFileSync(path.join(dir, 'b.jsonl'), '{"productId": 2}\n');
    const input2 = orders();
    await testStream(session.readStream(input2).join(table, { on: 'productId' }))
      .addData(input2, { orderId: 1, productId: 1, qty: 1 })
      .expectFailure({ message: /malformed record in file ".*b\.jsonl" at line 1: column "name" is missing/ })
      .run();
  });

  it('refuses right and full outer joins with a table, and bad table options', async () => {
    const session = createSession();
    const s = session.readStream(orders());
    expect(() => s.join(products, { on: 'productId', type: 'rightOuter' })).toThrow(
      /supports 'inner' and 'leftOuter' joins, got 'rightOuter'/,
    );
    expect(() => s.join(products, { on: 'productId', type: 'sideways' as never })).toThrow(
      /unknown join type "sideways"/,
    );
    expect(() => staticTable({ schema: productSchema })).toThrow(/give either rows or load/);
    expect(() => staticTable({ schema: productSchema, rows: [], refreshInterval: '1 minute' })).toThrow(
      /refreshInterval needs load/,
    );
    expect(() =>
      staticTable({ name: 'p', schema: productSchema, rows: [{ productId: 1 } as never] }),
    ).toThrow(/table "p": row 0 has no value for the non-nullable column "name"/);
    const q = s.join(products, { on: 'productId' });
    await expect(
      q
        .writeStream({
          sink: memorySink(),
          checkpointLocation: tempDir('millrace-lj-'),
          outputMode: 'complete',
        })
        .start(),
    ).rejects.toThrow(/complete output mode is not supported/);
  });
});
