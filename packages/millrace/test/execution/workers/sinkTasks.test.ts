/**
 * Sinks whose tasks write where they run (SinkTasks): on worker threads each task writes its part of
 * a batch (the file sink: its own part files) and the driver commits the batch from the tasks'
 * reports (the manifest). The output must be what the inline runner writes; a replay on another
 * number of workers must not touch a batch the sink already committed; what an uncommitted run left
 * is removed at start.
 */
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSession, fileSink, readFileSinkOutput } from '../../../src/index.ts';
import { canonicalJson } from '../../../src/util/json.ts';
import { cleanupDirs, tempDir } from '../helpers.ts';
import { input, resetInput, windowedPerUser } from './queries.ts';

afterEach(cleanupDirs);
beforeEach(resetInput);

const module = new URL('./queries.ts', import.meta.url);
const ev = (s: number, user: string, n: number) => ({ s, user, n });

/** Three feeds of events whose windows close as the watermark passes them (append mode). */
const FEEDS = [
  () => input.addData(ev(1, 'ann', 1), ev(2, 'bob', 2), ev(3, 'cy', 3), ev(4, 'ann', 4), ev(4, 'dee', 9)),
  () => input.addData(ev(6, 'bob', 5), ev(7, 'ann', 6), ev(8, 'eve', 7), ev(11, 'cy', 8)),
  () => input.addData(ev(12, 'ann', 1), ev(14, 'bob', 2), ev(22, 'zed', 3)),
];

interface RunOptions {
  readonly workers?: number;
  readonly out: string;
  readonly checkpoint: string;
}

async function runFeeds(options: RunOptions, feeds: readonly (() => void)[]): Promise<void> {
  const q = await windowedPerUser(createSession())
    .writeStream({
      sink: fileSink({ name: 'out', path: options.out, format: 'jsonl' }),
      checkpointLocation: options.checkpoint,
      outputMode: 'append',
      partitions: 4,
      ...(options.workers ? { workers: { count: options.workers, module, export: 'windowedPerUser' } } : {}),
    })
    .start();
  try {
    for (const feed of feeds) {
      feed();
      await q.processAllAvailable();
    }
  } finally {
    await q.stop();
  }
}

const rowsOf = async (out: string) => (await readFileSinkOutput(out)).map((r) => canonicalJson(r)).sort();
const manifest = (out: string, batch: number) =>
  JSON.parse(readFileSync(path.join(out, '_millrace_manifest', String(batch)), 'utf8').split('\n')[1]!) as {
    files: { path: string; rows: number }[];
  };
const manifests = (out: string) =>
  readdirSync(path.join(out, '_millrace_manifest'))
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);

describe('sinks written by the tasks on worker threads', () => {
  it('the file sink: each task writes its part files, the driver commits them; the output is the inline one', async () => {
    const inline = { out: tempDir(), checkpoint: tempDir() };
    await runFeeds(inline, FEEDS.slice(0, 2));
    await runFeeds(inline, FEEDS.slice(2));

    resetInput();
    const onWorkers = { workers: 2, out: tempDir(), checkpoint: tempDir() };
    await runFeeds(onWorkers, FEEDS.slice(0, 2));
    await runFeeds(onWorkers, FEEDS.slice(2));

    const expected = await rowsOf(inline.out);
    expect(expected.length).toBeGreaterThan(5);
    expect(await rowsOf(onWorkers.out)).toEqual(expected);
    expect(manifests(onWorkers.out)).toEqual(manifests(inline.out));
    // Inline: the driver's files; on workers: every file is a task's, and both tasks wrote some.
    const files = manifests(onWorkers.out).flatMap((b) =>
      manifest(onWorkers.out, b).files.map((f) => f.path),
    );
    expect(files.every((f) => /^part-\d{10}-0000[01]-\d{5}\.jsonl$/.test(f))).toBe(true);
    expect(new Set(files.map((f) => f.slice(16, 21)))).toEqual(new Set(['00000', '00001']));
    const inlineFiles = manifests(inline.out).flatMap((b) =>
      manifest(inline.out, b).files.map((f) => f.path),
    );
    expect(inlineFiles.every((f) => /^part-\d{10}-\d{5}\.jsonl$/.test(f))).toBe(true);
  });

  it('a batch the sink committed is not written again when it is replayed on another number of workers', async () => {
    const run = { workers: 2, out: tempDir(), checkpoint: tempDir() };
    await runFeeds(run, FEEDS);
    const last = manifests(run.out).at(-1)!;
    const before = manifest(run.out, last);
    const expected = await rowsOf(run.out);
    // A crash after the manifest, before commits/N: batch N runs again, here on one worker, whose
    // task would name its files differently. It must find the manifest and write nothing.
    rmSync(path.join(run.checkpoint, 'commits', String(last)));
    await runFeeds({ ...run, workers: 1 }, []);
    expect(manifest(run.out, last)).toEqual(before);
    expect(await rowsOf(run.out)).toEqual(expected);
    const onDisk = readdirSync(run.out).filter((f) => f.startsWith('part-'));
    expect(onDisk.some((f) => f.startsWith(`part-${String(last).padStart(10, '0')}-00000-`))).toBe(true);
    expect(existsSync(path.join(run.checkpoint, 'commits', String(last)))).toBe(true);
  });

  it('part files of a run that did not commit its batch are removed at start and never read', async () => {
    const run = { workers: 2, out: tempDir(), checkpoint: tempDir() };
    await runFeeds(run, FEEDS.slice(0, 1));
    const expected = await rowsOf(run.out);
    // What a task left when the query died before the driver wrote manifest 7.
    const stray = path.join(run.out, 'part-0000000007-00001-00000.jsonl');
    writeFileSync(stray, '{"window":null,"user":"ghost","c":1,"top":1}\n');
    await runFeeds(run, []);
    expect(existsSync(stray)).toBe(false);
    expect(await rowsOf(run.out)).toEqual(expected);
  });
});
