/**
 * The service's own durable state: alert history, alert rule state (pending /
 * firing instances, cooldowns) and dashboard contents, in one LMDB environment
 * (`stateDir`, e.g. `.millrace/service` beside the queries' checkpoints). Without
 * it, a restart empties the alert history and the dashboards, and an alert that
 * was firing fires (and notifies) again.
 *
 *   key                         value                                   bounded by
 *   ['alert', id]               AlertEvent                              alertHistorySize (oldest deleted)
 *   ['rule', name]              { conditionText, labels, instances,     maxInstancesPerRule
 *                                 lastFired }
 *   ['dashboard', name]         DashboardState (rows, lastBatchId, …)   the dashboard's maxRows
 *
 * Writes: an alert event and its rule's state go in ONE synchronous, fsynced
 * transaction (an event is never durable without the state that produced it, so
 * a restart neither loses a firing nor fires it twice). Rule state without an
 * event, and dashboards, are written asynchronously (LMDB batches them); a crash
 * can lose the last few milliseconds, which the next batch or the replayed batch
 * (dashboards are idempotent by batch id) repairs. `close()` waits for them.
 *
 * What is restored is matched by name: a rule restores its instances only if its
 * condition and labels are unchanged (a changed rule starts afresh).
 */
import { mkdirSync } from 'node:fs';
import { open, type RootDatabase } from 'lmdb';
import { externalError } from '../util/errors.ts';

/** An alert instance as stored (its decisive row JSON-safe and redacted). */
export interface StoredInstance {
  readonly key: string;
  readonly labels: Record<string, string>;
  readonly state: 'pending' | 'firing';
  readonly since: number;
  readonly firedAtMs: number | null;
  readonly value: unknown;
}

export interface StoredRuleState {
  readonly conditionText: string;
  readonly labels: readonly string[];
  readonly instances: readonly StoredInstance[];
  readonly lastFired: readonly (readonly [string, number])[];
}

export interface DashboardState {
  readonly queryId: string;
  readonly queryName: string | null;
  readonly lastBatchId: number | null;
  readonly updatedAtMs: number | null;
  readonly appendSeq: number;
  readonly skipped: number;
  readonly rows: readonly (readonly [string, unknown])[];
}

type Key = ['alert', number] | ['rule', string] | ['dashboard', string];

export class ServiceState {
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly db: RootDatabase<unknown, Key>,
  ) {}

  /** Open (creating) the state directory. */
  static open(dir: string): ServiceState {
    try {
      mkdirSync(dir, { recursive: true });
      const db = open<unknown, Key>({ path: dir, compression: false });
      return new ServiceState(dir, db);
    } catch (e) {
      throw externalError(
        'SERVICE_STATE_UNAVAILABLE',
        `cannot open the service state in ${dir}: ${(e as Error).message}; check the directory's permissions and free space, or give another stateDir`,
        { cause: e, retryable: false },
      );
    }
  }

  /** The alert events kept, oldest first. */
  alertHistory(): unknown[] {
    const out: unknown[] = [];
    for (const { value } of this.db.getRange({
      start: ['alert', 0],
      end: ['alert', Number.MAX_SAFE_INTEGER],
    })) {
      out.push(value);
    }
    return out;
  }

  rule(name: string): StoredRuleState | undefined {
    return this.db.get(['rule', name]) as StoredRuleState | undefined;
  }

  dashboard(name: string): DashboardState | undefined {
    return this.db.get(['dashboard', name]) as DashboardState | undefined;
  }

  /**
   * A rule's state after a batch, with the events it emitted (ids ascending). With events: one
   * synchronous, fsynced transaction that also deletes events older than the newest `keep`.
   */
  saveAlerts(name: string, state: StoredRuleState, events: readonly { id: number }[], keep: number): void {
    if (this.closed) return;
    if (events.length === 0) {
      void this.db.put(['rule', name], state);
      return;
    }
    this.db.transactionSync(() => {
      for (const e of events) void this.db.put(['alert', e.id], e);
      void this.db.put(['rule', name], state);
      const newest = events[events.length - 1]!.id;
      for (const k of this.db.getKeys({ start: ['alert', 0], end: ['alert', newest - keep + 1] })) {
        void this.db.remove(k);
      }
    });
  }

  saveDashboard(name: string, state: DashboardState): void {
    if (this.closed) return;
    void this.db.put(['dashboard', name], state);
  }

  /** Wait for pending writes to be on disk, then close. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.flushed;
    await this.db.close();
  }
}
