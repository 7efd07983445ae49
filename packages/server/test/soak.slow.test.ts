/**
 * Soak test (issue 17): the e-commerce service (`millrace run
 * examples/ecommerce/pipeline.ts`, a child process) under steady ingest for
 * a few minutes while other clients misbehave, with a SIGKILL and restart in
 * the middle.
 *
 *   this process                                   child: millrace run (killed once, restarted)
 *   ────────────                                   ────────────────────────────────────────────
 *   producer  127.0.0.1  a block of shop events  ─► POST /topics/shop-events (Idempotency-Key)
 *             every 500 ms, retried until 200          → embedded log → 4 queries → reports,
 *   attacker  127.0.0.2  300 stalled uploads             dashboards, alert (state in --state-dir)
 *             every 10 s (headers + part of a body)
 *   careless  127.0.0.3  malformed posts: bad JSON,
 *             invalid UTF-8, 5,000-deep nesting,
 *             ?key=toString on events without it
 *   sampler   VmRSS of the child every second
 *
 * Checks:
 *   A. every acknowledged block is in the log, each event exactly once; nothing else is there
 *   B. the event-count report has each (window, type) once: no duplicate across the restart
 *   C. the producer kept being served: every block acknowledged, none refused for the
 *      attacker's sake (no INGEST_OVERLOADED), and ingest kept pace in both halves
 *   D. every malformed post that got an answer got a 400
 *   E. RSS stays bounded: under a fixed ceiling, and the last quarter of each run is not
 *      far above its second quarter (no steady growth)
 *
 * SOAK_SECONDS (default 150) sets the total run time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSinkOutput } from 'millrace';
import { afterAll, expect, it } from 'vitest';
import { openLog } from '../../log/src/index.ts';
import {
  DEFAULT_SHOP,
  generateBlock,
  sessionsFor,
  type ShopConfig,
} from '../../../examples/ecommerce/generator.ts';
import { cleanupDirs, tempDir } from './helpers.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../../..');
const SECONDS = Number(process.env.SOAK_SECONDS ?? 150);
const TOPIC = 'shop-events';
const RSS_CEILING_MB = 1024;

const children: ChildProcess[] = [];
const sockets: net.Socket[] = [];
afterAll(() => {
  for (const s of sockets) s.destroy();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  cleanupDirs();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

interface Answer {
  status: number;
  body: string;
}

/** A request from a chosen local address (fetch cannot choose one); rejects on a network error. */
function request(
  port: number,
  from: string,
  p: string,
  body: Buffer | string,
  headers: Record<string, string>,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: p,
        method: 'POST',
        localAddress: from,
        agent: false,
        timeout: 20_000,
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: data }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

