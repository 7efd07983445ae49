/** The `millrace` bin as a user runs it: spawned processes, real ports, real signals. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { count, createSession, memorySink, memoryStream, schema, t } from 'millrace';
import { cleanupDirs, tempDir, waitFor } from './helpers.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(here, '../bin/millrace.js');
const FIXTURES = path.join(here, 'fixtures');

interface Run {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exit: Promise<number | null>;
}

const children: ChildProcess[] = [];

function millrace(args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: tempDir('millrace-cli-cwd-'),
    env: { ...process.env, MILLRACE_TOKEN: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exit: new Promise((r) => child.on('exit', (code) => r(code))),
  };
  child.stdout!.on('data', (d) => ((run as { stdout: string }).stdout += d));
  child.stderr!.on('data', (d) => ((run as { stderr: string }).stderr += d));
  return run;
}

/** The URL from the "server listening" log line. */
async function listening(r: Run): Promise<string> {
  await waitFor(() => r.stderr.includes('"msg":"server listening"'), 'the server to listen', 30_000);
  const line = r.stderr.split('\n').find((l) => l.includes('"msg":"server listening"'))!;
  return JSON.parse(line).url as string;
}

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  cleanupDirs();
});

describe('millrace (spawned)', () => {
  it('prints help, rejects a bad command with exit 2, a missing pipeline with exit 3', async () => {
    const help = millrace(['--help']);
    expect(await help.exit).toBe(0);
    expect(help.stdout).toContain('millrace run <pipeline.ts>');
    const bad = millrace(['frobnicate']);
    expect(await bad.exit).toBe(2);
    expect(bad.stderr).toContain('unknown command "frobnicate"');
    const missing = millrace(['run', 'no-such-pipeline.ts', '--port', '0', '--progress', 'off']);
    expect(await missing.exit).toBe(3);
    expect(missing.stderr).toContain('no-such-pipeline.ts does not exist');
  });

  it('refuses a non-loopback address without a token (exit 4)', async () => {
    const r = millrace(['run', path.join(FIXTURES, 'finite.ts'), '--host', '0.0.0.0', '--port', '0']);
    expect(await r.exit).toBe(4);
    expect(r.stderr).toContain('refusing to listen on 0.0.0.0 without a token');
  });

  it('inspects a checkpoint produced by a real query', async () => {
    const cp = path.join(tempDir(), 'cp');
    const session = createSession();
    const source = memoryStream(schema({ word: t.string }), { name: 'words' });
    const q = await session
      .readStream(source)
      .groupBy('word')
      .agg({ n: count() })
      .writeStream({ queryName: 'wc', sink: memorySink(), outputMode: 'update', checkpointLocation: cp })
      .start();
    source.addData({ word: 'a' }, { word: 'b' });
    await q.processAllAvailable();
    await q.stop();
    const r = millrace(['checkpoint', 'inspect', cp]);
    expect(await r.exit).toBe(0);
    expect(r.stdout).toContain('Query       wc');
    expect(r.stdout).toContain('resume');
    const j = millrace(['checkpoint', 'inspect', cp, '--json']);
    expect(await j.exit).toBe(0);
    expect(JSON.parse(j.stdout).batches.lastCommittedBatchId).toBe(0);
  });

  it('runs a finite (availableNow) pipeline to its end and exits 0', async () => {
    const cp = path.join(tempDir(), 'cp');
    const r = millrace([
      'run',
      path.join(FIXTURES, 'finite.ts'),
      '--port',
      '0',
      '--progress',
      'plain',
      '--',
      cp,
    ]);
    expect(await r.exit).toBe(0);
    expect(r.stderr).toContain('"msg":"server listening"');
    expect(r.stderr).toContain('"reason":"every query finished"');
    expect(r.stderr).toMatch(/millrace progress: backfill .* 184,000 rows .*ETA done/); // 46/50 of 200,000 events are bids
    expect(existsSync(path.join(cp, 'commits', '9'))).toBe(true);
    // run again: nothing left to do, still exits 0
    const again = millrace([
      'run',
      path.join(FIXTURES, 'finite.ts'),
      '--port',
      '0',
      '--progress',
      'off',
      '--',
      cp,
    ]);
    expect(await again.exit).toBe(0);
  }, 60_000);

  it('SIGTERM stops a long-running pipeline after its current batch and exits 0', async () => {
    const dir = tempDir();
    const r = millrace(['run', path.join(FIXTURES, 'slow.ts'), '--port', '0', '--', dir, '1500']);
    const url = await listening(r);
    const log = path.join(dir, 'log');
    await waitFor(
      () => existsSync(log) && readFileSync(log, 'utf8').includes('start 1'),
      'batch 1 to start',
      30_000,
    );

    // status and stop --help against the live service
    const status = millrace(['status', '--url', url]);
    expect(await status.exit).toBe(0);
    expect(status.stdout).toMatch(/slow\s+active/);

    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    const last = lines.at(-1)!;
    expect(last).toMatch(/^done \d+$/); // the batch in flight finished
    const n = Number(last.split(' ')[1]);
    expect(existsSync(path.join(dir, 'checkpoint', 'commits', String(n)))).toBe(true);
    expect(lines.filter((l) => l.startsWith('start')).length).toBe(
      lines.filter((l) => l.startsWith('done')).length,
    );
    expect(r.stderr).toContain('"msg":"shutting down"');
  }, 60_000);

  it('a second SIGTERM abandons the batch in flight (it re-runs on the next start)', async () => {
    const dir = tempDir();
    const r = millrace(['run', path.join(FIXTURES, 'slow.ts'), '--port', '0', '--', dir, '4000']);
    await listening(r);
    const log = path.join(dir, 'log');
    await waitFor(
      () => existsSync(log) && readFileSync(log, 'utf8').includes('start 0'),
      'batch 0 to start',
      30_000,
    );
    r.child.kill('SIGTERM');
    await waitFor(() => r.stderr.includes('"msg":"shutting down"'), 'shutdown to begin');
    r.child.kill('SIGTERM');
    expect(await r.exit).toBe(0);
    expect(r.stderr).toContain('second signal: abandoning');
    expect(existsSync(path.join(dir, 'checkpoint', 'commits', '0'))).toBe(false);
    expect(existsSync(path.join(dir, 'checkpoint', 'offsets', '0'))).toBe(true);
  }, 60_000);

  it('stop through the CLI; a failed query keeps serving and makes the exit code 1', async () => {
    const dir = tempDir();
    const r = millrace(['run', path.join(FIXTURES, 'slow.ts'), '--port', '0', '--', dir, '10', 'fail']);
    const url = await listening(r);
    await waitFor(() => r.stderr.includes('"msg":"query failed"'), 'the failure', 30_000);
    const status = millrace(['status', '--url', url, '--json']);
    expect(await status.exit).toBe(0);
    const [q] = JSON.parse(status.stdout);
    expect(q).toMatchObject({ name: 'slow', health: 'failed' });
    expect(q.failure.message).toContain('the sink broke on purpose');
    const stop = millrace(['stop', 'slow', '--url', url]);
    expect(await stop.exit).toBe(1); // not running any more
    expect(stop.stderr).toContain('QUERY_NOT_ACTIVE');
    expect(r.child.exitCode).toBeNull(); // still serving
    r.child.kill('SIGINT');
    expect(await r.exit).toBe(1);
  }, 60_000);

  it('--exit-on-failure ends the run with exit 1 when a query fails', async () => {
    const dir = tempDir();
    const r = millrace([
      'run',
      path.join(FIXTURES, 'slow.ts'),
      '--port',
      '0',
      '--exit-on-failure',
      '--',
      dir,
      '10',
      'fail',
    ]);
    expect(await r.exit).toBe(1);
    expect(r.stderr).toContain('"msg":"exiting with failures"');
  }, 60_000);
});
