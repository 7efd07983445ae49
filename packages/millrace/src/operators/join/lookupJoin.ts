/**
 * A stream joined with a static table (Spark's stream–static join): stateless. The table is
 * loaded into a hash index by its key columns when the query starts (and again every
 * `refreshIntervalMs`, before a batch, if the table source sets one); each stream row looks
 * its key up and is emitted once per matching table row (inner), or with nulls for the table's
 * columns when nothing matches (left outer).
 *
 *   batch N:  table.prepare(now) ── refresh due? ──► load() ──► index Map<key text, rows>
 *             stream row ── key text ──► index.get ──► residual(row, match)? ──► output rows
 *
 * A refresh that fails keeps the previous rows (logged, counted); the first load failing fails
 * the query. A replayed batch joins with the table as loaded then — as in Spark, where the
 * static side is read again; use a versioned table if replays must see the old rows.
 */
import { MillraceError, externalError } from '../../errors/index.ts';
import type { TableSource } from '../../connectors/contracts.ts';
import type { Row } from '../../schema/index.ts';
import type { Clock } from '../../util/clock.ts';
import type { Logger } from '../../util/logger.ts';
import type { KeyText } from './joinRows.ts';

export class LookupTable {
  private index = new Map<string, Row[]>();
  private loadedAtMs: number | undefined;
  /** Figures for progress. */
  rows = 0;
  loads = 0;
  refreshFailures = 0;

  constructor(
    readonly source: TableSource<any>,
    private readonly keyText: KeyText,
  ) {}

  /** Load the table if it never was, or refresh it if its interval has passed. */
  async prepare(nowMs: number, clock: Clock, log: Logger): Promise<void> {
    const interval = this.source.refreshIntervalMs;
    if (this.loadedAtMs !== undefined && (interval === undefined || nowMs - this.loadedAtMs < interval))
      return;
    let rows: readonly Row[];
    try {
      rows = (await this.source.load({ clock, log })) as readonly Row[];
      if (!Array.isArray(rows)) {
        throw new TypeError(`load() must resolve to an array of rows, got ${typeof rows}`);
      }
    } catch (e) {
      if (this.loadedAtMs !== undefined) {
        // Keep serving the rows we have; try again at the next interval.
        this.refreshFailures++;
        this.loadedAtMs = nowMs;
        log.warn('lookup table refresh failed; keeping the previous rows', {
          table: this.source.name,
          error: (e as Error).message,
        });
        return;
      }
      if (e instanceof MillraceError) throw e;
      throw externalError(
        'TABLE_LOAD_FAILED',
        `table "${this.source.name}" (${this.source.describe()}) could not be loaded: ${(e as Error).message}`,
        { cause: e, retryable: true, context: { table: this.source.name } },
      );
    }
    const index = new Map<string, Row[]>();
    for (const r of rows) {
      const k = this.keyText(r);
      if (k === null) continue; // a null key matches nothing
      const bucket = index.get(k);
      if (bucket) bucket.push(r);
      else index.set(k, [r]);
    }
    this.index = index;
    this.rows = rows.length;
    this.loads++;
    this.loadedAtMs = nowMs;
  }

  lookup(key: string): readonly Row[] | undefined {
    return this.index.get(key);
  }
}

export interface LookupJoinSpec {
  readonly table: LookupTable;
  readonly outer: boolean;
  readonly streamKey: KeyText;
  readonly residual: ((joined: Row) => boolean) | null;
  readonly joinedRow: (l: Row | null, r: Row | null) => Row;
  readonly outputRow: (l: Row | null, r: Row | null) => Row;
}

/** The per-row function of the pipeline step: a stream row to its output rows. */
export function lookupJoinFn(spec: LookupJoinSpec): (row: Row) => Row[] {
  const { table, outer, streamKey, residual, joinedRow, outputRow } = spec;
  const none: Row[] = [];
  return (row) => {
    const k = streamKey(row);
    const matches = k === null ? undefined : table.lookup(k);
    if (matches === undefined) return outer ? [outputRow(row, null)] : none;
    const out: Row[] = [];
    for (let i = 0; i < matches.length; i++) {
      const m = matches[i]!;
      if (residual !== null && !residual(joinedRow(row, m))) continue;
      out.push(outputRow(row, m));
    }
    if (out.length === 0 && outer) out.push(outputRow(row, null));
    return out;
  };
}
