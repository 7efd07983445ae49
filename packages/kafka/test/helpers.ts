/** Helpers shared by the Kafka tests (not a test file). */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  type ConnectorContext,
  type Logger,
  type Offset,
  type OutputMode,
  type Schema,
  type SinkContext,
  type Source,
  systemClock,
} from 'millrace';

const dirs: string[] = [];

export function tempDir(prefix = 'millrace-kafka-'): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export function cleanupDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface LogRecord {
  readonly level: string;
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

export function recordingLogger(): Logger & { records: LogRecord[] } {
  const records: LogRecord[] = [];
  const at =
    (level: string) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      records.push({ level, msg, fields });
  return { records, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

let n = 0;

/** A connector context as the engine gives one (its own state directory). */
export function connectorContext(options: { queryId?: string; log?: Logger } = {}): ConnectorContext {
  return {
    queryId: options.queryId ?? `q-${process.pid}-${n++}`,
    queryName: 'test',
    stateDir: tempDir('millrace-kafka-state-'),
    clock: systemClock,
    log: options.log ?? recordingLogger(),
  };
}

export function sinkContext(
  schema: Schema<any>,
  options: { queryId?: string; log?: Logger; outputMode?: OutputMode } = {},
): SinkContext {
  return { ...connectorContext(options), schema, outputMode: options.outputMode ?? 'append' };
}

/** Run one batch by hand: latestOffset from `start`, then getBatch; returns both. */
export async function nextBatch<R>(
  source: Source<R>,
  start: Offset | null,
  batchId = 0,
): Promise<{ end: Offset | null; rows: R[]; malformed: number; metrics: Record<string, number | string> }> {
  const end = await source.latestOffset(start, { kind: 'default' });
  if (end === null) return { end, rows: [], malformed: 0, metrics: {} };
  const b = await source.getBatch(start, end, { batchId });
  return { end, rows: b.rows, malformed: b.malformedRows ?? 0, metrics: b.metrics ?? {} };
}

export const text = (b: Uint8Array | null): string | null =>
  b === null ? null : Buffer.from(b).toString('utf8');

/** The rejection of `p` (fails if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<any> {
  return p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${String(v)}`);
    },
    (e: unknown) => e,
  );
}
