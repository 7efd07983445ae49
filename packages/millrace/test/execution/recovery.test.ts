/**
 * Recovery is a pure decision (checkpoint/recovery.ts): what is on disk → what
 * the next batch is. Plus the checkpoint file formats and Checkpoint.readState,
 * which gathers the decision's inputs from a real directory.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Checkpoint,
  type CheckpointState,
  type CommitEntry,
  type OffsetEntry,
  VERSION_LINE,
  decideRecovery,
  decodeCommit,
  decodeMetadata,
  decodeOffsets,
  encodeCommit,
  encodeMetadata,
  encodeOffsets,
} from '../../src/checkpoint/index.ts';
import { MillraceError } from '../../src/index.ts';
import { cleanupDirs, tempDir } from './helpers.ts';

afterEach(cleanupDirs);

const DIR = '/cp/q1';

const off = (n: number, extra: Partial<OffsetEntry> = {}): OffsetEntry => ({
  batchWatermarkMs: n * 1000,
  batchTimestampMs: 1_700_000_000_000 + n,
  watermarks: { 0: n * 1000 },
  offsets: { a: n + 1, b: { p0: n * 10 } },
  ...extra,
});
const com = (n: number): CommitEntry => ({
  nextBatchWatermarkMs: (n + 1) * 1000,
  watermarks: { 0: (n + 1) * 1000 },
});

function state(lastOffsets: number | null, lastCommit: number | null, withPrevious = true): CheckpointState {
  return {
    lastOffsets: lastOffsets === null ? null : { batchId: lastOffsets, entry: off(lastOffsets) },
    previousOffsets: lastOffsets !== null && lastOffsets > 0 && withPrevious ? off(lastOffsets - 1) : null,
    lastCommit: lastCommit === null ? null : { batchId: lastCommit, entry: com(lastCommit) },
  };
}

function corrupt(s: CheckpointState): MillraceError {
  try {
    decideRecovery(s, DIR);
  } catch (e) {
    expect(e).toBeInstanceOf(MillraceError);
    const err = e as MillraceError;
    expect(err.code).toBe('CHECKPOINT_CORRUPT');
    expect(err.domain).toBe('user');
    expect(err.message).toContain(DIR);
    expect(err.message).toMatch(/backup|move it aside/);
    return err;
  }
  throw new Error('expected CHECKPOINT_CORRUPT');
}

describe('decideRecovery', () => {
  it('empty logs: fresh', () => {
    expect(decideRecovery(state(null, null), DIR)).toEqual({ kind: 'fresh' });
  });

  it('last offsets committed: resume at the next batch from its offsets and the committed watermark', () => {
    expect(decideRecovery(state(0, 0), DIR)).toEqual({
      kind: 'resume',
      nextBatchId: 1,
      startOffsets: off(0).offsets,
      watermarkMs: 1000,
      watermarks: { 0: 1000 },
      lastBatchWatermarkMs: 0,
    });
    expect(decideRecovery(state(7, 7), DIR)).toMatchObject({
      kind: 'resume',
      nextBatchId: 8,
      startOffsets: { a: 8, b: { p0: 70 } },
      watermarkMs: 8000,
      // The last batch ran with 7000: a no-data batch is due when stateful operators wait on the watermark.
      lastBatchWatermarkMs: 7000,
    });
  });

  it('resume does not need the previous offsets entry (it may have been purged)', () => {
    expect(decideRecovery(state(7, 7, false), DIR)).toMatchObject({ kind: 'resume', nextBatchId: 8 });
  });

  it('batch 0 planned but not committed: replay batch 0 from the start', () => {
    expect(decideRecovery(state(0, null), DIR)).toEqual({
      kind: 'replay',
      batchId: 0,
      startOffsets: null,
      entry: off(0),
      previousBatchWatermarkMs: 0,
    });
  });

  it('batch N planned, N-1 committed: replay N from offsets/(N-1) to offsets/N with its recorded watermark and time', () => {
    const d = decideRecovery(state(5, 4), DIR);
    expect(d).toEqual({
      kind: 'replay',
      batchId: 5,
      startOffsets: off(4).offsets,
      entry: off(5),
      // Batch 4's watermark: what chained stateful operators use to decide lateness in batch 5.
      previousBatchWatermarkMs: 4000,
    });
    if (d.kind !== 'replay') throw new Error('unreachable');
    expect(d.entry.batchWatermarkMs).toBe(5000);
    expect(d.entry.batchTimestampMs).toBe(1_700_000_000_005);
  });

  it('a commit without any offsets entry: corrupt', () => {
    expect(corrupt(state(null, 0)).message).toContain('commits/0');
  });

  it('a commit newer than the newest offsets entry: corrupt', () => {
    expect(corrupt(state(3, 4)).message).toContain('commits/4');
  });

  it('two uncommitted batches: corrupt', () => {
    expect(corrupt(state(5, 3)).message).toContain('offsets/5');
    expect(corrupt(state(5, null)).message).toContain('last commit: none');
  });

  it('an uncommitted batch whose previous offsets entry is missing: corrupt', () => {
    expect(corrupt(state(5, 4, false)).message).toContain('offsets/4 is missing');
  });

  it('is pure: same input, same decision; the input is not changed', () => {
    const s = state(5, 4);
    const copy = structuredClone(s);
    expect(decideRecovery(s, DIR)).toEqual(decideRecovery(s, DIR));
    expect(s).toEqual(copy);
  });
});

describe('checkpoint file formats', () => {
  it('every file starts with the version line, then one JSON value per line', () => {
    const text = encodeOffsets(off(2));
    const lines = text.split('\n');
    expect(VERSION_LINE).toBe('v1');
    expect(lines[0]).toBe('v1');
    expect(JSON.parse(lines[1]!)).toEqual({
      batchWatermarkMs: 2000,
      batchTimestampMs: 1_700_000_000_002,
      watermarks: { 0: 2000 },
    });
    expect(JSON.parse(lines[2]!)).toEqual({ a: 3, b: { p0: 20 } });
    expect(lines[3]).toBe('');
    expect(lines).toHaveLength(4);
    expect(encodeCommit(com(1))).toBe('v1\n{"nextBatchWatermarkMs":2000,"watermarks":{"0":2000}}\n');
  });

  it('round-trips offsets, commits and metadata', () => {
    expect(decodeOffsets(encodeOffsets(off(3)), 'f')).toEqual({ ...off(3), watermarks: { '0': 3000 } });
    expect(decodeCommit(encodeCommit(com(3)), 'f')).toEqual({
      nextBatchWatermarkMs: 4000,
      watermarks: { '0': 4000 },
    });
    const meta = { id: 'abc', name: 'q', createdAt: '2025-01-01T00:00:00.000Z' };
    expect(decodeMetadata(encodeMetadata(meta), 'f')).toEqual(meta);
    // offsets of any JSON shape survive
    const odd = off(0, { offsets: { s: null as never, t: [1, 'x', { y: true }] as never } });
    expect(decodeOffsets(encodeOffsets(odd), 'f').offsets).toEqual(odd.offsets);
  });

  it('tolerates a missing final newline and blank lines', () => {
    expect(decodeCommit('v1\n{"nextBatchWatermarkMs":5,"watermarks":{}}', 'f')).toEqual({
      nextBatchWatermarkMs: 5,
      watermarks: {},
    });
  });

  it('a wrong or missing version line: CHECKPOINT_UNSUPPORTED_VERSION naming the file and what it found', () => {
    for (const [text, found] of [
      ['v2\n{}\n{}\n', 'v2'],
      ['V1\n{}\n{}\n', 'V1'],
      ['{"batchWatermarkMs":0}\n{}\n', '{"batchWatermarkMs":'], // quoted up to 20 characters
      ['', ''],
    ] as const) {
      let err: unknown;
      try {
        decodeOffsets(text, '/cp/offsets/3');
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(text)).toBeInstanceOf(MillraceError);
      const e = err as MillraceError;
      expect(e.code).toBe('CHECKPOINT_UNSUPPORTED_VERSION');
      expect(e.message).toContain('/cp/offsets/3');
      expect(e.message).toContain(`starts with "${found}"`);
      expect(e.message).toContain('expected "v1"');
    }
    expect(() => decodeCommit('v0\n{}\n', 'c')).toThrow(
      expect.objectContaining({ code: 'CHECKPOINT_UNSUPPORTED_VERSION' }),
    );
    expect(() => decodeMetadata('x\n', 'm')).toThrow(
      expect.objectContaining({ code: 'CHECKPOINT_UNSUPPORTED_VERSION' }),
    );
  });

  it('the wrong number of lines or bad JSON: CHECKPOINT_CORRUPT', () => {
    expect(() => decodeOffsets('v1\n{}\n', 'f')).toThrow(
      expect.objectContaining({
        code: 'CHECKPOINT_CORRUPT',
        message: expect.stringContaining('1 data lines, expected 2'),
      }),
    );
    expect(() => decodeCommit('v1\n{}\n{}\n', 'f')).toThrow(
      expect.objectContaining({ code: 'CHECKPOINT_CORRUPT' }),
    );
    expect(() => decodeCommit('v1\n{"nextBatch\n', 'f')).toThrow(
      expect.objectContaining({
        code: 'CHECKPOINT_CORRUPT',
        message: expect.stringContaining('not valid JSON'),
      }),
    );
  });
});

describe('Checkpoint.readState / inspect on a real directory', () => {
  function layout(offsets: number[], commits: number[]): string {
    const dir = tempDir('millrace-recovery-');
    mkdirSync(path.join(dir, 'offsets'));
    mkdirSync(path.join(dir, 'commits'));
    for (const n of offsets) writeFileSync(path.join(dir, 'offsets', String(n)), encodeOffsets(off(n)));
    for (const n of commits) writeFileSync(path.join(dir, 'commits', String(n)), encodeCommit(com(n)));
    // noise that is not a log entry
    writeFileSync(path.join(dir, 'offsets', '.3.tmp'), 'partial');
    writeFileSync(path.join(dir, 'commits', 'README'), 'x');
    return dir;
  }

  it('reads the newest entries by number (not by name order) and ignores temp files', async () => {
    const dir = layout([8, 9, 10], [8, 9]);
    const info = await Checkpoint.inspect(dir);
    expect(info.batches).toEqual([8, 9, 10]);
    expect(info.commits).toEqual([8, 9]);
    expect(info.metadata).toBeNull();
    expect(info.state.lastOffsets).toEqual({
      batchId: 10,
      entry: { ...off(10), watermarks: { '0': 10000 } },
    });
    expect(info.state.previousOffsets?.offsets).toEqual(off(9).offsets);
    expect(info.state.lastCommit?.batchId).toBe(9);
    expect(decideRecovery(info.state, dir)).toMatchObject({
      kind: 'replay',
      batchId: 10,
      startOffsets: off(9).offsets,
    });
  });

  it('gathers inputs for each decision', async () => {
    expect(decideRecovery((await Checkpoint.inspect(layout([], []))).state, 'd')).toEqual({ kind: 'fresh' });
    expect(decideRecovery((await Checkpoint.inspect(layout([0, 1], [0, 1]))).state, 'd')).toMatchObject({
      kind: 'resume',
      nextBatchId: 2,
    });
    expect(decideRecovery((await Checkpoint.inspect(layout([0], []))).state, 'd')).toMatchObject({
      kind: 'replay',
      batchId: 0,
      startOffsets: null,
    });
    const gap = (await Checkpoint.inspect(layout([0, 2], [0]))).state;
    expect(gap.previousOffsets).toBeNull();
    expect(() => decideRecovery(gap, 'd')).toThrow(
      expect.objectContaining({ code: 'CHECKPOINT_CORRUPT', message: expect.stringContaining('offsets/2') }),
    );
  });

  it('a log file with an unknown version is reported when the state is read', async () => {
    const dir = layout([0], [0]);
    writeFileSync(path.join(dir, 'commits', '0'), 'v9\n{}\n');
    await expect(Checkpoint.inspect(dir)).rejects.toMatchObject({ code: 'CHECKPOINT_UNSUPPORTED_VERSION' });
  });
});
