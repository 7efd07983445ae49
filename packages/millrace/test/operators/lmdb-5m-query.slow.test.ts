/**
 * The issue's bar: a query over 5 million distinct keys runs with the LMDB store inside 1 GiB of
 * process memory. A real query (rate source → groupBy → count, update mode) in its own process,
 * with V8's heap capped at 1 GiB; the peak resident set must stay under 1 GiB as well.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../../../..');
const GiB = 1024 ** 3;

it('a groupBy over 5,000,000 distinct keys on the LMDB store stays inside 1 GiB', () => {
  const child = spawnSync(
    process.execPath,
    ['--max-old-space-size=1024', '--import', 'tsx', path.join(__dirname, 'lmdb-5m-query.child.ts')],
    { cwd: ROOT, encoding: 'utf8', timeout: 300_000 },
  );
  expect(child.status, child.stderr).toBe(0);
  const result = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as {
    batches: number;
    stateRows: number;
    seconds: number;
    peakRssBytes: number;
  };
  console.log(
    `[5M keys via a query] ${result.stateRows} state rows in ${result.batches} batches, ` +
      `${result.seconds.toFixed(1)} s, peak RSS ${Math.round(result.peakRssBytes / 2 ** 20)} MiB`,
  );
  expect(result.batches).toBe(10);
  expect(result.stateRows).toBe(5_000_000);
  expect(result.peakRssBytes).toBeLessThan(GiB);
}, 320_000);
