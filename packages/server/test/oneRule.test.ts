/**
 * One rule, one place (issue 17): `millrace checkpoint inspect` decides what
 * the next run does with the engine's own decideRecovery, the service parses
 * durations with the engine's table, and the error helpers are the engine's.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as engine from 'millrace';
import { afterEach, describe, expect, it } from 'vitest';
import { inspectCheckpoint } from '../src/cli/checkpointInspect.ts';
import { parseDuration } from '../src/util/durations.ts';
import * as serviceErrors from '../src/util/errors.ts';
import * as logErrors from '../../log/src/errors.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A checkpoint directory with offsets/<id> and commits/<id> files for the given batch ids. */
function checkpoint(offsets: number[], commits: number[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'millrace-inspect-'));
  dirs.push(dir);
  mkdirSync(path.join(dir, 'offsets'));
  mkdirSync(path.join(dir, 'commits'));
  writeFileSync(
    path.join(dir, 'metadata'),
    `v1\n${JSON.stringify({ id: 'q1', name: 'q', createdAt: '2026-01-01T00:00:00.000Z' })}\n`,
  );
  for (const id of offsets) {
    const meta = { batchWatermarkMs: 0, batchTimestampMs: 1000 * id, watermarks: {} };
    writeFileSync(
      path.join(dir, 'offsets', String(id)),
      `v1\n${JSON.stringify(meta)}\n${JSON.stringify({ s: id })}\n`,
    );
  }
  for (const id of commits) {
    writeFileSync(
      path.join(dir, 'commits', String(id)),
      `v1\n${JSON.stringify({ nextBatchWatermarkMs: 0, watermarks: {} })}\n`,
    );
  }
  return dir;
}

describe('checkpoint inspect uses the engine’s recovery decision', () => {
  it('offsets/N-1 missing: inconsistent, not "replay"', async () => {
    const r = await inspectCheckpoint(checkpoint([0, 2], [0, 1]));
    expect(r.next.kind).toBe('inconsistent');
    expect(r.next.detail).toMatch(/offsets\/1 is missing/);
  });

  it('a commit newer than the newest offsets: inconsistent, not "replay"', async () => {
    const r = await inspectCheckpoint(checkpoint([0], [0, 1]));
    expect(r.next.kind).toBe('inconsistent');
    expect(r.next.detail).toMatch(/commits\/1 is newer than the newest offsets entry 0/);
  });

  it('healthy checkpoints: fresh, resume, replay', async () => {
    expect((await inspectCheckpoint(checkpoint([], []))).next).toMatchObject({ kind: 'fresh', batchId: 0 });
    expect((await inspectCheckpoint(checkpoint([0, 1], [0, 1]))).next).toMatchObject({
      kind: 'resume',
      batchId: 2,
    });
    expect((await inspectCheckpoint(checkpoint([0, 1, 2], [0, 1]))).next).toMatchObject({
      kind: 'replay',
      batchId: 2,
    });
    expect((await inspectCheckpoint(checkpoint([0, 1, 2], [0]))).next.kind).toBe('inconsistent');
  });
});

describe('durations and error helpers are the engine’s', () => {
  it('the service reads every duration the engine reads (weeks, secs, mins)', () => {
    expect(parseDuration('2 weeks', 'for')).toBe(engine.parseDuration('2 weeks', 'for'));
    expect(parseDuration('10 secs', 'for')).toBe(10_000);
    expect(engine.parseDuration('5 mins', 'window')).toBe(300_000);
    expect(parseDuration).toBe(engine.parseDuration);
  });

  it('userError / externalError / internalError have one definition', () => {
    expect(serviceErrors.userError).toBe(engine.userError);
    expect(serviceErrors.externalError).toBe(engine.externalError);
    expect(logErrors.userError).toBe(engine.userError);
    expect(logErrors.internalError).toBe(engine.internalError);
  });
});