it(
  'steady ingest with slow clients, malformed posts and a SIGKILL in the middle: nothing lost or duplicated, RSS bounded',
  { timeout: (SECONDS + 240) * 1000 },
  async () => {
    const out = tempDir('millrace-soak-');
    mkdirSync(out, { recursive: true });
    const baseTime = Math.floor(Date.now() / 1000) * 1000;
    writeFileSync(path.join(out, 'base-time'), String(baseTime));
    const cfg: ShopConfig = {
      ...DEFAULT_SHOP,
      baseTime,
      blockMs: 500,
      timeScale: 1 / 60,
      sessionsPerBlock: sessionsFor(400, 500),
    };
    const apiPort = await freePort();
    const ingestPort = await freePort();
    let stderr = '';

    const startService = async (): Promise<ChildProcess> => {
      const child = spawn(
        process.execPath,
        [
          path.join(REPO, 'packages/server/bin/millrace.js'),
          'run',
          path.join(REPO, 'examples/ecommerce/pipeline.ts'),
          '--port',
          String(apiPort),
          '--state-dir',
          path.join(out, 'service'),
          '--log-level',
          'warn',
          '--progress',
          'off',
          '--',
          '--no-generator',
          '--ingest-port',
          String(ingestPort),
          '--out',
          out,
        ],
        { cwd: out, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DATABASE_URL: '' } },
      );
      child.stderr!.on('data', (d) => (stderr = (stderr + String(d)).slice(-20_000)));
      children.push(child);
      const until = Date.now() + 60_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`the service exited (${child.exitCode}):\n${stderr}`);
        const ok = await fetch(`http://127.0.0.1:${ingestPort}/health`)
          .then((r) => r.ok)
          .catch(() => false);
        if (ok) return child;
        if (Date.now() > until) throw new Error(`the service did not start within 60 s:\n${stderr}`);
        await sleep(200);
      }
    };

    let child = await startService();
    let running = true;
    let restarting = false;

    // Producer: one block per 500 ms, each retried until acknowledged.
    const acked = new Set<number>();
    let nextBlock = 0;
    const refusals: Record<string, number> = {};
    let networkErrors = 0;
    let blocksWanted = Number.POSITIVE_INFINITY;
    const producer = (async () => {
      while (running || nextBlock < blocksWanted) {
        const b = nextBlock;
        const body = generateBlock(b, cfg)
          .map((e) => JSON.stringify(e))
          .join('\n');
        try {
          const r = await request(ingestPort, '127.0.0.1', `/topics/${TOPIC}?key=userId`, body, {
            'content-type': 'application/x-ndjson',
            'idempotency-key': `soak-block-${b}`,
          });
          if (r.status === 200) {
            acked.add(b);
            nextBlock++;
          } else {
            const code = (JSON.parse(r.body) as { code?: string }).code ?? String(r.status);
            refusals[code] = (refusals[code] ?? 0) + 1;
            await sleep(500);
            continue;
          }
        } catch {
          networkErrors++;
          await sleep(300);
          continue;
        }
        if (running) await sleep(500);
      }
    })();

    // Attacker: stalled uploads from another address, renewed every 10 s.
    const attacker = (async () => {
      while (running) {
        if (!restarting) {
          for (let i = 0; i < 300; i++) {
            const s = net.connect({ host: '127.0.0.1', port: ingestPort, localAddress: '127.0.0.2' }, () =>
              s.write(
                `POST /topics/${TOPIC} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n[{"a":`,
              ),
            );
            s.on('error', () => undefined);
            sockets.push(s);
          }
          if (sockets.length > 1200) for (const s of sockets.splice(0, 600)) s.destroy();
        }
        await sleep(10_000);
      }
    })();

    // Careless client: malformed posts, each must be answered 400 (or fail while the service restarts).
    const malformed = [
      { body: '{"eventId": "x", oops}', type: 'application/json', q: '' },
      {
        body: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]),
        type: 'application/json',
        q: '',
      },
      { body: `[{"a":${'['.repeat(5000)}${']'.repeat(5000)}}]`, type: 'application/json', q: '' },
      { body: '{"a":1}\n{"b":[1,2', type: 'application/x-ndjson', q: '' },
      { body: '[{"a":1}, 7]', type: 'application/json', q: '' },
    ];
    const malformedAnswers: Record<string, number> = {};
    const careless = (async () => {
      let i = 0;
      while (running) {
        const m = malformed[i++ % malformed.length]!;
        // a post to a topic the queries do not read, so a wrongly accepted one would not matter to them
        try {
          const r = await request(ingestPort, '127.0.0.3', `/topics/soak-junk${m.q}`, m.body, {
            'content-type': m.type,
          });
          malformedAnswers[r.status] = (malformedAnswers[r.status] ?? 0) + 1;
        } catch {
          // the service is restarting
        }
        await sleep(250);
      }
    })();

    // RSS sampler.
    const rss: { run: number; t: number; mb: number }[] = [];
    let run = 0;
    const sampler = setInterval(() => {
      const mb = child.pid === undefined ? undefined : rssMb(child.pid);
      if (mb !== undefined && !restarting) rss.push({ run, t: Date.now(), mb });
    }, 1000);

    const half = (SECONDS * 1000) / 2;
    const t0 = Date.now();
    await sleep(half);
    const ackedBeforeKill = acked.size;
    restarting = true;
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    run = 1;
    child = await startService();
    restarting = false;
    await sleep(Math.max(0, t0 + 2 * half - Date.now()));

    // Stop: no new blocks; the producer finishes the one in flight.
    blocksWanted = nextBlock + 1;
    running = false;
    await Promise.all([producer, attacker, careless]);
    clearInterval(sampler);
    for (const s of sockets.splice(0)) s.destroy();
    // Let the queries catch up, then stop the service cleanly.
    await sleep(8_000);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));

    // A. The log, read directly.
    const log = await openLog({ dir: path.join(out, 'log'), retentionCheckIntervalMs: 0 });
    const seen = new Map<string, number>();
    try {
      for (const p of log.partitions(TOPIC)) {
        for await (const chunk of log.read(TOPIC, p.partition, 0)) {
          for (const rec of chunk) {
            const id = (JSON.parse(String(rec.value)) as { eventId: string }).eventId;
            seen.set(id, (seen.get(id) ?? 0) + 1);
          }
        }
      }
    } finally {
      await log.close();
    }
    const expected = new Set<string>();
    for (const b of acked) for (const e of generateBlock(b, cfg)) expected.add(e.eventId);
    const missing = [...expected].filter((id) => !seen.has(id));
    const duplicated = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
    const invented = [...seen.keys()].filter((id) => !expected.has(id));

    // B. The event-count report: one row per (window, type), across the restart.
    const counts = await readFileSinkOutput(path.join(out, 'reports', 'event-counts'));
    const windows = new Map<string, number>();
    for (const r of counts as { windowStart: unknown; type: string }[]) {
      const k = `${String(r.windowStart)} ${r.type}`;
      windows.set(k, (windows.get(k) ?? 0) + 1);
    }
    const duplicateWindows = [...windows].filter(([, n]) => n > 1).map(([k]) => k);

    // E. RSS.
    const quarter = (r: number, q: number) => {
      const xs = rss.filter((s) => s.run === r);
      const n = xs.length;
      return xs.slice(Math.floor((n * q) / 4), Math.floor((n * (q + 1)) / 4)).map((s) => s.mb);
    };
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const summary = {
      seconds: SECONDS,
      blocksAcked: acked.size,
      ackedBeforeKill,
      eventsInLog: seen.size,
      producerRefusals: refusals,
      producerNetworkErrors: networkErrors,
      malformedAnswers,
      reportWindows: windows.size,
      rssMaxMb: Math.round(Math.max(...rss.map((s) => s.mb))),
      rssMedianMb: [0, 1].map((r) => [1, 3].map((q) => Math.round(median(quarter(r, q))))),
    };
    console.log('soak summary', JSON.stringify(summary));

    expect(missing.slice(0, 5), 'A: acknowledged events missing from the log').toEqual([]);
    expect(duplicated.slice(0, 5), 'A: events stored twice').toEqual([]);
    expect(invented.slice(0, 5), 'A: events nobody acknowledged').toEqual([]);
    expect(duplicateWindows.slice(0, 5), 'B: report rows written twice').toEqual([]);
    expect(windows.size, 'B: the report has windows').toBeGreaterThan(10);
    expect(refusals.INGEST_OVERLOADED ?? 0, 'C: the producer was locked out').toBe(0);
    expect(refusals.INGEST_CLIENT_OVERLOADED ?? 0, 'C: the producer hit its own limit').toBe(0);
    // ingest kept pace: ~2 blocks/s in each half, less the restart
    expect(ackedBeforeKill).toBeGreaterThan((half / 1000) * 1.5);
    expect(acked.size - ackedBeforeKill).toBeGreaterThan((half / 1000) * 1.2);
    expect(Object.keys(malformedAnswers), 'D: malformed posts answered other than 400').toEqual(['400']);
    expect(malformedAnswers['400']).toBeGreaterThan(SECONDS); // 4 per second, less the restart
    expect(summary.rssMaxMb, 'E: RSS ceiling').toBeLessThan(RSS_CEILING_MB);
    for (const r of [0, 1]) {
      const early = median(quarter(r, 1));
      const late = median(quarter(r, 3));
      expect(late, `E: RSS growth in run ${r} (${early} → ${late} MB)`).toBeLessThan(early * 1.5 + 64);
    }
  },
);
