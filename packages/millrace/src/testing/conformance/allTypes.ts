/**
 * A ready-made schema with every Millrace column type, and deterministic rows
 * of it with awkward values (quotes, commas, newlines, non-BMP characters,
 * empty strings and arrays, negative and large numbers, nulls), for sink
 * harnesses whose system stores every type.
 */
import { type Row, type Schema, schema, t } from '../../schema/index.ts';

export const allTypesSchema: Schema = schema({
  id: t.long,
  text: t.string.orNull(),
  score: t.double.orNull(),
  flag: t.boolean.orNull(),
  at: t.timestamp.orNull(),
  day: t.date.orNull(),
  bytes: t.binary.orNull(),
  tags: t.array(t.string).orNull(),
  point: t.struct({ x: t.double, y: t.double.orNull() }).orNull(),
  extra: t.json.orNull(),
}) as Schema;

const TEXTS = ['plain', 'comma, "quote"\nnew line', '', 'naïve café ✓ 😀', 'tab\there', "it's \\ back"];

/** Row `i` of allTypesSchema; every 7th row (i % 7 === 3) has nulls in every nullable column. */
export function allTypesRow(i: number): Row {
  if (i % 7 === 3) {
    return {
      id: i,
      text: null,
      score: null,
      flag: null,
      at: null,
      day: null,
      bytes: null,
      tags: null,
      point: null,
      extra: null,
    };
  }
  const sign = i % 2 === 0 ? 1 : -1;
  return {
    id: i % 5 === 4 ? Number.MAX_SAFE_INTEGER - i : i,
    text: `${TEXTS[i % TEXTS.length]}#${i}`,
    score: sign * (i + 0.25),
    flag: i % 3 === 0,
    at: Date.UTC(2024, 0, 31, 10, 0, 0, 0) + sign * i * 1_001,
    day: 19_753 + sign * i,
    bytes: new Uint8Array([i % 256, 0, 255, (i * 7) % 256].slice(0, i % 5)),
    tags: Array.from({ length: i % 4 }, (_, k) => `t${k},${i}`),
    point: { x: i / 2, y: i % 2 === 0 ? null : -i },
    extra: i % 2 === 0 ? { k: [i, 'two'], nested: { ok: true } } : `text ${i}`,
  };
}
