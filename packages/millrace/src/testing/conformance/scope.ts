/**
 * One test's resources: temp directories, things to close, a recording logger
 * (to look for leaked secrets), and a budget for waiting. Everything is released
 * in reverse order when the test ends, passing or not, without hiding the
 * test's own failure.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ConnectorContext, OutputMode, SinkContext } from '../../connectors/contracts.ts';
import { MillraceError } from '../../errors/index.ts';
import type { StreamingQuery } from '../../execution/StreamingQuery.ts';
import type { Schema } from '../../schema/index.ts';
import { systemClock } from '../../util/clock.ts';
import type { Logger } from '../../util/logger.ts';
import type { ConformanceSizes, FixtureContext } from './types.ts';

export interface LogRecord {
  readonly level: string;
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

export class Scope {
  readonly logs: LogRecord[] = [];
  readonly log: Logger;
  private readonly cleanups: (() => Promise<unknown> | unknown)[] = [];
  private root: string | undefined;
  private dirs = 0;
  /** Query id per state directory (see connectorContext). */
  private readonly queryIds = new Map<string, string>();

  constructor(readonly sizes: ConformanceSizes) {
    const at =
      (level: string) =>
      (msg: string, fields: Record<string, unknown> = {}) =>
        this.logs.push({ level, msg, fields });
    this.log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  }

  /** Run `fn` at the end of the test (last registered runs first). */
  defer(fn: () => Promise<unknown> | unknown): void {
    this.cleanups.push(fn);
  }

  async tempDir(name = 'dir'): Promise<string> {
    if (!this.root) {
      this.root = await mkdtemp(path.join(os.tmpdir(), 'millrace-conformance-'));
    }
    const safe = name.replace(/[^\w.-]/g, '_');
    const dir = path.join(this.root, `${++this.dirs}-${safe}`);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  fixtureContext<C extends string>(testCase: C): FixtureContext<C> {
    return {
      testCase,
      sizes: this.sizes,
      tempDir: (name) => this.tempDir(name),
      uniqueName,
    };
  }

  /** A connector context as the executor makes one, with a fresh or given state directory. */
  async connectorContext(stateDir?: string): Promise<ConnectorContext> {
    const dir = stateDir ?? (await this.tempDir('state'));
    // A new instance on the same state directory is the same query restarted: the executor keeps
    // the query id in the checkpoint, and transactional sinks key their batch markers on it.
    let queryId = this.queryIds.get(dir);
    if (queryId === undefined) this.queryIds.set(dir, (queryId = `conformance-${uniqueName('q')}`));
    return {
      queryId,
      queryName: 'conformance',
      stateDir: dir,
      clock: systemClock,
      log: this.log,
    };
  }

  async sinkContext(schema: Schema, outputMode: OutputMode, stateDir?: string): Promise<SinkContext> {
    return { ...(await this.connectorContext(stateDir)), schema, outputMode };
  }

  /** Stop `query` at the end of the test if it is still running. */
  track(query: StreamingQuery): StreamingQuery {
    this.defer(async () => {
      if (query.isActive) await query.stop({ abandonCurrentBatch: true });
    });
    return query;
  }

  /** Release everything; the first cleanup error is rethrown only if `testFailed` is false. */
  async dispose(testFailed: boolean): Promise<void> {
    let first: unknown;
    for (const fn of this.cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (e) {
        first ??= e;
      }
    }
    if (this.root) await rm(this.root, { recursive: true, force: true });
    if (first !== undefined && !testFailed) throw first;
  }
}

/** Run a test body in a Scope that is always disposed. */
export async function inScope(sizes: ConformanceSizes, body: (scope: Scope) => Promise<void>): Promise<void> {
  const scope = new Scope(sizes);
  let failed = true;
  try {
    await body(scope);
    failed = false;
  } finally {
    await scope.dispose(failed);
  }
}

export function uniqueName(prefix: string): string {
  return `${prefix.replace(/[^A-Za-z0-9_]/g, '_')}_${randomBytes(5).toString('hex')}`;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `cond` until it holds; fail after `timeoutMs` with `what()` (a description
 * of what was seen), or at once if `query` fails meanwhile.
 */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  what: () => string,
  timeoutMs: number,
  query?: StreamingQuery,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pause = 2;
  while (!(await cond())) {
    if (query?.exception) {
      throw new Error(`the query failed while waiting for ${what()}: ${String(query.exception)}`, {
        cause: query.exception,
      });
    }
    if (query && !query.isActive) throw new Error(`the query stopped while waiting for ${what()}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await sleep(pause);
    pause = Math.min(pause * 2, 50);
  }
}

/** `p`, or a failure naming `what` after `ms`. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The rejection of `p` (fails if it resolves). */
export async function rejectionOf(p: Promise<unknown>, what: string): Promise<unknown> {
  return p.then(
    () => {
      throw new Error(`expected ${what} to fail, but it succeeded`);
    },
    (e: unknown) => e,
  );
}

/** Check that `e` is a MillraceError; returns it. */
export function asMillraceError(e: unknown, what: string): MillraceError {
  if (!(e instanceof MillraceError)) {
    throw new Error(
      `${what}: expected a MillraceError (one error type, with code, domain and retryable), got ${
        e instanceof Error ? `${e.name}: ${e.message}` : String(e)
      }`,
      { cause: e },
    );
  }
  return e;
}
