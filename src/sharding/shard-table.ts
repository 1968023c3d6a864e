/**
 * A stream's shards as last listed: the open ones sorted for lookups by hash key, and the ones that
 * closed, remembered for a while so answers naming them can still be judged. {@link ShardMap} keeps
 * one fresh from ListShards.
 */
import type { HashKey } from './hash-key.js';
import { sameRange, type Listing, type ShardRange } from './list-shards.js';

/** One shard's place on the hash ring (both ends inclusive), and since when the table has it so. */
export interface ShardInfo extends ShardRange {
  /**
   * The {@link ShardTable.version} that first had this shard ID with this range. A prediction
   * made at version `v` used this range if and only if `since <= v`; see {@link ShardTable.rangeChangedSince}.
   */
  readonly since: number;
}

/**
 * The open shards of one stream, sorted by starting hash key, with lookups by hash key and by ID.
 * Filled by {@link install} with each listing.
 *
 * A stream created again under the same name reuses shard IDs, possibly with other hash ranges.
 * The table takes the newest listing's range for every ID it lists, bumps {@link ShardInfo.since}
 * of an ID whose range changed, and forgets the shards it remembered as closed once a listing shows
 * the stream to be a new one: an ID listed with another range, a closed shard open again, or an
 * unknown shard numbered below one already seen (within one stream's life, IDs only grow).
 */
export class ShardTable {
  readonly #closedShardRetentionMs: number;
  readonly #now: () => number;
  /** Open shards, sorted by starting hash key; replaced whole, never mutated. */
  #shards: readonly ShardInfo[] = [];
  /** `#shards[i].startingHashKey`, apart so the binary search reads a flat array of strings. */
  #starts: readonly HashKey[] = [];
  #openById = new Map<string, ShardInfo>();
  readonly #closed = new Map<string, { readonly shard: ShardInfo; readonly closedAt: number }>();
  #ready = false;
  #version = 0;
  /** The highest number ending a shard ID listed for the stream, to notice IDs reused. */
  #highestShardNumber = Number.NEGATIVE_INFINITY;

  /**
   * @param closedShardRetentionMs - How long a shard that closed is remembered, in ms.
   * @param now - The clock, in ms.
   */
  constructor(closedShardRetentionMs: number, now: () => number) {
    this.#closedShardRetentionMs = closedShardRetentionMs;
    this.#now = now;
  }

  /** Whether a listing has succeeded at least once, so lookups can answer. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Goes up by one every time the open shards change: one opens or closes, or an ID's range changes. */
  get version(): number {
    return this.#version;
  }

  /** The open shards, sorted by starting hash key. */
  get shards(): readonly ShardInfo[] {
    return this.#shards;
  }

  /**
   * The open shard whose range holds `hashKey`, or `undefined` when the map is not ready yet or the
   * key falls in a gap (a listing that does not cover the ring, e.g. from a fake server).
   */
  lookup(hashKey: HashKey): ShardInfo | undefined {
    // Last shard starting at or before the key; ranges do not overlap (checked on install).
    const starts = this.#starts;
    let low = 0;
    let high = starts.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if ((starts[mid] as HashKey) <= hashKey) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    const shard = this.#shards[found];
    return shard !== undefined && hashKey <= shard.endingHashKey ? shard : undefined;
  }

  /** Whether `shardId` is open in the current map. */
  isOpen(shardId: string): boolean {
    return this.#openById.has(shardId);
  }

  /**
   * Whether `shardId`'s range holds `hashKey`, for an open shard or one that closed within
   * `closedShardRetentionMs`; `undefined` for a shard the map does not know (or no longer remembers).
   * Always against the range of the newest listing: a shard ID reused by a stream created again
   * answers with its new range once a listing has shown it.
   *
   * Used to judge a PutRecords answer: `true` for a shard other than the predicted one means a
   * reshard (a child took the record: success, refresh the map); `false` means a wrong-shard answer.
   */
  shardContains(shardId: string, hashKey: HashKey): boolean | undefined {
    const shard = this.#known(shardId);
    return shard === undefined ? undefined : shard.startingHashKey <= hashKey && hashKey <= shard.endingHashKey;
  }

  /**
   * Whether `shardId`'s range may differ from the one it had at map version `version`: its range
   * changed since (the stream was created again and reuses the ID), it is new since, or the map does
   * not know it. When this is true, a record predicted at `version` and answered in `shardId` must
   * be judged with {@link shardContains}, against the range the shard has now.
   */
  rangeChangedSince(shardId: string, version: number): boolean {
    const shard = this.#known(shardId);
    return shard === undefined || shard.since > version;
  }

  /** The open shard, or the closed one remembered, with this ID. */
  #known(shardId: string): ShardInfo | undefined {
    const open = this.#openById.get(shardId);
    if (open !== undefined) return open;
    const closed = this.#closed.get(shardId);
    if (closed === undefined) return undefined;
    if (this.#now() - closed.closedAt > this.#closedShardRetentionMs) {
      this.#closed.delete(shardId);
      return undefined;
    }
    return closed.shard;
  }

  /**
   * Replaces the table with the open shards of a listing. Returns whether the open shards changed.
   * An ID listed with the range it had keeps its {@link ShardInfo} (and `since`).
   */
  protected install(listing: Listing): boolean {
    const now = this.#now();
    const recreated = this.#ready && this.#isNewStream(listing);
    const shards = listing.open.map((range): ShardInfo => {
      const known = this.#openById.get(range.shardId) ?? this.#closed.get(range.shardId)?.shard;
      return known !== undefined && sameRange(known, range) ? known : { ...range, since: this.#version + 1 };
    });
    const openById = new Map(shards.map((shard) => [shard.shardId, shard]));
    // Shards of a stream deleted since are not closed shards of this one: forget them.
    if (recreated) this.#closed.clear();
    else for (const [shardId, shard] of this.#openById) if (!openById.has(shardId)) this.#closed.set(shardId, { shard, closedAt: now });
    for (const [shardId, { closedAt }] of this.#closed) {
      if (openById.has(shardId) || now - closedAt > this.#closedShardRetentionMs) this.#closed.delete(shardId);
    }
    if (recreated) this.#highestShardNumber = Number.NEGATIVE_INFINITY;
    for (const { shardId } of [...listing.open, ...listing.closed]) {
      const number = shardNumber(shardId);
      if (number > this.#highestShardNumber) this.#highestShardNumber = number; // false for NaN
    }
    const changed = !this.#ready || shards.length !== this.#shards.length || shards.some((shard, i) => shard !== this.#shards[i]);
    this.#ready = true;
    if (changed) {
      this.#shards = shards;
      this.#starts = shards.map((shard) => shard.startingHashKey);
      this.#openById = openById;
      this.#version++;
    }
    return changed;
  }

  /** Whether a listing shows the stream to be another one under the same name (see the class TSDoc). */
  #isNewStream(listing: Listing): boolean {
    for (const range of [...listing.open, ...listing.closed]) {
      const known = this.#openById.get(range.shardId) ?? this.#closed.get(range.shardId)?.shard;
      if (known !== undefined && !sameRange(known, range)) return true;
    }
    return listing.open.some(
      ({ shardId }) =>
        this.#closed.has(shardId) || (!this.#openById.has(shardId) && shardNumber(shardId) < this.#highestShardNumber),
    );
  }
}

/** The number ending a shard ID (`shardId-000000000007` → 7), NaN for an ID that ends otherwise. */
function shardNumber(shardId: string): number {
  const digits = /\d+$/.exec(shardId);
  return digits === null ? Number.NaN : Number(digits[0]);
}
