/**
 * The scale-out example: two members of one group split the `orders` partitions between them,
 * and the totals they write (JSON per customer) end exact.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type KafkaGroupMember, kafkaGroupMember } from '@millrace/kafka';
import {
  type MockCluster,
  TestProducer,
  readTopic,
  startMockCluster,
  uniqueTopic,
} from '../../packages/kafka/test/mockCluster.ts';
import { cleanupDirs, tempDir } from '../../packages/kafka/test/helpers.ts';
import { startTotalsTask } from './member.ts';

let kafka: MockCluster;
let producer: TestProducer;
const members: KafkaGroupMember[] = [];

beforeAll(async () => {
  kafka = await startMockCluster({ debug: false });
  producer = await TestProducer.connect(kafka.bootstrap);
});
afterAll(async () => {
  await Promise.all(members.map((m) => m.close()));
  await producer?.close();
  await kafka?.stop();
  cleanupDirs();
});

it('two members of one group run the tasks; every customer total is exact', async () => {
  const input = uniqueTopic('orders');
  const output = uniqueTopic('customer-totals');
  const customers = ['ann', 'bob', 'cy', 'dee'];
  const orders = Array.from({ length: 40 }, (_, i) => ({
    id: i % 37,
    customer: customers[(i % 37) % 4]!,
    amount: i % 37,
  }));
  await producer.send(
    input,
    orders.map((o) => ({
      key: o.customer,
      value: JSON.stringify(o),
      partition: customers.indexOf(o.customer),
    })),
  );
  const checkpointRoot = tempDir();
  for (let i = 0; i < 2; i++) {
    members.push(
      await kafkaGroupMember({
        bootstrapServers: kafka.bootstrap,
        groupId: uniqueTopic('scale-out'),
        topics: input,
        checkpointRoot,
        sessionTimeoutMs: 3000,
        startTask: (task) => startTotalsTask(task, { bootstrapServers: kafka.bootstrap, input, output }),
      }),
    );
  }
  const expected = new Map<string, { orders: number; spent: number }>();
  for (const o of orders.slice(0, 37)) {
    const e = expected.get(o.customer) ?? { orders: 0, spent: 0 };
    expected.set(o.customer, { orders: e.orders + 1, spent: e.spent + o.amount });
  }
  const latest = async () => {
    const out = new Map<string, { orders: number; spent: number }>();
    for (const r of await readTopic(kafka.bootstrap, output)) {
      const row = JSON.parse(r.value!.toString()) as { customer: string; orders: number; spent: number };
      out.set(row.customer, { orders: row.orders, spent: row.spent });
    }
    return out;
  };
  const end = Date.now() + 45_000;
  while (JSON.stringify([...(await latest())].sort()) !== JSON.stringify([...expected].sort())) {
    if (Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  expect(Object.fromEntries(await latest())).toEqual(Object.fromEntries(expected));
}, 60_000);
