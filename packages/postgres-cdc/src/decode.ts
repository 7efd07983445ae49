/**
 * pgoutput messages (as `pg_logical_slot_peek_binary_changes` returns them) → change events.
 *
 * One decoder per decoding session: pgoutput sends a Relation message before a relation's first
 * change in each session, and the parser keeps them. The library parses the binary protocol; its
 * relation columns get our value parsers (values.ts) so that rows hold plain JSON values.
 */
import { PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { type Lsn, parseLsn } from './lsn.ts';
import { parserFor } from './values.ts';

type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type Image = { [column: string]: JsonValue };

/** The Debezium-like change row. */
export interface CdcRow {
  /** c insert, u update, d delete, t truncate (one row per truncated table). */
  op: 'c' | 'u' | 'd' | 't';
  /** The old row: all columns with REPLICA IDENTITY FULL, the key columns for a delete or a key change, else null. */
  before: Image | null;
  /** The new row (insert, update); null for delete and truncate. */
  after: Image | null;
  source: {
    /** The change's position in the WAL, e.g. `0/1540458`. */
    lsn: string;
    txId: number;
    table: string;
    schema: string;
    /** When the transaction committed (epoch ms). */
    commitTime: number;
  };
  /** The commit time again, as the row's event time (windows, watermarks); equal on a replay. */
  ts: number;
}

export type ChangeEvent =
  | { readonly kind: 'begin'; readonly xid: number; readonly commitLsn: Lsn; readonly commitTime: number }
  | { readonly kind: 'row'; readonly row: CdcRow }
  | { readonly kind: 'commit'; readonly endLsn: Lsn };

export class PgoutputDecoder {
  private readonly plugin: PgoutputPlugin;
  private txn: { xid: number; commitTime: number } | null = null;

  constructor(publication: string) {
    this.plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication] });
  }

  /** The events of one message at `lsn` (none for relations, types, origins). */
  decode(lsn: string, data: Buffer): ChangeEvent[] {
    const m = this.plugin.parse(data);
    switch (m.tag) {
      case 'begin': {
        const commitTime = micros(m.commitTime);
        this.txn = { xid: m.xid, commitTime };
        return [{ kind: 'begin', xid: m.xid, commitLsn: parseLsn(m.commitLsn ?? lsn), commitTime }];
      }
      case 'commit':
        this.txn = null;
        return [{ kind: 'commit', endLsn: parseLsn(m.commitEndLsn ?? lsn) }];
      case 'relation':
        for (const c of m.columns) c.parser = parserFor(c.typeOid);
        return [];
      case 'insert':
        return [this.row('c', lsn, m.relation, null, image(m.new))];
      case 'update':
        return [this.row('u', lsn, m.relation, before(m.old, m.key), image(m.new))];
      case 'delete':
        return [this.row('d', lsn, m.relation, before(m.old, m.key), null)];
      case 'truncate':
        return m.relations.map((r) => this.row('t', lsn, r, null, null));
      default:
        return []; // type, origin, logical messages (not requested)
    }
  }

  private row(
    op: CdcRow['op'],
    lsn: string,
    rel: Pgoutput.MessageRelation,
    old: Image | null,
    now: Image | null,
  ): ChangeEvent {
    const txn = this.txn;
    if (txn === null) throw new Error(`pgoutput sent a change at ${lsn} outside a transaction`);
    return {
      kind: 'row',
      row: {
        op,
        before: old,
        after: now,
        source: { lsn, txId: txn.xid, table: rel.name, schema: rel.schema, commitTime: txn.commitTime },
        ts: txn.commitTime,
      },
    };
  }
}

/** pgoutput's microseconds since 1970 (the library adds the 2000 epoch) → milliseconds. */
function micros(t: unknown): number {
  return Number(BigInt(t as bigint) / 1000n);
}

/** A plain object without the columns pgoutput left out (an unchanged TOASTed value without an old image). */
function image(tuple: Record<string, unknown> | null): Image | null {
  if (tuple === null) return null;
  const out: Image = {};
  for (const k of Object.keys(tuple)) if (tuple[k] !== undefined) out[k] = tuple[k] as JsonValue;
  return out;
}

function before(old: Record<string, unknown> | null, key: Record<string, unknown> | null): Image | null {
  return image(old) ?? image(key);
}
