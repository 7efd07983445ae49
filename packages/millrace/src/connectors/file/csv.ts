/**
 * CSV records with line numbers, raw text and per-field quoting (to tell a
 * null — an unquoted empty field — from an empty string), on top of
 * csv-parse/sync. A file that csv-parse rejects is re-read record by record so
 * one bad record does not take the rest of the file with it.
 */
import { parse } from 'csv-parse/sync';

export interface CsvField {
  readonly text: string;
  readonly quoted: boolean;
}

export type CsvItem =
  | { readonly ok: true; readonly fields: CsvField[]; readonly line: number; readonly raw: string }
  | { readonly ok: false; readonly line: number; readonly raw: string; readonly reason: string };

interface ParsedRecord {
  record: CsvField[];
  raw: string;
  info: { lines: number };
}

function parseAll(text: string, delimiter: string): ParsedRecord[] {
  return parse(text, {
    delimiter,
    bom: true,
    relax_column_count: true,
    skip_empty_lines: true,
    raw: true,
    info: true,
    cast: (value: string, ctx: { quoting: boolean }) => ({ text: value, quoted: ctx.quoting }),
  } as never) as unknown as ParsedRecord[];
}

function cleanRaw(raw: string): string {
  return raw
    .replace(/^(?:\r?\n)+/, '')
    .replace(/\r?\n$/, '')
    .replace(/\r$/, '');
}

function countNewlines(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i !== -1; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

const REASONS: Record<string, string> = {
  CSV_INVALID_CLOSING_QUOTE: 'a closing quote is followed by other text instead of a delimiter or line end',
  CSV_QUOTE_NOT_CLOSED: 'a quoted field is never closed',
  CSV_INVALID_OPENING_QUOTE: 'a quote appears inside an unquoted field',
  INVALID_OPENING_QUOTE: 'a quote appears inside an unquoted field',
};

function reasonOf(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code && REASONS[e.code]) return REASONS[e.code]!;
  return `invalid CSV: ${String(e.message ?? err).replace(/\s*at line \d+/g, '')}`;
}

/** All records of a CSV text, in order; bad records come back as `{ ok: false }` items. */
export function readCsv(text: string, delimiter: string): CsvItem[] {
  try {
    return parseAll(text, delimiter).map((r) => {
      const raw = cleanRaw(r.raw);
      return { ok: true as const, fields: r.record, line: r.info.lines - countNewlines(raw), raw };
    });
  } catch {
    return readCsvSlowly(text.replace(/^\uFEFF/, ''), delimiter);
  }
}

/**
 * Records are split where the number of quote characters so far is even; a
 * chunk that does not parse marks only its first line as bad and reading
 * continues on the next line.
 */
function readCsvSlowly(text: string, delimiter: string): CsvItem[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const out: CsvItem[] = [];
  let i = 0;
  while (i < lines.length) {
    const first = lines[i]!;
    if (first.replace(/\r$/, '') === '') {
      i++;
      continue;
    }
    let quotes = countQuotes(first);
    let j = i;
    while (quotes % 2 === 1 && j + 1 < lines.length) {
      j++;
      quotes += countQuotes(lines[j]!);
    }
    const chunk = lines.slice(i, j + 1).join('\n');
    try {
      const recs = parseAll(chunk, delimiter);
      if (recs.length !== 1) throw new Error('more than one record');
      out.push({ ok: true, fields: recs[0]!.record, line: i + 1, raw: cleanRaw(chunk) });
      i = j + 1;
    } catch (err) {
      out.push({ ok: false, line: i + 1, raw: first.replace(/\r$/, ''), reason: reasonOf(err) });
      i++;
    }
  }
  return out;
}

function countQuotes(s: string): number {
  let n = 0;
  for (let i = s.indexOf('"'); i !== -1; i = s.indexOf('"', i + 1)) n++;
  return n;
}

/** One CSV line (with '\n'); null fields are empty, empty strings are `""`. */
export function csvLine(fields: readonly (string | null)[], delimiter = ','): string {
  // A lone null field would make an empty line, which readers skip: write "" so the row survives.
  if (fields.length === 1 && fields[0] === null) return '""\n';
  return (
    fields
      .map((f) => {
        if (f === null) return '';
        if (f === '') return '""';
        if (f.includes(delimiter) || /["\r\n]/.test(f) || /^\s|\s$/.test(f))
          return `"${f.replace(/"/g, '""')}"`;
        return f;
      })
      .join(delimiter) + '\n'
  );
}
