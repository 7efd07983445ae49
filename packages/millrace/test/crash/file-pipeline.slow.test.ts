/**
 * Crash test: file source → stateless transformations → partitioned file sink,
 * SIGKILLed at random points of the micro-batch protocol (docs/architecture.md).
 *
 *   test process                          child (file-pipeline.child.ts)
 *   ────────────                          ─────────────────────────────
 *   write 100 input files ──────────────► fileSource(maxFilesPerTrigger 2)
 *   repeat 30 times:                        → filter → withColumn ×2 → flatMap
 *     spawn child, wait for READY           → fileSink(jsonl, partitionBy grp)
 *     add 0–3 more files meanwhile
 *     SIGKILL: 1–80 ms after READY, 1–500 ms after STARTED (log-uniform),
 *     0–20 ms after a SINK_BEGIN marker, or at once after SINK_DONE
 *     inspect checkpoint + sink: where did the kill land?
 *     committed output so far ⊆ expected, and ⊇ the output before the kill
 *   final run with Trigger.availableNow(), clean exit
 *   committed output == expected (multiset), computed here from the input rows
 *   every part file on disk (plain listing) == expected too: replays overwrite
 *   no temp file left anywhere in the sink directory
 *
 * A kill is classified by what is on disk afterwards: before STARTED (loading,
 * opening the checkpoint, sink clean-up), offsets/N without commits/N (split by
 * how far the sink got: no part file of N, some part files of N, manifest N
 * written), or no uncommitted batch (between commits/N and offsets/N+1; split
 * by whether the source had already logged the files of batch N+1).
 *
 * Reproduce a failure with CRASH_SEED=<seed printed in the summary>.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { readFileSinkOutput } from '../../src/index.ts';
import {
  CRASH_DIR,
  type Child,
  PhaseTally,
  WorkDir,
  countBy,
  inspectCheckpoint,
  killAll,
  listTree,
  logUniform,
  multisetDiff,
  partFileBatch,
  prng,
  randInt,
  readOffsetsEntry,
  rowKey,
  seedFromEnv,
  sinkManifestIds,
  sinkPartFiles,
  sleep,
  spawnChild,
} from './harness.ts';

const CHILD = path.join(CRASH_DIR, 'file-pipeline.child.ts');
const PRE_FILES = 100;
const ROWS_PER_FILE = 120;
const KILLS = 30;
const GROUPS = ['north', 'south', 'east', 'west'] as const;

interface InputRow {
  id: number;
  grp: string;
  v: number;
  name: string;
}

/** The pipeline's result, computed here without the engine. */
function expectedOutput(rows: readonly InputRow[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const r of rows) {
    if (r.v % 7 === 0) continue;
    const row = { ...r, score: r.v * 3 + 1, tag: `${r.name.toUpperCase()}-${r.grp}`, copy: 0 };
    out.push(row);
    if (r.id % 5 === 0) out.push({ ...row, copy: 1 });
  }
  return out;
}

/** Entries in the file source's log of discovered files (its chunks overlap after an interrupted compaction). */
async function fileLogLength(checkpoint: string): Promise<number> {
  const dir = path.join(checkpoint, 'sources', 'events', 'files');
  let n = 0;
  for (const f of await fsp.readdir(dir).catch(() => [] as string[])) {
    if (!/^\d+\.json$/.test(f)) continue;
    const chunk = JSON.parse(await fsp.readFile(path.join(dir, f), 'utf8')) as {
      start: number;
      files: unknown[];
    };
    n = Math.max(n, chunk.start + chunk.files.length);
  }
  return n;
}

const children: Child[] = [];
afterAll(() => killAll(children));

