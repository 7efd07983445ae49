/**
 * "A query over 5 million distinct keys runs with the LMDB store inside
 * 1 GiB of process memory" — for now at the store level: a child process
 * (V8 heap capped at 1 GiB) puts 5,000,000 distinct groups over 10 committed
 * versions with aggregation-like reads and updates, checks every key, and
 * reports its peak RSS (which includes the LMDB file pages it has mapped).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '../../../..');
const GiB = 1024 ** 3;
const KEYS = 5_000_000;

interface Result {
  readonly keys: number;
  readonly versions: number;
  readonly numKeys: number;
  readonly scanned: number;
  readonly writeSeconds: number;
  readonly commitSeconds: number;
  readonly readSeconds: number;
  readonly keysPerSecond: number;
  readonly peakRssBytes: number;
  readonly diskBytes: number;
}

function runChild(stateDir: string): Promise<{ result: Result; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--max-old-space-size=1024', '--import', 'tsx', path.join(HERE, 'lmdb-5m-keys.child.ts'), stateDir],
      { cwd: REPO_ROOT, env: { ...process.env, KEYS: String(KEYS) }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const line = output.split('\n').find((l) => l.startsWith('RESULT '));
      if (code !== 0 || line === undefined) {
        reject(new Error(`child exited with ${code ?? signal}:\n${output}`));
        return;
      }
      resolve({ result: JSON.parse(line.slice('RESULT '.length)) as Result, output });
    });
  });
}

it('puts 5 million distinct keys into the LMDB store within 1 GiB of process memory', async () => {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'millrace-lmdb-5m-'));
  try {
    const t0 = Date.now();
    const { result, output } = await runChild(stateDir);
    const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MiB`;
    console.log(
      `${output}\n` +
        `5M-key LMDB store: ${result.keys} keys over ${result.versions} versions in ${result.writeSeconds.toFixed(1)} s ` +
        `(${result.keysPerSecond} keys/s; commits ${result.commitSeconds.toFixed(1)} s), ` +
        `read check ${result.readSeconds.toFixed(1)} s, peak RSS ${mib(result.peakRssBytes)}, ` +
        `disk ${mib(result.diskBytes)}, wall ${((Date.now() - t0) / 1000).toFixed(0)} s`,
    );
    expect(result.numKeys).toBe(KEYS);
    expect(result.scanned).toBe(KEYS);
    expect(result.peakRssBytes).toBeLessThan(GiB);
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
}, 400_000);
