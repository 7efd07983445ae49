/** The CLI in-process (main() with captured output): help, usage errors, checkpoint inspect. */
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { count, createSession, lmdbStateStore, memorySink, memoryStream, schema, t } from 'millrace';
import { main } from '../src/cli/main.ts';
import { cleanupDirs, tempDir } from './helpers.ts';

afterEach(cleanupDirs);

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`) });
  return { code, out, err };
}

describe('millrace CLI', () => {
  it('prints help for every command, with the exit codes', async () => {
    const top = await cli('--help');
    expect(top.code).toBe(0);
    for (const c of ['run', 'status', 'stop', 'restart', 'checkpoint inspect'])
      expect(top.out).toContain(`millrace ${c}`);
    expect(top.out).toContain('Exit codes');
    for (const c of ['run', 'status', 'stop', 'restart']) {
      const h = await cli(c, '--help');
      expect(h.code, c).toBe(0);
      expect(h.out).toContain(`Usage: millrace ${c}`);
      expect(h.out).toContain('Exit codes');
    }
    expect((await cli('checkpoint', 'inspect', '--help')).out).toContain(
      'Usage: millrace checkpoint inspect',
    );
    expect((await cli('help', 'run')).out).toContain('--exit-on-failure');
    expect((await cli('--version')).out).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('explains usage errors and exits 2', async () => {
    const none = await cli();
    expect(none.code).toBe(2);
    const unknown = await cli('stauts');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('unknown command "stauts" (did you mean `status`?)');
    const flag = await cli('status', '--colour');
    expect(flag.code).toBe(2);
    expect(flag.err).toMatch(/Unknown option '--colour'/);
    expect(flag.err).toContain('See `millrace status --help`');
    const missing = await cli('run');
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('missing the pipeline file');
    expect((await cli('stop')).err).toContain('missing the query name or id');
    expect((await cli('run', 'x.ts', '--port', 'eighty')).err).toContain('--port must be an integer');
    expect((await cli('run', 'x.ts', '--workers', '0')).err).toContain(
      '--workers must be an integer from 1 to 256, got "0"',
    );
    expect((await cli('run', 'x.ts', '--log-level', 'loud')).err).toContain('--log-level must be one of');
    expect((await cli('checkpoint', 'delete', 'x')).err).toContain('the only one is `inspect`');
  });

  it('says when no service runs at --url (exit 5)', async () => {
    const r = await cli('status', '--url', 'http://127.0.0.1:9');
    expect(r.code).toBe(5);
    expect(r.err).toContain('cannot reach the service at http://127.0.0.1:9');
  });

  it('inspects a checkpoint written by a real query', async () => {
    const dir = tempDir();
    const cp = path.join(dir, 'cp');
    const session = createSession();
    const source = memoryStream(schema({ word: t.string }), { name: 'words' });
    const q = await session
      .readStream(source)
      .groupBy('word')
      .agg({ n: count() })
      .writeStream({
        queryName: 'wc',
        sink: memorySink(),
        outputMode: 'update',
        checkpointLocation: cp,
        stateStore: lmdbStateStore(),
      })
      .start();
    for (let i = 0; i < 3; i++) {
      source.addData({ word: `w${i}` }, { word: 'x' });
      await q.processAllAvailable();
    }
    // while it runs: the lock is held by this process
    const running = await cli('checkpoint', 'inspect', cp, '--json');
    expect(running.code).toBe(0);
    expect(JSON.parse(running.out).lock).toEqual({ pid: process.pid, alive: true });
    await q.stop();

    const r = await cli('checkpoint', 'inspect', cp, '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({
      checkpoint: cp,
      query: { id: q.id, name: 'wc' },
      lock: null,
      batches: {
        offsets: { count: 3, first: 0, last: 2 },
        commits: { count: 3, last: 2 },
        lastCommittedBatchId: 2,
      },
      next: { kind: 'resume', batchId: 3 },
      sources: [{ name: 'words', committedOffset: 3, lastPlannedOffset: 3 }],
    });
    expect(report.stateOperators).toHaveLength(1);
    expect(report.stateOperators[0]).toMatchObject({ store: 'lmdb', partitions: 1 });
    expect(report.stateOperators[0].bytes).toBeGreaterThan(0);

    const text = await cli('checkpoint', 'inspect', cp);
    expect(text.out).toContain('Query       wc');
    expect(text.out).toContain('Next        resume: batch 2 is committed');
    expect(text.out).toMatch(/words\s+3\s+3/);
    expect(text.out).toContain('State operators');

    const notCp = await cli('checkpoint', 'inspect', dir);
    expect(notCp.code).toBe(1);
    expect(notCp.err).toContain('is not a checkpoint directory');
    expect((await cli('checkpoint', 'inspect', path.join(dir, 'nope'))).err).toContain('does not exist');
  });

  it('shows an uncommitted batch as a replay, and memory-store state versions', async () => {
    const dir = tempDir();
    const cp = path.join(dir, 'cp');
    const session = createSession();
    const source = memoryStream(schema({ word: t.string }), { name: 'words' });
    let fail = false;
    const q = await session
      .readStream(source)
      .groupBy('word')
      .agg({ n: count() })
      .writeStream({
        queryName: 'wc2',
        outputMode: 'update',
        checkpointLocation: cp,
        sink: {
          name: 'flaky',
          guarantee: 'at-least-once',
          describe: () => 'Flaky[]',
          open: async () => {},
          close: async () => {},
          addBatch: async () => {
            if (fail) throw new Error('sink down');
          },
        },
      })
      .start();
    source.addData({ word: 'a' });
    await q.processAllAvailable();
    fail = true;
    source.addData({ word: 'b' });
    await q.awaitTermination().catch(() => undefined);
    const report = JSON.parse((await cli('checkpoint', 'inspect', cp, '--json')).out);
    expect(report.next).toMatchObject({ kind: 'replay', batchId: 1 });
    expect(report.sources[0]).toMatchObject({ committedOffset: 1, lastPlannedOffset: 2 });
    expect(report.stateOperators[0]).toMatchObject({ store: 'memory', latestVersion: 1, versions: 1 });
  });
});
