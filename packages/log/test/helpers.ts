/** Helpers shared by this package's tests (not a test file itself). */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  MillraceError,
  silentLogger,
  systemClock,
  type Clock,
  type ConnectorContext,
  type Logger,
} from 'millrace';

const dirs: string[] = [];

/** A fresh temp directory, removed by cleanupDirs(). */
export function tempDir(prefix = 'millrace-log-'): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

let seq = 0;
/** A topic name unique in this process (tests may share a log directory). */
export function uniqueTopic(prefix = 't'): string {
  return `${prefix}-${process.pid}-${++seq}`;
}

export function context(stateDir: string, options: { clock?: Clock; log?: Logger } = {}): ConnectorContext {
  return {
    queryId: 'q-test',
    queryName: 'test',
    stateDir,
    clock: options.clock ?? systemClock,
    log: options.log ?? silentLogger,
  };
}

/** A logger that keeps every record. */
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

/** The MillraceError a promise (or function) rejects with; fails if it does not. */
export async function errorOf(p: Promise<unknown> | (() => unknown)): Promise<MillraceError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof MillraceError) return e;
    throw new Error(`expected a MillraceError, got ${String(e)}`, { cause: e });
  }
  throw new Error('expected an error, but it succeeded');
}

export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** All records of a partition as [offset, value] pairs. */
export async function readAll(
  log: { read(topic: string, p: number, from?: number): AsyncIterable<{ offset: number; value: unknown }[]> },
  topic: string,
  partition = 0,
): Promise<[number, unknown][]> {
  const out: [number, unknown][] = [];
  for await (const chunk of log.read(topic, partition, 0))
    for (const r of chunk) out.push([r.offset, r.value]);
  return out;
}
