/**
 * The database-free parts of millrace/sql-sink: the replayable batch buffer, backoff, column
 * naming. The transactional protocol itself is tested against real servers by @millrace/postgres
 * and @millrace/mariadb (both run it).
 */
import { describe, expect, it } from 'vitest';
import { BatchRows, UpstreamError, backoffMs, renameColumns, snakeCase } from 'millrace/sql-sink';
import { Schema, type Row } from 'millrace';
import { LONG, TIMESTAMP } from '../../../src/schema/index.ts';

async function* chunks(list: Row[][], failAfter?: number): AsyncGenerator<readonly Row[]> {
  for (let i = 0; i < list.length; i++) {
    if (i === failAfter) throw new Error('plan failed');
    yield list[i]!;
  }
}

async function collect(rows: BatchRows): Promise<Row[][]> {
  const out: Row[][] = [];
  for await (const c of rows.all()) out.push([...c]);
  return out;
}

describe('BatchRows', () => {
  it('replays the chunks already read, then reads on: a retry sends the whole batch again', async () => {
    const rows = new BatchRows(chunks([[{ a: 1 }], [{ a: 2 }], [{ a: 3 }]])[Symbol.asyncIterator]());
    const first: Row[][] = [];
    for await (const c of rows.all()) {
      first.push([...c]);
      if (first.length === 2) break; // an attempt that failed after two chunks
    }
    expect(first).toEqual([[{ a: 1 }], [{ a: 2 }]]);
    expect(await collect(rows)).toEqual([[{ a: 1 }], [{ a: 2 }], [{ a: 3 }]]);
  });

  it('drain() consumes what is left without keeping it (a skipped replay)', async () => {
    let read = 0;
    const source = (async function* () {
      for (let i = 0; i < 4; i++) {
        read++;
        yield [{ i }];
      }
    })();
    await new BatchRows(source).drain();
    expect(read).toBe(4);
  });

  it("wraps the engine's error as UpstreamError, so the sink neither retries nor reclassifies it", async () => {
    const rows = new BatchRows(chunks([[{ a: 1 }], [{ a: 2 }]], 1)[Symbol.asyncIterator]());
    const err = await collect(rows).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(((err as UpstreamError).inner as Error).message).toBe('plan failed');
  });

  it('of(rows) holds one chunk', async () => {
    expect(await collect(BatchRows.of([{ a: 1 }, { a: 2 }]))).toEqual([[{ a: 1 }, { a: 2 }]]);
  });
});

describe('backoffMs', () => {
  it('doubles from initialBackoffMs up to maxBackoffMs', () => {
    const o = { initialBackoffMs: 100, maxBackoffMs: 1000 };
    expect([1, 2, 3, 4, 5, 6].map((k) => backoffMs(k, o))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });
});

describe('column naming', () => {
  it('snake_case renames top-level columns and keyColumns given in either form', () => {
    const schema = new Schema([
      { name: 'windowStart', type: TIMESTAMP, nullable: false },
      { name: 'HTTPStatus', type: LONG, nullable: true },
    ]);
    const r = renameColumns(schema, ['windowStart'], 'snake_case', 'testSink');
    expect(r.schema.names).toEqual(['window_start', 'http_status']);
    expect(r.keyColumns).toEqual(['window_start']);
    expect(r.row!({ windowStart: 1, HTTPStatus: 200 })).toEqual({ window_start: 1, http_status: 200 });
    expect(snakeCase('userId2')).toBe('user_id2');
  });

  it('two columns that map to one name are refused with DUPLICATE_COLUMN', () => {
    const schema = new Schema([
      { name: 'userId', type: LONG, nullable: true },
      { name: 'user_id', type: LONG, nullable: true },
    ]);
    expect(() => renameColumns(schema, [], 'snake_case', 'testSink')).toThrow(
      expect.objectContaining({ code: 'DUPLICATE_COLUMN' }),
    );
  });
});
