/**
 * A SIGKILL at any point of an incremental snapshot loses nothing: a child commits versions with a
 * snapshot step per commit (frames being written, fsync, rename — wherever the kill lands), is
 * killed after a random time, started again from the newest delta, killed again…; then every
 * version the last run left loadable equals the model, and cleanup removes the leftovers.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { memoryStateStore } from '../../src/state/index.ts';
import { prng } from './conformance.ts';
import { CRASH_STORE_OPTIONS, modelAt } from './memory-snapshot-crash.model.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(HERE, '../../../..');
const KILLS = 5;

/** Start the child, wait until it runs, let it commit for `ms`, SIGKILL it. */
function runAndKill(stateDir: string, ms: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(HERE, 'memory-snapshot-crash.child.ts'), stateDir],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    let started = -1;
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      const m = /START (\d+)/.exec(output);
      if (m !== null && started < 0) {
        started = Number(m[1]);
        setTimeout(() => child.kill('SIGKILL'), ms);
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited with ${code ?? signal}:\n${output}`));
      else resolve(started);
    });
  });
}

it('survives SIGKILLs in the middle of incremental snapshots', async () => {
  const stateDir = await mkdtemp(path.join(tmpdir(), 'millrace-memsnap-crash-'));
  const dir = path.join(stateDir, 'op', '0');
  try {
    const rnd = prng(20);
    const starts: number[] = [];
    for (let k = 0; k < KILLS; k++) starts.push(await runAndKill(stateDir, 200 + Math.floor(rnd() * 600)));
    // Each run continued from the previous one's newest delta.
    for (let k = 1; k < KILLS; k++) expect(starts[k]).toBeGreaterThan(starts[k - 1]!);
    const files = await readdir(dir);
    let latest = 0;
    for (const f of files) latest = Math.max(latest, Number(/^(\d+)\.delta$/.exec(f)?.[1] ?? 0));
    const spans = files.filter((f) => /^\d+-\d+\.snapshot$/.test(f));
    console.log(
      `[memsnap-crash] runs started at versions ${starts.join(', ')}; newest ${latest}; ` +
        `snapshots ${files.filter((f) => f.endsWith('.snapshot')).join(', ')}; temp files ${files.filter((f) => f.endsWith('.tmp')).length}`,
    );
    expect(spans.length, 'snapshots written over several commits').toBeGreaterThan(0);
    const provider = memoryStateStore(CRASH_STORE_OPTIONS);
    for (const v of [latest, latest - 1, starts.at(-1)!, Math.floor(latest / 2)]) {
      const s = await provider.open({ stateDir, operatorId: 'op', partition: 0, version: v });
      expect(Object.fromEntries(s.range()), `version ${v}`).toEqual(Object.fromEntries(modelAt(v)));
      s.abort();
    }
    // The killed runs' temp files go with cleanup (they are other processes'), the state stays.
    await provider.cleanup({ stateDir, operatorId: 'op', partition: 0, minVersionToKeep: latest - 5 });
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const s = await provider.open({ stateDir, operatorId: 'op', partition: 0, version: latest });
    expect(Object.fromEntries(s.range())).toEqual(Object.fromEntries(modelAt(latest)));
    s.abort();
    await provider.close();
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
}, 120_000);
