/**
 * The parallel example runs as a user runs it, and both of its runs (inline and on 2 worker
 * threads) write the same windows.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

  it('runs as a pipeline file: millrace run --workers 2 writes the windows of the inline run', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'millrace-parallel-pipeline-'));
    try {
      const run = async (name: string, options: string[]) => {
        const { stderr } = await promisify(execFile)(
          process.execPath,
          [
            path.resolve(HERE, '../../packages/server/bin/millrace.js'),
            'run',
            path.join(HERE, 'pipeline.ts'),
            '--port',
            '0',
            '--progress',
            'off',
            ...options,
            '--',
            '--events',
            '200000',
            '--out',
            path.join(dir, name, 'out'),
            '--checkpoint',
            path.join(dir, name, 'checkpoint'),
          ],
          { cwd: path.resolve(HERE, '../..'), timeout: 60_000 },
        );
        const out = path.join(dir, name, 'out');
        const rows = readdirSync(out)
          .filter((f) => f.endsWith('.jsonl'))
          .flatMap((f) => readFileSync(path.join(out, f), 'utf8').split('\n').filter(Boolean));
        const layout = readFileSync(path.join(dir, name, 'checkpoint', 'layout'), 'utf8');
        return { rows: rows.sort(), layout, stderr };
      };
      const inline = await run('inline', []);
      const parallel = await run('workers', ['--workers', '2']);
      expect(inline.layout).toMatch(/"numPartitions":1/);
      expect(parallel.layout).toMatch(/"numPartitions":2/);
      expect(parallel.stderr).toContain('"msg":"exiting"');
      expect(inline.rows.length).toBeGreaterThan(1000);
      expect(parallel.rows).toEqual(inline.rows);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
