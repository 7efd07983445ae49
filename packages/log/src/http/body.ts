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
 *
 * Hostile input is refused before it reaches JSON.parse or the log:
 *   - bytes that are not valid UTF-8 (JSON must be UTF-8, RFC 8259 §8.1) →
 *     400 naming the byte offset, instead of silently storing U+FFFD;
 *   - events nested deeper than `maxDepth` containers (Jackson's default limit
 *     is 1000) → 400, instead of a stack overflow when an array element is
 *     re-serialised (or when a consumer walks the value recursively).
 */
import { isUtf8 } from 'node:buffer';
import { ownValue } from 'millrace';
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

/**
 * The body's bytes as text, or a 400 naming the first byte that is not valid
 * UTF-8 (a lone continuation byte, a truncated or overlong sequence, a
 * surrogate, or a code point above U+10FFFF).
 */
export function decodeUtf8(bytes: Buffer): string {
  if (!isUtf8(bytes)) {
    const at = firstInvalidUtf8(bytes);
    throw new BodyError(
      400,
      'INGEST_BAD_UTF8',
      `the body is not valid UTF-8 at byte offset ${at} (byte 0x${bytes[at]?.toString(16).padStart(2, '0') ?? '??'}); ` +
        'JSON must be encoded as UTF-8 — re-encode the events (e.g. from Latin-1) before sending them',
    );
  }
  return bytes.toString('utf8');
}

/** The offset of the first byte that starts or continues an invalid UTF-8 sequence (only called when there is one). */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let min: number;
    let cp: number;
    if (c >= 0xc2 && c <= 0xdf) [n, min, cp] = [1, 0x80, c & 0x1f];
    else if (c >= 0xe0 && c <= 0xef) [n, min, cp] = [2, 0x800, c & 0x0f];
    else if (c >= 0xf0 && c <= 0xf4) [n, min, cp] = [3, 0x10000, c & 0x07];
    else return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return b.length;
}

/**
 * The position where `text` opens its (limit+1)-th nested container (outside
 * strings), or -1 when it never nests that deep. A linear scan: it must not
 * recurse, since the point is to refuse input that would overflow the stack.
 */
export function depthExceededAt(text: string, limit: number): number {
  // Fast path: with at most `limit` opening brackets in all, no nesting can be deeper
  // (indexOf is native; typical events have a handful of brackets).
  let opened = 0;
  for (const ch of ['{', '[']) {
    for (let i = text.indexOf(ch); i >= 0 && opened <= limit; i = text.indexOf(ch, i + 1)) opened++;
  }
  if (opened <= limit) return -1;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \\ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > limit) return i;
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return -1;
}

function tooDeep(where: string, maxDepth: number): BodyError {
  return new BodyError(
    400,
    'INGEST_TOO_DEEP',
    `${where} is nested more than ${maxDepth} levels deep (objects and arrays), the limit (maxJsonDepth); flatten the event or raise maxJsonDepth`,
  );
}

export function parseJsonBody(text: string, maxEvents: number, maxDepth = 1000): IngestEvent[] {
  const body = text.trim();
  if (body === '') {
    throw new BodyError(
      400,
      'INGEST_EMPTY_BODY',
      'the request body is empty; send one JSON object or an array of objects',
    );
  }
  // An array body holds the events one level down: the array itself does not count.
  const deepAt = depthExceededAt(body, body.startsWith('[') ? maxDepth + 1 : maxDepth);
  if (deepAt >= 0) throw tooDeep(`an event at ${lineColumn(body, deepAt)}`, maxDepth);
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

export function parseNdjsonBody(text: string, maxEvents: number, maxDepth = 1000): IngestEvent[] {
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
    if (depthExceededAt(raw, maxDepth) >= 0) throw tooDeep(`line ${line}`, maxDepth);
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

/**
 * The record key of an event from its field `field`: strings as is, numbers and booleans as text,
 * missing/null → no key. Only the event's own fields count: `?key=toString` must not find
 * Object.prototype.toString on an event without that field.
 */
export function keyOf(e: IngestEvent, field: string, index: number): string | null {
  const v = ownValue(e.parsed, field);
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new BodyError(
    400,
    'INGEST_BAD_KEY',
    `event ${index}: the key field "${field}" is ${describe(v)}; a key must be a string, a number or a boolean`,
  );
}
