/**
 * The state layout a checkpoint records (checkpoint/layout.ts): its file format, the Checkpoint
 * methods that read and write it, and checkLayout, the pure decision whether a query can use the
 * state it describes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Checkpoint,
  type OperatorStateInfo,
  type StateLayout,
  VERSION_LINE,
  checkLayout,
  decodeLayout,
  diffFields,
  encodeLayout,
} from '../../src/checkpoint/index.ts';
import { MillraceError } from '../../src/index.ts';
import { cleanupDirs, tempDir } from '../execution/helpers.ts';

afterEach(cleanupDirs);

const DIR = '/cp/q1';

const agg = (id: string, fields: OperatorStateInfo['valueSchema']): OperatorStateInfo => ({
  id,
  kind: 'aggregate',
  keySchema: [{ name: 'user', type: 'string' }],
  valueSchema: fields,
});
const total = { name: 'total', type: 'long', function: 'sum(x)' };
const dedup = (id: string): OperatorStateInfo => ({
  id,
  kind: 'dedup',
  keySchema: [{ name: 'id', type: 'string' }],
  valueSchema: [{ name: 'seen', type: 'boolean', function: 'dropDuplicates' }],
});
const layout = (operators: OperatorStateInfo[], numPartitions = 4): StateLayout => ({
  numPartitions,
  operators,
});

function refused(recorded: StateLayout, current: StateLayout): MillraceError {
  const e = checkLayout(recorded, current, DIR);
  expect(e).toBeInstanceOf(MillraceError);
  expect(e!.domain).toBe('user');
  return e!;
}

describe('layout file format', () => {
  const sample = layout([agg('aggregate-0', [total]), dedup('dedup-1')], 8);

  it('round-trips through encode/decode, starting with the version line', () => {
    const text = encodeLayout(sample);
    expect(text.split('\n')[0]).toBe(VERSION_LINE);
    expect(decodeLayout(text, 'layout')).toEqual(sample);
  });

  it('round-trips a query without stateful operators', () => {
    expect(decodeLayout(encodeLayout(layout([], 1)), 'layout')).toEqual(layout([], 1));
  });

  it('refuses an unknown version instead of misreading it', () => {
    const text = encodeLayout(sample).replace(/^v1/, 'v2');
    expect(() => decodeLayout(text, '/cp/layout')).toThrow(
      expect.objectContaining({ code: 'CHECKPOINT_UNSUPPORTED_VERSION' }),
    );
    expect(() => decodeLayout(text, '/cp/layout')).toThrow(/\/cp\/layout starts with "v2", expected "v1"/);
  });

  it('refuses malformed contents as corrupt', () => {
    const bad = (lines: unknown[]) => [VERSION_LINE, ...lines.map((l) => JSON.stringify(l))].join('\n');
    const cases: [string, RegExp][] = [
      [bad([{ numPartitions: 0 }, []]), /partition count is 0/],
      [bad([{ numPartitions: 2.5 }, []]), /partition count is 2.5/],
      [bad([{}, []]), /partition count is undefined/],
      [bad([{ numPartitions: 2 }, {}]), /not a list of operators/],
      [
        bad([{ numPartitions: 2 }, [{ id: 'x-0', kind: 'window', keySchema: [], valueSchema: [] }]]),
        /unknown kind "window"/,
      ],
      [
        bad([
          { numPartitions: 2 },
          [{ id: 'a-0', kind: 'aggregate', keySchema: [{ name: 'k' }], valueSchema: [] }],
        ]),
        /malformed keySchema/,
      ],
      [bad([{ numPartitions: 2 }]), /1 data lines, expected 2/],
    ];
    for (const [text, message] of cases) {
      expect(() => decodeLayout(text, 'layout')).toThrow(
        expect.objectContaining({ code: 'CHECKPOINT_CORRUPT' }),
      );
      expect(() => decodeLayout(text, 'layout')).toThrow(message);
    }
  });

  it('is written and read by the Checkpoint, and readable without the lock', async () => {
    const dir = tempDir('millrace-layout-');
    expect(await Checkpoint.readLayoutAt(dir)).toBeUndefined();
    expect(await Checkpoint.readLayoutAt(path.join(dir, 'not-created-yet'))).toBeUndefined();
    const cp = await Checkpoint.open(dir, { queryName: 'q' });
    try {
      expect(await cp.readLayout()).toBeUndefined();
      await cp.writeLayout(sample);
      expect(await cp.readLayout()).toEqual(sample);
      // readLayoutAt does not take the lock: it works while the query holds it.
      expect(await Checkpoint.readLayoutAt(dir)).toEqual(sample);
      expect(readFileSync(path.join(dir, 'layout'), 'utf8')).toBe(encodeLayout(sample));
      const next = layout([agg('aggregate-0', [total])], 8);
      await cp.writeLayout(next);
      expect(await cp.readLayout()).toEqual(next);
    } finally {
      await cp.release();
    }
    writeFileSync(path.join(dir, 'layout'), 'v9\n{}\n[]\n');
    await expect(Checkpoint.readLayoutAt(dir)).rejects.toMatchObject({
      code: 'CHECKPOINT_UNSUPPORTED_VERSION',
    });
  });
});

describe('checkLayout', () => {
  it('accepts the same layout', () => {
    const l = layout([agg('aggregate-0', [total]), dedup('dedup-1')]);
    expect(checkLayout(l, structuredClone(l), DIR)).toBeNull();
  });

  it('refuses another number of state partitions, saying how to run', () => {
    const e = refused(layout([agg('aggregate-0', [total])], 4), layout([agg('aggregate-0', [total])], 16));
    expect(e.code).toBe('CHECKPOINT_MISMATCH');
    expect(e.message).toContain(`checkpoint at ${DIR} was created with 4 state partitions`);
    expect(e.message).toContain('asks for 16');
    expect(e.message).toContain('fixed when a checkpoint is created');
    expect(e.message).toContain('`partitions: 4`');
    expect(e.message).toContain('new checkpointLocation (its state starts empty)');
  });

  it('refuses state split by another hash; a layout without one is taken as split by this one', () => {
    const e = refused(
      { ...layout([]), partitioner: 'murmur3-spark-seed42' },
      { ...layout([]), partitioner: 'xxhash' },
    );
    expect(e.code).toBe('CHECKPOINT_MISMATCH');
    expect(e.message).toContain('split its state by the hash "murmur3-spark-seed42"');
    expect(checkLayout(layout([]), { ...layout([]), partitioner: 'xxhash' }, DIR)).toBeNull();
    const withHash = { ...layout([dedup('dedup-0')]), partitioner: 'murmur3-spark-seed42' };
    expect(decodeLayout(encodeLayout(withHash), 'f')).toEqual(withHash);
  });

  it('checks the partitions before the operators', () => {
    const e = refused(layout([agg('aggregate-0', [total])], 4), layout([dedup('dedup-0')], 2));
    expect(e.code).toBe('CHECKPOINT_MISMATCH');
  });

  it('refuses a dropDuplicates inserted upstream (the positional ids move), naming every operator', () => {
    const e = refused(
      layout([agg('aggregate-0', [total])]),
      layout([dedup('dedup-0'), agg('aggregate-1', [total])]),
    );
    expect(e.code).toBe('STATE_SCHEMA_INCOMPATIBLE');
    expect(e.message).toContain(
      'the checkpoint has aggregate-0 (aggregate); this query has dedup-0 (dedup), aggregate-1 (aggregate)',
    );
    expect(e.message).toContain('aggregate-0 (aggregate) is in the checkpoint but not in this query');
    expect(e.message).toContain('dedup-0 (dedup) is new');
    expect(e.message).toContain('aggregate-1 (aggregate) is new');
    expect(e.message).toContain(
      'Operators may be added (their state starts empty) when every other one is named with uid()',
    );
    expect(e.message).toContain('use a new checkpointLocation');
    expect(e.context.operator).toBe('aggregate-0, dedup-0, aggregate-1');
  });

  it('refuses a stateful operator that was removed', () => {
    const e = refused(
      layout([agg('aggregate-0', [total]), dedup('dedup-1')]),
      layout([agg('aggregate-0', [total])]),
    );
    expect(e.code).toBe('STATE_SCHEMA_INCOMPATIBLE');
    expect(e.message).toContain('dedup-1 (dedup) is in the checkpoint but not in this query');
    expect(e.message).toContain('this query has aggregate-0 (aggregate)');
  });

  it('refuses a query that became stateless', () => {
    const e = refused(layout([dedup('dedup-0')]), layout([]));
    expect(e.code).toBe('STATE_SCHEMA_INCOMPATIBLE');
    expect(e.message).toContain('this query has none');
  });

  it('refuses a stateful operator added to a checkpoint that has state', () => {
    const e = refused(
      layout([agg('aggregate-0', [total])]),
      layout([agg('aggregate-0', [total]), dedup('dedup-1')]),
    );
    expect(e.code).toBe('STATE_SCHEMA_INCOMPATIBLE');
    expect(e.message).toContain('dedup-1 (dedup) is new');
    expect(e.message).not.toContain('aggregate-0 (aggregate) is');
  });

  it('accepts stateful operators added to a checkpoint without state (a query that was stateless)', () => {
    expect(checkLayout(layout([]), layout([agg('aggregate-0', [total])]), DIR)).toBeNull();
  });

  it('refuses one id with another kind, naming both kinds', () => {
    const e = refused(
      layout([{ ...agg('op-0', [total]) }]),
      layout([{ ...agg('op-0', [total]), kind: 'sessionAggregate' }]),
    );
    expect(e.code).toBe('STATE_SCHEMA_INCOMPATIBLE');
    expect(e.message).toContain('op-0 was an aggregate and is now a sessionAggregate');
    expect(e.message).toContain('none may be removed, renamed or change kind');
    expect(e.context.operator).toBe('op-0');
  });

  it('refuses state stored in another format (by another Millrace version); a layout without a format is format 1', () => {
    const e = refused(
      layout([{ ...agg('aggregate-0', [total]), format: 1 }]),
      layout([{ ...agg('aggregate-0', [total]), format: 2 }]),
    );
    expect(e.code).toBe('STATE_SCHEMA_INCOMPATIBLE');
    expect(e.message).toContain(
      "aggregate-0's state is in format 1, this version of Millrace reads format 2",
    );
    expect(e.message).toContain('new checkpointLocation');
    expect(
      checkLayout(
        layout([agg('aggregate-0', [total])]),
        layout([{ ...agg('aggregate-0', [total]), format: 1 }]),
        DIR,
      ),
    ).toBeNull();
    expect(() => decodeLayout(encodeLayout(layout([{ ...agg('a', [total]), format: 0 }])), 'f')).toThrow(
      /malformed state format 0/,
    );
  });

  it('refuses a changed aggregate list, naming exactly the fields added and changed', () => {
    const e = refused(
      layout([agg('aggregate-0', [total])]),
      layout([
        agg('aggregate-0', [
          { name: 'n', type: 'long', function: 'count(*)' },
          { name: 'total', type: 'long', function: 'max(x)' },
        ]),
      ]),
    );
    expect(e.code).toBe('STATE_SCHEMA_INCOMPATIBLE');
    expect(e.message).toContain(
      'aggregate-0: value field "n" (count(*): long) added; value field "total" changed from sum(x): long to max(x): long',
    );
    expect(e.message).not.toContain('reordered');
    expect(e.message).toContain(DIR);
    expect(e.message).toContain('use a new checkpointLocation');
    expect(e.context.operator).toBe('aggregate-0');
  });

  it('refuses a change of aggregate function even when the type stays the same', () => {
    const e = refused(
      layout([agg('aggregate-0', [total])]),
      layout([agg('aggregate-0', [{ ...total, function: 'max(x)' }])]),
    );
    expect(e.code).toBe('STATE_SCHEMA_INCOMPATIBLE');
    expect(e.message).toContain('"total" changed from sum(x): long to max(x): long');
  });

  it('refuses changed keys: a field removed, another of another type', () => {
    const recorded: OperatorStateInfo = {
      id: 'processWithState-0-carts',
      kind: 'keyed',
      keySchema: [
        { name: 'key.user', type: 'string' },
        { name: 'key.region', type: 'string' },
      ],
      valueSchema: [{ name: 'state', type: 'any' }],
    };
    const current: OperatorStateInfo = { ...recorded, keySchema: [{ name: 'key.user', type: 'long' }] };
    const e = refused(layout([recorded]), layout([current]));
    expect(e.code).toBe('STATE_SCHEMA_INCOMPATIBLE');
    expect(e.message).toContain(
      'processWithState-0-carts: key field "key.user" changed from string to long; key field "key.region" (string) removed',
    );
  });

  it('refuses reordered fields (state is stored by position)', () => {
    const n = { name: 'n', type: 'long', function: 'count(*)' };
    const e = refused(layout([agg('aggregate-0', [n, total])]), layout([agg('aggregate-0', [total, n])]));
    expect(e.code).toBe('STATE_SCHEMA_INCOMPATIBLE');
    expect(e.message).toContain('aggregate-0: value fields reordered from (n, total) to (total, n)');
  });

  it('lists every operator whose fields changed', () => {
    const e = refused(
      layout([agg('aggregate-0', [total]), dedup('dedup-1')]),
      layout([
        agg('aggregate-0', [{ ...total, type: 'double' }]),
        {
          ...dedup('dedup-1'),
          valueSchema: [{ name: 'seen', type: 'timestamp', function: 'dropDuplicatesWithinWatermark' }],
        },
      ]),
    );
    expect(e.message).toContain(
      'aggregate-0: value field "total" changed from sum(x): long to sum(x): double',
    );
    expect(e.message).toContain(
      'dedup-1: value field "seen" changed from dropDuplicates: boolean to dropDuplicatesWithinWatermark: timestamp',
    );
    expect(e.context.operator).toBe('aggregate-0, dedup-1');
  });

  it('diffFields reports nothing for equal fields, and a function added to a field', () => {
    expect(diffFields('key', [{ name: 'a', type: 'long' }], [{ name: 'a', type: 'long' }])).toEqual([]);
    expect(
      diffFields(
        'key',
        [{ name: 'ts', type: 'timestamp' }],
        [{ name: 'ts', type: 'timestamp', function: 'event time' }],
      ),
    ).toEqual(['key field "ts" changed from timestamp to event time: timestamp']);
  });
});
