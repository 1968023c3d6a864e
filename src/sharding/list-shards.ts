/**
 * One walk of ListShards for a stream, every page within its own deadline, and the reading of the
 * answer into checked, sorted hash key ranges. The {@link ShardMap} decides when to walk and what a
 * listing changes; this file only asks and reads.
 */
import { ListShardsCommand, type ListShardsCommandInput, type Shard } from '@aws-sdk/client-kinesis';
import type { KinesisClientLike } from '../client.js';
import { ShardlineError } from '../errors.js';
import { classifyRequestError, isRetriable } from '../retry/index.js';
import type { StreamRef } from '../validation.js';
import { withDeadline } from '../deadline.js';
import { decimalToHashKey, type HashKey } from './hash-key.js';

/** A shard ID and its place on the hash ring. Both ends of the range are inclusive. */
export interface ShardRange {
  readonly shardId: string;
  readonly startingHashKey: HashKey;
  readonly endingHashKey: HashKey;
}

/** A listing read by {@link readListing}. */
export interface Listing {
  /** The open shards, sorted by starting hash key, not overlapping. */
  readonly open: readonly ShardRange[];
  /**
   * Shards listed as closed (with an ending sequence number), as servers that ignore `ShardFilter`
   * (kinesalite) send them; never sent by the service for `AT_LATEST`.
   */
  readonly closed: readonly ShardRange[];
}

/** The page size asked of ListShards (the service's maximum per page is 1000 by default). */
const PAGE_SIZE = 1000;

/**
 * ListShards errors that the PutRecords classification (src/retry) calls fatal but that clear up by
 * themselves here: an expired paging token (the walk restarts), a stream being created or resharded,
 * and a stream that does not exist, which may be one being deleted and created again. Every other
 * error the retry policy calls fatal or invalid (AccessDeniedException, InvalidArgumentException, …)
 * stops the background retries.
 */
const RETRIABLE_LISTING_ERRORS = new Set(['ExpiredNextTokenException', 'ResourceInUseException', 'ResourceNotFoundException']);

/**
 * Every page of ListShards (`ShardFilter: AT_LATEST`) for a stream by name, ARN or both (both are
 * then sent), each call ended after `requestTimeoutMs`;
 * returns the shards as listed (closed ones included if the server sends them).
 */
export async function listShards(
  client: KinesisClientLike,
  stream: StreamRef,
  requestTimeoutMs: number,
  signal: AbortSignal,
): Promise<Shard[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    // With NextToken the service refuses StreamName, StreamARN, ExclusiveStartShardId and
    // ShardFilter ("NextToken and ShardFilter cannot be provided together"); the token carries them.
    const input: ListShardsCommandInput =
      nextToken === undefined
        ? { StreamName: stream.streamName, StreamARN: stream.streamARN, ShardFilter: { Type: 'AT_LATEST' }, MaxResults: PAGE_SIZE }
        : { NextToken: nextToken, MaxResults: PAGE_SIZE };
    const page = await withDeadline('ListShards', requestTimeoutMs, signal, (abortSignal) =>
      client.send(new ListShardsCommand(input), { abortSignal }),
    );
    if (page.Shards !== undefined) shards.push(...page.Shards);
    nextToken = page.NextToken;
  } while (nextToken !== undefined && nextToken !== '');
  return shards;
}

/**
 * Reads a listing's shards into ranges.
 *
 * @throws ShardlineError `InvalidShardListing` (retriable) for a malformed or overlapping listing,
 * e.g. pages read on both sides of a reshard, or one without an open shard.
 */
export function readListing(listed: readonly Shard[]): Listing {
  const open: ShardRange[] = [];
  const closed: ShardRange[] = [];
  for (const shard of listed) {
    // Servers that ignore ShardFilter (kinesalite) list closed shards too; they have an end. Only
    // their ranges matter (to notice a reused ID), so a closed shard without one is passed over.
    const isClosed = shard.SequenceNumberRange?.EndingSequenceNumber != null;
    const range = shard.HashKeyRange;
    if (!shard.ShardId || !range?.StartingHashKey || !range.EndingHashKey) {
      if (isClosed) continue;
      throw invalidListing(`a shard without id or hash key range: ${JSON.stringify(shard)}`);
    }
    const info: ShardRange = {
      shardId: shard.ShardId,
      startingHashKey: listedHashKey(shard.ShardId, range.StartingHashKey),
      endingHashKey: listedHashKey(shard.ShardId, range.EndingHashKey),
    };
    if (info.startingHashKey > info.endingHashKey) throw invalidListing(`${info.shardId} has an empty hash key range`);
    (isClosed ? closed : open).push(info);
  }
  // Every stream has an open shard; none listed means one still being created (kinesalite lists no
  // shards then). Taken as a map, it would stop the retries with nothing to predict with.
  if (open.length === 0) throw invalidListing('no open shard');
  open.sort((a, b) => (a.startingHashKey < b.startingHashKey ? -1 : a.startingHashKey > b.startingHashKey ? 1 : 0));
  for (let i = 1; i < open.length; i++) {
    const previous = open[i - 1] as ShardRange;
    const current = open[i] as ShardRange;
    if (current.startingHashKey <= previous.endingHashKey) {
      throw invalidListing(`open shards ${previous.shardId} and ${current.shardId} overlap`);
    }
  }
  return { open, closed };
}

/** Whether two ranges cover the same hash keys. */
export function sameRange(a: ShardRange, b: ShardRange): boolean {
  return a.startingHashKey === b.startingHashKey && a.endingHashKey === b.endingHashKey;
}

/**
 * A failed walk as a {@link ShardlineError}: the service's code (or shardline's, e.g.
 * `RequestTimeout`) and whether the map keeps retrying by itself.
 */
export function listingError(error: unknown, stream: StreamRef): ShardlineError {
  if (error instanceof ShardlineError) return error;
  // One classification for the whole library: the same codes and kinds as for PutRecords.
  const { kind, code, message } = classifyRequestError(error);
  const retriable = isRetriable(kind) || RETRIABLE_LISTING_ERRORS.has(code);
  const name = stream.streamARN ?? stream.streamName ?? '';
  return new ShardlineError(`ListShards for ${name} failed: ${code}: ${message}`, code, retriable, { cause: error });
}

function listedHashKey(shardId: string, decimal: string): HashKey {
  try {
    return decimalToHashKey(decimal);
  } catch {
    throw invalidListing(`${shardId} has hash key ${JSON.stringify(decimal)}, not an integer 0..2^128-1`);
  }
}

function invalidListing(detail: string): ShardlineError {
  return new ShardlineError(`ListShards returned an unusable listing: ${detail}`, 'InvalidShardListing', true);
}
