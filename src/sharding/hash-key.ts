/**
 * Hash keys: the 128-bit position of a record on a stream's hash ring.
 *
 * A hash key is held as a fixed-width, 32-character, lowercase hex string. With a fixed width the
 * string order is the numeric order, so shard lookups compare plain strings: measured on Node 20
 * (binary search, 1,000 shards) 83 ns per lookup with hex strings against 108 ns with pre-converted
 * BigInts (218 ns if the BigInt has to be made from the digest first); an MD5 hex digest is already
 * in this form, so the common path never touches BigInt.
 */
import * as crypto from 'node:crypto';
import { validateExplicitHashKey, validateInteger } from '../validation.js';

/** A hash key: exactly 32 lowercase hex digits, big-endian (so string order is numeric order). */
export type HashKey = string;

/** The smallest hash key, 0. */
export const MIN_HASH_KEY: HashKey = '0'.repeat(32);
/** The largest hash key, 2^128-1. */
export const MAX_HASH_KEY: HashKey = 'f'.repeat(32);

/**
 * The hash key of a partition key: MD5 of its UTF-8 bytes read as an unsigned big-endian 128-bit
 * integer, which is exactly the MD5 hex digest.
 *
 * @example hashKeyOfPartitionKey('abcd') === 'e2fc714c4727ee9395f324cd2e7f331f'
 */
export function hashKeyOfPartitionKey(partitionKey: string): HashKey {
  return md5Hex(partitionKey);
}

// The one-shot `crypto.hash` (Node ≥ 20.12) is ~2.8x faster than createHash().update().digest()
// for short keys (251 ns against 721 ns for a UUID): no Hash object per call. Strings are hashed
// as UTF-8 by both. Feature-detected because `engines` admits earlier Node 20 releases.
const md5Hex: (text: string) => string =
  typeof crypto.hash === 'function'
    ? (text) => crypto.hash('md5', text, 'hex')
    : (text) => crypto.createHash('md5').update(text, 'utf8').digest('hex');

/**
 * Converts a decimal string in 0..2^128-1 (no sign, no leading zeros) to a {@link HashKey},
 * checking it first: for text from outside, such as a ListShards answer.
 *
 * @throws ValidationError (field `explicitHashKey`) if it is not such a string.
 */
export function decimalToHashKey(decimal: string): HashKey {
  // BigInt() alone would take '', ' 7 ' and '0x10', and has no upper bound.
  validateExplicitHashKey(decimal);
  return hashKeyOfExplicit(decimal);
}

/**
 * The hash key of an explicit hash key (a decimal string), unchecked: the input must have passed
 * `validateUserRecord` or `validateExplicitHashKey` (src/validation.ts). Use
 * {@link decimalToHashKey} for anything else.
 */
export function hashKeyOfExplicit(decimal: string): HashKey {
  return BigInt(decimal).toString(16).padStart(32, '0');
}

/** The decimal string of a {@link HashKey}, e.g. for a record's `ExplicitHashKey`. */
export function hashKeyToDecimal(hashKey: HashKey): string {
  return BigInt(`0x${hashKey}`).toString(10);
}

/** Options of {@link HashKeyCache}. */
export interface HashKeyCacheOptions {
  /**
   * How many partition keys (and, separately, explicit hash keys) to remember at least (at most
   * twice as many are held); 0 turns caching off.
   * Default {@link DEFAULT_HASH_KEY_CACHE_MAX} (10,000): a few MB at most for 256-character keys,
   * and enough for the hot keys of a typical skewed key space. At most {@link MAX_HASH_KEY_CACHE_MAX}.
   */
  readonly max?: number;
}

/** The default size of a {@link HashKeyCache}. */
export const DEFAULT_HASH_KEY_CACHE_MAX = 10_000;
/** The largest size of a {@link HashKeyCache}. */
export const MAX_HASH_KEY_CACHE_MAX = 1_000_000;

/**
 * Remembers the hash keys of recently seen partition keys and explicit hash keys.
 *
 * Whether a cache pays depends on the keys (Node 20, measured with lru-cache 11, max 10,000; the
 * {@link RecentMap} that replaced it measured as fast or faster on hits and inserts, same run):
 * - repeated keys (1,000 hot keys): 18–29 ns per hit against 250–600 ns for MD5, and 21 ns against
 *   137 ns for an explicit hash key's BigInt conversion;
 * - unique keys (a random UUID per record): every lookup misses and inserting with eviction costs
 *   more than the hash itself, 500–670 ns against 263–319 ns for plain MD5.
 *
 * So the cache watches its own hit rate: when it is full and a window of {@link HashKeyCache.WINDOW}
 * lookups hits less than 50 % (the break-even point of the figures above), it stops inserting for
 * 15 windows and then inserts again for one window to re-measure. Entries already cached are still
 * served while it is not inserting. Measured (UUID keys, max 10,000): 26 ns against 267 ns for raw
 * MD5 with 1,000 hot keys, 283 against 383 ns for a Zipf(1) spread over 100,000 keys, and 354–376
 * against 289–298 ns for unique keys (an always-inserting LRU: 500–670 ns).
 */
