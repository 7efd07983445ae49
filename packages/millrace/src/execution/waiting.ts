/**
 * What the query's connectors are waiting for (ConnectorContext.reportWaiting), folded into the
 * query status. Between batches the status is otherwise "Waiting for data to arrive" while a
 * broker is down: a user must see that the query waits for a service, not for data.
 */
import type { StreamingQueryStatus, WaitingFor } from './progress.ts';

export class WaitingBoard {
  private readonly entries = new Map<string, WaitingFor>();
  private closed = false;

  /** `onChange` runs after every change, to publish the status again. */
  constructor(
    private readonly now: () => number,
    private readonly onChange: () => void,
  ) {}

  /** The reportWaiting function for one connector's context (`source "orders"`, `sink "out"`). */
  reporter(connector: string): (what: string | null) => void {
    return (what) => {
      // A connector's background reconnect may report after the query stopped: ignore it.
      if (this.closed) return;
      const current = this.entries.get(connector);
      if (what === null || what === '') {
        if (!current) return;
        this.entries.delete(connector);
      } else {
        if (current?.what === what) return;
        // Keep `since` across a changed reason (another error text): it is one outage.
        const since = current?.since ?? new Date(this.now()).toISOString();
        this.entries.set(connector, { connector, what, since });
      }
      this.onChange();
    };
  }

  list(): readonly WaitingFor[] {
    return [...this.entries.values()];
  }

  /** Forget everything and ignore later reports (the query is stopping). */
  close(): void {
    this.closed = true;
    this.entries.clear();
  }
}

/** The status to show: `base`, or while anything is awaited, a message that says what. */
export function withWaiting(
  base: StreamingQueryStatus,
  waiting: readonly WaitingFor[],
): StreamingQueryStatus {
  if (waiting.length === 0) return base;
  const message = waiting.map((w) => `Waiting for ${w.what}`).join('; ');
  return { ...base, message, waitingFor: waiting };
}
