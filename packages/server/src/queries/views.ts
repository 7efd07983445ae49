/**
 * The JSON shapes the API and the SSE stream give for queries (see
 * http/schemas.ts for their schemas). Everything here is already redacted:
 * progress records are redacted when recorded, explain text when the query starts.
 */
import type { StreamingQueryProgress, Trigger, WaitingFor } from 'millrace';
import { redactText } from '../redact.ts';
import type { HistoryEntry } from './ProgressHistory.ts';
import type { QueryEntry, QueryFailure, QueryHealth, EndReason } from './QueryRegistry.ts';
import { lagOf } from './lag.ts';

export interface QuerySummary {
  readonly id: string;
  readonly runId: string;
  readonly name: string;
  readonly health: QueryHealth;
  readonly endReason: EndReason | null;
  readonly status: {
    readonly message: string;
    readonly isDataAvailable: boolean;
    readonly isTriggerActive: boolean;
    /** What the query's connectors wait for (a broker that went away); empty when nothing. */
    readonly waitingFor: readonly WaitingFor[];
  };
  readonly trigger: string | null;
  readonly restartable: boolean;
  readonly runs: number;
  readonly startedAt: string;
  readonly terminatedAt: string | null;
  readonly lastBatchId: number | null;
  readonly lastProgressAt: string | null;
  readonly numInputRows: number;
  readonly inputRowsPerSecond: number;
  readonly processedRowsPerSecond: number;
  readonly batchDurationMs: number | null;
  readonly watermark: string | null;
  readonly stateRowsTotal: number;
  readonly stateMemoryBytes: number;
  readonly sourceLag: number | null;
  readonly totalInputRows: number;
  readonly totalOutputRows: number;
  readonly failure: QueryFailure | null;
}

export function describeTrigger(t: Trigger): string {
  return t.kind === 'processingTime' ? `processingTime(${t.intervalMs} ms)` : t.kind;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export function querySummary(e: QueryEntry): QuerySummary {
  const last: HistoryEntry | null = e.history.latest();
  const status = e.query?.status ?? { message: 'Unknown', isDataAvailable: false, isTriggerActive: false };
  const active = e.health === 'active';
  // Connectors leave secrets out of what they report; redacting again costs nothing.
  const waitingFor = active ? (status.waitingFor ?? []).map((w) => ({ ...w, what: redactText(w.what) })) : [];
  return {
    id: e.id,
    runId: e.runId,
    name: e.name,
    health: e.health,
    endReason: e.endReason,
    status: {
      message: active ? redactText(status.message) : e.health === 'failed' ? 'Failed' : 'Stopped',
      isDataAvailable: status.isDataAvailable,
      isTriggerActive: status.isTriggerActive,
      waitingFor,
    },
    trigger: e.handle ? describeTrigger(e.handle.trigger) : null,
    restartable: e.handle !== null && e.handle.checkpointLocation !== undefined,
    runs: e.runs,
    startedAt: iso(e.startedAtMs)!,
    terminatedAt: iso(e.terminatedAtMs),
    lastBatchId: last?.batchId ?? null,
    lastProgressAt: last?.timestamp ?? null,
    numInputRows: last?.numInputRows ?? 0,
    inputRowsPerSecond: last?.inputRowsPerSecond ?? 0,
    processedRowsPerSecond: last?.processedRowsPerSecond ?? 0,
    batchDurationMs: last?.batchDuration ?? null,
    watermark: last?.watermark ?? null,
    stateRowsTotal: last?.stateRowsTotal ?? 0,
    stateMemoryBytes: last?.stateMemoryBytes ?? 0,
    sourceLag: last?.sourceLag ?? null,
    totalInputRows: e.totalInputRows,
    totalOutputRows: e.totalOutputRows,
    failure: e.failure,
  };
}

export interface SinkView {
  readonly name: string | null;
  readonly description: string;
  readonly kind: 'memory' | 'dashboard' | 'other';
  /** Whether GET /queries/{q}/rows serves this sink's rows. */
  readonly rowsAvailable: boolean;
  readonly numOutputRows: number;
  readonly metrics: Record<string, unknown>;
}

export interface QueryDetail extends QuerySummary {
  readonly explain: string;
  readonly checkpointLocation: string | null;
  readonly lastProgress: StreamingQueryProgress | null;
  readonly sources: {
    readonly name: string;
    readonly description: string;
    readonly startOffset: unknown;
    readonly endOffset: unknown;
    readonly latestOffset: unknown;
    readonly lag: number | null;
    readonly numInputRows: number;
    readonly inputRowsPerSecond: number;
    readonly processedRowsPerSecond: number;
    readonly numMalformedRows: number;
    readonly metrics: Record<string, unknown>;
  }[];
  readonly sink: SinkView | null;
  readonly stateOperators: StreamingQueryProgress['stateOperators'];
  readonly history: { readonly size: number; readonly capacity: number; readonly fullRecordsKept: number };
}

export function queryDetail(
  e: QueryEntry,
  sinkInfo: (e: QueryEntry) => Pick<SinkView, 'name' | 'kind' | 'rowsAvailable'> | null,
): QueryDetail {
  const p = e.recent.last() ?? null;
  const info = sinkInfo(e);
  const sink: SinkView | null =
    p || info
      ? {
          name: info?.name ?? null,
          kind: info?.kind ?? 'other',
          rowsAvailable: info?.rowsAvailable ?? false,
          description: p?.sink.description ?? '',
          numOutputRows: p?.sink.numOutputRows ?? 0,
          metrics: { ...(p?.sink.metrics ?? {}) },
        }
      : null;
  return {
    ...querySummary(e),
    explain: e.explain,
    checkpointLocation: e.handle?.checkpointLocation ?? null,
    lastProgress: p,
    sources: (p?.sources ?? []).map((s) => ({
      name: s.name,
      description: s.description,
      startOffset: s.startOffset,
      endOffset: s.endOffset,
      latestOffset: s.latestOffset,
      lag: lagOf(s),
      numInputRows: s.numInputRows,
      inputRowsPerSecond: s.inputRowsPerSecond,
      processedRowsPerSecond: s.processedRowsPerSecond,
      numMalformedRows: s.numMalformedRows,
      metrics: { ...s.metrics },
    })),
    sink,
    stateOperators: p?.stateOperators ?? [],
    history: { size: e.history.size, capacity: e.history.capacity, fullRecordsKept: e.recent.size },
  };
}