it('file source → transformations → file sink: SIGKILL at random points, nothing lost, nothing duplicated', async () => {
  const seed = seedFromEnv(20250611);
  const rng = prng(seed);
  const work = await WorkDir.create('file');
  let passed = false;
  try {
    const input = work.sub('input');
    const output = work.sub('output');
    const checkpoint = work.sub('checkpoint');
    await fsp.mkdir(input, { recursive: true });
    await fsp.mkdir(output, { recursive: true }); // read after kills that land before the sink made it
    const env = { CRASH_INPUT: input, CRASH_OUTPUT: output, CRASH_CHECKPOINT: checkpoint };

    // -- input ---------------------------------------------------------------
    const written: InputRow[] = [];
    let nextId = 0;
    let nextFile = 0;
    const letters = 'abcdefghijklmnopqrstuvwxyz ';
    const writeInputFile = async (): Promise<void> => {
      const rows: InputRow[] = [];
      for (let i = 0; i < ROWS_PER_FILE; i++) {
        let name = '';
        for (let k = randInt(rng, 1, 10); k > 0; k--) name += letters[randInt(rng, 0, letters.length - 1)];
        rows.push({
          id: nextId++,
          grp: GROUPS[randInt(rng, 0, GROUPS.length - 1)]!,
          v: randInt(rng, 0, 99_999),
          name,
        });
      }
      const file = `in-${String(nextFile++).padStart(5, '0')}.jsonl`;
      // Written elsewhere (a dot name is ignored by the source), then moved in whole.
      const tmp = path.join(input, `.${file}.tmp`);
      await fsp.writeFile(tmp, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      await fsp.rename(tmp, path.join(input, file));
      written.push(...rows);
    };
    for (let i = 0; i < PRE_FILES; i++) await writeInputFile();

    // -- kill loop -----------------------------------------------------------
    const phases = new PhaseTally();
    const strategies = new PhaseTally();
    let killsWithUncommitted = 0;
    let replayKilled = 0;
    let previous = new Map<string, number>();
    let previousUncommitted: number | null = null;
    const started = performance.now();
    for (let kill = 0; kill < KILLS; kill++) {
      const child = spawnChild(CHILD, env);
      children.push(child);
      // Four ways to pick the moment, so kills land in every phase: early (loading,
      // opening, recovery), at a random time, inside the sink's write, and right
      // after the sink's manifest (before commits/N).
      await child.waitForLine((l) => l === 'READY', 'READY');
      const adds = randInt(rng, 0, 3);
      const how = rng();
      strategies.add(
        how < 0.15
          ? 'after READY'
          : how < 0.65
            ? 'after STARTED'
            : how < 0.85
              ? 'in sink write'
              : 'after SINK_DONE',
      );
      if (how < 0.15) {
        for (let i = 0; i < adds; i++) await writeInputFile();
        await sleep(logUniform(rng, 1, 80));
      } else {
        await child.waitForLine((l) => l === 'STARTED', 'STARTED');
        if (how < 0.65) {
          const delay = logUniform(rng, 1, 500);
          const addAt = Math.floor(rng() * delay);
          await sleep(addAt);
          for (let i = 0; i < adds; i++) await writeInputFile();
          await sleep(delay - addAt);
        } else {
          for (let i = 0; i < adds; i++) await writeInputFile();
          const marker = how < 0.85 ? 'SINK_BEGIN ' : 'SINK_DONE ';
          const nth = randInt(rng, 1, 3);
          const gap = marker === 'SINK_BEGIN ' ? randInt(rng, 0, 20) : 0;
          // no more input within the wait: kill while idle
          await child.waitForNth(marker, nth, 5_000);
          if (gap > 0) await sleep(gap);
        }
      }
      await child.killMidRun();

      // Where did the kill land?
      const cp = await inspectCheckpoint(checkpoint);
      const manifests = await sinkManifestIds(output);
      const sawStart = child.lines.includes('STARTED');
      let phase: string;
      if (cp.uncommitted !== null) {
        killsWithUncommitted++;
        const n = cp.uncommitted;
        const parts = (await sinkPartFiles(output)).filter((f) => partFileBatch(f) === n);
        if (!sawStart) phase = 'startup';
        else if (manifests.includes(n)) phase = 'offsets+sink manifest, no commit';
        else if (parts.length > 0) phase = 'offsets, sink part files written';
        else phase = 'offsets, before sink write';
        if (sawStart && n === previousUncommitted) replayKilled++;
      } else if (!sawStart) {
        phase = 'startup';
      } else {
        // Between commits/N and offsets/N+1: has the source already logged the next files?
        const end = cp.offsets.length
          ? Number((await readOffsetsEntry(checkpoint, cp.offsets.at(-1)!)).events ?? 0)
          : 0;
        phase =
          (await fileLogLength(checkpoint)) > end ? 'between batches, next files logged' : 'between batches';
      }
      phases.add(phase);
      previousUncommitted = cp.uncommitted;

      // Invariants at every kill: committed output only grows, and is part of the expected result.
      const now = countBy(await readFileSinkOutput(output), rowKey);
      const expected = countBy(expectedOutput(written), rowKey);
      const vsExpected = multisetDiff(expected, now);
      expect(
        vsExpected.extra,
        `after kill ${kill} (seed ${seed}): rows not expected or duplicated: ${vsExpected.extraExamples.join('; ')}`,
      ).toBe(0);
      const vsBefore = multisetDiff(previous, now);
      expect(
        vsBefore.missing,
        `after kill ${kill} (seed ${seed}): committed rows disappeared: ${vsBefore.missingExamples.join('; ')}`,
      ).toBe(0);
      previous = now;
    }
    const killLoopMs = performance.now() - started;

    // -- final run -------------------------------------------------------------
    const last = spawnChild(CHILD, { ...env, CRASH_FINAL: '1' });
    children.push(last);
    const exit = await Promise.race([last.exited, sleep(120_000).then(() => null)]);
    if (exit === null) await last.kill();
    expect(exit, `the final run did not finish in 120 s: ${last.describe()}`).not.toBeNull();
    expect(exit!.code, `the final run failed: ${last.describe()}`).toBe(0);
    expect(last.lines).toContain('DONE');

    // -- checks --------------------------------------------------------------
    const expectedRows = expectedOutput(written);
    const expected = countBy(expectedRows, rowKey);
    const outputRows = await readFileSinkOutput(output);
    const diff = multisetDiff(expected, countBy(outputRows, rowKey));
    expect(
      diff,
      `committed output vs expected (seed ${seed}): missing ${diff.missingExamples.join('; ')} / extra ${diff.extraExamples.join('; ')}`,
    ).toMatchObject({ missing: 0, extra: 0 });
    expect(outputRows.length).toBe(expectedRows.length);

    // A plain listing of the sink directory: no temp file, and the part files hold each row exactly once.
    const tree = await listTree(output);
    expect(
      tree.filter((f) => f.split('/').some((seg) => seg.startsWith('.') || seg.endsWith('.tmp'))),
    ).toEqual([]);
    const partFiles = await sinkPartFiles(output);
    const onDisk: Record<string, unknown>[] = [];
    for (const f of partFiles) {
      const grp = /^grp=([^/]+)\//.exec(f)?.[1];
      expect(grp, `part file outside a grp= directory: ${f}`).toBeDefined();
      const text = await fsp.readFile(path.join(output, f), 'utf8');
      for (const line of text.split('\n'))
        if (line !== '') onDisk.push({ ...(JSON.parse(line) as object), grp });
    }
    const diskDiff = multisetDiff(expected, countBy(onDisk, rowKey));
    expect(
      diskDiff,
      `part files on disk vs expected (seed ${seed}): missing ${diskDiff.missingExamples.join('; ')} / extra ${diskDiff.extraExamples.join('; ')}`,
    ).toMatchObject({ missing: 0, extra: 0 });

    // Every batch of the checkpoint is committed, and every part file is named by a manifest.
    const cp = await inspectCheckpoint(checkpoint);
    expect(cp.uncommitted).toBeNull();
    const manifested = new Set<string>();
    for (const id of await sinkManifestIds(output)) {
      const entry = JSON.parse(
        (await fsp.readFile(path.join(output, '_millrace_manifest', String(id)), 'utf8')).split('\n')[1]!,
      ) as {
        files: { path: string }[];
      };
      for (const f of entry.files) manifested.add(f.path);
    }
    expect(new Set(partFiles)).toEqual(manifested);

    // Leftovers of atomic writes interrupted by a kill are removed when the checkpoint is next opened.
    const tempLeft = (await listTree(checkpoint)).filter((f) =>
      f.split('/').some((seg) => seg.endsWith('.tmp')),
    );
    console.log(
      `[crash:file] seed ${seed}: ${KILLS} kills in ${(killLoopMs / 1000).toFixed(1)} s; ` +
        `${killsWithUncommitted} with an uncommitted batch (offsets/N, no commits/N), ${replayKilled} of them while re-running it; ` +
        `phases: ${phases}; kill timing: ${strategies}; input ${nextFile} files / ${written.length} rows; ` +
        `output ${outputRows.length} rows (expected ${expectedRows.length}) in ${partFiles.length} part files, ` +
        `${cp.lastCommitted === null ? 0 : cp.lastCommitted + 1} batches; ` +
        `${tempLeft.length} interrupted-write temp files left in the checkpoint${tempLeft.length ? ` (${tempLeft.slice(0, 3).join(', ')})` : ''}`,
    );
    expect(tempLeft, 'interrupted-write temp files left in the checkpoint after the final run').toEqual([]);
    expect(
      killsWithUncommitted,
      'no kill landed inside a batch; the test did not exercise recovery',
    ).toBeGreaterThan(0);
    passed = true;
  } finally {
    await killAll(children);
    await work.finish(passed);
  }
});
