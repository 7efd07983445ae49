/**
 * The e-commerce reports survive SIGKILL: the four queries in one process (crash.child.ts) are
 * killed at random points at least 20 times and restarted; after a final run to the end of the
 * generated traffic, every report file set equals the reference computation exactly — no window,
 * session or funnel row lost or written twice.
 *
 * The generator runs without stragglers here, so no row is late under any batching (the batching
 * depends on where the kills land); lateness is covered by ecommerce.test.ts with fixed batches.
 */
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { readFileSinkOutput } from 'millrace';
import {
  type Child,
  WorkDir,
  countBy,
  killAll,
  logUniform,
  multisetDiff,
  prng,
  randInt,
  seedFromEnv,
  sleep,
  spawnChild,
} from '../../packages/millrace/test/crash/harness.ts';
import { DEFAULT_SHOP, generateBlock } from './generator.ts';
import { scaledQueries } from './queries.ts';
import { referenceResults } from './reference.ts';

const CHILD = path.join(path.dirname(new URL(import.meta.url).pathname), 'crash.child.ts');
const BLOCKS = 600;
const KILLS = 20;
const children: Child[] = [];
afterAll(() => killAll(children));

/** Timestamps come back from JSON files as ISO text: compare as epoch ms. */
const norm = (r: Record<string, unknown>): string =>
  JSON.stringify(r, (k, v) => (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) ? Date.parse(v) : v), 2)
    .split('\n')
    .map((l) => l.trim())
    .join('');
const keyOf = (r: object) => norm(Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1))));

it('e-commerce queries → file reports: SIGKILL at random points, reports exactly right after restarts', async () => {
  const seed = seedFromEnv(20251121);
  const rng = prng(seed);
  const work = await WorkDir.create('ecommerce');
  let passed = false;
  try {
    const out = work.sub('shop');
    await mkdir(out, { recursive: true });
    const env = { SHOP_OUT: out, SHOP_BLOCKS: String(BLOCKS) };
    let killsMidBatch = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const child = spawnChild(CHILD, env);
      children.push(child);
      await child.waitForLine((l) => l === 'STARTED', 'STARTED');
      if (rng() < 0.5) {
        await sleep(logUniform(rng, 5, 800));
      } else {
        await child.waitForNth('SINK_BEGIN ', randInt(rng, 1, 6), 10_000);
        await sleep(randInt(rng, 0, 15));
        killsMidBatch++;
      }
      await child.killMidRun();
    }
    const last = spawnChild(CHILD, { ...env, SHOP_FINAL: '1' });
    children.push(last);
    const exit = await Promise.race([last.exited, sleep(120_000).then(() => null)]);
    expect(exit, `the final run did not finish: ${last.describe()}`).not.toBeNull();
    expect(exit!.code, `the final run failed: ${last.describe()}`).toBe(0);

    const cfg = { ...DEFAULT_SHOP, timeScale: 0.1, lateShare: 0 };
    const events = Array.from({ length: BLOCKS }, (_, b) => generateBlock(b, cfg)).flat();
    const expected = referenceResults([events], scaledQueries(0.1));
    const sizes: string[] = [];
    for (const name of ['eventCounts', 'sessions', 'funnel', 'topProducts'] as const) {
      const got = await readFileSinkOutput(path.join(out, 'reports', name));
      const want = expected[name] as object[];
      expect(want.length, `${name}: the reference has rows`).toBeGreaterThan(0);
      const diff = multisetDiff(countBy(want, keyOf), countBy(got, keyOf));
      expect(
        diff,
        `${name} (seed ${seed}): missing ${diff.missingExamples.join('; ')} / extra ${diff.extraExamples.join('; ')}`,
      ).toMatchObject({ missing: 0, extra: 0 });
      sizes.push(`${name} ${got.length}`);
    }
    console.log(
      `[crash:ecommerce] seed ${seed}: ${KILLS} kills (${killsMidBatch} inside a sink write); ${events.length} events; rows ${sizes.join(', ')}`,
    );
    passed = true;
  } finally {
    await killAll(children);
    await work.finish(passed);
  }
});
