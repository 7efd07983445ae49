/**
 * The stream's shards and their lineage, as ListShards gives them. After SplitShard a parent is
 * closed and two children open; after MergeShards two parents close into one child. As the KCL
 * does, a shard is read only once every parent still listed has been read to its end (SHARD_END
 * in the offsets), so records of a key stay in order across a reshard. A parent no longer listed
 * has aged out of the stream's retention: nothing of it is left to read first.
 */
import { type KinesisClient, ListShardsCommand, type Shard } from '@aws-sdk/client-kinesis';
import { SHARD_END, type Positions } from './positions.ts';

export interface ShardInfo {
  readonly id: string;
  readonly parents: readonly string[];
  /** The shard was closed by a reshard: reading it ends (NextShardIterator null) after its last record. */
  readonly closed: boolean;
}

export async function listShards(client: KinesisClient, streamName: string): Promise<ShardInfo[]> {
  const out: ShardInfo[] = [];
  let token: string | undefined;
  do {
    const res = await client.send(
      new ListShardsCommand(token ? { NextToken: token } : { StreamName: streamName, MaxResults: 1000 }),
    );
    for (const s of res.Shards ?? []) out.push(info(s));
    token = res.NextToken;
  } while (token);
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function info(s: Shard): ShardInfo {
  const parents = [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => !!p);
  return { id: s.ShardId!, parents, closed: !!s.SequenceNumberRange?.EndingSequenceNumber };
}

/** Shards that may be read now: not finished, and every listed parent finished. */
export function readableShards(shards: readonly ShardInfo[], positions: Positions): ShardInfo[] {
  const listed = new Set(shards.map((s) => s.id));
  const done = (id: string) => !listed.has(id) || positions[id] === SHARD_END;
  return shards.filter((s) => positions[s.id] !== SHARD_END && s.parents.every(done));
}