export class HashKeyCache {
  /** Lookups per hit-rate measurement. */
  static readonly WINDOW = 4096;

  readonly #partitionKeys: AdaptiveMemo | undefined;
  readonly #explicitKeys: AdaptiveMemo | undefined;

  /**
   * @param options `{ max }`, or just `max` as a number.
   * @throws ValidationError (field `max`) unless `max` is an integer 0..{@link MAX_HASH_KEY_CACHE_MAX}.
   */
  constructor(options: HashKeyCacheOptions | number = {}) {
    const max = validateInteger(
      'max',
      (typeof options === 'number' ? options : options.max) ?? DEFAULT_HASH_KEY_CACHE_MAX,
      0,
      MAX_HASH_KEY_CACHE_MAX,
    );
    if (max > 0) {
      // Separate caches: a partition key may be any string, so it could collide with a decimal.
      this.#partitionKeys = new AdaptiveMemo(max, hashKeyOfPartitionKey);
      this.#explicitKeys = new AdaptiveMemo(max, hashKeyOfExplicit);
    }
  }

  /**
   * The hash key a record is routed by: its explicit hash key when it has one, else the MD5 of its
   * partition key. Inputs are assumed validated.
   */
  get(partitionKey: string, explicitHashKey?: string): HashKey {
    if (explicitHashKey !== undefined) {
      return this.#explicitKeys ? this.#explicitKeys.get(explicitHashKey) : hashKeyOfExplicit(explicitHashKey);
    }
    return this.#partitionKeys ? this.#partitionKeys.get(partitionKey) : hashKeyOfPartitionKey(partitionKey);
  }

  /** Whether the partition-key cache is currently inserting (false while the hit rate is too low to pay). */
  get caching(): boolean {
    return this.#partitionKeys?.caching ?? false;
  }
}

/** Windows to skip inserting after a window below the break-even hit rate. */
const BYPASS_WINDOWS = 15;
/** Break-even hit rate, from the measurements in {@link HashKeyCache}'s description. */
const MIN_HIT_RATE = 0.5;

/**
 * A bounded map that keeps recently used keys: two generations of at most `max` entries each.
 * Inserts go to the young one; when it is full it becomes the old one and the previous old one is
 * dropped; a hit in the old generation is copied to the young one. So it remembers at least the
 * last `max` distinct keys used (a hot set of `max` keys always stays) and holds at most twice
 * that. An approximate LRU with O(1) operations and no per-entry bookkeeping: where a value is
 * cheap to recompute it does as well as an exact LRU without one's cost (lru-cache was 19 kB of
 * every bundle).
 */
class RecentMap<V> {
  readonly #generationSize: number;
  #young = new Map<string, V>();
  #old = new Map<string, V>();
  #rotated = false;

  constructor(max: number) {
    this.#generationSize = max;
  }

  /** Whether it has started dropping entries: from then on it holds at least `max`. */
  get full(): boolean {
    return this.#rotated;
  }

  get(key: string): V | undefined {
    const value = this.#young.get(key);
    if (value !== undefined) return value;
    const old = this.#old.get(key);
    if (old !== undefined) this.set(key, old);
    return old;
  }

  set(key: string, value: V): void {
    this.#young.set(key, value);
    if (this.#young.size >= this.#generationSize) {
      this.#old = this.#young;
      this.#young = new Map();
      this.#rotated = true;
    }
  }
}

/** A memo of `compute` over recent keys that stops inserting while its hit rate is below break-even. */
class AdaptiveMemo {
  readonly #recent: RecentMap<string>;
  readonly #compute: (key: string) => string;
  #lookups = 0;
  #hits = 0;
  /** Windows left without inserting; 0 means inserting. */
  #bypassWindows = 0;

  constructor(max: number, compute: (key: string) => string) {
    this.#recent = new RecentMap<string>(max);
    this.#compute = compute;
  }

  get caching(): boolean {
    return this.#bypassWindows === 0;
  }

  get(key: string): string {
    let value = this.#recent.get(key);
    if (value !== undefined) {
      this.#hits++;
    } else {
      value = this.#compute(key);
      if (this.#bypassWindows === 0) this.#recent.set(key, value);
    }
    if (++this.#lookups === HashKeyCache.WINDOW) this.#endWindow();
    return value;
  }

  #endWindow(): void {
    if (this.#bypassWindows > 0) this.#bypassWindows--;
    // Judged only once full: a filling cache misses because it is cold, not because keys are unique.
    else if (this.#recent.full && this.#hits < HashKeyCache.WINDOW * MIN_HIT_RATE) {
      this.#bypassWindows = BYPASS_WINDOWS;
    }
    this.#lookups = 0;
    this.#hits = 0;
  }
}
