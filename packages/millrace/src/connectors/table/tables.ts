/**
 * Static tables for stream–table joins (`stream.join(table, …)`): rows given in code, rows a
 * function loads (a database query, an HTTP call), or files in a directory. See TableSource in
 * ../contracts.ts for when they are loaded and refreshed.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { externalError, userError } from '../../errors/index.ts';
import { Schema } from '../../schema/index.ts';
import { parseDuration } from '../../util/durations.ts';
import type { TableSource } from '../contracts.ts';
import { isIgnoredFileName } from '../file/FileSource.ts';
import { parseFileText } from '../file/parse.ts';

export interface StaticTableOptions<R> {
  readonly schema: Schema<R>;
  /** Shown in explain and progress. Default `table`. */
  readonly name?: string;
  /** The rows (checked against the schema once). */
  readonly rows?: readonly R[];
  /** Or a function returning the rows, called at start and at each refresh. */
  readonly load?: () => readonly R[] | Promise<readonly R[]>;
  /** With `load`: load again this often (e.g. '5 minutes'). Default: once per query start. */
  readonly refreshInterval?: string | number;
}

/** A table from rows in code, or from a function that loads them (optionally refreshed). */
export function staticTable<R>(options: StaticTableOptions<R>): TableSource<R> {
  const where = 'staticTable';
  if (!(options?.schema instanceof Schema)) {
    throw userError(
      'INVALID_ARGUMENT',
      `${where}: give the table's schema, e.g. schema({ id: t.long, name: t.string })`,
    );
  }
  const { schema } = options;
  const name = checkName(options.name ?? 'table', where);
  if ((options.rows === undefined) === (options.load === undefined)) {
    throw userError(
      'INVALID_ARGUMENT',
      `${where} "${name}": give either rows or load (a function returning the rows)`,
    );
  }
  if (options.rows !== undefined && !Array.isArray(options.rows)) {
    throw userError('INVALID_ARGUMENT', `${where} "${name}": rows must be an array`);
  }
  if (options.refreshInterval !== undefined && options.load === undefined) {
    throw userError(
      'INVALID_ARGUMENT',
      `${where} "${name}": refreshInterval needs load (rows given in code never change)`,
    );
  }
  const refreshIntervalMs = refresh(options.refreshInterval, `${where} "${name}"`);
  const rows = options.rows !== undefined ? checkRows(options.rows, schema, name) : undefined;
  const load = options.load;
  return {
    name,
    schema,
    refreshIntervalMs,
    describe: () =>
      rows !== undefined
        ? `StaticTable[${name}, ${rows.length} rows]`
        : `StaticTable[${name}, loaded by a function${refreshIntervalMs ? `, every ${refreshIntervalMs} ms` : ''}]`,
    async load() {
      if (rows !== undefined) return rows;
      return checkRows(await load!(), schema, name);
    },
  };
}

export interface FileTableOptions<R> {
  /** A directory (every file in it, names starting with `.` or `_` ignored) or one file. */
  readonly path: string;
  readonly format: 'jsonl' | 'csv';
  readonly schema: Schema<R>;
  readonly name?: string;
  /** CSV: the first line names the columns. Default false. */
  readonly header?: boolean;
  /** Read the files again this often. Default: once per query start. */
  readonly refreshInterval?: string | number;
}

/** A table read from JSON-lines or CSV files; a malformed record fails the load, naming file and line. */
export function fileTable<R>(options: FileTableOptions<R>): TableSource<R> {
  const where = 'fileTable';
  if (!(options?.schema instanceof Schema)) {
    throw userError('INVALID_ARGUMENT', `${where}: give the table's schema`);
  }
  if (typeof options.path !== 'string' || options.path === '') {
    throw userError('INVALID_ARGUMENT', `${where}: give a path (a directory or a file)`);
  }
  if (options.format !== 'jsonl' && options.format !== 'csv') {
    throw userError(
      'INVALID_ARGUMENT',
      `${where}: format must be 'jsonl' or 'csv', got ${JSON.stringify(options.format)}`,
    );
  }
  const name = checkName(options.name ?? path.basename(options.path), where);
  const refreshIntervalMs = refresh(options.refreshInterval, `${where} "${name}"`);
  const root = path.resolve(options.path);
  const plan = {
    schema: options.schema as Schema<unknown>,
    format: options.format,
    mode: 'failFast' as const,
    corruptColumn: undefined,
    csvHeader: options.header ?? false,
    csvDelimiter: ',',
    source: name,
  };
  return {
    name,
    schema: options.schema,
    refreshIntervalMs,
    describe: () => `FileTable[${root}, ${options.format}]`,
    async load() {
      let files: string[];
      try {
        const st = await fsp.stat(root);
        files = st.isDirectory()
          ? (await fsp.readdir(root))
              .filter((f) => !isIgnoredFileName(f))
              .sort()
              .map((f) => path.join(root, f))
          : [root];
      } catch (e) {
        throw externalError(
          'TABLE_LOAD_FAILED',
          `table "${name}": cannot read ${root}: ${(e as Error).message}; check that the path exists and is readable`,
          { cause: e, retryable: true, context: { table: name, file: root } },
        );
      }
      const rows: R[] = [];
      for (const f of files) {
        const text = await fsp.readFile(f, 'utf8');
        for (const r of parseFileText(text, f, plan).rows) rows.push(r as R);
      }
      return rows;
    },
  };
}

function checkName(name: unknown, where: string): string {
  if (typeof name !== 'string' || name === '')
    throw userError('INVALID_ARGUMENT', `${where}: name must be a non-empty string`);
  return name;
}

function refresh(v: string | number | undefined, where: string): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseDuration(v, `${where} refreshInterval`);
  if (ms <= 0) throw userError('INVALID_DURATION', `${where}: refreshInterval must be positive`);
  return ms;
}

/** Rows must have the schema's columns; a missing non-nullable value is refused with the row's index. */
function checkRows<R>(rows: readonly R[], schema: Schema<R>, name: string): readonly R[] {
  if (!Array.isArray(rows)) {
    throw userError(
      'INVALID_TABLE',
      `table "${name}": load() must return an array of rows, got ${typeof rows}`,
    );
  }
  return rows.map((r, i) => {
    if (r === null || typeof r !== 'object') {
      throw userError(
        'INVALID_TABLE',
        `table "${name}": row ${i} is ${r === null ? 'null' : typeof r}, not an object`,
      );
    }
    for (const f of schema.fields) {
      const v = (r as Record<string, unknown>)[f.name];
      if ((v === undefined || v === null) && !f.nullable) {
        throw userError(
          'INVALID_TABLE',
          `table "${name}": row ${i} has no value for the non-nullable column "${f.name}"; give one or declare it .orNull()`,
        );
      }
    }
    // Missing nullable columns read as null (joined rows never carry undefined).
    const out: Record<string, unknown> = {};
    for (const f of schema.fields) out[f.name] = (r as Record<string, unknown>)[f.name] ?? null;
    return out as R;
  });
}
