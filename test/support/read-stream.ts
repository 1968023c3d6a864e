/**
 * Reads a whole stream back, every shard from TRIM_HORIZON, and deaggregates what it reads with
 * shardline's decoder, the way a KCL consumer would see it (including the KCL's rule that an
 * envelope holding a record hashed outside the shard is dropped, which is counted, not hidden).
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type KinesisClient,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { decodeRecord } from '../../src/aggregation/index.js';
import { decimalToHashKey, hashKeyOfPartitionKey } from '../../src/sharding/index.js';

/** A user record as read back. */
export interface ReadRecord {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly subSequenceNumber: number;
  readonly aggregated: boolean;
  readonly partitionKey: string;
  /** A sub-record's explicit hash key; always undefined for a raw record (GetRecords does not return it). */
  readonly explicitHashKey: string | undefined;
  readonly data: Uint8Array;
}

/** What {@link readStream} found. */
export interface StreamContents {
  readonly records: ReadRecord[];
  /** Kinesis records read (envelopes count once). */
  readonly kinesisRecords: number;
  /** User records inside envelopes the KCL would drop (a sub-record hashed outside the shard). */
  readonly droppedByKcl: number;
  /** Those user records themselves (`droppedByKcl` of them), e.g. to match them to retries by id. */
  readonly droppedRecords: ReadRecord[];
  readonly shards: Shard[];
}

/** Every shard of a stream, open and closed, as ListShards lists them without a filter. */
export async function listAllShards(client: KinesisClient, streamName: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      nextToken === undefined ? new ListShardsCommand({ StreamName: streamName }) : new ListShardsCommand({ NextToken: nextToken }),
    );
    shards.push(...(page.Shards ?? []));
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return shards;
}

/** Reads every record of every shard (open and closed) of a stream. */
export async function readStream(client: KinesisClient, streamName: string): Promise<StreamContents> {
  const shards = await listAllShards(client, streamName);
  const records: ReadRecord[] = [];
  const droppedRecords: ReadRecord[] = [];
  let kinesisRecords = 0;
  let droppedByKcl = 0;
  for (const shard of shards) {
    const shardId = shard.ShardId!;
    const low = decimalToHashKey(shard.HashKeyRange!.StartingHashKey!);
    const high = decimalToHashKey(shard.HashKeyRange!.EndingHashKey!);
    const { ShardIterator } = await client.send(
      new GetShardIteratorCommand({ StreamName: streamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    let iterator = ShardIterator;
    while (iterator !== undefined) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10000 }));
      for (const record of page.Records ?? []) {
        kinesisRecords++;
        const decoded = decodeRecord(record.Data!, record.PartitionKey!);
        const inRange = decoded.records.every((user) => {
          const key = user.explicitHashKey !== undefined ? decimalToHashKey(user.explicitHashKey) : hashKeyOfPartitionKey(user.partitionKey);
          return key >= low && key <= high;
        });
        const into = decoded.aggregated && !inRange ? droppedRecords : records;
        if (into === droppedRecords) droppedByKcl += decoded.records.length;
        for (const user of decoded.records) {
          into.push({
            shardId,
            sequenceNumber: record.SequenceNumber!,
            subSequenceNumber: user.subSequenceNumber,
            aggregated: decoded.aggregated,
            partitionKey: user.partitionKey,
            explicitHashKey: user.explicitHashKey,
            data: user.data,
          });
        }
      }
      // An open shard is read to its tip; a closed one until the service ends the iterator.
      if ((page.Records ?? []).length === 0 && (page.MillisBehindLatest ?? 0) === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return { records, kinesisRecords, droppedByKcl, droppedRecords, shards };
}

/**
 * Counts how often each record id was read, for records whose data starts with `<id>|` (the
 * convention of the tests, the demo and the benchmarks).
 */
export function countIds(records: readonly ReadRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const record of records) {
    const text = Buffer.from(record.data.buffer, record.data.byteOffset, Math.min(record.data.length, 40)).toString('latin1');
    const bar = text.indexOf('|');
    const id = bar < 0 ? text : text.slice(0, bar);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** For ids `0..count-1` as counted by {@link countIds}: the ids never read, and the extra copies read. */
export function tallyIds(counts: ReadonlyMap<string, number>, count: number): { missing: string[]; duplicates: number } {
  const missing: string[] = [];
  let duplicates = 0;
  for (let i = 0; i < count; i++) {
    const n = counts.get(`${i}`) ?? 0;
    if (n === 0) missing.push(`${i}`);
    duplicates += Math.max(0, n - 1);
  }
  return { missing, duplicates };
}
