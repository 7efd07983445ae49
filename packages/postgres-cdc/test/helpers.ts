/**
 * Shared by the CDC tests (not a test file): a ConnectorContext for driving the source directly,
 * unique names, and a pool on the private cluster.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type ConnectorContext, type Logger, MillraceError, silentLogger, systemClock } from 'millrace';
import pg from 'pg';
import { expect } from 'vitest';

/** Lower-case, unique in this run: slot, publication and table names. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
}

export function context(log: Logger = silentLogger): ConnectorContext {
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'millrace-cdc-state-'));
  return { queryId: uniqueName('q'), queryName: 'cdc-test', stateDir, clock: systemClock, log };
}

export function pool(url: string): pg.Pool {
  const p = new pg.Pool({ connectionString: url, max: 3 });
  p.on('error', () => {});
  return p;
}

/** A logger that keeps what it was told, to check warnings (and that no secret is in them). */
export function recordingLogger(): Logger & { lines: { level: string; msg: string; fields?: object }[] } {
  const lines: { level: string; msg: string; fields?: object }[] = [];
  const at = (level: string) => (msg: string, fields?: object) => void lines.push({ level, msg, fields });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as never;
}

export async function rejected(p: Promise<unknown>): Promise<MillraceError> {
  const e = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(MillraceError);
  return e as MillraceError;
}
