/**
 * Request bodies → events. Each event is one JSON object and becomes one
 * record whose value is its JSON text:
 *
 *   application/json       one object, or an array of objects
 *                          (value: the body as sent for one object; each
 *                          element re-serialised for an array)
 *   application/x-ndjson   one object per line, blank lines skipped
 *                          (value: the line as sent, trimmed)
 *
 * Errors name the line (NDJSON), the array index or the position (JSON), and
 * the JSON parser's message; any error rejects the whole request.
 */
import { quote } from '../errors.ts';

export interface IngestEvent {
  /** The record value: the event's JSON text. */
  readonly text: string;
  readonly parsed: Record<string, unknown>;
}

export class BodyError extends Error {
  constructor(
    readonly status: 400 | 413,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  const type = typeof v;
  return `${type === 'object' || type === 'undefined' ? 'an' : 'a'} ${type} (${quote(v)})`;
}

/** "line 3, column 7" for a character position in `text`. */
function lineColumn(text: string, pos: number): string {
  let line = 1;
  let start = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return `line ${line}, column ${pos - start + 1}`;
}

function tooMany(n: string, max: number): BodyError {
  return new BodyError(
    413,
    'INGEST_TOO_MANY_EVENTS',
    `the request has ${n} events, more than the limit of ${max} per request (maxEventsPerRequest); split them over several requests`,
  );
}

export function parseJsonBody(text: string, maxEvents: number): IngestEvent[] {
  const body = text.trim();
  if (body === '') {
    throw new BodyError(
      400,
      'INGEST_EMPTY_BODY',
      'the request body is empty; send one JSON object or an array of objects',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /position (\d+)/.exec(msg);
    const where = pos ? ` at ${lineColumn(body, Number(pos[1]))}` : '';
    throw new BodyError(400, 'INGEST_BAD_JSON', `the body is not valid JSON${where}: ${msg}`);
  }
  if (Array.isArray(parsed)) {
    if (parsed.length === 0) {
      throw new BodyError(400, 'INGEST_EMPTY_BODY', 'the body is an empty array; send at least one event');
    }
    if (parsed.length > maxEvents) throw tooMany(String(parsed.length), maxEvents);
    return parsed.map((el, i) => {
      if (el === null || typeof el !== 'object' || Array.isArray(el)) {
        throw new BodyError(
          400,
          'INGEST_NOT_AN_OBJECT',
          `event ${i} of the array is ${describe(el)}; each event must be a JSON object`,
        );
      }
      return { text: JSON.stringify(el), parsed: el as Record<string, unknown> };
    });
  }
  if (parsed === null || typeof parsed !== 'object') {
    throw new BodyError(
      400,
      'INGEST_NOT_AN_OBJECT',
      `the body is ${describe(parsed)}; send one JSON object or an array of objects`,
    );
  }
  return [{ text: body, parsed: parsed as Record<string, unknown> }];
}

export function parseNdjsonBody(text: string, maxEvents: number): IngestEvent[] {
  const out: IngestEvent[] = [];
  let line = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line++;
    const raw = text.slice(start, end).trim();
    start = end + 1;
    if (raw === '') continue;
    if (out.length >= maxEvents) throw tooMany(`more than ${maxEvents}`, maxEvents);
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch (e) {
      throw new BodyError(400, 'INGEST_BAD_JSON', `line ${line} is not valid JSON: ${(e as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new BodyError(
        400,
        'INGEST_NOT_AN_OBJECT',
        `line ${line} is ${describe(parsed)}; each line must be one JSON object`,
      );
    }
    out.push({ text: raw, parsed: parsed as Record<string, unknown> });
  }
  if (out.length === 0) {
    throw new BodyError(400, 'INGEST_EMPTY_BODY', 'the body has no events; send one JSON object per line');
  }
  return out;
}

/** The record key of an event from its field `field`: strings as is, numbers and booleans as text, missing/null → no key. */
export function keyOf(e: IngestEvent, field: string, index: number): string | null {
  const v = e.parsed[field];
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new BodyError(
    400,
    'INGEST_BAD_KEY',
    `event ${index}: the key field "${field}" is ${describe(v)}; a key must be a string, a number or a boolean`,
  );
}
