/** The API's JSON shapes, as the server declares them (type-only: nothing of the server is bundled). */
export type {
  QuerySummary,
  QueryDetail,
  HistoryEntry,
  DashboardInfo,
  DashboardPoint,
  AlertRuleView,
  AlertEvent,
  AlertInstanceView,
} from '../../src/index.ts';
import type { HistoryEntry, QuerySummary } from '../../src/index.ts';

export interface HistoryPage {
  readonly query: string;
  readonly capacity: number;
  readonly oldestBatchId: number | null;
  readonly newestBatchId: number | null;
  readonly hasMore: boolean;
  readonly entries: HistoryEntry[];
}

export interface QueryProgressEvent {
  readonly query: QuerySummary;
  readonly entry: HistoryEntry;
}

export interface DashboardRowsEvent {
  readonly dashboard: string;
  readonly query: string;
  readonly batchId: number;
  readonly replaced: boolean;
  readonly size: number;
  readonly truncated: boolean;
  readonly rows: unknown[];
}

/** Where a query's page is. */
export function queryHref(nameOrId: string): string {
  return `/queries/${encodeURIComponent(nameOrId)}`;
}

export function dashboardHref(name: string): string {
  return `/dashboards/${encodeURIComponent(name)}`;
}
