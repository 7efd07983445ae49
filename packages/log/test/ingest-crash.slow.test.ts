/**
 * Crash test of HTTP ingest (docs/architecture.md): an ingest server
 * process (crash/ingest-server.child.ts) is SIGKILLed at random moments while
 * concurrent clients POST NDJSON batches of numbered events and retry every
 * request until it is acknowledged (200), as a producer must.
 *
 *   test process                               child (killed 24 times, restarted)
 *   ────────────                               ──────────────────────────────────
 *   4 clients: request r = events n..n+k ───►  POST /topics/nums?key=k
 *     (even r: Idempotency-Key req-r)            append (one transaction) → fsync
 *     network error → retry the same body        → 200 (sometimes held 1–25 ms
 *     200 → acknowledged                            first: "stored, not acked")
 *   after each kill (no child running): every acknowledged event is in the log
 *   final run: stop making requests, finish the retries, SIGTERM (exit 0)
 *
 * Checks, on the log read directly:
 *   A. nothing acknowledged is lost (after every kill, and at the end)
 *   B. nothing invented: every stored event was sent, with its request's content
 *   C. all or nothing: all events of a request have the same number of copies
 *   D. requests with an Idempotency-Key are stored exactly once
 *   E. requests without one are stored at least once, and more than once only
 *      if some attempt of theirs failed without an answer (at-least-once: a
 *      retry after a lost acknowledgement duplicates); never more often than
 *      they were attempted
 *   F. offsets are dense per partition
 * and, so the checks have teeth: kills hit requests in flight, and some
 * requests were stored but not acknowledged (seen as duplicates or as
 * deduplicated replays).
 *
 * Reproduce a failure with CRASH_SEED=<seed printed in the summary>.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import {
  type Child,
  WorkDir,
  killAll,
  logUniform,
  prng,
  randInt,
  seedFromEnv,
  sleep,
  spawnChild,
} from '../../millrace/test/crash/harness.ts';
import { openLog, type Log } from '../src/index.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHILD = path.join(HERE, 'crash', 'ingest-server.child.ts');
const KILLS = 24;
const CLIENTS = 4;
const TOPIC = 'nums';

interface Request {
  readonly id: number;
  readonly first: number;
  readonly count: number;
  readonly keyed: boolean;
  attempts: number;
  /** Attempts that ended without any HTTP answer (connection lost): they may or may not have been stored. */
  unanswered: number;
  acked: boolean;
  /** The acknowledgement was an idempotent replay: an earlier, unanswered attempt had stored it. */
  replayed: boolean;
}

const children: Child[] = [];
afterAll(async () => {
  await killAll(children);
});

