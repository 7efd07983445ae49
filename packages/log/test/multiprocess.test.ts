/**
 * Two processes on one log directory (the ingest server and a query are
 * often different processes): both append to the same topic at the same
 * time; offsets stay dense and unique, each sees the other's appends without
 * reopening, and a topic one creates is visible to the other.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { openLog } from '../src/index.ts';
import { cleanupDirs, tempDir, waitFor } from './helpers.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../../..');

afterEach(() => cleanupDirs());

it('two processes append to and read the same topic concurrently', async () => {
  const dir = tempDir();
  const topic = 'shared';
  const BATCHES = 100;
  const PER = 10;
  const log = await openLog({ dir, fsync: 'always', retentionCheckIntervalMs: 0 });
  try {
    await log.createTopic(topic, { partitions: 3 });
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', path.join(HERE, 'fixtures/appender.child.ts')],
      {
        cwd: REPO,
        env: {
          ...process.env,
          LOG_DIR: dir,
          TOPIC: topic,
          BATCHES: String(BATCHES),
          PER_BATCH: String(PER),
          EXPECT_TOTAL: String(2 * BATCHES * PER),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const lines: string[] = [];
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    try {
      await waitFor(() => lines.includes('READY'), `the child to start: ${stderr}`, 20_000);
      const countFromChild = async () => {
        let n = 0;
        for (const p of log.partitions(topic))
          for await (const c of log.read(topic, p.partition))
            n += c.filter((r) => String(r.value).startsWith('c-')).length;
        return n;
      };
      let checkedLive = false;
      for (let b = 0; b < BATCHES; b++) {
        await log.append(
          topic,
          Array.from({ length: PER }, (_, j) => ({ key: `p-${b}`, value: `p-${b}-${j}` })),
        );
        // The child's appends show up here while it runs, without reopening.
        const last = lines.filter((l) => l.startsWith('APPENDED ')).at(-1);
        if (!checkedLive && last && b > 10) {
          const claimed = Number(last.split(' ')[1]);
          await new Promise((r) => setTimeout(r, 1)); // a new event turn: a fresh read snapshot
          expect(await countFromChild()).toBeGreaterThanOrEqual(claimed);
          checkedLive = claimed < BATCHES * PER;
        }
      }
      await waitFor(() => lines.includes('DONE'), `the child to finish: ${stderr}`, 30_000);
      expect(await exited).toBe(0);
      expect(checkedLive, 'the child finished before the parent could watch it append').toBe(true);
      expect(lines).toContain(`SEEN ${2 * BATCHES * PER} ${BATCHES * PER}`);

      // Everything from both, once each, offsets dense per partition.
      const values: string[] = [];
      for (const p of log.partitions(topic)) {
        const offsets: number[] = [];
        for await (const c of log.read(topic, p.partition)) {
          for (const r of c) {
            offsets.push(r.offset);
            values.push(String(r.value));
          }
        }
        expect(offsets).toEqual(offsets.map((_, i) => i));
      }
      expect(values.length).toBe(2 * BATCHES * PER);
      expect(new Set(values).size).toBe(values.length);
      // A topic the other process created.
      const created = log.topic(`${topic}-from-child`);
      expect(created).toBeDefined();
      for await (const c of log.read(`${topic}-from-child`, 0))
        expect(c.map((r) => r.value)).toEqual(['hello from the child']);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    }
  } finally {
    await log.close();
  }
}, 60_000);
