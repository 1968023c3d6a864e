/** Helpers for shard-map tests: listings in the service's JSON shape, and waiting. */
import type { HashKey } from '../../src/sharding/index.js';

/** 2^128. */
export const TWO_128 = 1n << 128n;

/** A shard as ListShards answers it (JSON). */
export interface ListedShard {
  ShardId: string;
  HashKeyRange: { StartingHashKey: string; EndingHashKey: string };
  SequenceNumberRange: { StartingSequenceNumber: string; EndingSequenceNumber?: string };
}

/** The service's shard id for index `i`. */
export function shardId(i: number): string {
  return `shardId-${String(i).padStart(12, '0')}`;
}

/** A listed shard covering `start..end` (inclusive); `closed` gives it an ending sequence number. */
export function listedShard(id: string, start: bigint, end: bigint, closed = false): ListedShard {
  return {
    ShardId: id,
    HashKeyRange: { StartingHashKey: start.toString(), EndingHashKey: end.toString() },
    SequenceNumberRange: {
      StartingSequenceNumber: '49590338271490256608559692538361571095921575989136588898',
      ...(closed ? { EndingSequenceNumber: '49590338271490256608559692540925702759324208523137515618' } : {}),
    },
  };
}

/** `count` open shards splitting the ring evenly, ids from `firstId`. */
export function evenListing(count: number, firstId = 0): ListedShard[] {
  const span = TWO_128 / BigInt(count);
  return Array.from({ length: count }, (_, i) =>
    listedShard(shardId(firstId + i), span * BigInt(i), i === count - 1 ? TWO_128 - 1n : span * BigInt(i + 1) - 1n),
  );
}

/** The hash key of a value. */
export function hk(value: bigint): HashKey {
  return value.toString(16).padStart(32, '0');
}

/** Waits until `predicate()` holds, polling every 5 ms; fails after `timeoutMs`. */
export async function eventually(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A gate an async handler can wait on: `wait()` resolves once `open()` is called. */
export class Gate {
  #open!: () => void;
  readonly #opened = new Promise<void>((resolve) => (this.#open = resolve));
  wait(): Promise<void> {
    return this.#opened;
  }
  open(): void {
    this.#open();
  }
}
