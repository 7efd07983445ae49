/**
 * End-to-end crash test: HTTP ingest → embedded log → query → PostgreSQL (docs/architecture.md).
 * One child process (crash/ingest-to-postgres.child.ts) runs the ingest server and the query on
 * one log directory; it is SIGKILLed at random points and restarted on the same log, checkpoint
 * and table, while clients here keep posting numbered events.
 *
 *   test process                                  child (killed KILLS times, restarted)
 *   ────────────                                  ─────────────────────────────────────
 *   3 clients: request r = events n..n+k  ──────► POST /topics/events?key=k → log (3 partitions)
 *     every request has Idempotency-Key req-r       → 200 once durable
 *     no answer → the same request again          logSource → watermark 10 s
 *     200 → acknowledged (duplicate: true =         → count, sum(n) per (1 s window, k)    append
 *       an earlier unanswered attempt stored it)    → postgresSink (plain INSERT: a batch
 *                                                      written twice shows as duplicate rows)
 *   kill: after startup / at a random time / around a sink write / while stalled between the
 *   PostgreSQL COMMIT and commits/N
 *   after each kill (no child running): the log holds each event at most once and every
 *     acknowledged one; PostgreSQL has no (window, k) twice, and each row equals the aggregate
 *     of that window computed here from the events in the log
 *   final run: stop producing, finish the retries, post a far-future event that closes every
 *     window, wait for the table, SIGTERM (exit 0)
 *
 * At the end: every event is acknowledged, and is in the log exactly once; the table equals the
 * windows computed here from the acknowledged events, exactly. So that the checks have teeth:
 * some retries were deduplicated by their Idempotency-Key (stored, then the answer was lost),
 * and some kills landed after PostgreSQL committed a batch whose commits/N was not written.
 *
 * Why no event is late: event n has ts = T0 + 10·n ms, numbers are handed out in order, and an
 * unanswered request is retried at once, so the log is never more than a few requests out of
 * order — far less than the 10 s (1,000 events) watermark delay.
 *
 * Reproduce a failure with CRASH_SEED=<seed printed in the summary>.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { type Log, openLog } from '@millrace/log';
import {
  type Child,
  PhaseTally,
  WorkDir,
  inspectCheckpoint,
  killAll,
  logUniform,
  prng,
  randInt,
  seedFromEnv,
  sleep,
  spawnChild,
  waitFor,
} from '../../millrace/test/crash/harness.ts';
import { DB_URL, adminPool, cleanup, uniqueName } from './helpers.ts';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash', 'ingest-to-postgres.child.ts');
const KILLS = 22;
const CLIENTS = 3;
const KEYS = 5;
const T0 = Date.UTC(2025, 0, 1);
const ts = (n: number) => T0 + 10 * n;

interface Request {
  readonly id: number;
  readonly first: number;
  readonly count: number;
  /** Attempts that ended without an HTTP answer (the child died): they may have been stored. */
  unanswered: number;
  acked: boolean;
  /** The acknowledgement was an idempotent replay: an earlier, unanswered attempt had stored it. */
  replayed: boolean;
}

type Windows = Map<string, { c: number; s: number }>;

/** (window start ms | key) → count and sum of n, over the given event numbers. */
function windowsOf(numbers: Iterable<number>): Windows {
  const m: Windows = new Map();
  for (const n of numbers) {
    const key = `${ts(n) - (ts(n) % 1000)}|k${n % KEYS}`;
    const w = m.get(key) ?? { c: 0, s: 0 };
    w.c++;
    w.s += n;
    m.set(key, w);
  }
  return m;
}

const children: Child[] = [];
afterAll(async () => {
  await killAll(children);
  await cleanup();
});
const admin = adminPool();

