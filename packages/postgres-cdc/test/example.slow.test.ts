/**
 * The package's example, run as a user would (a child process, DATABASE_URL pointing at a private
 * cluster): twice on one checkpoint, the mirror table follows every insert, update and delete.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type pg from 'pg';
import { type Cluster, startCluster } from './cluster.ts';
import { pool } from './helpers.ts';

const EXAMPLE = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'examples',
  'orders-cdc-to-postgres.ts',
);
const run = promisify(execFile);
let cluster: Cluster;
let admin: pg.Pool;
const work = mkdtempSync(path.join(os.tmpdir(), 'millrace-cdc-example-'));
beforeAll(async () => {
  cluster = await startCluster();
  admin = pool(cluster.url);
}, 60_000);
afterAll(async () => {
  await admin?.end();
  await cluster?.destroy();
  rmSync(work, { recursive: true, force: true });
});

it('orders-cdc-to-postgres: the mirror follows the orders table across two runs on one checkpoint', async () => {
  const env = { ...process.env, DATABASE_URL: cluster.url };
  const args = ['--import', 'tsx', EXAMPLE, '--checkpoint', path.join(work, 'cp')];
  const first = await run(process.execPath, [...args, '--changes', '10'], { env });
  expect(first.stdout).toContain('applied 10 inserts, 5 updates and 1 delete');
  const second = await run(process.execPath, [...args, '--changes', '4'], { env });
  expect(second.stdout).toContain('applied 4 inserts, 2 updates and 1 delete');
  const orders = (
    await admin.query('SELECT id::int AS id, status, amount::float8 AS amount FROM shop_orders ORDER BY id')
  ).rows;
  const mirror = (
    await admin.query('SELECT id::int AS id, status, amount, deleted FROM shop_orders_mirror ORDER BY id')
  ).rows;
  // Every live order mirrored as it is now; the two deleted ones kept as tombstones.
  expect(mirror.filter((m) => !m.deleted).map(({ deleted: _, ...m }) => m)).toEqual(orders);
  expect(mirror.filter((m) => m.deleted).map((m) => m.id)).toEqual([1, 11]);
  expect(orders).toHaveLength(12);
}, 120_000);