it('HTTP ingest: SIGKILL at random points, nothing acknowledged lost, duplicates only from unanswered attempts', async () => {
  const seed = seedFromEnv(20250701);
  const rng = prng(seed);
  const work = await WorkDir.create('log-ingest');
  const dir = work.sub('log');
  let passed = false;
  let inspector: Log | undefined;
  try {
    inspector = await openLog({
      dir,
      fsync: 'always',
      retentionCheckIntervalMs: 0,
      topicDefaults: { partitions: 3 },
    });
    const log = inspector;
    let url: string | null = null;
    let producing = true;
    let nextNumber = 0;
    const requests: Request[] = [];
    const failures: string[] = [];
    const env = { CRASH_LOG_DIR: dir };

    const send = async (r: Request): Promise<void> => {
      const body = Array.from({ length: r.count }, (_, i) => {
        const n = r.first + i;
        return JSON.stringify({ n, r: r.id, k: n % 5 });
      }).join('\n');
      while (true) {
        const target = url;
        if (!target) {
          await sleep(3);
          continue;
        }
        r.attempts++;
        let res: Response;
        try {
          res = await fetch(`${target}/topics/${TOPIC}?key=k`, {
            method: 'POST',
            body,
            headers: {
              'content-type': 'application/x-ndjson',
              ...(r.keyed ? { 'idempotency-key': `req-${r.id}` } : {}),
            },
            signal: AbortSignal.timeout(15_000),
          });
        } catch {
          r.unanswered++;
          await sleep(2);
          continue;
        }
        const text = await res.text().catch(() => null);
        if (res.status === 200 && text !== null) {
          const b = JSON.parse(text) as { count: number; duplicate: boolean };
          if (b.count !== r.count)
            failures.push(`request ${r.id}: acknowledged ${b.count} of ${r.count} events`);
          r.acked = true;
          r.replayed = b.duplicate;
          return;
        }
        if (text === null) {
          // The status line came, the body did not: the server died while answering.
          r.unanswered++;
          continue;
        }
        failures.push(`request ${r.id}: unexpected ${res.status} ${text}`);
        return;
      }
    };
    const client = async (c: number): Promise<void> => {
      while (producing) {
        const count = randInt(rng, 1, 40);
        const r: Request = {
          id: requests.length,
          first: nextNumber,
          count,
          keyed: requests.length % 2 === 0,
          attempts: 0,
          unanswered: 0,
          acked: false,
          replayed: false,
        };
        nextNumber += count;
        requests.push(r);
        await send(r);
        if (c === 0 && rng() < 0.05) await sleep(1);
      }
    };

    /** Events stored, by number: how many copies. Offsets must be dense (F). */
    const stored = async (): Promise<Map<number, number>> => {
      const copies = new Map<number, number>();
      if (!log.topic(TOPIC)) return copies;
      for (const p of log.partitions(TOPIC)) {
        let expectOffset = p.low;
        for await (const chunk of log.read(TOPIC, p.partition, 0)) {
          for (const rec of chunk) {
            expect(rec.offset, `partition ${p.partition} offsets are dense`).toBe(expectOffset++);
            const e = JSON.parse(rec.value as string) as { n: number; r: number; k: number };
            const req = requests[e.r];
            // B: the event belongs to the request that sent it, and landed on its key's partition
            expect(
              req && e.n >= req.first && e.n < req.first + req.count && e.k === e.n % 5,
              `invented event ${String(rec.value)}`,
            ).toBe(true);
            expect(rec.key).toBe(String(e.k));
            copies.set(e.n, (copies.get(e.n) ?? 0) + 1);
          }
        }
        expect(expectOffset).toBe(p.high);
      }
      return copies;
    };
    const lostAcked = (copies: Map<number, number>): string[] => {
      const lost: string[] = [];
      for (const r of requests) {
        if (!r.acked) continue;
        for (let n = r.first; n < r.first + r.count; n++)
          if (!copies.get(n)) lost.push(`${n} (request ${r.id})`);
      }
      return lost;
    };

    const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
    const started = performance.now();
    let killsInFlight = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const child = spawnChild(CHILD, { ...env, CRASH_SEED: String(seed + kill) });
      children.push(child);
      const line = await child.waitForLine((l) => l.startsWith('LISTENING '), 'LISTENING');
      url = `http://127.0.0.1:${line.split(' ')[1]}`;
      await sleep(logUniform(rng, 5, 400));
      const inFlightBefore = requests.filter((r) => !r.acked).length;
      await child.killMidRun();
      url = null;
      if (inFlightBefore > 0) killsInFlight++;
      // A: with no server running, everything acknowledged so far is in the log.
      const copies = await stored();
      expect(
        lostAcked(copies).slice(0, 10),
        `after kill ${kill} (seed ${seed}): acknowledged events lost`,
      ).toEqual([]);
    }
    const killLoopMs = performance.now() - started;

    // Final run: stop producing, let every request be acknowledged, stop gracefully.
    const last = spawnChild(CHILD, { ...env, CRASH_SEED: String(seed + KILLS) });
    children.push(last);
    const line = await last.waitForLine((l) => l.startsWith('LISTENING '), 'LISTENING');
    url = `http://127.0.0.1:${line.split(' ')[1]}`;
    await sleep(200);
    producing = false;
    await Promise.all(clients);
    last.proc.kill('SIGTERM');
    const exit = await Promise.race([last.exited, sleep(20_000).then(() => null)]);
    expect(exit?.code, `the final run did not stop cleanly: ${last.describe()}`).toBe(0);
    url = null;

    expect(failures.slice(0, 10), `(seed ${seed})`).toEqual([]);
    const copies = await stored();
    // A
    expect(requests.every((r) => r.acked)).toBe(true);
    expect(lostAcked(copies).slice(0, 10), `acknowledged events lost (seed ${seed})`).toEqual([]);
    let duplicatedRequests = 0;
    let replays = 0;
    for (const r of requests) {
      const counts = Array.from({ length: r.count }, (_, i) => copies.get(r.first + i) ?? 0);
      // C
      expect(
        new Set(counts).size,
        `request ${r.id}: events stored ${counts.join(',')} times — not all or nothing (seed ${seed})`,
      ).toBe(1);
      const n = counts[0]!;
      if (r.keyed) {
        // D
        expect(n, `request ${r.id} with an Idempotency-Key stored ${n} times (seed ${seed})`).toBe(1);
        if (r.replayed) {
          replays++;
          expect(r.unanswered, `request ${r.id} was replayed without an unanswered attempt`).toBeGreaterThan(
            0,
          );
        }
      } else {
        // E
        expect(n, `request ${r.id} stored ${n} times`).toBeGreaterThanOrEqual(1);
        expect(n, `request ${r.id}: ${n} copies from ${r.attempts} attempts`).toBeLessThanOrEqual(r.attempts);
        if (n > 1) {
          duplicatedRequests++;
          expect(
            n - 1,
            `request ${r.id}: duplicates without unanswered attempts (seed ${seed})`,
          ).toBeLessThanOrEqual(r.unanswered);
        }
      }
    }
    const events = [...copies.values()].reduce((a, b) => a + b, 0);
    const unanswered = requests.reduce((a, r) => a + r.unanswered, 0);
    console.log(
      `[crash:log-ingest] seed ${seed}: ${KILLS} kills in ${(killLoopMs / 1000).toFixed(1)} s (${killsInFlight} with requests in flight); ` +
        `${requests.length} requests (${nextNumber} events), ${unanswered} unanswered attempts; ` +
        `stored but unacknowledged: ${duplicatedRequests} requests duplicated (no key), ${replays} deduplicated replays (Idempotency-Key); ` +
        `${events} records in the log`,
    );
    // Teeth
    expect(killsInFlight, 'no kill hit a request in flight').toBeGreaterThan(0);
    expect(unanswered).toBeGreaterThan(0);
    expect(
      duplicatedRequests + replays,
      'no request was stored without being acknowledged; D and E checked nothing',
    ).toBeGreaterThan(0);
    passed = true;
  } finally {
    await killAll(children);
    await inspector?.close();
    await work.finish(passed);
  }
});
