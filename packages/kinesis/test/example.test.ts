/**
 * The package's example, run as a user would (npx tsx …): it starts its own kinesalite, puts
 * orders (splitting a shard halfway), and the query reads every order — parent shard first, then
 * its children — and writes window reports to another stream.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const EXAMPLE = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'examples',
  'orders-to-kinesis.ts',
);

it('orders-to-kinesis: every order read across a shard split, window reports written', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_NO_WARNINGS: '1' };
  delete env.AWS_REGION;
  delete env.KINESIS_ENDPOINT;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', EXAMPLE, '--orders', '3000'],
    {
      env,
      timeout: 90_000,
    },
  );
  const m = /^(\d+) orders read from shop-orders, (\d+) window reports written to shop-reports$/m.exec(
    stdout,
  );
  expect(m, stdout).not.toBeNull();
  expect(Number(m![1])).toBe(3000);
  expect(Number(m![2])).toBeGreaterThan(0);
  expect(stdout.trim().split('\n').slice(1)).toHaveLength(5);
}, 120_000);
