/**
 * Crash test of a stream–stream left outer join (docs/architecture.md): two file sources (impressions and
 * clicks, one file each per trigger) → watermarks → left outer join on ad with a 20 s range →
 * file sink, SIGKILLed at least 20 times at random points (right after start, inside the sink's
 * write of a batch, right after it) and restarted; at the end the output is exactly the expected
 * one: every matching (impression, click) pair once, and every impression without a click once
 * with nulls.
 *
 * Why the expected output does not depend on where batches fall: file i of each side holds event
 * times in [B_i − 3 s, B_i + 3 s] with B_i = T0 + 2 s·i, and the watermark delay is 15 s, so the
 * watermark of any batch (the minimum over both sides of their max event time so far, minus 15 s)
 * stays below every row not yet read: no row is ever late. Pairs are then exactly the condition's
 * matches, and an impression is emitted with nulls exactly when it has none — once the final
 * far-future events move the watermark past every range.
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
  logUniform,
  multisetDiff,
  prng,
  randInt,
  rowKey,
  seedFromEnv,
  sleep,
  spawnChild,
} from './harness.ts';

const CHILD = path.join(CRASH_DIR, 'outer-join.child.ts');
const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
const STEP_MS = 2_000;
const SPREAD_MS = 3_000;
const DELAY_MS = 15_000;
const RANGE_MS = 20_000;
const KILLS = 22;
const ADS = 12;

interface Imp {
  ad: number;
  impAt: number;
}
interface Click {
  ad: number;
  clickAt: number;
}

const children: Child[] = [];
afterAll(() => killAll(children));

it('left outer join (impressions ⟕ clicks within 20 s) → file sink: SIGKILL at random points, every pair and every unmatched impression once', async () => {
  const seed = seedFromEnv(20251121);
  const rng = prng(seed);
  const work = await WorkDir.create('outer-join');
  let passed = false;
  try {
    const env = {
      CRASH_INPUT: work.sub('input'),
      CRASH_OUTPUT: work.sub('output'),
      CRASH_CHECKPOINT: work.sub('checkpoint'),
      CRASH_DELAY_MS: String(DELAY_MS),
      CRASH_RANGE_MS: String(RANGE_MS),
    };
    await fsp.mkdir(path.join(env.CRASH_INPUT, 'imps'), { recursive: true });
    await fsp.mkdir(path.join(env.CRASH_INPUT, 'clicks'), { recursive: true });
    await fsp.mkdir(env.CRASH_OUTPUT, { recursive: true });
    const imps: Imp[] = [];
    const clicks: Click[] = [];
    let files = 0;
    const write = async (dir: string, i: number, rows: readonly object[]) => {
      const file = `in-${String(i).padStart(5, '0')}.jsonl`;
      const tmp = path.join(env.CRASH_INPUT, dir, `.${file}.tmp`);
      await fsp.writeFile(tmp, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      const mtime = 1_700_000_000 + i;
      await fsp.utimes(tmp, mtime, mtime);
      await fsp.rename(tmp, path.join(env.CRASH_INPUT, dir, file));
    };
    /** One file per side: a few impressions, and clicks for some of them (some out of range) and for none. */
    const addRound = async (far = false) => {
      const i = files++;
      const base = T0 + i * STEP_MS;
      const at = () => (far ? base + 3_600_000 : base + randInt(rng, -SPREAD_MS, SPREAD_MS));
      const newImps: Imp[] = far ? [{ ad: 1000, impAt: at() }] : [];
      const newClicks: Click[] = far ? [{ ad: 1001, clickAt: at() }] : [];
      if (!far) {
        for (let k = randInt(rng, 1, 4); k > 0; k--)
          newImps.push({ ad: randInt(rng, 0, ADS - 1), impAt: at() });
        for (let k = randInt(rng, 0, 4); k > 0; k--)
          newClicks.push({ ad: randInt(rng, 0, ADS - 1), clickAt: at() });
      }
      imps.push(...newImps);
      clicks.push(...newClicks);
      await write('imps', i, newImps);
      await write('clicks', i, newClicks);
    };
    const expected = () => {
      const out: Record<string, unknown>[] = [];
      for (const imp of imps) {
        if (imp.ad === 1000) continue; // the far-future impression is never closed
        const m = clicks.filter(
          (c) => c.ad === imp.ad && c.clickAt >= imp.impAt && c.clickAt <= imp.impAt + RANGE_MS,
        );
        if (m.length === 0) out.push({ ad: imp.ad, impAt: imp.impAt, clickAt: null });
        for (const c of m) out.push({ ad: imp.ad, impAt: imp.impAt, clickAt: c.clickAt });
      }
      return out;
    };
    const outputNow = async () =>
      countBy(
        (await readFileSinkOutput(env.CRASH_OUTPUT)).map((r) => ({
          ...r,
          impAt: typeof r.impAt === 'number' ? r.impAt : Date.parse(String(r.impAt)),
          clickAt:
            r.clickAt == null
              ? null
              : typeof r.clickAt === 'number'
                ? r.clickAt
                : Date.parse(String(r.clickAt)),
        })),
        rowKey,
      );
    for (let i = 0; i < 6; i++) await addRound();

    const strategies = new PhaseTally();
    let killsWithUncommitted = 0;
    let previous = new Map<string, number>();
    for (let kill = 0; kill < KILLS; kill++) {
      const how = rng();
      const strategy = how < 0.4 ? 'after STARTED' : how < 0.75 ? 'in sink write' : 'after SINK_DONE';
      strategies.add(strategy);
      const child = spawnChild(CHILD, env);
      children.push(child);
      await child.waitForLine((l) => l === 'STARTED', 'STARTED');
      for (let k = randInt(rng, 1, 3); k > 0; k--) await addRound();
      if (strategy === 'after STARTED') await sleep(logUniform(rng, 1, 600));
      else {
        await child.waitForNth(
          strategy === 'in sink write' ? 'SINK_BEGIN ' : 'SINK_DONE ',
          randInt(rng, 1, 2),
          5_000,
        );
        if (strategy === 'in sink write') await sleep(randInt(rng, 0, 10));
      }
      await child.killMidRun();
      if ((await inspectCheckpoint(env.CRASH_CHECKPOINT)).uncommitted !== null) killsWithUncommitted++;
      // Nothing committed is wrong, duplicated or lost by a later kill.
      const now = await outputNow();
      const vsExpected = multisetDiff(countBy(expected(), rowKey), now);
      expect(
        vsExpected.extra,
        `after kill ${kill} (seed ${seed}): ${vsExpected.extraExamples.join('; ')}`,
      ).toBe(0);
      const vsBefore = multisetDiff(previous, now);
      expect(vsBefore.missing, `after kill ${kill} (seed ${seed}): rows disappeared`).toBe(0);
      previous = now;
    }

    // Far-future events on both sides move the watermark past every range; run to the end.
    await addRound(true);
    const last = spawnChild(CHILD, { ...env, CRASH_FINAL: '1' });
    children.push(last);
    const exit = await Promise.race([last.exited, sleep(60_000).then(() => null)]);
    expect(exit, `the final run did not finish: ${last.describe()}`).not.toBeNull();
    expect(exit!.code, `the final run failed: ${last.describe()}`).toBe(0);
    // availableNow ends after the data; the outer rows need the no-data batch at the final watermark.
    const diff = multisetDiff(countBy(expected(), rowKey), await outputNow());
    expect(
      diff,
      `final output vs expected (seed ${seed}): missing ${diff.missingExamples.join('; ')} / extra ${diff.extraExamples.join('; ')}`,
    ).toMatchObject({
      missing: 0,
      extra: 0,
    });
    const nulls = expected().filter((r) => r.clickAt === null).length;
    console.log(
      `[crash:outer-join] seed ${seed}: ${KILLS} kills (${strategies}); ${killsWithUncommitted} with an uncommitted batch; ` +
        `${imps.length} impressions, ${clicks.length} clicks, ${expected().length} rows out (${nulls} with nulls)`,
    );
    expect(killsWithUncommitted, 'no kill landed inside a batch').toBeGreaterThan(0);
    expect(nulls, 'the input has unmatched impressions').toBeGreaterThan(0);
    passed = true;
  } finally {
    await killAll(children);
    await work.finish(passed);
  }
});
