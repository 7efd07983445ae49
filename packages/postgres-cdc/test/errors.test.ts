/**
 * What goes wrong, said clearly: bad options, wal_level not logical (the machine's shared server),
 * a missing publication or slot without createIfMissing, a slot held by another reader, changes
 * lost because someone else advanced the slot, and the server going away mid-query (retried with
 * backoff, then read on exactly). Passwords never show.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MillraceError } from 'millrace';
import type pg from 'pg';
import { postgresCdcSource } from '../src/index.ts';
import { type Cluster, startCluster } from './cluster.ts';
import { context, pool, recordingLogger, rejected, uniqueName } from './helpers.ts';

const SHARED_URL = process.env.MILLRACE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let cluster: Cluster;
let admin: pg.Pool;
beforeAll(async () => {
  cluster = await startCluster();
  admin = pool(cluster.url);
  await admin.query(`CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION pub FOR TABLE t`);
}, 60_000);
afterAll(async () => {
  await admin?.end();
  await cluster?.destroy();
});

function caught(f: () => unknown): MillraceError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(MillraceError);
    return e as MillraceError;
  }
  throw new Error('expected an error');
}

describe('postgresCdcSource errors', () => {
  it('rejects bad options with what to write instead', () => {
    const base = { connectionString: 'postgres://u@h/db', slot: 's', publication: 'p' };
    expect(caught(() => postgresCdcSource({ ...base, slot: 'My-Slot' })).message).toMatch(
      /"slot" must name a replication slot: lower-case letters, digits and _/,
    );
    expect(caught(() => postgresCdcSource({ ...base, maxRowsPerTrigger: 0 })).message).toMatch(
      /"maxRowsPerTrigger" must be a whole number ≥ 1/,
    );
    expect(caught(() => postgresCdcSource({ ...base, slot: undefined as never })).code).toBe(
      'INVALID_OPTION',
    );
    expect(caught(() => postgresCdcSource({ ...base, tables: ['a.b.c'] })).message).toMatch(
      /"tables" must list/,
    );
    expect(caught(() => postgresCdcSource({ ...base, connectionString: 'mysql://x' })).message).toMatch(
      /postgres:\/\/user@host/,
    );
    expect(caught(() => postgresCdcSource({ ...base, colour: 1 } as never)).message).toMatch(
      /unknown option "colour"/,
    );
    const s = postgresCdcSource({ ...base, connectionString: 'postgres://u:sekrit-pw@h/db' });
    expect(s.describe()).not.toContain('sekrit-pw');
    expect(s.describe()).toContain('postgres://u:***@h');
  });

  it('wal_level = replica (the shared server): CDC_WAL_LEVEL saying how to turn logical decoding on', async () => {
    const shared = pool(SHARED_URL);
    const level = (await shared.query('SHOW wal_level')).rows[0].wal_level;
    await shared.end();
    expect(level).not.toBe('logical'); // the point of the private cluster
    const src = postgresCdcSource({
      connectionString: SHARED_URL,
      slot: uniqueName('s'),
      publication: 'none',
    });
    const e = await rejected(src.open(context()));
    expect(e.code).toBe('CDC_WAL_LEVEL');
    expect(e.message).toContain(`wal_level = ${level}`);
    expect(e.message).toContain('ALTER SYSTEM SET wal_level = logical');
    await src.close();
  });

  it('createIfMissing: false: a missing publication or slot is named with the statement that creates it', async () => {
    const slot = uniqueName('s');
    const a = postgresCdcSource({
      connectionString: cluster.url,
      slot,
      publication: 'nope',
      createIfMissing: false,
    });
    const e1 = await rejected(a.open(context()));
    expect(e1.code).toBe('CDC_PUBLICATION_MISSING');
    expect(e1.message).toContain('CREATE PUBLICATION "nope" FOR ALL TABLES');
    await a.close();
    const b = postgresCdcSource({
      connectionString: cluster.url,
      slot,
      publication: 'pub',
      createIfMissing: false,
    });
    const e2 = await rejected(b.open(context()));
    expect(e2.code).toBe('CDC_SLOT_MISSING');
    expect(e2.message).toContain(`pg_create_logical_replication_slot('${slot}', 'pgoutput')`);
    await b.close();
    // With the default, both are created (the publication for the given tables).
    const c = postgresCdcSource({
      connectionString: cluster.url,
      slot,
      publication: 'made_here',
      tables: ['public.t'],
    });
    await c.open(context());
    const tables = await admin.query(
      `SELECT tablename FROM pg_publication_tables WHERE pubname = 'made_here'`,
    );
    expect(tables.rows).toEqual([{ tablename: 't' }]);
    const slots = await admin.query(`SELECT plugin FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
    expect(slots.rows).toEqual([{ plugin: 'pgoutput' }]);
    await c.close();
  });

  it('a publication dropped while the query runs: CDC_PUBLICATION_MISSING', async () => {
    const slot = uniqueName('s');
    await admin.query('CREATE PUBLICATION short_lived FOR TABLE t');
    const src = postgresCdcSource({ connectionString: cluster.url, slot, publication: 'short_lived' });
    await src.open(context());
    await admin.query(`INSERT INTO t VALUES (1, 'a')`);
    await admin.query('DROP PUBLICATION short_lived');
    const e = await rejected(src.latestOffset(null, { kind: 'default' }));
    expect(e.code).toBe('CDC_PUBLICATION_MISSING');
    expect(e.message).toContain('publication "short_lived" no longer exists');
    await src.close();
  });

  it('a slot held by another reader: retried with backoff, then CDC_SLOT_IN_USE naming the way out', async () => {
    const slot = uniqueName('s');
    await admin.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    const recv = spawn(
      'pg_recvlogical',
      [
        '-d',
        cluster.url,
        '-S',
        slot,
        '--start',
        '-o',
        'proto_version=1',
        '-o',
        'publication_names=pub',
        '-f',
        '/dev/null',
      ],
      { stdio: 'ignore' },
    );
    try {
      await expect
        .poll(
          async () =>
            (await admin.query('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]))
              .rows[0].active,
          {
            timeout: 10_000,
          },
        )
        .toBe(true);
      const log = recordingLogger();
      const src = postgresCdcSource({
        connectionString: cluster.url,
        slot,
        publication: 'pub',
        maxRetries: 2,
        initialBackoffMs: 10,
      });
      await src.open(context(log));
      expect(log.lines.some((l) => /in use by another connection/.test(l.msg))).toBe(true);
      const e = await rejected(src.latestOffset(null, { kind: 'default' }));
      expect(e.code).toBe('CDC_SLOT_IN_USE');
      expect(e.message).toContain('pg_terminate_backend(active_pid)');
      expect(log.lines.filter((l) => l.msg.includes('retrying'))).toHaveLength(2);
      await src.close();
    } finally {
      recv.kill('SIGTERM');
    }
  });

  it('someone else advanced the slot past the checkpoint: CDC_DATA_LOSS, or a warning with failOnDataLoss: false', async () => {
    const slot = uniqueName('s');
    const src = postgresCdcSource({ connectionString: cluster.url, slot, publication: 'pub' });
    await src.open(context());
    await admin.query(`INSERT INTO t VALUES (100, 'x')`);
    const e1 = await src.latestOffset(null, { kind: 'default' });
    await src.getBatch(null, e1!, { batchId: 0 });
    await src.commit(e1!);
    await admin.query(`INSERT INTO t VALUES (101, 'lost')`);
    await admin.query(`SELECT pg_replication_slot_advance($1, pg_current_wal_lsn())`, [slot]);
    await admin.query(`INSERT INTO t VALUES (102, 'y')`);
    const e = await rejected(src.latestOffset(e1, { kind: 'default' }));
    expect(e.code).toBe('CDC_DATA_LOSS');
    expect(e.message).toMatch(/was advanced to .* by someone else/);
    await src.close();
    const log = recordingLogger();
    const lenient = postgresCdcSource({
      connectionString: cluster.url,
      slot,
      publication: 'pub',
      failOnDataLoss: false,
    });
    await lenient.open(context(log));
    const e2 = await lenient.latestOffset(e1, { kind: 'default' });
    const rows = (await lenient.getBatch(e1, e2!, { batchId: 1 })).rows;
    expect(rows.map((r) => r.after!.v)).toEqual(['y']);
    expect(log.lines.some((l) => l.level === 'warn' && /lost changes skipped/.test(l.msg))).toBe(true);
    await lenient.close();
  });

  it('the server restarts mid-query: the source waits with backoff and reads on exactly', async () => {
    const slot = uniqueName('s');
    const log = recordingLogger();
    const options = {
      connectionString: cluster.url,
      slot,
      publication: 'pub',
      initialBackoffMs: 100,
      maxBackoffMs: 500,
    };
    const src = postgresCdcSource(options);
    await src.open(context(log));
    const replay = postgresCdcSource(options); // no lookahead kept: its getBatch must reach the server
    await replay.open(context(log));
    await admin.query(`INSERT INTO t VALUES (200, 'before')`);
    const e1 = await src.latestOffset(null, { kind: 'default' });
    await cluster.stop('immediate');
    const restart = new Promise((r) => setTimeout(r, 1_500)).then(() => cluster.start());
    const rows = (await replay.getBatch(null, e1!, { batchId: 0 })).rows;
    await restart;
    expect(rows.map((r) => r.after!.v)).toEqual(['before']);
    const waits = log.lines.filter((l) => l.msg.includes('retrying'));
    expect(waits.length).toBeGreaterThan(0);
    expect(waits[0]!.fields).toMatchObject({
      waitingFor: expect.stringContaining(`127.0.0.1:${cluster.port}`),
    });
    await replay.close();
    await src.commit(e1!);
    await admin.query(`INSERT INTO t VALUES (201, 'after')`);
    const e2 = await src.latestOffset(e1, { kind: 'default' });
    expect((await src.getBatch(e1, e2!, { batchId: 1 })).rows.map((r) => r.after!.v)).toEqual(['after']);
    await src.close();
  }, 30_000);
});
