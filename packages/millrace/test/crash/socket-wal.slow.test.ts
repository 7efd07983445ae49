/**
 * Crash test: socket source with its write-ahead log → file sink, SIGKILLed at
 * random points (docs/architecture.md).
 *
 * The test runs the TCP server. Every line is a number from one global counter,
 * sent at a steady rate (20 lines every 5 ms) to whichever child is connected;
 * the server records, per connection, the numbers it wrote, in order. The child
 * (socket-wal.child.ts) is socketSource → n = cast(value) → fileSink.
 *
 * What can be checked, and why it is not a tautology. TCP has no app-level ack,
 * so the line the source "acknowledged" is the line it made durable in its WAL.
 * The WAL is inspected from outside, after each kill, while no child runs:
 *
 *   A. no duplicates: every number appears at most once in the committed output;
 *   B. nothing invented: every output number was sent;
 *   C. nothing acknowledged is lost: every record seen in the WAL files after
 *      any kill (complete, newline-terminated — exactly what the restarted
 *      source recovers) is in the final output, including records that were
 *      not yet part of any committed batch at the time of the kill (counted and
 *      required to be > 0, so the check has teeth);
 *   D. exactly the WAL: the pipeline is 1:1, so the final output has as many
 *      rows as records were ever appended to the WAL — derived independently
 *      from the WAL's segment file names (first line numbers) and the last
 *      segment's length — and as the checkpoint's last end offset;
 *   E. no gaps: TCP delivers in order and the WAL appends in order, so on each
 *      connection the numbers that reached the output are a prefix of what was
 *      sent on it; only a tail in flight at the kill (kernel buffers, lines
 *      received but not yet fsynced) may be missing. The last connection is
 *      drained (the server stops sending, the test waits) and loses nothing;
 *   F. no lost committed output: the committed output after each kill contains
 *      the committed output after the kill before.
 *
 * Reproduce a failure with CRASH_SEED=<seed printed in the summary>.
 */
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { readFileSinkOutput } from '../../src/index.ts';
import {
  CRASH_DIR,
  type Child,
  PhaseTally,
  WorkDir,
  inspectCheckpoint,
  killAll,
  listTree,
  logUniform,
  partFileBatch,
  prng,
  randInt,
  readOffsetsEntry,
  seedFromEnv,
  sinkManifestIds,
  sinkPartFiles,
  sleep,
  spawnChild,
  waitFor,
} from './harness.ts';

const CHILD = path.join(CRASH_DIR, 'socket-wal.child.ts');
const KILLS = 30;
const LINES_PER_TICK = 20;
const TICK_MS = 5;

interface Connection {
  readonly id: number;
  readonly sock: net.Socket;
  /** Numbers written to this connection, in order. */
  readonly sent: number[];
  open: boolean;
}

/** A line server that numbers every line it sends from one global counter. */
class NumberServer {
  private server: net.Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  readonly connections: Connection[] = [];
  next = 0;
  sending = true;
  port = 0;

