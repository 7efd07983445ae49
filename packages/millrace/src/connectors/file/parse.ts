/**
 * Turning the text of one input file into rows of a schema, with Spark's
 * three parse modes for bad records:
 *   permissive    keep the row: unparseable fields become null and the raw
 *                 text goes into the corrupt-record column (if the schema has it);
 *                 a record that would leave a non-nullable column null is dropped
 *                 instead (counted, dead-lettered), so rows always fit the schema
 *   dropMalformed drop the row (counted)
 *   failFast      throw MALFORMED_RECORD naming file, line and reason
 */
import { userError } from '../../errors/index.ts';
import type { Field, Schema } from '../../schema/index.ts';
import { readCsv, type CsvField } from './csv.ts';
import { BadValue, fromCsvField, fromJson, quote } from './values.ts';
import { ownValue } from '../../util/own.ts';

export type ParseMode = 'permissive' | 'dropMalformed' | 'failFast';

export interface MalformedRecord {
  readonly file: string;
  readonly line: number;
  readonly reason: string;
  readonly raw: string;
}

export interface ParsePlan {
  readonly schema: Schema<unknown>;
  readonly format: 'jsonl' | 'csv';
  readonly mode: ParseMode;
  /** Set only when the schema has the corrupt-record column. */
  readonly corruptColumn: string | undefined;
  readonly csvHeader: boolean;
  readonly csvDelimiter: string;
  /** Source name for error context. */
  readonly source: string;
}

export interface ParsedFile {
  readonly rows: Record<string, unknown>[];
  readonly malformed: MalformedRecord[];
  /** Malformed records that are not in `rows` (all of them in dropMalformed mode). */
  readonly dropped: number;
}

interface RecordResult {
  values: Record<string, unknown>;
  reasons: string[];
}

const MAX_RAW_IN_MESSAGE = 200;

export function parseFileText(text: string, file: string, plan: ParsePlan): ParsedFile {
  const dataFields = plan.schema.fields.filter((f) => f.name !== plan.corruptColumn);
  const rows: Record<string, unknown>[] = [];
  const malformed: MalformedRecord[] = [];
  let dropped = 0;

  const emit = (res: RecordResult, line: number, raw: string) => {
    let fitsSchema = true;
    for (const f of dataFields) {
      if ((ownValue(res.values, f.name) ?? null) === null && !f.nullable) {
        fitsSchema = false;
        if (ownValue(res.values, f.name) === null || res.reasons.length === 0) {
          res.reasons.push(`column "${f.name}" is missing or null but the schema says it is not nullable`);
        }
      }
    }
    if (res.reasons.length === 0) {
      rows.push(buildRow(plan, res.values, null));
      return;
    }
    const reason = res.reasons.join('; ');
    if (plan.mode === 'failFast') {
      const shown = raw.length > MAX_RAW_IN_MESSAGE ? `${raw.slice(0, MAX_RAW_IN_MESSAGE)}...` : raw;
      throw userError(
        'MALFORMED_RECORD',
        `malformed record in file "${file}" at line ${line}: ${reason}. The record is ${JSON.stringify(shown)}. ` +
          `Fix the input, or set mode 'permissive' (keep the row, raw text in a corrupt-record column) or 'dropMalformed' (skip it)`,
        { source: plan.source, file, line },
      );
    }
    malformed.push({ file, line, reason, raw });
    // Permissive keeps the row with nulls — unless a non-nullable column would be null: the row
    // would break its schema (and its TypeScript type), so it is dropped like dropMalformed.
    if (plan.mode === 'permissive' && fitsSchema) rows.push(buildRow(plan, res.values, raw));
    else dropped++;
  };

  if (plan.format === 'jsonl') parseJsonLines(text, dataFields, emit);
  else parseCsvText(text, dataFields, plan, emit);
  return { rows, malformed, dropped };
}

function buildRow(
  plan: ParsePlan,
  values: Record<string, unknown>,
  corrupt: string | null,
): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const f of plan.schema.fields) {
    row[f.name] = f.name === plan.corruptColumn ? corrupt : (ownValue(values, f.name) ?? null);
  }
  return row;
}

function convertField(f: Field, convert: () => unknown, reasons: string[]): unknown {
  try {
    return convert();
  } catch (e) {
    if (e instanceof BadValue) {
      reasons.push(`column "${f.name}": ${e.message}`);
      return null;
    }
    throw e;
  }
}

type Emit = (res: RecordResult, line: number, raw: string) => void;

function parseJsonLines(text: string, fields: readonly Field[], emit: Emit): void {
  let lineNo = 0;
  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (pos <= text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl === -1) nl = text.length;
    let line = text.slice(pos, nl);
    pos = nl + 1;
    lineNo++;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') continue;
    const values: Record<string, unknown> = {};
    const reasons: string[] = [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (e) {
      reasons.push(`not valid JSON (${(e as Error).message})`);
      emit({ values, reasons }, lineNo, line);
      continue;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      reasons.push(`expected a JSON object, got ${quote(parsed)}`);
      emit({ values, reasons }, lineNo, line);
      continue;
    }
    const obj = parsed as Record<string, unknown>;
    for (const f of fields)
      values[f.name] = convertField(f, () => fromJson(ownValue(obj, f.name), f.type), reasons);
    emit({ values, reasons }, lineNo, line);
  }
}

function parseCsvText(text: string, fields: readonly Field[], plan: ParsePlan, emit: Emit): void {
  const items = readCsv(text, plan.csvDelimiter);
  // Column positions: by header name when there is a header, else by schema order.
  let positions: (number | undefined)[] = fields.map((_, i) => i);
  let expected = fields.length;
  let start = 0;
  if (plan.csvHeader && items.length > 0) {
    const head = items[0]!;
    start = 1;
    if (head.ok) {
      const names = head.fields.map((f) => f.text.trim());
      positions = fields.map((f) => {
        const i = names.indexOf(f.name);
        return i === -1 ? undefined : i;
      });
      expected = names.length;
    } else {
      emit({ values: {}, reasons: [`the header line cannot be read: ${head.reason}`] }, head.line, head.raw);
    }
  }
  for (let k = start; k < items.length; k++) {
    const item = items[k]!;
    if (!item.ok) {
      emit({ values: {}, reasons: [item.reason] }, item.line, item.raw);
      continue;
    }
    const values: Record<string, unknown> = {};
    const reasons: string[] = [];
    if (item.fields.length !== expected) {
      reasons.push(`expected ${expected} fields but the record has ${item.fields.length}`);
    }
    fields.forEach((f, i) => {
      const p = positions[i];
      const cell: CsvField | undefined = p === undefined ? undefined : item.fields[p];
      values[f.name] =
        cell === undefined
          ? null
          : convertField(f, () => fromCsvField(cell.text, cell.quoted, f.type), reasons);
    });
    emit({ values, reasons }, item.line, item.raw);
  }
}