it(`HTTP ingest → log → windowed count → PostgreSQL: ${KILLS} SIGKILLs, every acknowledged event once, the table exact`, async () => {
  const seed = seedFromEnv(20251122);
  const rng = prng(seed);
  const work = await WorkDir.create('ingest-to-postgres');
  const dir = work.sub('log');
  const checkpoint = work.sub('checkpoint');
  const table = uniqueName('e2e_counts');
  const sinkName = `e2e-${table}`;
  let passed = false;
  let inspector: Log | undefined;
  let producing = true;
  /** Set when the test ends (passing or not): requests still retrying give up. */
  let finished = false;
  try {
    inspector = await openLog({ dir, fsync: 'always', retentionCheckIntervalMs: 0 });
    const log = inspector;
    await log.createTopic('events', { partitions: 3 });

    // ---- clients ---------------------------------------------------------------------------
    let url: string | null = null;
    let nextNumber = 0;
    let nextRequest = 0;
    const requests: Request[] = [];
    const failures: string[] = [];

    /** POST until acknowledged; an attempt without an answer may have been stored: the key dedups the retry. */
    const post = async (
      target: string,
      body: string,
      key: string,
      onAck: (b: { count: number; duplicate: boolean }) => void,
      onUnanswered: () => void,
    ): Promise<void> => {
      while (!finished) {
        const base = url;
        if (!base) {
          await sleep(3);
          continue;
        }
        let res: Response;
        try {
          res = await fetch(`${base}${target}`, {
            method: 'POST',
            body,
            headers: { 'content-type': 'application/x-ndjson', 'idempotency-key': key },
            signal: AbortSignal.timeout(20_000),
          });
        } catch {
          onUnanswered();
          await sleep(5);
          continue;
        }
        const text = await res.text().catch(() => null);
        if (text === null) {
          onUnanswered(); // the status line came, the body did not: the child died while answering
          continue;
        }
        if (res.status !== 200) {
          failures.push(`${key}: unexpected ${res.status} ${text}`);
          return;
        }
        onAck(JSON.parse(text) as { count: number; duplicate: boolean });
        return;
      }
    };
    const send = (r: Request): Promise<void> => {
      const body = Array.from({ length: r.count }, (_, i) => {
        const n = r.first + i;
        return JSON.stringify({ k: `k${n % KEYS}`, n, ts: ts(n) });
      }).join('\n');
      return post(
        '/topics/events?key=k',
        body,
        `req-${r.id}`,
        (b) => {
          if (b.count !== r.count)
            failures.push(`request ${r.id}: acknowledged ${b.count} of ${r.count} events`);
          r.acked = true;
          r.replayed = b.duplicate;
        },
        () => r.unanswered++,
      );
    };
    const client = async (): Promise<void> => {
      while (producing) {
        const count = randInt(rng, 1, 20);
        const r: Request = {
          id: nextRequest++,
          first: nextNumber,
          count,
          unanswered: 0,
          acked: false,
          replayed: false,
        };
        nextNumber += count;
        requests.push(r);
        await send(r);
        await sleep(randInt(rng, 0, 8));
      }
    };
    const clients = Array.from({ length: CLIENTS }, () => client());

    // ---- views of the log and the table (only while no child runs, or for the final wait) ----
    /** Event number → copies stored, and the far-future flush events. */
    const stored = async (): Promise<{ copies: Map<number, number>; flush: number }> => {
      const copies = new Map<number, number>();
      let flush = 0;
      for (let p = 0; p < 3; p++) {
        for await (const chunk of log.read('events', p)) {
          for (const rec of chunk) {
            const e = JSON.parse(rec.value as string) as { k: string; n: number };
            if (e.k === 'flush') flush++;
            else copies.set(e.n, (copies.get(e.n) ?? 0) + 1);
          }
        }
      }
      return { copies, flush };
    };
    const tableRows = async (): Promise<{ rows: Windows; duplicates: string[] }> => {
      const exists = (await admin.query('SELECT to_regclass($1) AS r', [`"${table}"`])).rows[0].r;
      const rows: Windows = new Map();
      const duplicates: string[] = [];
      if (!exists) return { rows, duplicates };
      const r = await admin.query(
        `SELECT (extract(epoch from window_start) * 1000)::bigint::text AS w, k, c::text, s::text FROM "${table}"`,
      );
      for (const x of r.rows as { w: string; k: string; c: string; s: string }[]) {
        const key = `${x.w}|${x.k}`;
        if (rows.has(key)) duplicates.push(key);
        rows.set(key, { c: Number(x.c), s: Number(x.s) });
      }
      return { rows, duplicates };
    };
    const recordedBatch = async (): Promise<number> => {
      const exists = (await admin.query(`SELECT to_regclass('millrace_sink_batches') AS r`)).rows[0].r;
      if (!exists) return -1;
      const r = await admin.query('SELECT batch_id::int AS b FROM millrace_sink_batches WHERE sink = $1', [
        sinkName,
      ]);
      expect(r.rows.length, 'one progress row per (query, sink)').toBeLessThanOrEqual(1);
      return r.rows[0]?.b ?? -1;
    };
    /** The invariants that hold whenever no child runs. */
    const checkAfterKill = async (what: string): Promise<void> => {
      const { copies } = await stored();
      const twice = [...copies].filter(([, c]) => c > 1).map(([n]) => n);
      expect(twice.slice(0, 10), `${what}: events stored more than once`).toEqual([]);
      const lost = requests
        .filter((r) => r.acked)
        .flatMap((r) => Array.from({ length: r.count }, (_, i) => r.first + i))
        .filter((n) => !copies.has(n));
      expect(lost.slice(0, 10), `${what}: acknowledged events missing from the log`).toEqual([]);
      const fromLog = windowsOf(copies.keys());
      const { rows, duplicates } = await tableRows();
      expect(duplicates.slice(0, 10), `${what}: (window, k) rows written twice`).toEqual([]);
      for (const [key, row] of rows) expect(row, `${what}: window ${key}`).toEqual(fromLog.get(key));
    };

    // ---- the kills ---------------------------------------------------------------------------
    const baseEnv = {
      CRASH_LOG_DIR: dir,
      CRASH_CHECKPOINT: checkpoint,
      CRASH_TABLE: table,
      CRASH_SINK: sinkName,
      DATABASE_URL: DB_URL,
    };
    const start = (extra: Record<string, string> = {}): Child => {
      const child = spawnChild(CHILD, { ...baseEnv, CRASH_SEED: String(randInt(rng, 1, 1e9)), ...extra });
      children.push(child);
      void child
        .waitForLine((l) => l.startsWith('LISTENING '), 'LISTENING', 60_000)
        .then(
          (l) => (url = `http://127.0.0.1:${l.split(' ')[1]}`),
          () => undefined,
        );
      return child;
    };
    const strategies = new PhaseTally();
    const phases = new PhaseTally();
    let inFlightAtKill = 0;
    const started = performance.now();
    for (let kill = 0; kill < KILLS; kill++) {
      const how = rng();
      const stallAt = how >= 0.7 ? randInt(rng, 1, 3) : undefined;
      const child = start(stallAt ? { CRASH_STALL_AT: String(stallAt) } : {});
      await child.waitForLine((l) => l === 'READY', 'READY', 60_000);
      if (how < 0.1) {
        strategies.add('after READY');
        await sleep(logUniform(rng, 1, 80));
      } else {
        await child.waitForLine((l) => l === 'STARTED', 'STARTED', 60_000);
        if (how < 0.45) {
          strategies.add('after STARTED');
          await sleep(logUniform(rng, 5, 1_500));
        } else if (how < 0.7) {
          strategies.add('around a sink write');
          await child.waitForNth('SINK_BEGIN ', randInt(rng, 1, 3), 8_000);
          await sleep(randInt(rng, 0, 3));
        } else {
          strategies.add('stalled after the PostgreSQL commit, before commits/N');
          await child.nextLine((l) => l.startsWith('STALL '), 10_000);
        }
      }
      inFlightAtKill += requests.filter((r) => !r.acked).length > 0 ? 1 : 0;
      url = null;
      await child.killMidRun();

      const cp = await inspectCheckpoint(checkpoint);
      const recorded = await recordedBatch();
      let phase: string;
      if (!child.lines.includes('STARTED')) phase = 'startup';
      else if (cp.uncommitted !== null)
        phase =
          recorded >= cp.uncommitted
            ? 'PostgreSQL committed, commits/N not written (replay must be skipped)'
            : 'offsets/N written, PostgreSQL not committed';
      else phase = 'between batches';
      phases.add(phase);
      if (cp.lastCommitted !== null)
        expect(recorded, `kill ${kill}: PostgreSQL behind the checkpoint`).toBeGreaterThanOrEqual(
          cp.lastCommitted,
        );
      await checkAfterKill(`after kill ${kill} (seed ${seed}, ${phase})`);
    }
    const killLoopMs = performance.now() - started;

    // ---- the final run -----------------------------------------------------------------------
    const last = start();
    await last.waitForLine((l) => l === 'STARTED', 'STARTED', 60_000);
    await sleep(500);
    producing = false;
    await Promise.all(clients);
    expect(failures, 'requests answered with an error').toEqual([]);
    const total = nextNumber;
    // A far-future event moves the watermark past every window of the numbered events.
    await post(
      '/topics/events?key=k',
      JSON.stringify({ k: 'flush', n: -1, ts: ts(total) + 3_600_000 }),
      'flush',
      () => undefined,
      () => undefined,
    );
    const expected = windowsOf(Array.from({ length: total }, (_, n) => n));
    await waitFor(
      async () => (await tableRows()).rows.size >= expected.size,
      `all ${expected.size} windows in PostgreSQL`,
      60_000,
      200,
    );
    last.proc.kill('SIGTERM');
    const exit = await Promise.race([last.exited, sleep(20_000).then(() => null)]);
    expect(exit?.code, `the final run did not stop cleanly: ${last.describe()}`).toBe(0);

    // ---- verdicts ----------------------------------------------------------------------------
    expect(
      requests.every((r) => r.acked),
      'every request was acknowledged in the end',
    ).toBe(true);
    const { copies, flush } = await stored();
    expect(flush, 'the flush event once').toBe(1);
    const wrong = Array.from({ length: total }, (_, n) => n).filter((n) => copies.get(n) !== 1);
    expect(wrong.slice(0, 10), `events not stored exactly once (seed ${seed})`).toEqual([]);
    expect(copies.size, 'nothing stored that was not sent').toBe(total);
    const { rows, duplicates } = await tableRows();
    expect(duplicates.slice(0, 10), `(window, k) rows written twice (seed ${seed})`).toEqual([]);
    expect(rows).toEqual(expected);

    const replayed = requests.filter((r) => r.replayed).length;
    const retried = requests.filter((r) => r.unanswered > 0).length;
    const cp = await inspectCheckpoint(checkpoint);
    console.log(
      `[crash:ingest-to-postgres] seed ${seed}: ${KILLS} kills in ${(killLoopMs / 1000).toFixed(1)} s; ` +
        `kill timing: ${strategies}; phases: ${phases}; ${requests.length} requests (${retried} retried, ` +
        `${replayed} deduplicated replays), ${total} events, ${expected.size} windows, ` +
        `${cp.lastCommitted === null ? 0 : cp.lastCommitted + 1} batches; kills with requests in flight: ${inFlightAtKill}`,
    );
    expect(retried, 'no kill hit a request in flight').toBeGreaterThan(0);
    expect(
      replayed,
      'no retry was deduplicated by its Idempotency-Key (stored, answer lost)',
    ).toBeGreaterThan(0);
    expect(
      phases.get('PostgreSQL committed, commits/N not written (replay must be skipped)'),
      'no kill landed between the PostgreSQL commit and commits/N',
    ).toBeGreaterThan(0);
    passed = true;
  } finally {
    producing = false;
    finished = true;
    await killAll(children);
    await inspector?.close();
    await admin.query(`DROP TABLE IF EXISTS "${table}"`).catch(() => undefined);
    await admin.query('DELETE FROM millrace_sink_batches WHERE sink = $1', [sinkName]).catch(() => undefined);
    await work.finish(passed);
  }
});
