/**
 * Reading back what a fileSink committed: only files named in
 * `_millrace_manifest/<batchId>` entries count (leftovers of a crashed batch
 * and temp files are ignored), partition columns are re-added from the
 * `col=value` directories.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { externalError, userError } from '../../errors/index.ts';
import type { Row } from '../../schema/index.ts';
import { readIfExists } from '../../util/fs.ts';
import { MANIFEST_DIR, MANIFEST_VERSION, type ManifestEntry } from './FileSink.ts';
import { decodeRows } from './formats.ts';
import { BadValue, parsePartitionValue, unescapePathName } from './values.ts';

/** The committed manifest entries of a fileSink output directory, by batch id. */
export async function readFileSinkManifest(outputPath: string): Promise<ManifestEntry[]> {
  const dir = path.resolve(outputPath);
  const manifestDir = path.join(dir, MANIFEST_DIR);
  let names: string[];
  try {
    names = await fsp.readdir(manifestDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (!(await fsp.stat(dir).catch(() => undefined))) {
      throw userError(
        'PATH_NOT_FOUND',
        `readFileSinkOutput: ${dir} does not exist; pass the fileSink's output "path"`,
      );
    }
    return []; // nothing committed yet
  }
  const ids = names
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
  const entries: ManifestEntry[] = [];
  for (const id of ids) {
    const file = path.join(manifestDir, String(id));
    const text = await readIfExists(file);
    if (text === undefined) continue;
    const nl = text.indexOf('\n');
    const version = text.slice(0, nl);
    if (version !== MANIFEST_VERSION) {
      throw externalError(
        'MANIFEST_VERSION',
        `the file sink manifest ${file} has version ${JSON.stringify(version)}; this Millrace reads ${MANIFEST_VERSION}`,
        { retryable: false },
      );
    }
    entries.push(JSON.parse(text.slice(nl + 1)) as ManifestEntry);
  }
  return entries;
}

/**
 * All rows committed to a fileSink output directory, batch by batch, with
 * partition columns re-added. Values have Millrace's runtime types
 * (timestamps as epoch ms, dates as days, …), using the schema recorded in
 * each manifest entry.
 */
export async function readFileSinkOutput(outputPath: string): Promise<Row[]> {
  const dir = path.resolve(outputPath);
  const out: Row[] = [];
  for (const entry of await readFileSinkManifest(dir)) {
    const partCols = new Set(entry.partitionBy);
    const dataFields = entry.schema.filter((f) => !partCols.has(f.name));
    for (const f of entry.files) {
      const file = path.join(dir, ...f.path.split('/'));
      let bytes: Uint8Array;
      try {
        bytes = await fsp.readFile(file);
      } catch (err) {
        throw externalError(
          'SINK_FILE_MISSING',
          `readFileSinkOutput: ${file}, committed in batch ${entry.batchId}, cannot be read: ${(err as Error).message}`,
          {
            cause: err,
            retryable: false,
          },
        );
      }
      // Partition values from the `col=value` directories.
      const partValues: Record<string, unknown> = {};
      for (const seg of f.path.split('/').slice(0, -1)) {
        const eq = seg.indexOf('=');
        if (eq === -1) continue;
        const col = unescapePathName(seg.slice(0, eq));
        const field = entry.schema.find((x) => x.name === col);
        if (field && partCols.has(col)) partValues[col] = parsePartitionValue(seg.slice(eq + 1), field.type);
      }
      let rows: Record<string, unknown>[];
      try {
        rows = await decodeRows(bytes, dataFields, entry.format, entry.csvHeader);
      } catch (err) {
        const msg = err instanceof BadValue || err instanceof Error ? err.message : String(err);
        throw externalError('SINK_FILE_CORRUPT', `readFileSinkOutput: cannot read ${file}: ${msg}`, {
          cause: err,
          retryable: false,
        });
      }
      for (const r of rows) {
        const row: Row = {};
        for (const fld of entry.schema)
          row[fld.name] = partCols.has(fld.name) ? (partValues[fld.name] ?? null) : r[fld.name];
        out.push(row);
      }
    }
  }
  return out;
}
