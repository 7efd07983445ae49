/**
 * The parallel example runs as a user runs it, and both of its runs (inline and on 2 worker
 * threads) write the same windows.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const HERE = path.dirname(fileURLToPath(import.meta.url));

describe('examples/parallel', () => {
  it('prints the exchange, both runs and the same rows', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(HERE, 'run.ts'),
        '--events',
        '200000',
        '--workers',
        '2',
        '--partitions',
        '4',
      ],
      { cwd: path.resolve(HERE, '../..'), timeout: 60_000 },
    );
    expect(stdout).toContain('Exchange hashpartitioning(auction, window.start, 4)');
    expect(stdout).toMatch(/inline \(one thread\): [\d.]+ s, [\d,]+ events\/s, (\d+) windows/);
    expect(stdout).toMatch(/2 worker threads, 4 partitions: [\d.]+ s/);
    expect(stdout).toMatch(
      /last batch: p0 \d+ rows \d+ ms, p1 \d+ rows \d+ ms, p2 \d+ rows \d+ ms, p3 \d+ rows/,
    );
    const windows = [...stdout.matchAll(/(\d+) windows/g)].map((m) => m[1]);
    expect(windows).toHaveLength(2);
    expect(windows[0]).toBe(windows[1]);
    expect(Number(windows[0])).toBeGreaterThan(1000);
    expect(stdout).toContain('same rows from both runs');
  });
});
