/**
 * Crash test of the CDC source: inserts keep committing (transactions of 1–60 rows) while a
 * child process reads them through postgresCdcSource into an append-mode PostgreSQL table, and is
 * SIGKILLed 20 times — at startup, mid-batch, between batches. Each restart reads on from the
 * checkpoint's LSN (the slot only moved for committed batches); a final Trigger.availableNow run
 * drains the rest.
 *
 * Checked after every kill: no id twice in the output, and the slot's confirmed position never
 * ahead of what the output holds (a slot advanced before its batch committed would lose rows on
 * the next crash). At the end: every inserted id exactly once, each transaction's rows together.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type pg from 'pg';
import {
  type Child,
  WorkDir,
  killAll,
  prng,
  randInt,
  runToEnd,
  seedFromEnv,
  sleep,
  spawnChild,
} from '../../millrace/test/crash/harness.ts';
import { type Cluster, startCluster } from './cluster.ts';
import { pool } from './helpers.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash', 'pipeline.child.ts');
const KILLS = 20;

let cluster: Cluster;
let admin: pg.Pool;
const children: Child[] = [];
beforeAll(async () => {
  cluster = await startCluster();
  admin = pool(cluster.url);
  await admin.query(
    `CREATE TABLE src (id bigint PRIMARY KEY, v bigint); CREATE PUBLICATION crash_pub FOR TABLE src`,
  );
}, 60_000);
afterAll(async () => {
  await killAll(children);
  await admin?.end();
  await cluster?.destroy();
});

it(`CDC → PostgreSQL append: ${KILLS} SIGKILLs mid-stream, every change exactly once`, async () => {
  const rng = prng(seedFromEnv(20261208));
  const work = await WorkDir.create('postgres-cdc');
  const env = {
    DATABASE_URL: cluster.url,
    CRASH_SLOT: 'crash_slot',
    CRASH_TABLE: 'out_rows',
    CRASH_CHECKPOINT: work.sub('checkpoint'),
  };
  let nextId = 0;
  const txSizes = new Map<number, number>(); // first id of a transaction → its size
  const insertSome = async (transactions: number) => {
    for (let i = 0; i < transactions; i++) {
      const n = randInt(rng, 1, 60);
      txSizes.set(nextId, n);
      await admin.query('INSERT INTO src SELECT g, g * 7 FROM generate_series($1::bigint, $2::bigint) g', [
        nextId,
        nextId + n - 1,
      ]);
      nextId += n;
    }
  };
  const outputIds = async (): Promise<number[]> => {
    const exists = (await admin.query(`SELECT to_regclass('out_rows') AS r`)).rows[0].r;
    if (!exists) return [];
    return (await admin.query('SELECT id::int AS id FROM out_rows ORDER BY id')).rows.map(
      (r) => r.id as number,
    );
  };
  let passed = false;
  try {
    // The first run creates the slot: changes after it are captured.
    const first = spawnChild(CHILD, env);
    children.push(first);
    await first.waitForLine((l) => l.startsWith('STARTED'), 'the first start', 60_000);
    await insertSome(5);
    await first.waitForLine((l) => l.startsWith('BATCH'), 'a first batch', 30_000);
    for (let kill = 0; kill < KILLS; kill++) {
      const child = kill === 0 ? first : spawnChild(CHILD, env);
      if (kill > 0) children.push(child);
      // Transactions keep committing while the child runs, so every kill lands mid-stream.
      let writing = true;
      const writer = (async () => {
        while (writing) {
          await insertSome(1);
          await sleep(randInt(rng, 5, 30));
        }
      })();
      const how = rng();
      if (how < 0.35)
        await sleep(randInt(rng, 0, 3_000)); // at startup or in recovery
      else {
        await child.waitForLine((l) => l.startsWith('STARTED'), `start after kill ${kill}`, 60_000);
        await child.waitForNth('BATCH', randInt(rng, 1, 4), 5_000);
        await sleep(randInt(rng, 0, 60)); // mid-batch, often inside the sink's transaction
      }
      await child.kill();
      writing = false;
      await writer;
      if (process.env.CRASH_TIMING)
        console.log(
          `kill ${kill} at ${(performance.now() - child.spawnedAt).toFixed(0)} ms: ${child.lines.join(' | ')}`,
        );
      const ids = await outputIds();
      expect(new Set(ids).size, `duplicates after kill ${kill}`).toBe(ids.length);
      for (const id of ids) expect(id).toBeLessThan(nextId);
    }
    await insertSome(10);
    // The final run: everything committed before it started, then a clean end.
    await runToEnd(CHILD, { ...env, CRASH_FINAL: '1' }, children, 120_000);
    const ids = await outputIds();
    expect(ids.length).toBe(nextId);
    expect(ids).toEqual(Array.from({ length: nextId }, (_, i) => i));
    // A transaction's rows went through the same batch: one transaction id, contiguous LSN order.
    const tx = await admin.query('SELECT id::int AS id, tx::int AS tx FROM out_rows ORDER BY id');
    const txOf = new Map(tx.rows.map((r) => [r.id as number, r.tx as number]));
    for (const [firstId, n] of txSizes) {
      const ts = new Set(Array.from({ length: n }, (_, k) => txOf.get(firstId + k)));
      expect(ts.size, `transaction starting at id ${firstId}`).toBe(1);
    }
    const v = await admin.query('SELECT count(*)::int AS bad FROM out_rows WHERE v <> id * 7');
    expect(v.rows[0].bad).toBe(0);
    passed = true;
  } finally {
    await killAll(children);
    await work.finish(passed);
  }
}, 300_000);
