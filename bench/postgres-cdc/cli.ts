/**
 * `npm run bench -- postgres-cdc [options]`: change rows per second out of a logical replication
 * slot, through postgresCdcSource into the engine, beside the plain client reading the same
 * changes in a loop (the ceiling of this way of reading):
 *
 *   engine  N inserted rows (transactions of --tx rows) → postgresCdcSource (maxRowsPerTrigger
 *           --batch) → count (Trigger.availableNow)
 *   client  pg_logical_slot_peek_binary_changes on a second slot, through a cursor, each message
 *           parsed by pg-logical-replication's pgoutput parser, counted
 *
 * Without --url a private cluster (initdb, wal_level = logical) is started, as the package's tests
 * do. The last line is one JSON object.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export const USAGE = `usage: npm run bench -- postgres-cdc [options]

Change rows from a logical replication slot into the engine, beside a plain peek-and-parse loop.

options:
  --rows N    inserted rows, default 200,000
  --tx N      rows per transaction, default 1,000
  --batch N   maxRowsPerTrigger, default 50,000
  --url URL   a server with wal_level = logical (default: a private cluster started here)`;

export async function main(args: string[]): Promise<number> {
  const o = { rows: 200_000, tx: 1_000, batch: 50_000, url: undefined as string | undefined };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-h' || a === '--help') {
      process.stderr.write(`${USAGE}\n`);
      return 0;
    }
    const v = args[++i];
    const n = Number(v?.replace(/_/g, ''));
    if (a === '--url' && v) o.url = v;
    else if ((a === '--rows' || a === '--tx' || a === '--batch') && Number.isSafeInteger(n) && n >= 1)
      o[a.slice(2) as 'rows' | 'tx' | 'batch'] = n;
    else {
      process.stderr.write(`bad argument ${a} ${String(v)}\n\n${USAGE}\n`);
      return 2;
    }
  }
  const { Trigger, createSession, foreachBatchSink } = await import('millrace');
  const { postgresCdcSource } = await import('@millrace/postgres-cdc');
  const { PgoutputPlugin } = await import('pg-logical-replication');
  const { default: pg } = await import('pg');
  const { startCluster } = await import('../../packages/postgres-cdc/test/cluster.ts');
  const cluster = o.url ? undefined : await startCluster();
  const url = o.url ?? cluster!.url;
  const db = new pg.Pool({ connectionString: url, max: 2 });
  const tag = `bench_cdc_${process.pid}`;
  const dirs: string[] = [];
  let ok = true;
  let out: Record<string, unknown> | undefined;
  try {
    await db.query(
      `CREATE TABLE ${tag} (id bigint PRIMARY KEY, user_name text, amount numeric(10,2), at timestamptz)`,
    );
    await db.query(`CREATE PUBLICATION ${tag} FOR TABLE ${tag}`);
    for (const s of ['engine', 'client'])
      await db.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [`${tag}_${s}`]);
    for (let from = 0; from < o.rows; from += o.tx) {
      const to = Math.min(o.rows, from + o.tx) - 1;
      await db.query(
        `INSERT INTO ${tag} SELECT g, 'user-' || (g % 10007), (g % 100000) / 100.0, now() FROM generate_series($1::bigint, $2::bigint) g`,
        [from, to],
      );
    }
    const timed = async (f: () => Promise<number>) => {
      const t0 = performance.now();
      const n = await f();
      return { n, perSecond: n / ((performance.now() - t0) / 1000) };
    };
    const client = await timed(async () => {
      const c = await db.connect();
      const parser = new PgoutputPlugin({ protoVersion: 1, publicationNames: [tag] });
      let n = 0;
      try {
        await c.query('BEGIN');
        await c.query(
          `DECLARE cur NO SCROLL CURSOR FOR SELECT lsn, data FROM pg_logical_slot_peek_binary_changes('${tag}_client', NULL, NULL, 'proto_version', '1', 'publication_names', '${tag}')`,
        );
        for (;;) {
          const r = await c.query<{ data: Buffer }>('FETCH 1000 FROM cur');
          for (const m of r.rows) if (parser.parse(m.data).tag === 'insert') n++;
          if (r.rows.length < 1000) break;
        }
        await c.query('COMMIT');
      } finally {
        c.release();
      }
      return n;
    });
    const engine = await timed(async () => {
      let counted = 0;
      const checkpointLocation = mkdtempSync(path.join(tmpdir(), 'millrace-bench-cdc-'));
      dirs.push(checkpointLocation);
      const q = await createSession()
        .readStream(
          postgresCdcSource({
            connectionString: url,
            slot: `${tag}_engine`,
            publication: tag,
            maxRowsPerTrigger: o.batch,
          }),
        )
        .writeStream({
          sink: foreachBatchSink((r) => void (counted += r.length)),
          checkpointLocation,
          trigger: Trigger.availableNow(),
        })
        .start();
      await q.awaitTermination();
      if (q.exception) throw q.exception;
      return counted;
    });
    if (engine.n !== o.rows || client.n !== o.rows) ok = false;
    const f = (n: number) => Math.round(n).toLocaleString('en-US');
    process.stdout.write(
      [
        `PostgreSQL CDC source: ${o.rows.toLocaleString('en-US')} inserted rows in transactions of ${o.tx}, micro-batches of ${o.batch.toLocaleString('en-US')}, node ${process.version}`,
        '',
        `${'run'.padEnd(10)}${'engine rows/s'.padStart(15)}${'client rows/s'.padStart(15)}${'ratio'.padStart(8)}`,
        `${'source'.padEnd(10)}${f(engine.perSecond).padStart(15)}${f(client.perSecond).padStart(15)}${(engine.perSecond / client.perSecond).toFixed(2).padStart(8)}`,
        '',
        'client = pg_logical_slot_peek_binary_changes through a cursor, parsed with pg-logical-replication, in a plain loop',
        '',
      ].join('\n'),
    );
    out = {
      source: {
        engineRowsPerSecond: Math.round(engine.perSecond),
        baselineRowsPerSecond: Math.round(client.perSecond),
        engineRows: engine.n,
        baselineRows: client.n,
      },
    };
  } finally {
    for (const s of ['engine', 'client'])
      await db.query(`SELECT pg_drop_replication_slot($1)`, [`${tag}_${s}`]).catch(() => undefined);
    await db.query(`DROP PUBLICATION IF EXISTS ${tag}`).catch(() => undefined);
    await db.query(`DROP TABLE IF EXISTS ${tag}`).catch(() => undefined);
    await db.end();
    await cluster?.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  process.stdout.write(
    JSON.stringify({
      bench: 'postgres-cdc',
      rows: o.rows,
      rowsPerTransaction: o.tx,
      batchRows: o.batch,
      ...out,
      nodeVersion: process.version,
      timestamp: new Date().toISOString(),
      ok,
    }) + '\n',
  );
  return ok ? 0 : 1;
}
