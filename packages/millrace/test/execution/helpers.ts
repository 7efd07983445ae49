/** Small helpers shared by the execution tests (not a test file itself). */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Logger } from '../../src/index.ts';

/** Temp directories made by a test file, removed by `cleanupDirs()` in afterEach. */
const dirs: string[] = [];

export function tempDir(prefix = 'millrace-exec-'): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve(v: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Poll until `cond()` holds (fails the test after `timeoutMs`). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Batch ids present in `<checkpoint>/offsets` or `/commits`, ascending. */
export function logIds(checkpoint: string, kind: 'offsets' | 'commits'): number[] {
  return readdirSync(path.join(checkpoint, kind))
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
}

export function readLog(checkpoint: string, kind: 'offsets' | 'commits', id: number): string[] {
  return readFileSync(path.join(checkpoint, kind, String(id)), 'utf8').split('\n');
}

/** A logger that keeps every record (to read the temp checkpoint path, warnings, …). */
export function recordingLogger(): Logger & {
  records: { level: string; msg: string; fields: Record<string, unknown> }[];
} {
  const records: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      records.push({ level, msg, fields });
  return { records, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** The rejection of `p` (fails if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    async (v) => {
      // a query that started by mistake must not outlive the test
      if (v && typeof (v as { stop?: unknown }).stop === 'function')
        await (v as { stop(): Promise<void> }).stop().catch(() => undefined);
      throw new Error(`expected a rejection, got ${String(v)}`);
    },
    (e: unknown) => e,
  );
}