  async start(): Promise<void> {
    const server = net.createServer((sock) => {
      const c: Connection = { id: this.connections.length, sock, sent: [], open: true };
      this.connections.push(c);
      sock.on('error', () => {});
      sock.on('close', () => (c.open = false));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  private tick(): void {
    if (!this.sending) return;
    for (const c of this.connections) {
      if (!c.open || c.sock.destroyed || !c.sock.writable) continue;
      let text = '';
      for (let i = 0; i < LINES_PER_TICK; i++) {
        const n = this.next++;
        c.sent.push(n);
        text += `${n}\n`;
      }
      c.sock.write(text);
    }
  }

  get openConnections(): number {
    return this.connections.filter((c) => c.open).length;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const c of this.connections) c.sock.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** The WAL as the restarted source will recover it: the numbers of all complete records, and the total ever appended. */
async function readWal(checkpoint: string): Promise<{ numbers: number[]; appended: number }> {
  const dir = path.join(checkpoint, 'sources', 'lines', 'wal');
  const names = (await fsp.readdir(dir).catch(() => [] as string[]))
    .filter((n) => /^\d{20}\.wal$/.test(n))
    .sort();
  const numbers: number[] = [];
  let appended = 0;
  for (const name of names) {
    const first = Number(name.slice(0, 20));
    const text = await fsp.readFile(path.join(dir, name), 'utf8');
    const lines = text.split('\n');
    lines.pop(); // after the last newline: '' or a torn record
    let complete = 0;
    for (const l of lines) {
      let rec: unknown;
      try {
        rec = JSON.parse(l);
      } catch {
        break; // torn
      }
      if (!Array.isArray(rec) || typeof rec[1] !== 'string') break;
      numbers.push(Number(rec[1]));
      complete++;
    }
    appended = first + complete;
  }
  return { numbers, appended };
}

/** Output numbers, failing on anything that is not a number line. */
async function outputNumbers(output: string): Promise<number[]> {
  const rows = await readFileSinkOutput(output);
  return rows.map((r) => {
    if (typeof r.n !== 'number' || String(r.n) !== r.value)
      throw new Error(`unexpected output row ${JSON.stringify(r)}`);
    return r.n;
  });
}

function duplicates(xs: readonly number[]): number[] {
  const seen = new Set<number>();
  const dup: number[] = [];
  for (const x of xs) {
    if (seen.has(x)) dup.push(x);
    seen.add(x);
  }
  return dup;
}

const children: Child[] = [];
let server: NumberServer | undefined;
afterAll(async () => {
  await killAll(children);
  await server?.stop();
});

it('socket source WAL → file sink: SIGKILL at random points, nothing acknowledged lost, nothing duplicated', async () => {
  const seed = seedFromEnv(20250612);
  const rng = prng(seed);
  const work = await WorkDir.create('socket');
  let passed = false;
  server = new NumberServer();
  await server.start();
  const srv = server;
  try {
    const output = work.sub('output');
    const checkpoint = work.sub('checkpoint');
    await fsp.mkdir(output, { recursive: true });
    const env = { CRASH_PORT: String(srv.port), CRASH_OUTPUT: output, CRASH_CHECKPOINT: checkpoint };

    const phases = new PhaseTally();
    const strategies = new PhaseTally();
    let killsWithUncommitted = 0;
    const walSeen = new Set<number>();
    /** WAL records not (yet) in the committed output at the moment of a kill. */
    const durableUncommitted = new Set<number>();
    let previous = new Set<number>();
    const started = performance.now();

    for (let kill = 0; kill < KILLS; kill++) {
      const child = spawnChild(CHILD, env);
      children.push(child);
      await child.waitForLine((l) => l === 'READY', 'READY');
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
        await sleep(logUniform(rng, 1, 80));
      } else {
        await child.waitForLine((l) => l === 'STARTED', 'STARTED');
        if (how < 0.65) {
          await sleep(logUniform(rng, 1, 800));
        } else {
          const marker = how < 0.85 ? 'SINK_BEGIN ' : 'SINK_DONE ';
          const nth = randInt(rng, 1, 4);
          const gap = marker === 'SINK_BEGIN ' ? randInt(rng, 0, 15) : 0;
          // no more input within the wait: kill while idle
          await child.waitForNth(marker, nth, 5_000);
          if (gap > 0) await sleep(gap);
        }
      }
      await child.killMidRun();
      // The next child must not overlap with this connection.
      await waitFor(() => srv.openConnections === 0, 'the server to see the killed child disconnect', 5_000);

      // Where did the kill land?
      const cp = await inspectCheckpoint(checkpoint);
      const sawStart = child.lines.includes('STARTED');
      let phase: string;
      if (!sawStart) phase = 'startup';
      else if (cp.uncommitted !== null) {
        const n = cp.uncommitted;
        const manifests = await sinkManifestIds(output);
        const parts = (await sinkPartFiles(output)).filter((f) => partFileBatch(f) === n);
        phase = manifests.includes(n)
          ? 'offsets+sink manifest, no commit'
          : parts.length
            ? 'offsets, sink part file written'
            : 'offsets, before sink write';
      } else phase = 'between batches';
      phases.add(phase);
      if (cp.uncommitted !== null) killsWithUncommitted++;

      // C: what the WAL holds now must survive; F: committed output only grows.
      const nums = await outputNumbers(output);
      expect(duplicates(nums), `after kill ${kill} (seed ${seed}): duplicated output`).toEqual([]);
      const now = new Set(nums);
      const lost = [...previous].filter((x) => !now.has(x));
      expect(lost.slice(0, 10), `after kill ${kill} (seed ${seed}): committed output disappeared`).toEqual(
        [],
      );
      previous = now;
      const wal = await readWal(checkpoint);
      for (const x of wal.numbers) {
        walSeen.add(x);
        if (!now.has(x)) durableUncommitted.add(x);
      }
    }
    const killLoopMs = performance.now() - started;

    // -- final run: receive a while, stop sending, drain -----------------------
    const last = spawnChild(CHILD, env);
    children.push(last);
    await last.waitForLine((l) => l === 'STARTED', 'STARTED');
    await waitFor(
      () => srv.connections.length > 0 && srv.connections.at(-1)!.open,
      'the final child to connect',
      10_000,
    );
    const finalConn = srv.connections.at(-1)!;
    await sleep(1_000);
    srv.sending = false;
    const finalSent = [...finalConn.sent];
    await waitFor(
      async () => {
        const have = new Set(await outputNumbers(output));
        return finalSent.every((x) => have.has(x));
      },
      `every line sent on the final connection (${finalSent.length}) in the output`,
      60_000,
      200,
    );
    last.proc.kill('SIGTERM');
    const exit = await Promise.race([last.exited, sleep(20_000).then(() => null)]);
    expect(exit, `the final run did not stop on SIGTERM: ${last.describe()}`).not.toBeNull();
    expect(exit!.code, `the final run failed: ${last.describe()}`).toBe(0);

    // -- checks ------------------------------------------------------------------
    const nums = await outputNumbers(output);
    const out = new Set(nums);
    // A
    expect(duplicates(nums).slice(0, 10), `duplicated output (seed ${seed})`).toEqual([]);
    // B
    const sentBy = new Map<number, number>();
    for (const c of srv.connections) for (const x of c.sent) sentBy.set(x, c.id);
    expect(
      nums.filter((x) => !sentBy.has(x)).slice(0, 10),
      `output numbers never sent (seed ${seed})`,
    ).toEqual([]);
    // C
    expect([...walSeen].filter((x) => !out.has(x)).slice(0, 10), `WAL records lost (seed ${seed})`).toEqual(
      [],
    );
    expect(
      durableUncommitted.size,
      'no kill left durable but uncommitted WAL records; check C had nothing to check',
    ).toBeGreaterThan(0);
    // D
    const wal = await readWal(checkpoint);
    const cp = await inspectCheckpoint(checkpoint);
    expect(cp.uncommitted).toBeNull();
    const endOffset = cp.offsets.length ? (await readOffsetsEntry(checkpoint, cp.offsets.at(-1)!)).lines : 0;
    expect({ outputRows: nums.length, endOffset }).toEqual({
      outputRows: wal.appended,
      endOffset: wal.appended,
    });
    for (const x of wal.numbers) expect(out.has(x)).toBe(true);
    // E
    let lostInFlight = 0;
    let maxLost = 0;
    for (const c of srv.connections) {
      const k = c.sent.findIndex((x) => !out.has(x));
      const got = k === -1 ? c.sent.length : k;
      const gaps = c.sent.slice(got).filter((x) => out.has(x));
      expect(
        gaps.slice(0, 10),
        `connection ${c.id} (seed ${seed}): lines after a missing line ${c.sent[got]} reached the output`,
      ).toEqual([]);
      lostInFlight += c.sent.length - got;
      maxLost = Math.max(maxLost, c.sent.length - got);
    }
    expect(
      finalConn.sent.length - finalConn.sent.filter((x) => out.has(x)).length,
      'the drained connection lost lines',
    ).toBe(0);
    // F
    expect(
      [...previous].filter((x) => !out.has(x)).slice(0, 10),
      'committed output disappeared in the final run',
    ).toEqual([]);

    // Leftovers of atomic writes interrupted by a kill are removed when the checkpoint is next opened.
    const tempLeft = (await listTree(checkpoint)).filter((f) =>
      f.split('/').some((seg) => seg.endsWith('.tmp')),
    );
    console.log(
      `[crash:socket] seed ${seed}: ${KILLS} kills in ${(killLoopMs / 1000).toFixed(1)} s; ` +
        `${killsWithUncommitted} with an uncommitted batch (offsets/N, no commits/N); phases: ${phases}; kill timing: ${strategies}; ` +
        `${srv.connections.length} connections, ${srv.next} lines sent, ${nums.length} in the output ` +
        `(= ${wal.appended} WAL records, ${walSeen.size} seen in the WAL after kills, ${durableUncommitted.size} of them durable but not yet committed); ` +
        `${lostInFlight} lost in flight at kills (max ${maxLost} on one connection); ${cp.lastCommitted === null ? 0 : cp.lastCommitted + 1} batches; ` +
        `${tempLeft.length} interrupted-write temp files left in the checkpoint${tempLeft.length ? ` (${tempLeft.slice(0, 3).join(', ')})` : ''}`,
    );
    expect(tempLeft, 'interrupted-write temp files left in the checkpoint after the final run').toEqual([]);
    passed = true;
  } finally {
    await killAll(children);
    await srv.stop();
    server = undefined;
    await work.finish(passed);
  }
});
