/** `millrace status | stop | restart`: talk to a running service over its REST API. */
import type { QuerySummary } from '../queries/views.ts';
import { CliError, EXIT, fmtNumber, textTable } from './args.ts';

import { DEFAULT_URL } from '../defaults.ts';

export interface RemoteOptions {
  readonly url: string;
  readonly token?: string;
}

async function call(
  command: string,
  o: RemoteOptions,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; json: any }> {
  let base: URL;
  try {
    base = new URL(o.url);
  } catch {
    throw new CliError(
      `millrace ${command}: --url "${o.url}" is not a URL; give e.g. ${DEFAULT_URL}`,
      EXIT.usage,
    );
  }
  let res: Response;
  try {
    res = await fetch(new URL(path, base), {
      method,
      headers: {
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new CliError(
      `millrace ${command}: cannot reach the service at ${base.origin} (${cause}); is \`millrace run\` running there? Give its address with --url`,
      EXIT.unreachable,
    );
  }
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    throw new CliError(
      `millrace ${command}: ${base.origin} answered ${res.status} with something that is not the Millrace API`,
      EXIT.failure,
    );
  }
  if (res.status >= 400) {
    const err = json?.error ?? {};
    const hint = res.status === 401 ? ' (give --token or set MILLRACE_TOKEN)' : '';
    throw new CliError(
      `millrace ${command}: ${err.code ?? res.status}: ${err.message ?? text}${hint}`,
      EXIT.failure,
    );
  }
  return { status: res.status, json };
}

function age(iso: string | null): string {
  return iso ?? '-';
}

export function formatQueries(queries: readonly QuerySummary[]): string {
  if (queries.length === 0) return 'No queries.';
  return textTable(
    [
      'NAME',
      'HEALTH',
      'STATUS',
      'BATCH',
      'IN ROWS/S',
      'PROC ROWS/S',
      'BATCH MS',
      'WATERMARK',
      'LAG',
      'FAILURE',
    ],
    queries.map((q) => [
      q.name,
      q.health,
      q.status.message,
      q.lastBatchId === null ? '-' : String(q.lastBatchId),
      fmtNumber(q.inputRowsPerSecond),
      fmtNumber(q.processedRowsPerSecond),
      q.batchDurationMs === null ? '-' : fmtNumber(q.batchDurationMs),
      age(q.watermark),
      q.sourceLag === null ? '-' : fmtNumber(q.sourceLag),
      q.failure ? `${q.failure.code}: ${q.failure.message}`.slice(0, 80) : '',
    ]),
  );
}

export async function status(o: RemoteOptions & { json: boolean }): Promise<string> {
  const { json } = await call('status', o, 'GET', '/api/v1/queries');
  const queries = json.queries as QuerySummary[];
  return o.json ? JSON.stringify(queries, null, 2) : formatQueries(queries);
}

export async function stop(
  o: RemoteOptions & { query: string; abandon: boolean; json: boolean },
): Promise<string> {
  const { status: code, json } = await call(
    'stop',
    o,
    'POST',
    `/api/v1/queries/${encodeURIComponent(o.query)}/stop`,
    {
      abandonCurrentBatch: o.abandon,
    },
  );
  if (o.json) return JSON.stringify(json, null, 2);
  return code === 202
    ? `Query "${json.query.name}" is stopping (finishing its current batch).`
    : `Query "${json.query.name}" stopped (${json.query.health}).`;
}

export async function restart(o: RemoteOptions & { query: string; json: boolean }): Promise<string> {
  const { json } = await call(
    'restart',
    o,
    'POST',
    `/api/v1/queries/${encodeURIComponent(o.query)}/restart`,
    {},
  );
  return o.json
    ? JSON.stringify(json, null, 2)
    : `Query "${json.name}" restarted (run ${json.runs}, runId ${json.runId}).`;
}
